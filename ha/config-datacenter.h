/*
 * config-datacenter: the HA-relevant settings of `datacenter.cfg` (ha.md §7.8).
 *
 * Two sources give the same struct: the real `key: value` file with property-string
 * values, and the simulator's JSON form `{"ha": {...}, "crs": {...}}`.  Absent keys
 * keep their defaults.  Rebalance threshold and margin are kept as given (raw) plus
 * the fraction the manager uses (I-6: values > 1 are percent).
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef struct {
    char *shutdown_policy;    /* NULL -> "conditional" */
    char *crs_ha;             /* NULL -> "basic" */
    bool rebalance_on_start;
    bool auto_rebalance;
    double auto_rebalance_threshold; /* fraction, default 0.3 */
    double auto_rebalance_margin;    /* fraction, default 0.1 */
    int auto_rebalance_hold;         /* rounds, default 3 */
    char *auto_rebalance_method;     /* NULL -> "bruteforce" */
    int max_workers;                 /* default 4 */
    char *fencing;                   /* NULL -> "watchdog" */
    char *ha_timing;                 /* raw `ha-timing` property string, NULL if absent */
} ha_dc_settings;

void ha_dc_settings_init(ha_dc_settings *s);
void ha_dc_settings_clear(ha_dc_settings *s);
void ha_dc_settings_copy(ha_dc_settings *dst, const ha_dc_settings *src);

/* Parse the real file format.  Bad lines/values become warnings (may be NULL). */
void ha_dc_settings_parse(const char *text, ha_dc_settings *ret, GPtrArray *warnings);
/* Parse the simulator JSON form; -EINVAL with @error on malformed JSON. */
int ha_dc_settings_parse_json(const char *text, ha_dc_settings *ret, GError **error);

/* Apply one property-string value for @key ("ha", "crs", "ha-timing", …). */
void ha_dc_settings_apply(ha_dc_settings *s, const char *key, const char *value, GPtrArray *warnings);
