/*
 * node-status: the master's view of every node (ha.md §4).
 *
 * Owns the node -> state map that is persisted in manager_status.node_status and the
 * in-memory last-seen-online times behind the fence delay.  States change only
 * through this module, and every change is logged "node '<n>': state changed from
 * '<old>' => '<new>'".  A node enters the map only by being seen online.
 */
#pragma once

#include "ha/env.h"

typedef struct ha_node_status ha_node_status;

/* @initial: node -> GINT_TO_POINTER(ha_node_state), copied; may be NULL. */
ha_node_status *ha_node_status_new(ha_env *env, GHashTable *initial);
void ha_node_status_free(ha_node_status *ns);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ha_node_status, ha_node_status_free)

/*
 * One update per master round.  @info: ha_node_info* (membership, sorted);
 * @lrm_modes: node -> mode string (missing reads as "unknown").
 */
void ha_node_status_update(ha_node_status *ns, const GPtrArray *info, GHashTable *lrm_modes);

ha_node_state ha_node_status_get(const ha_node_status *ns, const char *node);
bool ha_node_status_is_online(const ha_node_status *ns, const char *node);
bool ha_node_status_is_operational(const ha_node_status *ns, const char *node);
/* offline for at least @delay_ms (records "now" on first call); false if online */
bool ha_node_status_offline_delayed(ha_node_status *ns, const char *node, gint64 delay_ms);
/* Fencing (ha.md §4 fence_node): true when the node's agent lock was obtained. */
bool ha_node_status_fence_node(ha_node_status *ns, const char *node);
/* Sorted node names (new container, borrowed strings). */
GPtrArray *ha_node_status_list_nodes(const ha_node_status *ns);
GPtrArray *ha_node_status_list_online(const ha_node_status *ns);
/* Some member missing from the map, or some entry missing from the membership. */
bool ha_node_status_list_changed(const ha_node_status *ns, const GPtrArray *info);
/* The node -> state table (borrowed). */
GHashTable *ha_node_status_table(const ha_node_status *ns);
/* last-online times (borrowed: node -> gint64* ms) for persistence (I-2). */
GHashTable *ha_node_status_last_online(const ha_node_status *ns);
void ha_node_status_set_last_online(ha_node_status *ns, const char *node, gint64 t_ms);
