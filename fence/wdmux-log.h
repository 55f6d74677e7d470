/*
 * wdmux-log: structured log lines of the watchdog-mux daemon (fence.md 4.8).
 *
 * Owns the two process-wide journal fields every line carries (the node name and the
 * backend) and adds the client PID when a line is about a client.  Only the daemon
 * layer (watchdog-mux.c, wdmux-server.c) logs; the table, config, device, status and
 * client modules return errors instead.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

/* Set the node and backend fields ("device" or "emulated") used from now on. */
void wdmux_log_set_context(const char *node, const char *backend);

/*
 * Log one line at @level (G_LOG_LEVEL_CRITICAL is used for "err" texts).  @pid > 0
 * adds the WDMUX_CLIENT_PID field.
 */
void wdmux_log(GLogLevelFlags level, pid_t pid, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
