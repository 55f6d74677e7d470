/*
 * config-rules: `rules.cfg` (ha.md §7.3) and the legacy `groups.cfg` (§7.4).
 *
 * Owns the rule and group records and their parsers/writers.  Rule comments are
 * percent-encoded on disk and decoded in memory.  Section order is the rule order.
 * Nothing here interprets rules; see rules.c for checks, transforms and compilation.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef enum {
    HA_RULE_NODE_AFFINITY,
    HA_RULE_RESOURCE_AFFINITY,
} ha_rule_type;

typedef struct {
    char *node;
    int priority;
} ha_rule_node;

typedef struct {
    char *id;
    ha_rule_type type;
    bool disabled;        /* a `disable` key is present */
    char *comment;        /* decoded */
    GPtrArray *resources; /* char*, sorted, unique */
    GPtrArray *nodes;     /* ha_rule_node*, sorted by node (node-affinity) */
    bool strict;          /* node-affinity */
    bool positive;        /* resource-affinity: affinity; node-affinity: extension (default true) */
    bool has_affinity;    /* node-affinity: explicit `affinity` key */
} ha_rule;

typedef struct {
    GPtrArray *rules; /* ha_rule*, in file order */
    char *digest;
} ha_rules;

typedef struct {
    char *id;
    GPtrArray *nodes; /* ha_rule_node* */
    bool restricted;
    bool nofailback;
    char *comment;
} ha_group;

typedef struct {
    GPtrArray *groups; /* ha_group*, in file order */
    char *digest;
} ha_groups;

const char *ha_rule_type_name(ha_rule_type t);
ha_rule *ha_rule_new(const char *id, ha_rule_type type);
ha_rule *ha_rule_copy(const ha_rule *r);
void ha_rule_free(ha_rule *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ha_rule, ha_rule_free)
bool ha_rule_has_resource(const ha_rule *r, const char *sid);
/* Add @sid keeping resources sorted and unique. */
void ha_rule_add_resource(ha_rule *r, const char *sid);
/* Priority of @node in a node-affinity rule, or -1 when absent (sets *found). */
int ha_rule_node_priority(const ha_rule *r, const char *node, bool *found);

ha_rules *ha_rules_new(void);
void ha_rules_free(ha_rules *rs);
ha_rules *ha_rules_copy(const ha_rules *rs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ha_rules, ha_rules_free)
ha_rule *ha_rules_find(const ha_rules *rs, const char *id);
ha_rules *ha_rules_parse(const char *text, const char *filename, GPtrArray *warnings);
char *ha_rules_write(const ha_rules *rs);

void ha_group_free(ha_group *g);
ha_groups *ha_groups_new(void);
void ha_groups_free(ha_groups *gs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ha_groups, ha_groups_free)
ha_group *ha_groups_find(const ha_groups *gs, const char *id);
ha_groups *ha_groups_parse(const char *text, const char *filename, GPtrArray *warnings);
char *ha_groups_write(const ha_groups *gs);

/* Deep copy of a list of ha_rule_node* (@src may be NULL: empty list). */
GPtrArray *ha_rule_nodes_copy(const GPtrArray *src);
/* Parse a node list "n1:2,n2" into ha_rule_node* (sorted by node); FALSE on bad item. */
gboolean ha_rule_nodes_parse(const char *value, GPtrArray **ret, char **ret_bad);
/* Config id check: case-insensitive ^[a-z][a-z0-9_-]+$ */
bool ha_config_id_valid(const char *id);
/* Node name check: ^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$ */
bool ha_node_name_valid(const char *node);

/* Percent-encoding of rule comments. */
char *ha_comment_encode(const char *s);
char *ha_comment_decode(const char *s);
