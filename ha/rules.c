/*
 * rules: feasibility checks, transforms and compilation of HA rules.
 *
 * All checks run on the same set of enabled rules and their errors are collected;
 * failing rules are then dropped together, so the result does not depend on the
 * order of the checks.  Transforms follow (merge connected positive sets, implicit
 * negative relations, positive members joining node-affinity rules), then every
 * resource gets its node priorities and its positive/negative partner sets.
 */
#include "ha/rules.h"

#include "ha/config-status.h"

#include <string.h>

void ha_compiled_rules_free(ha_compiled_rules *c)
{
    if (!c)
        return;
    g_hash_table_unref(c->node_affinity);
    g_hash_table_unref(c->positive);
    g_hash_table_unref(c->negative);
    g_free(c);
}

static void node_affinity_free(gpointer p)
{
    ha_node_affinity *na = p;
    g_hash_table_unref(na->nodes);
    g_free(na);
}

int ha_node_affinity_priority(const ha_node_affinity *na, const char *node, bool *found)
{
    gpointer v = g_hash_table_lookup(na->nodes, node);
    *found = v != NULL;
    return v ? GPOINTER_TO_INT(v) - 2 : 0;
}

static GHashTable *str_set_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

void ha_rules_add_groups(ha_rules *rules, const ha_groups *groups, const ha_resources *sc)
{
    if (!groups)
        return;
    g_autoptr(GPtrArray) ids = g_ptr_array_new();
    for (guint i = 0; i < groups->groups->len; i++)
        g_ptr_array_add(ids, ((ha_group *)g_ptr_array_index(groups->groups, i))->id);
    ha_strv_sort(ids);
    for (guint i = 0; i < ids->len; i++) {
        const ha_group *g = ha_groups_find(groups, ids->pdata[i]);
        g_autofree char *rid = g_strdup_printf("ha-group-%s", g->id);
        if (ha_rules_find(rules, rid))
            continue;
        ha_rule *r = ha_rule_new(rid, HA_RULE_NODE_AFFINITY);
        for (guint j = 0; sc && j < sc->order->len; j++) {
            const ha_resource *res = ha_resources_get(sc, sc->order->pdata[j]);
            if (res->group && strcmp(res->group, g->id) == 0)
                ha_rule_add_resource(r, res->sid);
        }
        if (r->resources->len == 0) {
            ha_rule_free(r);
            continue;
        }
        g_ptr_array_unref(r->nodes);
        r->nodes = ha_rule_nodes_copy(g->nodes);
        r->strict = g->restricted;
        r->comment = g->comment ? g_strdup(g->comment)
                                : g_strdup_printf("Generated from HA group '%s'.", g->id);
        g_ptr_array_add(rules->rules, r);
    }
}

/* ---- helpers over rule lists ---- */

static GPtrArray *enabled_rules(const ha_rules *rules)
{
    GPtrArray *a = g_ptr_array_new();
    for (guint i = 0; i < rules->rules->len; i++) {
        ha_rule *r = g_ptr_array_index(rules->rules, i);
        if (!r->disabled)
            g_ptr_array_add(a, r);
    }
    return a;
}

static bool is_positive_ra(const ha_rule *r)
{
    return r->type == HA_RULE_RESOURCE_AFFINITY && r->positive;
}

static bool is_negative_ra(const ha_rule *r)
{
    return r->type == HA_RULE_RESOURCE_AFFINITY && !r->positive;
}

static guint shared_count(const ha_rule *a, GHashTable *set)
{
    guint n = 0;
    for (guint i = 0; i < a->resources->len; i++)
        if (g_hash_table_contains(set, g_ptr_array_index(a->resources, i)))
            n++;
    return n;
}

static bool rules_overlap(const ha_rule *a, const ha_rule *b)
{
    for (guint i = 0; i < a->resources->len; i++)
        if (ha_rule_has_resource(b, g_ptr_array_index(a->resources, i)))
            return true;
    return false;
}

/* connected positive sets: GPtrArray of GPtrArray (ha_rule*) */
typedef struct {
    GPtrArray *rules;     /* ha_rule* borrowed */
    GHashTable *resources;/* sid set */
} pos_set;

static void pos_set_free(gpointer p)
{
    pos_set *s = p;
    g_ptr_array_unref(s->rules);
    g_hash_table_unref(s->resources);
    g_free(s);
}

static int rule_min_sid_cmp(gconstpointer a, gconstpointer b)
{
    const ha_rule *x = *(ha_rule *const *)a, *y = *(ha_rule *const *)b;
    int c = strcmp(g_ptr_array_index(x->resources, 0), g_ptr_array_index(y->resources, 0));
    return c ? c : strcmp(x->id, y->id);
}

static GPtrArray *positive_sets(GPtrArray *rules)
{
    g_autoptr(GPtrArray) pos = g_ptr_array_new();
    for (guint i = 0; i < rules->len; i++) {
        ha_rule *r = g_ptr_array_index(rules, i);
        if (is_positive_ra(r) && r->resources->len > 0)
            g_ptr_array_add(pos, r);
    }
    g_ptr_array_sort(pos, rule_min_sid_cmp);
    GPtrArray *sets = g_ptr_array_new_with_free_func(pos_set_free);
    for (guint i = 0; i < pos->len; i++) {
        ha_rule *r = g_ptr_array_index(pos, i);
        pos_set *target = NULL;
        for (guint j = 0; j < sets->len && !target; j++) {
            pos_set *s = g_ptr_array_index(sets, j);
            if (shared_count(r, s->resources) > 0)
                target = s;
        }
        if (!target) {
            target = g_new0(pos_set, 1);
            target->rules = g_ptr_array_new();
            target->resources = str_set_new();
            g_ptr_array_add(sets, target);
        }
        g_ptr_array_add(target->rules, r);
        for (guint k = 0; k < r->resources->len; k++)
            g_hash_table_add(target->resources, g_strdup(g_ptr_array_index(r->resources, k)));
    }
    return sets;
}

static void add_error(GHashTable *errors, const char *id, const char *msg)
{
    GPtrArray *a = g_hash_table_lookup(errors, id);
    if (!a) {
        a = g_ptr_array_new_with_free_func(g_free);
        g_hash_table_insert(errors, g_strdup(id), a);
    }
    for (guint i = 0; i < a->len; i++)
        if (strcmp(g_ptr_array_index(a, i), msg) == 0)
            return;
    g_ptr_array_add(a, g_strdup(msg));
}

static guint distinct_priorities(const ha_rule *r)
{
    g_autoptr(GHashTable) prios = g_hash_table_new(g_direct_hash, g_direct_equal);
    for (guint i = 0; i < r->nodes->len; i++)
        g_hash_table_add(prios, GINT_TO_POINTER(((ha_rule_node *)g_ptr_array_index(r->nodes, i))->priority + 1));
    return g_hash_table_size(prios);
}

void ha_rules_check(const ha_rules *rules, const GPtrArray *nodes, GHashTable *errors)
{
    g_autoptr(GPtrArray) en = enabled_rules(rules);

    /* 1. a resource in more than one node-affinity rule */
    for (guint i = 0; i < en->len; i++) {
        ha_rule *a = g_ptr_array_index(en, i);
        if (a->type != HA_RULE_NODE_AFFINITY)
            continue;
        for (guint k = 0; k < a->resources->len; k++) {
            const char *sid = g_ptr_array_index(a->resources, k);
            for (guint j = 0; j < en->len; j++) {
                ha_rule *b = g_ptr_array_index(en, j);
                if (b == a || b->type != HA_RULE_NODE_AFFINITY || !ha_rule_has_resource(b, sid))
                    continue;
                g_autofree char *msg =
                    g_strdup_printf("resource '%s' is already used in another node affinity rule", sid);
                add_error(errors, a->id, msg);
                break;
            }
        }
    }
    /* 2. fewer than two resources; 3. negative with more resources than nodes */
    for (guint i = 0; i < en->len; i++) {
        ha_rule *r = g_ptr_array_index(en, i);
        if (r->type != HA_RULE_RESOURCE_AFFINITY)
            continue;
        if (r->resources->len < 2)
            add_error(errors, r->id, "rule is ineffective as there are less than two resources");
    }
    for (guint i = 0; i < en->len; i++) {
        ha_rule *r = g_ptr_array_index(en, i);
        if (is_negative_ra(r) && r->resources->len > nodes->len)
            add_error(errors, r->id, "rule defines more resources than available nodes");
    }
    g_autoptr(GPtrArray) sets = positive_sets(en);
    /* 4. connected positive set shares >= 2 resources with a negative rule */
    for (guint s = 0; s < sets->len; s++) {
        pos_set *ps = g_ptr_array_index(sets, s);
        for (guint i = 0; i < en->len; i++) {
            ha_rule *n = g_ptr_array_index(en, i);
            if (!is_negative_ra(n) || shared_count(n, ps->resources) < 2)
                continue;
            for (guint j = 0; j < ps->rules->len; j++)
                add_error(errors, ((ha_rule *)g_ptr_array_index(ps->rules, j))->id,
                          "rule shares two or more resources with a negative resource affinity rule");
            add_error(errors, n->id,
                      "rule shares two or more resources with a positive resource affinity rule");
        }
    }
    /* 5. resource-affinity sharing a resource with a multi-priority node-affinity rule */
    for (guint i = 0; i < en->len; i++) {
        ha_rule *na = g_ptr_array_index(en, i);
        if (na->type != HA_RULE_NODE_AFFINITY || distinct_priorities(na) < 2)
            continue;
        for (guint j = 0; j < en->len; j++) {
            ha_rule *ra = g_ptr_array_index(en, j);
            if (ra->type != HA_RULE_RESOURCE_AFFINITY || !rules_overlap(na, ra))
                continue;
            add_error(errors, na->id,
                      "resources are in a resource affinity rule and cannot be in a node affinity "
                      "rule with multiple priorities");
            add_error(errors, ra->id, "resources are in node affinity rules with multiple priorities");
        }
    }
    /* 6. connected positive set overlapping more than one node-affinity rule */
    for (guint s = 0; s < sets->len; s++) {
        pos_set *ps = g_ptr_array_index(sets, s);
        g_autoptr(GPtrArray) nas = g_ptr_array_new();
        for (guint i = 0; i < en->len; i++) {
            ha_rule *na = g_ptr_array_index(en, i);
            if (na->type == HA_RULE_NODE_AFFINITY && shared_count(na, ps->resources) > 0)
                g_ptr_array_add(nas, na);
        }
        if (nas->len < 2)
            continue;
        for (guint j = 0; j < ps->rules->len; j++)
            add_error(errors, ((ha_rule *)g_ptr_array_index(ps->rules, j))->id,
                      "resources are in multiple node affinity rules");
        for (guint j = 0; j < nas->len; j++)
            add_error(errors, ((ha_rule *)g_ptr_array_index(nas, j))->id,
                      "at least one resource is in a positive resource affinity rule and there are "
                      "other resources in at least one other node affinity rule already");
    }
    /* 7. negative members restricted to fewer nodes than members */
    for (guint i = 0; i < en->len; i++) {
        ha_rule *n = g_ptr_array_index(en, i);
        if (!is_negative_ra(n))
            continue;
        g_autoptr(GHashTable) allowed = str_set_new();
        g_autoptr(GPtrArray) nas = g_ptr_array_new();
        guint members = 0;
        for (guint k = 0; k < n->resources->len; k++) {
            const char *sid = g_ptr_array_index(n->resources, k);
            bool in_na = false;
            for (guint j = 0; j < en->len; j++) {
                ha_rule *na = g_ptr_array_index(en, j);
                if (na->type != HA_RULE_NODE_AFFINITY || !ha_rule_has_resource(na, sid))
                    continue;
                in_na = true;
                g_ptr_array_add(nas, na);
                for (guint x = 0; x < na->nodes->len; x++)
                    g_hash_table_add(allowed,
                                     g_strdup(((ha_rule_node *)g_ptr_array_index(na->nodes, x))->node));
            }
            if (in_na)
                members++;
        }
        if (members < 2 || g_hash_table_size(allowed) >= members)
            continue;
        add_error(errors, n->id,
                  "two or more resources are restricted to less nodes than available to the resources");
        for (guint j = 0; j < nas->len; j++)
            add_error(errors, ((ha_rule *)g_ptr_array_index(nas, j))->id,
                      "at least one resource is in a negative resource affinity rule and this rule "
                      "would restrict these to less nodes than available to the resources");
    }
}

static GHashTable *partner_set(GHashTable *map, const char *sid)
{
    GHashTable *s = g_hash_table_lookup(map, sid);
    if (!s) {
        s = str_set_new();
        g_hash_table_insert(map, g_strdup(sid), s);
    }
    return s;
}

static void relate(GHashTable *map, const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return;
    g_hash_table_add(partner_set(map, a), g_strdup(b));
    g_hash_table_add(partner_set(map, b), g_strdup(a));
}

ha_compiled_rules *ha_rules_compile(const ha_rules *rules, const GPtrArray *nodes,
                                    GPtrArray *ret_messages)
{
    g_autoptr(GHashTable) errors =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
    ha_rules_check(rules, nodes, errors);
    if (ret_messages) {
        g_autoptr(GPtrArray) ids = ha_sorted_keys(errors);
        for (guint i = 0; i < ids->len; i++) {
            GPtrArray *msgs = g_hash_table_lookup(errors, ids->pdata[i]);
            for (guint j = 0; j < msgs->len; j++)
                g_ptr_array_add(ret_messages, g_strdup_printf("Drop rule '%s', because %s.",
                                                              (char *)ids->pdata[i],
                                                              (char *)g_ptr_array_index(msgs, j)));
        }
    }
    /* working copy of the surviving enabled rules */
    g_autoptr(GPtrArray) work = g_ptr_array_new_with_free_func((GDestroyNotify)ha_rule_free);
    for (guint i = 0; i < rules->rules->len; i++) {
        ha_rule *r = g_ptr_array_index(rules->rules, i);
        if (!r->disabled && !g_hash_table_contains(errors, r->id))
            g_ptr_array_add(work, ha_rule_copy(r));
    }
    /* transform 1: merge connected positive sets */
    {
        g_autoptr(GPtrArray) sets = positive_sets(work);
        for (guint s = 0; s < sets->len; s++) {
            pos_set *ps = g_ptr_array_index(sets, s);
            if (ps->rules->len < 2)
                continue;
            ha_rule *first = g_ptr_array_index(ps->rules, 0);
            GString *name = g_string_new("_merged");
            for (guint j = 0; j < ps->rules->len; j++)
                g_string_append_printf(name, "-%s", ((ha_rule *)g_ptr_array_index(ps->rules, j))->id);
            ha_rule *merged = ha_rule_new(name->str, HA_RULE_RESOURCE_AFFINITY);
            g_string_free(name, TRUE);
            merged->positive = true;
            g_autoptr(GPtrArray) sids = ha_sorted_keys(ps->resources);
            for (guint j = 0; j < sids->len; j++)
                ha_rule_add_resource(merged, sids->pdata[j]);
            /* replace the first rule in place, remove the others */
            for (guint j = 0; j < work->len; j++) {
                ha_rule *r = g_ptr_array_index(work, j);
                if (r == first) {
                    work->pdata[j] = merged;
                    ha_rule_free(r);
                }
            }
            for (guint k = 1; k < ps->rules->len; k++)
                g_ptr_array_remove(work, g_ptr_array_index(ps->rules, k));
        }
    }
    ha_compiled_rules *c = g_new0(ha_compiled_rules, 1);
    c->node_affinity = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, node_affinity_free);
    c->positive = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify)g_hash_table_unref);
    c->negative = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify)g_hash_table_unref);
    for (guint i = 0; i < work->len; i++) {
        ha_rule *r = g_ptr_array_index(work, i);
        if (r->type != HA_RULE_RESOURCE_AFFINITY)
            continue;
        for (guint a = 0; a < r->resources->len; a++)
            for (guint b = a + 1; b < r->resources->len; b++)
                relate(r->positive ? c->positive : c->negative, g_ptr_array_index(r->resources, a),
                       g_ptr_array_index(r->resources, b));
    }
    /* transform 2: members of a positive rule inherit each member's negative relations */
    for (guint i = 0; i < work->len; i++) {
        ha_rule *p = g_ptr_array_index(work, i);
        if (!is_positive_ra(p))
            continue;
        g_autoptr(GHashTable) neg = str_set_new();
        for (guint k = 0; k < p->resources->len; k++) {
            GHashTable *n = g_hash_table_lookup(c->negative, g_ptr_array_index(p->resources, k));
            if (!n)
                continue;
            GHashTableIter it;
            gpointer key;
            g_hash_table_iter_init(&it, n);
            while (g_hash_table_iter_next(&it, &key, NULL))
                g_hash_table_add(neg, g_strdup(key));
        }
        GHashTableIter it;
        gpointer key;
        g_hash_table_iter_init(&it, neg);
        while (g_hash_table_iter_next(&it, &key, NULL))
            for (guint k = 0; k < p->resources->len; k++)
                relate(c->negative, g_ptr_array_index(p->resources, k), key);
    }
    /* transform 3: positive members join the first node-affinity rule of any member */
    for (guint i = 0; i < work->len; i++) {
        ha_rule *p = g_ptr_array_index(work, i);
        if (!is_positive_ra(p))
            continue;
        for (guint j = 0; j < work->len; j++) {
            ha_rule *na = g_ptr_array_index(work, j);
            if (na->type != HA_RULE_NODE_AFFINITY || !rules_overlap(na, p))
                continue;
            for (guint k = 0; k < p->resources->len; k++)
                ha_rule_add_resource(na, g_ptr_array_index(p->resources, k));
            break;
        }
    }
    /* compile node affinity */
    for (guint i = 0; i < work->len; i++) {
        ha_rule *r = g_ptr_array_index(work, i);
        if (r->type != HA_RULE_NODE_AFFINITY)
            continue;
        for (guint k = 0; k < r->resources->len; k++) {
            const char *sid = g_ptr_array_index(r->resources, k);
            if (g_hash_table_contains(c->node_affinity, sid))
                continue;
            ha_node_affinity *na = g_new0(ha_node_affinity, 1);
            na->nodes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
            na->negative = r->has_affinity && !r->positive;
            na->strict = r->strict;
            for (guint x = 0; x < r->nodes->len; x++) {
                const ha_rule_node *n = g_ptr_array_index(r->nodes, x);
                g_hash_table_insert(na->nodes, g_strdup(n->node), GINT_TO_POINTER(n->priority + 2));
            }
            if (!r->strict && !na->negative)
                for (guint x = 0; x < nodes->len; x++)
                    if (!g_hash_table_contains(na->nodes, g_ptr_array_index(nodes, x)))
                        g_hash_table_insert(na->nodes, g_strdup(g_ptr_array_index(nodes, x)),
                                            GINT_TO_POINTER(-1 + 2));
            g_hash_table_insert(c->node_affinity, g_strdup(sid), na);
        }
    }
    return c;
}
