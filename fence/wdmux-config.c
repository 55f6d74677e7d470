/*
 * wdmux-config: defaults, environment file, environment and option values for the
 * watchdog multiplexer, all funnelled through wdmux_config_set() (fence.md 4.2).
 *
 * The module validates values but never opens the device or logs; the daemon decides
 * what to do with an error (print it and exit 1 before anything is armed).
 */
#include "fence/wdmux-config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <sys/utsname.h>

#include "fence/wdmux-defs.h"
#include "lib/section-config.h"

G_DEFINE_QUARK(wdmux_config_error_quark, wdmux_config_error)

static const char *const config_keys[] = {
    "WATCHDOG_MUX_DEVICE",         "WATCHDOG_MUX_EMULATED",       "WATCHDOG_MODULE",
    "WATCHDOG_MUX_DEVICE_TIMEOUT", "WATCHDOG_MUX_CLIENT_TIMEOUT", "WATCHDOG_MUX_WARN_BEFORE",
    "WATCHDOG_MUX_TICK_MS",        "WATCHDOG_MUX_SOCKET",         "WATCHDOG_MUX_MARKER",
    "WATCHDOG_MUX_STATUS",         "WATCHDOG_MUX_MAX_CLIENTS",    "WATCHDOG_MUX_ALLOW_UIDS",
    "WATCHDOG_MUX_NODE",           "WATCHDOG_MUX_JOURNAL_SYNC",
};

static char *config_default_node(void)
{
    struct utsname u;
    if (uname(&u) < 0 || u.nodename[0] == '\0')
        return g_strdup("localhost");
    char *dot = strchr(u.nodename, '.');
    if (dot && dot != u.nodename)
        *dot = '\0';
    return g_strdup(u.nodename);
}

wdmux_config *wdmux_config_new(void)
{
    wdmux_config *cfg = g_new0(wdmux_config, 1);
    cfg->device = g_strdup(WDMUX_DEVICE_PATH);
    cfg->module = g_strdup(WDMUX_DEFAULT_MODULE);
    cfg->device_timeout_ms = WDMUX_DEFAULT_DEVICE_TIMEOUT_MS;
    cfg->client_timeout_ms = WDMUX_DEFAULT_CLIENT_TIMEOUT_MS;
    cfg->warn_before_ms = WDMUX_DEFAULT_WARN_BEFORE_MS;
    cfg->tick_ms = WDMUX_DEFAULT_TICK_MS;
    cfg->socket_path = g_strdup(WDMUX_SOCKET_PATH);
    cfg->marker_path = g_strdup(WDMUX_MARKER_PATH);
    cfg->status_path = g_strdup(WDMUX_STATUS_PATH);
    cfg->max_clients = WDMUX_DEFAULT_MAX_CLIENTS;
    cfg->allow_uids = g_array_new(FALSE, FALSE, sizeof(uid_t));
    uid_t root = 0;
    g_array_append_val(cfg->allow_uids, root);
    cfg->node = config_default_node();
    cfg->journal_sync = true;
    return cfg;
}

void wdmux_config_free(wdmux_config *cfg)
{
    if (!cfg)
        return;
    g_free(cfg->device);
    g_free(cfg->module);
    g_free(cfg->socket_path);
    g_free(cfg->marker_path);
    g_free(cfg->status_path);
    g_array_unref(cfg->allow_uids);
    g_free(cfg->node);
    g_free(cfg);
}

bool wdmux_config_is_key(const char *key)
{
    for (size_t i = 0; i < G_N_ELEMENTS(config_keys); i++)
        if (strcmp(key, config_keys[i]) == 0)
            return true;
    return false;
}

int wdmux_seconds_parse(const char *text, gint64 *ret_ms)
{
    if (!text || !*text)
        return -EINVAL;

    /* Only plain decimals: strtod alone would accept "inf", "0x1p3" and "1e9". */
    gint64 whole = 0, frac_num = 0, frac_den = 1;
    bool dot = false, digits = false;
    for (const char *p = text; *p; p++) {
        if (*p == '.' && !dot) {
            dot = true;
            continue;
        }
        if (!g_ascii_isdigit(*p))
            return -EINVAL;
        digits = true;
        if (!dot) {
            whole = whole * 10 + (*p - '0');
            if (whole > WDMUX_DURATION_MAX_MS / 1000)
                return -ERANGE;
        } else if (frac_den < 1000000) {
            frac_num = frac_num * 10 + (*p - '0');
            frac_den *= 10;
        }
    }
    if (!digits)
        return -EINVAL;

    gint64 ms = whole * 1000 + (frac_num * 1000 + frac_den / 2) / frac_den;
    if (ms < 1 || ms > WDMUX_DURATION_MAX_MS)
        return -ERANGE;
    *ret_ms = ms;
    return 0;
}

static gboolean config_uint_parse(const char *text, guint64 min, guint64 max, guint64 *ret)
{
    guint64 v = 0;
    if (!text || !*text || !g_ascii_string_to_unsigned(text, 10, min, max, &v, NULL))
        return FALSE;
    *ret = v;
    return TRUE;
}

/* The PVE booleans, and an empty value (VAR= in the environment file) as false. */
static gboolean config_bool_parse(const char *text, bool *ret)
{
    int b = *text ? section_config_parse_bool(text) : 0;
    if (b < 0)
        return FALSE;
    *ret = b;
    return TRUE;
}

static gboolean config_invalid(GError **error, const char *key, const char *value, const char *why)
{
    g_set_error(error, WDMUX_CONFIG_ERROR, WDMUX_CONFIG_ERROR_INVALID, "%s: invalid value '%s': %s",
                key, value, why);
    return FALSE;
}

static gboolean config_set_path(char **field, const char *key, const char *value, GError **error)
{
    if (value[0] != '/')
        return config_invalid(error, key, value, "an absolute path is required");
    g_free(*field);
    *field = g_strdup(value);
    return TRUE;
}

static gboolean config_set_seconds(gint64 *field, const char *key, const char *value,
                                   GError **error)
{
    gint64 ms = 0;
    int r = wdmux_seconds_parse(value, &ms);
    if (r == -ERANGE)
        return config_invalid(error, key, value, "seconds must be between 0.001 and 3600");
    if (r < 0)
        return config_invalid(error, key, value, "expected seconds, for example 10 or 0.5");
    *field = ms;
    return TRUE;
}

static gboolean config_set_uids(wdmux_config *cfg, const char *key, const char *value,
                                GError **error)
{
    g_auto(GStrv) parts = g_strsplit(value, ",", -1);
    g_autoptr(GArray) uids = g_array_new(FALSE, FALSE, sizeof(uid_t));
    for (char **p = parts; *p; p++) {
        g_autofree char *item = g_strstrip(g_strdup(*p));
        guint64 v = 0;
        if (!config_uint_parse(item, 0, (guint64)G_MAXUINT32 - 1, &v))
            return config_invalid(error, key, value, "expected a comma-separated list of uids");
        uid_t uid = (uid_t)v;
        g_array_append_val(uids, uid);
    }
    if (uids->len == 0)
        return config_invalid(error, key, value, "at least one uid is required");
    g_array_unref(cfg->allow_uids);
    cfg->allow_uids = g_steal_pointer(&uids);
    return TRUE;
}

gboolean wdmux_config_set(wdmux_config *cfg, const char *key, const char *value, GError **error)
{
    g_return_val_if_fail(cfg && key && value, FALSE);

    if (strcmp(key, "WATCHDOG_MUX_DEVICE") == 0)
        return config_set_path(&cfg->device, key, value, error);
    if (strcmp(key, "WATCHDOG_MUX_SOCKET") == 0)
        return config_set_path(&cfg->socket_path, key, value, error);
    if (strcmp(key, "WATCHDOG_MUX_MARKER") == 0)
        return config_set_path(&cfg->marker_path, key, value, error);
    if (strcmp(key, "WATCHDOG_MUX_STATUS") == 0)
        return config_set_path(&cfg->status_path, key, value, error);
    if (strcmp(key, "WATCHDOG_MUX_DEVICE_TIMEOUT") == 0)
        return config_set_seconds(&cfg->device_timeout_ms, key, value, error);
    if (strcmp(key, "WATCHDOG_MUX_CLIENT_TIMEOUT") == 0)
        return config_set_seconds(&cfg->client_timeout_ms, key, value, error);
    if (strcmp(key, "WATCHDOG_MUX_WARN_BEFORE") == 0)
        return config_set_seconds(&cfg->warn_before_ms, key, value, error);
    if (strcmp(key, "WATCHDOG_MUX_ALLOW_UIDS") == 0)
        return config_set_uids(cfg, key, value, error);

    if (strcmp(key, "WATCHDOG_MUX_TICK_MS") == 0) {
        guint64 v = 0;
        if (!config_uint_parse(value, 1, WDMUX_DURATION_MAX_MS, &v))
            return config_invalid(error, key, value, "expected milliseconds (1 to 3600000)");
        cfg->tick_ms = (gint64)v;
        return TRUE;
    }
    if (strcmp(key, "WATCHDOG_MUX_MAX_CLIENTS") == 0) {
        guint64 v = 0;
        if (!config_uint_parse(value, 1, WDMUX_MAX_CLIENTS_LIMIT, &v))
            return config_invalid(error, key, value, "expected a number from 1 to 65536");
        cfg->max_clients = (unsigned)v;
        return TRUE;
    }
    if (strcmp(key, "WATCHDOG_MUX_EMULATED") == 0)
        return config_bool_parse(value, &cfg->emulated) ||
               config_invalid(error, key, value, "expected yes or no");
    if (strcmp(key, "WATCHDOG_MUX_JOURNAL_SYNC") == 0)
        return config_bool_parse(value, &cfg->journal_sync) ||
               config_invalid(error, key, value, "expected yes or no");
    if (strcmp(key, "WATCHDOG_MODULE") == 0) {
        /* Passed to modprobe as one argument: a module name, nothing else. */
        if (!*value || value[0] == '-' ||
            strspn(value, "abcdefghijklmnopqrstuvwxyz"
                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                          "0123456789_-") != strlen(value))
            return config_invalid(error, key, value, "expected a kernel module name");
        g_free(cfg->module);
        cfg->module = g_strdup(value);
        return TRUE;
    }
    if (strcmp(key, "WATCHDOG_MUX_NODE") == 0) {
        if (!*value || strlen(value) > 255 || strpbrk(value, " \t\n/'\""))
            return config_invalid(error, key, value, "expected a node name");
        g_free(cfg->node);
        cfg->node = g_strdup(value);
        return TRUE;
    }

    g_set_error(error, WDMUX_CONFIG_ERROR, WDMUX_CONFIG_ERROR_INVALID, "unknown setting '%s'", key);
    return FALSE;
}

gboolean wdmux_config_load_env_file(wdmux_config *cfg, const char *path, GError **error)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) local = NULL;

    if (!g_file_get_contents(path, &text, NULL, &local)) {
        if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return TRUE;
        g_propagate_prefixed_error(error, g_steal_pointer(&local), "%s: ", path);
        return FALSE;
    }

    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (unsigned n = 0; lines[n]; n++) {
        char *line = g_strstrip(lines[n]);
        if (!*line || *line == '#')
            continue;
        if (g_str_has_prefix(line, "export ") || g_str_has_prefix(line, "export\t"))
            line = g_strchug(line + 7);
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *key = g_strchomp(line);
        if (!wdmux_config_is_key(key))
            continue;

        g_autofree char *value = g_shell_unquote(g_strchug(eq + 1), &local);
        if (!value) {
            g_set_error(error, WDMUX_CONFIG_ERROR, WDMUX_CONFIG_ERROR_INVALID, "%s:%u: %s: %s",
                        path, n + 1, key, local->message);
            return FALSE;
        }
        if (!wdmux_config_set(cfg, key, value, &local)) {
            g_set_error(error, WDMUX_CONFIG_ERROR, WDMUX_CONFIG_ERROR_INVALID, "%s:%u: %s", path,
                        n + 1, local->message);
            return FALSE;
        }
    }
    return TRUE;
}

gboolean wdmux_config_load_environ(wdmux_config *cfg, char **envp, GError **error)
{
    for (size_t i = 0; i < G_N_ELEMENTS(config_keys); i++) {
        const char *value = g_environ_getenv(envp, config_keys[i]);
        if (value && !wdmux_config_set(cfg, config_keys[i], value, error)) {
            g_prefix_error(error, "environment: ");
            return FALSE;
        }
    }
    return TRUE;
}

gint64 wdmux_tick_clamp(gint64 tick_ms, gint64 client_timeout_ms, gint64 device_timeout_ms)
{
    gint64 tick = tick_ms;
    tick = MIN(tick, device_timeout_ms / WDMUX_TICK_DEVICE_DIVISOR);
    tick = MIN(tick, client_timeout_ms / WDMUX_TICK_CLIENT_DIVISOR);
    return MAX(tick, WDMUX_TICK_MIN_MS);
}

gint64 wdmux_warn_before_effective(gint64 warn_before_ms, gint64 client_timeout_ms)
{
    if (warn_before_ms >= client_timeout_ms)
        return client_timeout_ms / 2;
    return warn_before_ms;
}

gboolean wdmux_config_finish(wdmux_config *cfg, GError **error)
{
    if (!cfg->emulated && cfg->device_timeout_ms % 1000 != 0) {
        g_set_error(error, WDMUX_CONFIG_ERROR, WDMUX_CONFIG_ERROR_INVALID,
                    "device timeout %" G_GINT64_FORMAT " ms: a watchdog device takes whole "
                    "seconds",
                    cfg->device_timeout_ms);
        return FALSE;
    }
    if (cfg->device_timeout_ms < WDMUX_DEVICE_TIMEOUT_MIN_MS) {
        g_set_error(error, WDMUX_CONFIG_ERROR, WDMUX_CONFIG_ERROR_INVALID,
                    "device timeout %" G_GINT64_FORMAT " ms is below the minimum of %d ms",
                    cfg->device_timeout_ms, WDMUX_DEVICE_TIMEOUT_MIN_MS);
        return FALSE;
    }
    if (cfg->client_timeout_ms < 4 * WDMUX_TICK_MIN_MS) {
        g_set_error(error, WDMUX_CONFIG_ERROR, WDMUX_CONFIG_ERROR_INVALID,
                    "client timeout %" G_GINT64_FORMAT " ms is below the minimum of %d ms",
                    cfg->client_timeout_ms, 4 * WDMUX_TICK_MIN_MS);
        return FALSE;
    }
    if (strlen(cfg->socket_path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
        g_set_error(error, WDMUX_CONFIG_ERROR, WDMUX_CONFIG_ERROR_INVALID,
                    "socket path '%s' is too long for a unix socket", cfg->socket_path);
        return FALSE;
    }
    cfg->effective_tick_ms =
        wdmux_tick_clamp(cfg->tick_ms, cfg->client_timeout_ms, cfg->device_timeout_ms);
    cfg->effective_warn_before_ms =
        wdmux_warn_before_effective(cfg->warn_before_ms, cfg->client_timeout_ms);
    return TRUE;
}
