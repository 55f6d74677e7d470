/*
 * timing: built-in timing profiles, the `ha-timing` property parser and the safety
 * invariant check (ha.md §6.8, §10, §11.2 I-1).
 *
 * Profiles are plain values: nothing here is global except the constant table.
 * Derived values (idle sleep, lock retry pacing, worker budget, …) scale with the
 * round length so that a fast profile keeps the reference's proportions.
 */
#include "ha/timing.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK(ha-timing-error-quark, ha_timing_error)

static void derive(ha_timing *t)
{
    /* reference proportions for R = 10 s: 5 s, 1 s, 5 s, 8 s, 90 s, 30 s, 300 s */
    t->idle_sleep_ms = t->round_ms / 2;
    t->lock_retry_sleep_ms = t->round_ms / 10;
    t->lock_retry_budget_ms = t->round_ms / 2;
    t->worker_budget_ms = t->round_ms * 8 / 10;
    t->restart_giveup_ms = t->round_ms * 9;
    t->slow_loop_ms = t->round_ms * 3;
    t->sim_sleep_cap_ms = t->round_ms * 30;
    t->gone_delete_ms = 3600 * 1000;
}

static void fill(ha_timing *t, const char *name, gint64 r, gint64 f, gint64 l, gint64 j, gint64 w,
                 gint64 k, gint64 dv, gint64 m, gint64 unit)
{
    memset(t, 0, sizeof(*t));
    g_strlcpy(t->name, name, sizeof(t->name));
    t->round_ms = r;
    t->fence_delay_ms = f;
    t->lock_timeout_ms = l;
    t->keepalive_bound_ms = j;
    t->client_timeout_ms = w;
    t->mux_tick_ms = k;
    t->device_timeout_ms = dv;
    t->margin_ms = m;
    t->sim_unit_ms = unit;
    derive(t);
}

int ha_timing_profile(const char *name, ha_timing *ret)
{
    /* values from ha.md §11.2 I-1; the simulator unit keeps one simulated loop
     * (20 ticks) at 2 R for `default` (the reference) and at R for the others, so
     * that the client timeout stays well above one loop */
    if (strcmp(name, "default") == 0)
        fill(ret, "default", 10000, 60000, 120000, 0, 60000, 1000, 10000, 1000, 1000);
    else if (strcmp(name, "balanced") == 0)
        fill(ret, "balanced", 2000, 5000, 20000, 500, 10000, 500, 5000, 1000, 100);
    else if (strcmp(name, "fast") == 0)
        fill(ret, "fast", 1000, 1000, 5000, 250, 2000, 250, 1000, 1000, 50);
    else
        return -ENOENT;
    return 0;
}

const ha_timing *ha_timing_default(void)
{
    static ha_timing def;
    static gsize once = 0;
    if (g_once_init_enter(&once)) {
        ha_timing_profile("default", &def);
        g_once_init_leave(&once, 1);
    }
    return &def;
}

gint64 ha_timing_slack_ms(const ha_timing *t)
{
    return t->lock_timeout_ms -
           (t->keepalive_bound_ms + t->client_timeout_ms + t->mux_tick_ms + t->device_timeout_ms);
}

gboolean ha_timing_check(const ha_timing *t, GError **error)
{
    if (t->round_ms <= 0 || t->lock_timeout_ms <= 0 || t->client_timeout_ms <= 0 ||
        t->fence_delay_ms < 0 || t->keepalive_bound_ms < 0 || t->mux_tick_ms <= 0 ||
        t->device_timeout_ms < 0 || t->sim_unit_ms <= 0) {
        g_set_error(error, HA_TIMING_ERROR, EINVAL,
                    "timing profile '%s': round, lock-timeout, client-timeout and mux-tick must be "
                    "positive, the other values not negative",
                    t->name);
        return FALSE;
    }
    if (t->margin_ms <= 0) {
        g_set_error(error, HA_TIMING_ERROR, EINVAL, "timing profile '%s': margin must be positive",
                    t->name);
        return FALSE;
    }
    gint64 slack = ha_timing_slack_ms(t);
    if (slack < t->margin_ms) {
        g_set_error(error, HA_TIMING_ERROR, EINVAL,
                    "timing profile '%s' is unsafe: lock-timeout %.3gs - (keepalive-bound %.3gs + "
                    "client-timeout %.3gs + mux-tick %.3gs + device-timeout %.3gs) = %.3gs, "
                    "below the margin %.3gs",
                    t->name, t->lock_timeout_ms / 1000.0, t->keepalive_bound_ms / 1000.0,
                    t->client_timeout_ms / 1000.0, t->mux_tick_ms / 1000.0,
                    t->device_timeout_ms / 1000.0, slack / 1000.0, t->margin_ms / 1000.0);
        return FALSE;
    }
    if (t->client_timeout_ms <= t->round_ms) {
        g_set_error(error, HA_TIMING_ERROR, EINVAL,
                    "timing profile '%s' is unusable: client-timeout %.3gs must exceed the round "
                    "%.3gs",
                    t->name, t->client_timeout_ms / 1000.0, t->round_ms / 1000.0);
        return FALSE;
    }
    return TRUE;
}

static gboolean parse_seconds(const char *s, gint64 *ret_ms)
{
    char *end = NULL;
    errno = 0;
    double v = g_ascii_strtod(s, &end);
    if (errno || !end || end == s || *end || !isfinite(v) || v < 0 || v > 1e7)
        return FALSE;
    *ret_ms = (gint64)llround(v * 1000.0);
    return TRUE;
}

gboolean ha_timing_parse(const char *prop, ha_timing *ret, GError **error)
{
    ha_timing t;
    ha_timing_profile("default", &t);
    g_auto(GStrv) items = g_strsplit(prop ? prop : "", ",", -1);

    /* the profile first, so overrides apply on top of it whatever their position */
    for (int i = 0; items[i]; i++) {
        g_strstrip(items[i]);
        if (g_str_has_prefix(items[i], "profile=")) {
            const char *name = items[i] + strlen("profile=");
            if (strcmp(name, "custom") == 0)
                continue;
            if (ha_timing_profile(name, &t) < 0) {
                g_set_error(error, HA_TIMING_ERROR, EINVAL, "unknown timing profile '%s'", name);
                return FALSE;
            }
        } else if (!strchr(items[i], '=') && items[i][0]) {
            /* a bare first item is the profile name */
            if (i == 0 && ha_timing_profile(items[i], &t) == 0)
                continue;
            g_set_error(error, HA_TIMING_ERROR, EINVAL, "invalid ha-timing item '%s'", items[i]);
            return FALSE;
        }
    }
    gboolean round_given = FALSE;
    for (int i = 0; items[i]; i++) {
        char *eq = strchr(items[i], '=');
        if (!eq || g_str_has_prefix(items[i], "profile="))
            continue;
        g_autofree char *key = g_strndup(items[i], eq - items[i]);
        const char *val = eq + 1;
        gint64 *slot = NULL;
        if (strcmp(key, "round") == 0) {
            slot = &t.round_ms;
            round_given = TRUE;
        } else if (strcmp(key, "fence-delay") == 0)
            slot = &t.fence_delay_ms;
        else if (strcmp(key, "lock-timeout") == 0)
            slot = &t.lock_timeout_ms;
        else if (strcmp(key, "keepalive-bound") == 0)
            slot = &t.keepalive_bound_ms;
        else if (strcmp(key, "client-timeout") == 0)
            slot = &t.client_timeout_ms;
        else if (strcmp(key, "mux-tick") == 0)
            slot = &t.mux_tick_ms;
        else if (strcmp(key, "device-timeout") == 0)
            slot = &t.device_timeout_ms;
        else if (strcmp(key, "margin") == 0)
            slot = &t.margin_ms;
        if (!slot) {
            g_set_error(error, HA_TIMING_ERROR, EINVAL, "unknown ha-timing key '%s'", key);
            return FALSE;
        }
        if (!parse_seconds(val, slot)) {
            g_set_error(error, HA_TIMING_ERROR, EINVAL, "invalid value '%s' for ha-timing key '%s'",
                        val, key);
            return FALSE;
        }
        g_strlcpy(t.name, "custom", sizeof(t.name));
    }
    if (round_given) {
        derive(&t);
        t.sim_unit_ms = MAX(1, t.round_ms / 20);
    }
    if (!ha_timing_check(&t, error))
        return FALSE;
    *ret = t;
    return TRUE;
}

char *ha_timing_describe(const ha_timing *t)
{
    return g_strdup_printf("%s: round=%.3gs fence-delay=%.3gs lock-timeout=%.3gs "
                           "keepalive-bound=%.3gs client-timeout=%.3gs mux-tick=%.3gs "
                           "device-timeout=%.3gs margin=%.3gs slack=%.3gs",
                           t->name, t->round_ms / 1000.0, t->fence_delay_ms / 1000.0,
                           t->lock_timeout_ms / 1000.0, t->keepalive_bound_ms / 1000.0,
                           t->client_timeout_ms / 1000.0, t->mux_tick_ms / 1000.0,
                           t->device_timeout_ms / 1000.0, t->margin_ms / 1000.0,
                           ha_timing_slack_ms(t) / 1000.0);
}
