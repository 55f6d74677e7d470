/*
 * wdmux-client: the HA daemons' connection to watchdog-mux (fence.md 5).
 *
 * A wdmux_client is one "virtual watchdog": connecting arms it, every keepalive feeds
 * it, disarm ('V' then close) stops it cleanly, and any other end of the connection
 * (abort, free, a crash of the process) makes the mux stop feeding the node's watchdog,
 * so the node resets.  The library never logs; the daemons log the reference texts.
 *
 * Invariants:
 * - a client that was not disarmed never disappears silently: free() of a connected
 *   client closes it *without* 'V' (a fence request), never with it;
 * - the descriptor is close-on-exec, and forked workers must call
 *   wdmux_client_forget_in_child() so that no copy outlives the owner.
 */
#pragma once

#include <glib.h>

typedef struct wdmux_client wdmux_client;

/*
 * The socket and status paths this node's mux uses: $WATCHDOG_MUX_SOCKET /
 * $WATCHDOG_MUX_STATUS if set and non-empty, else the reference paths.  The strings
 * belong to the environment or are static; do not free them.
 */
const char *wdmux_socket_path(void);
const char *wdmux_status_path(void);

/*
 * Connect to the mux listening at @socket_path.  On success the client is ARMED and
 * returned in @ret_client.  Returns 0, or -ENOENT / -ECONNREFUSED when no mux is
 * running (the caller must then not consider itself armed), -ENAMETOOLONG, or another
 * negative errno from socket()/connect().
 */
int wdmux_client_open(const char *socket_path, wdmux_client **ret_client);

/*
 * Feed the virtual watchdog: send one NUL byte without blocking.  Returns 0;
 * -EPIPE / -ECONNRESET when the mux closed the connection (it is gone, or it rejected
 * this client: too many clients or a uid not allowed), so expect a reset, or stay
 * unarmed; -EAGAIN when the mux is not reading, which callers must treat as a failure;
 * -ENOTCONN after the connection was closed.
 */
int wdmux_client_keepalive(wdmux_client *c);

/*
 * Disarm cleanly: send 'V', close and free @c (NULL is a no-op returning 0).  If the
 * send fails the connection is still closed and freed and the error is returned; the
 * caller must then expect a reset.
 */
int wdmux_client_disarm(wdmux_client *c);

/* Close without 'V' and free @c: a deliberate fence request.  NULL-safe. */
void wdmux_client_abort(wdmux_client *c);

/* NULL-safe.  A still connected client is aborted (never silently disarmed). */
void wdmux_client_free(wdmux_client *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(wdmux_client, wdmux_client_free)

/* The connection's descriptor (diagnostics only), or -1. */
int wdmux_client_fd(const wdmux_client *c);

/*
 * In a forked child: close the inherited descriptor without writing anything and free
 * the memory, so the child's copy neither disarms nor keeps the connection open.
 */
void wdmux_client_forget_in_child(wdmux_client *c);
