/*
 * wdmux-defs: paths, defaults and limits of the watchdog multiplexer.
 *
 * Every number the mux, its client library and its tests share lives here, each with
 * where it comes from.  The defaults are the reference values (fence.md section 2.1),
 * so a node configured with nothing behaves like a reference node.
 */
#pragma once

/* Reference paths (fence.md 2.1, 4.2). */
#define WDMUX_SOCKET_PATH      "/run/watchdog-mux.sock"
#define WDMUX_MARKER_PATH      "/run/watchdog-mux.active"
#define WDMUX_STATUS_PATH      "/run/watchdog-mux.status"
#define WDMUX_DEVICE_PATH      "/dev/watchdog"
#define WDMUX_ENV_FILE         "/etc/default/pve-ha-manager"
#define WDMUX_DEFAULT_MODULE   "softdog"
#define WDMUX_JOURNAL_SYNC_CMD "/bin/journalctl"

/* Reference timing (fence.md 2.1, ha.md 10): 60 s client, warning 10 s before, 10 s device,
 * 1 s check and keepalive tick. */
#define WDMUX_DEFAULT_CLIENT_TIMEOUT_MS 60000
#define WDMUX_DEFAULT_WARN_BEFORE_MS    10000
#define WDMUX_DEFAULT_DEVICE_TIMEOUT_MS 10000
#define WDMUX_DEFAULT_TICK_MS           1000

/* Tick clamping (fence.md 4.2): at most a third of the device timeout and a quarter of the
 * client timeout, never below 50 ms. */
#define WDMUX_TICK_MIN_MS         50
#define WDMUX_TICK_DEVICE_DIVISOR 3
#define WDMUX_TICK_CLIENT_DIVISOR 4

/* Sanity bounds for configured durations: one hour is far beyond any profile, and a
 * device below 150 ms cannot be fed at the 50 ms minimum tick with any slack.  Real
 * watchdog drivers take whole seconds (WDIOC_SETTIMEOUT). */
#define WDMUX_DURATION_MAX_MS       3600000
#define WDMUX_DEVICE_TIMEOUT_MIN_MS 150

/* Connection limit (fence.md 4.2; the reference had 100 table slots). */
#define WDMUX_DEFAULT_MAX_CLIENTS 100
#define WDMUX_MAX_CLIENTS_LIMIT   65536

/* Reference listen backlog and client read buffer (fence.md 2.1). */
#define WDMUX_LISTEN_BACKLOG 32
#define WDMUX_READ_BUFFER    4096

/* Reads per client event before returning to the loop, so one chatty client cannot keep
 * the mux away from its timer (level-triggered epoll brings it back). */
#define WDMUX_READS_PER_EVENT 16

/* Events taken per epoll wait. */
#define WDMUX_MAX_EVENTS 64

/* Consecutive device keepalive failures that disable updates (fence.md 4.4 step 6). */
#define WDMUX_KEEPALIVE_MAX_FAILURES 3

/* The status file is rewritten at least this often while clients are armed (fence.md 4.6). */
#define WDMUX_STATUS_PERIOD_MS 1000

/* Protocol bytes (fence.md 3): 'V' disarms when it is the last byte, NUL is the plain
 * keepalive the reference clients send. */
#define WDMUX_MAGIC_BYTE     'V'
#define WDMUX_KEEPALIVE_BYTE '\0'
