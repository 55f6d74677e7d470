/*
 * select: node selection for a service (ha.md §6.6).
 *
 * Pure function of the compiled rules, the usage object, the service records (for
 * resource affinity) and the service's own record and config.  Returns the chosen
 * node or NULL ("no node").
 */
#pragma once

#include "ha/rules.h"
#include "ha/usage.h"

typedef enum {
    HA_SELECT_NONE,       /* stay if possible */
    HA_SELECT_BEST_SCORE, /* recovery, rebalance on start */
    HA_SELECT_TRY_NEXT,   /* after a start failure */
} ha_select_pref;

/*
 * @ss: sid -> ha_service_state* (all records); @sd: the service's record;
 * @failback: from the service config.  Returns a new string or NULL.
 */
char *ha_select_node(const ha_compiled_rules *rules, ha_usage *usage, GHashTable *ss,
                     const char *sid, const ha_service_state *sd, bool failback,
                     ha_select_pref pref);
