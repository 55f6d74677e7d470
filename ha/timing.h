/*
 * timing: the HA timing profile (ha.md §10, §11.2 I-1).
 *
 * One struct holds every timing constant of the CRM, LRM and simulator, in
 * milliseconds.  Built-in profiles: `default` (the reference values, required for
 * simulator compatibility), `balanced` and `fast`.  A `ha-timing:` property string
 * (`profile=<name>[,round=…,fence-delay=…,lock-timeout=…,keepalive-bound=…,
 * client-timeout=…,mux-tick=…,device-timeout=…,margin=…]`, values in seconds) selects
 * and overrides a profile.  Invariant, checked by ha_timing_check():
 *     lock_timeout - (keepalive_bound + client_timeout + mux_tick + device_timeout) >= margin > 0
 * A profile that breaks it must never be used to arm a watchdog.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef struct {
    char name[32];
    gint64 round_ms;           /* R: active CRM/LRM round (reference 10 s) */
    gint64 fence_delay_ms;     /* F: offline time before fencing (reference 60 s, `>=`) */
    gint64 lock_timeout_ms;    /* L: cluster lock lifetime (reference 120 s, `>`) */
    gint64 keepalive_bound_ms; /* J: max delay renewal -> keepalive (reference ~0) */
    gint64 client_timeout_ms;  /* W: mux client timeout (reference 60 s, `>`) */
    gint64 mux_tick_ms;        /* K: mux check interval (reference 1 s) */
    gint64 device_timeout_ms;  /* Dv: watchdog device timeout (reference 10 s) */
    gint64 margin_ms;          /* M: minimum slack (default 1 s) */
    /* derived from R unless given: the reference values for R = 10 s */
    gint64 idle_sleep_ms;        /* sleep in idle states (reference 5 s = R/2) */
    gint64 lock_retry_sleep_ms;  /* pause between lock attempts (reference 1 s) */
    gint64 lock_retry_budget_ms; /* give up lock retries after (reference 5 s) */
    gint64 worker_budget_ms;     /* LRM worker time budget per round (reference 8 s) */
    gint64 restart_giveup_ms;    /* lost lock + restart request give-up (reference 90 s) */
    gint64 slow_loop_ms;         /* real backend slow-loop warning (reference 30 s) */
    gint64 sim_sleep_cap_ms;     /* simulator: abort when one iteration sleeps more (300 s) */
    gint64 gone_delete_ms;       /* delete `gone` nodes after (reference 3600 s) */
    /* simulator time unit: one clock tick of the discrete time model (default 1 s) */
    gint64 sim_unit_ms;
} ha_timing;

/* Fill @ret with the built-in profile @name; -ENOENT if unknown. */
int ha_timing_profile(const char *name, ha_timing *ret);

/* The default (reference) profile. */
const ha_timing *ha_timing_default(void);

/*
 * Parse a `ha-timing` property string into @ret (starting from the named profile, or
 * `default`), then check the invariant.  FALSE with a message on any error.
 */
gboolean ha_timing_parse(const char *prop, ha_timing *ret, GError **error);

/*
 * Check the safety invariant; FALSE with a message naming the terms when
 * L - (J + W + K + Dv) < M, or M <= 0, or a value is not positive where required.
 */
gboolean ha_timing_check(const ha_timing *t, GError **error);

/* Slack L - (J + W + K + Dv) in ms. */
gint64 ha_timing_slack_ms(const ha_timing *t);

/* Human-readable one-line description ("R=10s F=60s …"), newly allocated. */
char *ha_timing_describe(const ha_timing *t);

#define HA_TIMING_ERROR (ha_timing_error_quark())
GQuark ha_timing_error_quark(void);
