/*
 * usage: node usage accounting and the schedulers (ha.md §6.9).
 *
 * A usage object holds the online nodes and, per node, the services counted on it
 * (by the state table of §6.9).  It scores nodes for placing a service: `basic`
 * counts services, `static` and `dynamic` rank nodes with TOPSIS over CPU and memory
 * fractions.  Lower scores are better.  Rebuilt by the manager each round and
 * updated on every service state change.
 */
#pragma once

#include "ha/env.h"

typedef enum {
    HA_SCHED_BASIC,
    HA_SCHED_STATIC,
    HA_SCHED_DYNAMIC,
} ha_sched_mode;

typedef struct ha_usage ha_usage;

/* @nodes: online node names.  Static/dynamic need node stats; -ENODATA if missing. */
int ha_usage_new(ha_env *env, ha_sched_mode mode, const GPtrArray *nodes, ha_usage **ret,
                 GError **error);
void ha_usage_free(ha_usage *u);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ha_usage, ha_usage_free)

/* sorted node names (borrowed strings) */
GPtrArray *ha_usage_list_nodes(const ha_usage *u);

/* Count @sid per the state table (current and/or target node, online nodes only). */
void ha_usage_add_service(ha_usage *u, const char *sid, ha_svc_state state, const char *node,
                          const char *target);
void ha_usage_remove_service(ha_usage *u, const char *sid);

/* node -> double score (lower is better), new table. */
GHashTable *ha_usage_score_nodes(ha_usage *u, const char *sid);

/* Nodes @sid counts on per the state table: current (online) and target (online). */
void ha_usage_used_nodes(const ha_usage *u, ha_svc_state state, const char *node,
                         const char *target, const char **ret_current, const char **ret_target);

/*
 * TOPSIS ranking (exposed for tests).  @m: rows alternatives x @ncrit criteria,
 * @weights: signed weights (negative = cost).  @ret_scores gets one closeness value in
 * [0,1] per row (higher = better).
 */
void ha_topsis_score(const double *m, int rows, int ncrit, const double *weights,
                     double *ret_scores);
