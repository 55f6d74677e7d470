/*
 * net: host name resolution (see net.h).
 */
#include "lib/net.h"

#include <arpa/inet.h>
#include <glib.h>
#include <netdb.h>
#include <netinet/in.h>

static const struct in6_addr *sockaddr_in6_addr(const struct sockaddr *sa)
{
    return &((const struct sockaddr_in6 *)sa)->sin6_addr;
}

bool net_sockaddr_text(const struct sockaddr *sa, char *buf, size_t len)
{
    if (sa->sa_family == AF_INET)
        return inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf,
                         (socklen_t)len) != NULL;
    if (sa->sa_family != AF_INET6)
        return false;
    const struct in6_addr *a = sockaddr_in6_addr(sa);
    if (IN6_IS_ADDR_V4MAPPED(a))
        return inet_ntop(AF_INET, &a->s6_addr[12], buf, (socklen_t)len) != NULL;
    return inet_ntop(AF_INET6, a, buf, (socklen_t)len) != NULL;
}

bool net_sockaddr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family != AF_INET6)
        return false;
    const struct in6_addr *a = sockaddr_in6_addr(sa);
    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

char *net_resolve_address(const char *name)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(name, NULL, &hints, &res) != 0)
        return NULL;
    char *found = NULL;
    for (struct addrinfo *ai = res; ai && !found; ai = ai->ai_next) {
        char buf[INET6_ADDRSTRLEN];
        if (!net_sockaddr_is_loopback(ai->ai_addr) &&
            net_sockaddr_text(ai->ai_addr, buf, sizeof(buf)))
            found = g_strdup(buf);
    }
    freeaddrinfo(res);
    return found;
}
