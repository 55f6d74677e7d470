/*
 * wdmux-config: configuration of the watchdog multiplexer (fence.md 4.2).
 *
 * Owns the settings and their precedence: built-in defaults (the reference values),
 * then the environment file /etc/default/pve-ha-manager, then the process
 * environment, then command-line options.  Every source goes through one setter keyed
 * by the environment variable name, so an option and its variable accept exactly the
 * same values.  wdmux_config_finish() checks the combination and computes the
 * effective tick and warning lead; only then are the effective fields valid.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct {
    char *device;             /* WATCHDOG_MUX_DEVICE */
    bool emulated;            /* WATCHDOG_MUX_EMULATED */
    char *module;             /* WATCHDOG_MODULE */
    gint64 device_timeout_ms; /* WATCHDOG_MUX_DEVICE_TIMEOUT (seconds in the input) */
    gint64 client_timeout_ms; /* WATCHDOG_MUX_CLIENT_TIMEOUT (seconds in the input) */
    gint64 warn_before_ms;    /* WATCHDOG_MUX_WARN_BEFORE (seconds in the input) */
    gint64 tick_ms;           /* WATCHDOG_MUX_TICK_MS */
    char *socket_path;        /* WATCHDOG_MUX_SOCKET */
    char *marker_path;        /* WATCHDOG_MUX_MARKER */
    char *status_path;        /* WATCHDOG_MUX_STATUS */
    unsigned max_clients;     /* WATCHDOG_MUX_MAX_CLIENTS */
    GArray *allow_uids;       /* of uid_t; WATCHDOG_MUX_ALLOW_UIDS */
    char *node;               /* WATCHDOG_MUX_NODE */
    bool journal_sync;        /* WATCHDOG_MUX_JOURNAL_SYNC */

    /* Filled by wdmux_config_finish(). */
    gint64 effective_tick_ms;
    gint64 effective_warn_before_ms;
} wdmux_config;

#define WDMUX_CONFIG_ERROR (wdmux_config_error_quark())
GQuark wdmux_config_error_quark(void);

typedef enum {
    WDMUX_CONFIG_ERROR_INVALID, /* a value or combination is not acceptable */
} wdmux_config_error;

/* Defaults: the reference values, node = the host name.  Never NULL. */
wdmux_config *wdmux_config_new(void);
void wdmux_config_free(wdmux_config *cfg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(wdmux_config, wdmux_config_free)

/* TRUE if @key is one of the environment variables above. */
bool wdmux_config_is_key(const char *key);

/*
 * Set the value of @key (an environment variable name, see the struct) from its text
 * form.  Durations in seconds may be fractional ("0.5"); they are kept in milliseconds.
 * On a bad value returns FALSE with a message naming the key, and @cfg is unchanged.
 */
gboolean wdmux_config_set(wdmux_config *cfg, const char *key, const char *value, GError **error);

/*
 * Read KEY=VALUE lines from the environment file at @path (shell quoting allowed,
 * "export " prefixes and comments ignored).  Keys this module does not know are
 * ignored, because the file is shared with the HA daemons.  A missing file is not an
 * error.  On a bad value returns FALSE with "<path>:<line>: ..." in @error.
 */
gboolean wdmux_config_load_env_file(wdmux_config *cfg, const char *path, GError **error);

/* Apply the known keys found in @envp (a NULL-terminated environ-style array). */
gboolean wdmux_config_load_environ(wdmux_config *cfg, char **envp, GError **error);

/*
 * Check the combination (whole seconds for real devices, socket path length) and
 * compute effective_tick_ms and effective_warn_before_ms.
 */
gboolean wdmux_config_finish(wdmux_config *cfg, GError **error);

/*
 * Tick clamping of fence.md 4.2: at most @device_timeout_ms / 3 and
 * @client_timeout_ms / 4, at least 50 ms.
 */
gint64 wdmux_tick_clamp(gint64 tick_ms, gint64 client_timeout_ms, gint64 device_timeout_ms);

/*
 * The effective warning lead: @warn_before_ms, or half the client timeout when the lead
 * is not shorter than the client timeout.
 */
gint64 wdmux_warn_before_effective(gint64 warn_before_ms, gint64 client_timeout_ms);

/*
 * Parse a duration in seconds ("10", "0.25"; digits and at most one '.') into
 * milliseconds, rounded to the nearest millisecond.  Accepts 1 ms to one hour.
 * Returns 0, or -EINVAL (syntax) / -ERANGE (out of bounds); @ret_ms is written only
 * on success.
 */
int wdmux_seconds_parse(const char *text, gint64 *ret_ms);
