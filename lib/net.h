/*
 * net: host name resolution shared by pmxcfs (the address it announces) and pvecm (link
 * addresses, "is this address mine").
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/*
 * The textual form of an IPv4 or IPv6 socket address into @buf (INET6_ADDRSTRLEN bytes
 * suffice); an IPv4-mapped IPv6 address is written as IPv4.  False for other families.
 */
bool net_sockaddr_text(const struct sockaddr *sa, char *buf, size_t len);

/* Whether @sa is a loopback address (127/8, ::1, or 127/8 mapped into IPv6). */
bool net_sockaddr_is_loopback(const struct sockaddr *sa);

/* The first non-loopback address @name resolves to, as text (g_free), or NULL. */
char *net_resolve_address(const char *name);
