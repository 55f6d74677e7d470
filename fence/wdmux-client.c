/*
 * wdmux-client: connect, feed, disarm and abort a virtual watchdog of watchdog-mux
 * (fence.md 3 and 5).
 *
 * The mux never writes to clients, so anything readable on the socket (end of file,
 * a reset) means the mux closed this connection: it died, or it rejected the client at
 * accept time.  Keepalive checks for that first, so a rejected client learns it on its
 * first keepalive instead of believing it is armed.
 */
#include "fence/wdmux-client.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fence/wdmux-defs.h"

struct wdmux_client {
    int fd;
};

static const char *client_env_path(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

const char *wdmux_socket_path(void)
{
    return client_env_path("WATCHDOG_MUX_SOCKET", WDMUX_SOCKET_PATH);
}

const char *wdmux_status_path(void)
{
    return client_env_path("WATCHDOG_MUX_STATUS", WDMUX_STATUS_PATH);
}

int wdmux_client_open(const char *socket_path, wdmux_client **ret_client)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};

    g_return_val_if_fail(socket_path && ret_client, -EINVAL);
    if (strlen(socket_path) >= sizeof(addr.sun_path))
        return -ENAMETOOLONG;
    memcpy(addr.sun_path, socket_path, strlen(socket_path) + 1);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    wdmux_client *c = g_new0(wdmux_client, 1);
    c->fd = fd;
    *ret_client = c;
    return 0;
}

static int client_send(wdmux_client *c, char byte)
{
    if (c->fd < 0)
        return -ENOTCONN;

    /* The mux sends nothing: readable or hung up means it closed our connection. */
    struct pollfd p = {.fd = c->fd, .events = POLLIN | POLLRDHUP};
    int n = poll(&p, 1, 0);
    if (n < 0)
        return -errno;
    if (n > 0 && (p.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)))
        return -ECONNRESET;

    ssize_t w = send(c->fd, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    return w == 1 ? 0 : -EIO;
}

int wdmux_client_keepalive(wdmux_client *c)
{
    g_return_val_if_fail(c, -EINVAL);
    return client_send(c, WDMUX_KEEPALIVE_BYTE);
}

static void client_close(wdmux_client *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

int wdmux_client_disarm(wdmux_client *c)
{
    if (!c)
        return 0;
    int r = client_send(c, WDMUX_MAGIC_BYTE);
    if (c->fd >= 0 && close(c->fd) < 0 && r == 0 && errno != EINTR)
        r = -errno;
    c->fd = -1;
    g_free(c);
    return r;
}

void wdmux_client_abort(wdmux_client *c)
{
    if (!c)
        return;
    client_close(c);
    g_free(c);
}

void wdmux_client_free(wdmux_client *c)
{
    wdmux_client_abort(c);
}

int wdmux_client_fd(const wdmux_client *c)
{
    return c ? c->fd : -1;
}

void wdmux_client_forget_in_child(wdmux_client *c)
{
    wdmux_client_abort(c);
}
