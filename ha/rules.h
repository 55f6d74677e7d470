/*
 * rules: HA rules semantics (ha.md §6.10): group translation, feasibility checks,
 * transforms and compilation into per-resource placement constraints.
 *
 * Input: the parsed rules.cfg, the legacy groups, the service config and the node
 * list (nodes in node_status).  Output: a compiled object the node selection reads,
 * plus the "Drop rule '<id>', because <message>." lines for every rule that failed a
 * check.  Disabled rules are ignored.  Compilation never changes the inputs.
 */
#pragma once

#include "ha/config-resources.h"
#include "ha/config-rules.h"

#include <glib.h>
#include <stdbool.h>

typedef struct {
    GHashTable *nodes; /* node -> GINT_TO_POINTER(priority + 2) (so -1 fits) */
    bool negative;     /* extension: "any node except these" */
    bool strict;
} ha_node_affinity;

typedef struct {
    GHashTable *node_affinity; /* sid -> ha_node_affinity* */
    GHashTable *positive;      /* sid -> GHashTable (set of sids) */
    GHashTable *negative;      /* sid -> GHashTable (set of sids) */
} ha_compiled_rules;

void ha_compiled_rules_free(ha_compiled_rules *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ha_compiled_rules, ha_compiled_rules_free)

/* Priority of @node in @na (sets *found). */
int ha_node_affinity_priority(const ha_node_affinity *na, const char *node, bool *found);

/*
 * Translate groups into node-affinity rules `ha-group-<name>` (appended to @rules,
 * which is modified) for the groups that have member resources.
 */
void ha_rules_add_groups(ha_rules *rules, const ha_groups *groups, const ha_resources *sc);

/*
 * Check, transform and compile the enabled rules of @rules (not modified).  @nodes:
 * sorted node names.  @ret_messages (may be NULL) receives the drop messages, in the
 * reference order.
 */
ha_compiled_rules *ha_rules_compile(const ha_rules *rules, const GPtrArray *nodes,
                                    GPtrArray *ret_messages);

/*
 * Run the feasibility checks only: @ret_errors gets rule id -> GPtrArray of messages
 * for every failing enabled rule.
 */
void ha_rules_check(const ha_rules *rules, const GPtrArray *nodes, GHashTable *ret_errors);
