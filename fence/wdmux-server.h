/*
 * wdmux-server: the watchdog-mux event loop (fence.md 4.3, 4.6, 4.7).
 *
 * Owns the listening socket, the epoll set, the signalfd, the tick timerfd, the client
 * connections, the active marker and the status file, and (once running) the device.
 *
 * Invariants:
 * - every tick supervises all clients and then feeds the device, whatever else is
 *   pending: the timer is checked before each batch of events, and one client's
 *   reads are bounded per batch, so client traffic cannot starve it;
 * - once updates are disabled the device is never fed again, but it stays open: the
 *   node resets one device timeout after the last keepalive;
 * - the device is stopped cleanly only on a terminate request with no occupied slot
 *   and updates still enabled.
 */
#pragma once

#include <glib.h>

#include "fence/wdmux-config.h"
#include "fence/wdmux-device.h"

typedef struct wdmux_server wdmux_server;

/*
 * Set up the socket (replacing a stale socket file, mode 0600), epoll, the signalfd for
 * SIGINT/SIGTERM/SIGHUP (the caller must have blocked them) and the tick timer.  @cfg
 * must have been finished and outlive the server; @device is borrowed until
 * wdmux_server_run().  On failure returns FALSE with the reference step name in the
 * message ("socket bind: ...").
 */
gboolean wdmux_server_new(const wdmux_config *cfg, wdmux_device *device, wdmux_server **ret_server,
                          GError **error);

/*
 * Run until a terminate request, then take the exit path: a clean device stop when no
 * client slot is occupied (and updates are enabled), otherwise exit with the device
 * still running.  Takes ownership of the device.  Returns the process exit status (0;
 * 1 after a fatal epoll failure, which leaves the device running).
 */
int wdmux_server_run(wdmux_server *s);

/* Close everything; removes the socket file it created.  NULL-safe. */
void wdmux_server_free(wdmux_server *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(wdmux_server, wdmux_server_free)

/* Start "journalctl --sync" in a double-forked, reaped-at-once child. */
void wdmux_journal_sync(void);
