/*
 * config-rules: parsers and writers for rules.cfg and groups.cfg.
 *
 * Bad items are reported as warnings and skipped: an invalid node entry drops the
 * entry, a section missing a required key is dropped entirely (a rule without
 * resources cannot be applied), unknown keys are ignored.
 */
#include "ha/config-rules.h"

#include "ha/config-resources.h"
#include "ha/config-status.h"
#include "lib/section-config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *ha_rule_type_name(ha_rule_type t)
{
    return t == HA_RULE_NODE_AFFINITY ? "node-affinity" : "resource-affinity";
}

static void rule_node_free(gpointer p)
{
    ha_rule_node *n = p;
    if (!n)
        return;
    g_free(n->node);
    g_free(n);
}

static int rule_node_cmp(gconstpointer a, gconstpointer b)
{
    const ha_rule_node *x = *(ha_rule_node *const *)a, *y = *(ha_rule_node *const *)b;
    return strcmp(x->node, y->node);
}

GPtrArray *ha_rule_nodes_copy(const GPtrArray *src)
{
    GPtrArray *a = g_ptr_array_new_with_free_func(rule_node_free);
    for (guint i = 0; src && i < src->len; i++) {
        const ha_rule_node *n = g_ptr_array_index(src, i);
        ha_rule_node *c = g_new0(ha_rule_node, 1);
        c->node = g_strdup(n->node);
        c->priority = n->priority;
        g_ptr_array_add(a, c);
    }
    return a;
}

bool ha_config_id_valid(const char *id)
{
    if (!id || !g_ascii_isalpha(id[0]) || !id[1])
        return false;
    for (const char *p = id + 1; *p; p++)
        if (!(g_ascii_isalnum(*p) || *p == '_' || *p == '-'))
            return false;
    return true;
}

bool ha_node_name_valid(const char *node)
{
    size_t len = node ? strlen(node) : 0;
    if (len == 0 || !g_ascii_isalnum(node[0]) || !g_ascii_isalnum(node[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(g_ascii_isalnum(node[i]) || node[i] == '-'))
            return false;
    return true;
}

gboolean ha_rule_nodes_parse(const char *value, GPtrArray **ret, char **ret_bad)
{
    g_auto(GStrv) items = section_config_split_list(value);
    g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func(rule_node_free);
    for (int i = 0; items[i]; i++) {
        char *colon = strchr(items[i], ':');
        g_autofree char *name = colon ? g_strndup(items[i], colon - items[i]) : g_strdup(items[i]);
        int prio = 0;
        if (colon) {
            char *end = NULL;
            errno = 0;
            long p = strtol(colon + 1, &end, 10);
            if (errno || !end || end == colon + 1 || *end || p < 0 || p > G_MAXINT) {
                if (ret_bad)
                    *ret_bad = g_strdup(items[i]);
                return FALSE;
            }
            prio = (int)p;
        }
        if (!ha_node_name_valid(name)) {
            if (ret_bad)
                *ret_bad = g_strdup(items[i]);
            return FALSE;
        }
        gboolean dup = FALSE;
        for (guint j = 0; j < nodes->len; j++) {
            ha_rule_node *n = g_ptr_array_index(nodes, j);
            if (strcmp(n->node, name) == 0) {
                n->priority = prio; /* the last entry wins */
                dup = TRUE;
            }
        }
        if (dup)
            continue;
        ha_rule_node *n = g_new0(ha_rule_node, 1);
        n->node = g_steal_pointer(&name);
        n->priority = prio;
        g_ptr_array_add(nodes, n);
    }
    g_ptr_array_sort(nodes, rule_node_cmp);
    *ret = g_steal_pointer(&nodes);
    return TRUE;
}

static char *nodes_to_string(const GPtrArray *nodes)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < nodes->len; i++) {
        const ha_rule_node *n = g_ptr_array_index(nodes, i);
        if (i)
            g_string_append_c(s, ',');
        g_string_append(s, n->node);
        if (n->priority != 0)
            g_string_append_printf(s, ":%d", n->priority);
    }
    return g_string_free(s, FALSE);
}

char *ha_comment_encode(const char *s)
{
    GString *out = g_string_new(NULL);
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        if (*p < 0x20 || *p > 0x7e || *p == ':' || *p == '%')
            g_string_append_printf(out, "%%%02X", *p);
        else
            g_string_append_c(out, (char)*p);
    }
    return g_string_free(out, FALSE);
}

char *ha_comment_decode(const char *s)
{
    GString *out = g_string_new(NULL);
    for (const char *p = s; p && *p; p++) {
        if (p[0] == '%' && g_ascii_isxdigit(p[1]) && g_ascii_isxdigit(p[2])) {
            g_string_append_c(out, (char)(g_ascii_xdigit_value(p[1]) * 16 + g_ascii_xdigit_value(p[2])));
            p += 2;
        } else {
            g_string_append_c(out, *p);
        }
    }
    return g_string_free(out, FALSE);
}

ha_rule *ha_rule_new(const char *id, ha_rule_type type)
{
    ha_rule *r = g_new0(ha_rule, 1);
    r->id = g_strdup(id);
    r->type = type;
    r->resources = g_ptr_array_new_with_free_func(g_free);
    r->nodes = g_ptr_array_new_with_free_func(rule_node_free);
    r->positive = true;
    return r;
}

ha_rule *ha_rule_copy(const ha_rule *r)
{
    ha_rule *c = ha_rule_new(r->id, r->type);
    c->disabled = r->disabled;
    c->comment = g_strdup(r->comment);
    for (guint i = 0; i < r->resources->len; i++)
        g_ptr_array_add(c->resources, g_strdup(g_ptr_array_index(r->resources, i)));
    g_ptr_array_unref(c->nodes);
    c->nodes = ha_rule_nodes_copy(r->nodes);
    c->strict = r->strict;
    c->positive = r->positive;
    c->has_affinity = r->has_affinity;
    return c;
}

void ha_rule_free(ha_rule *r)
{
    if (!r)
        return;
    g_free(r->id);
    g_free(r->comment);
    g_ptr_array_unref(r->resources);
    g_ptr_array_unref(r->nodes);
    g_free(r);
}

bool ha_rule_has_resource(const ha_rule *r, const char *sid)
{
    for (guint i = 0; i < r->resources->len; i++)
        if (strcmp(g_ptr_array_index(r->resources, i), sid) == 0)
            return true;
    return false;
}

void ha_rule_add_resource(ha_rule *r, const char *sid)
{
    if (ha_rule_has_resource(r, sid))
        return;
    g_ptr_array_add(r->resources, g_strdup(sid));
    ha_strv_sort(r->resources);
}

int ha_rule_node_priority(const ha_rule *r, const char *node, bool *found)
{
    for (guint i = 0; i < r->nodes->len; i++) {
        const ha_rule_node *n = g_ptr_array_index(r->nodes, i);
        if (strcmp(n->node, node) == 0) {
            *found = true;
            return n->priority;
        }
    }
    *found = false;
    return -1;
}

ha_rules *ha_rules_new(void)
{
    ha_rules *rs = g_new0(ha_rules, 1);
    rs->rules = g_ptr_array_new_with_free_func((GDestroyNotify)ha_rule_free);
    rs->digest = g_strdup("");
    return rs;
}

void ha_rules_free(ha_rules *rs)
{
    if (!rs)
        return;
    g_ptr_array_unref(rs->rules);
    g_free(rs->digest);
    g_free(rs);
}

ha_rules *ha_rules_copy(const ha_rules *rs)
{
    ha_rules *c = ha_rules_new();
    for (guint i = 0; i < rs->rules->len; i++)
        g_ptr_array_add(c->rules, ha_rule_copy(g_ptr_array_index(rs->rules, i)));
    g_free(c->digest);
    c->digest = g_strdup(rs->digest);
    return c;
}

ha_rule *ha_rules_find(const ha_rules *rs, const char *id)
{
    for (guint i = 0; i < rs->rules->len; i++) {
        ha_rule *r = g_ptr_array_index(rs->rules, i);
        if (g_ascii_strcasecmp(r->id, id) == 0)
            return r;
    }
    return NULL;
}

static gboolean parse_resources(section_config *cfg, const char *filename, int line,
                                const char *value, ha_rule *r)
{
    g_auto(GStrv) items = section_config_split_list(value);
    for (int i = 0; items[i]; i++) {
        if (ha_sid_parse(items[i], NULL, NULL) < 0) {
            section_config_warn(cfg, line, filename, "invalid resource id '%s', ignoring", items[i]);
            continue;
        }
        ha_rule_add_resource(r, items[i]);
    }
    return r->resources->len > 0;
}

ha_rules *ha_rules_parse(const char *text, const char *filename, GPtrArray *warnings)
{
    g_autoptr(section_config) cfg = section_config_parse(text, filename);
    ha_rules *rs = ha_rules_new();
    g_free(rs->digest);
    rs->digest = g_strdup(cfg->digest);
    for (guint i = 0; i < cfg->sections->len; i++) {
        section_config_section *sec = g_ptr_array_index(cfg->sections, i);
        ha_rule_type type;
        if (strcmp(sec->type, "node-affinity") == 0)
            type = HA_RULE_NODE_AFFINITY;
        else if (strcmp(sec->type, "resource-affinity") == 0)
            type = HA_RULE_RESOURCE_AFFINITY;
        else {
            section_config_warn(cfg, sec->line, filename, "unknown rule type '%s', skipping", sec->type);
            continue;
        }
        if (!ha_config_id_valid(sec->id)) {
            section_config_warn(cfg, sec->line, filename, "invalid rule id '%s', skipping", sec->id);
            continue;
        }
        if (ha_rules_find(rs, sec->id)) {
            section_config_warn(cfg, sec->line, filename, "duplicate rule '%s', skipping", sec->id);
            continue;
        }
        g_autoptr(ha_rule) r = ha_rule_new(sec->id, type);
        gboolean ok = TRUE, has_resources = FALSE, has_nodes = FALSE, has_aff = FALSE;
        for (guint j = 0; j < sec->props->len; j++) {
            section_config_prop *p = g_ptr_array_index(sec->props, j);
            if (strcmp(p->key, "resources") == 0) {
                has_resources = parse_resources(cfg, filename, p->line, p->value, r);
            } else if (strcmp(p->key, "disable") == 0) {
                r->disabled = true;
            } else if (strcmp(p->key, "comment") == 0) {
                r->comment = ha_comment_decode(p->value);
            } else if (type == HA_RULE_NODE_AFFINITY && strcmp(p->key, "nodes") == 0) {
                g_autoptr(GPtrArray) nodes = NULL;
                g_autofree char *bad = NULL;
                if (!ha_rule_nodes_parse(p->value, &nodes, &bad)) {
                    section_config_warn(cfg, p->line, filename, "invalid node entry '%s'", bad);
                    ok = FALSE;
                    continue;
                }
                g_ptr_array_unref(r->nodes);
                r->nodes = g_steal_pointer(&nodes);
                has_nodes = r->nodes->len > 0;
            } else if (type == HA_RULE_NODE_AFFINITY && strcmp(p->key, "strict") == 0) {
                int b = section_config_parse_bool(p->value);
                if (b < 0)
                    section_config_warn(cfg, p->line, filename, "invalid boolean '%s', ignoring",
                                        p->value);
                else
                    r->strict = b;
            } else if (strcmp(p->key, "affinity") == 0) {
                if (strcmp(p->value, "positive") && strcmp(p->value, "negative")) {
                    section_config_warn(cfg, p->line, filename, "invalid affinity '%s'", p->value);
                    ok = FALSE;
                    continue;
                }
                r->positive = strcmp(p->value, "positive") == 0;
                r->has_affinity = true;
                has_aff = TRUE;
            } else {
                section_config_warn(cfg, p->line, filename, "unknown property '%s', ignoring", p->key);
            }
        }
        if (!has_resources) {
            section_config_warn(cfg, sec->line, filename,
                                "rule '%s' has no valid 'resources', skipping", sec->id);
            continue;
        }
        if (type == HA_RULE_NODE_AFFINITY && !has_nodes) {
            section_config_warn(cfg, sec->line, filename, "rule '%s' has no valid 'nodes', skipping",
                                sec->id);
            continue;
        }
        if (type == HA_RULE_RESOURCE_AFFINITY && !has_aff) {
            section_config_warn(cfg, sec->line, filename,
                                "rule '%s' has no valid 'affinity', skipping", sec->id);
            continue;
        }
        if (!ok) {
            section_config_warn(cfg, sec->line, filename, "rule '%s' is invalid, skipping", sec->id);
            continue;
        }
        g_ptr_array_add(rs->rules, g_steal_pointer(&r));
    }
    if (warnings)
        for (guint i = 0; i < cfg->warnings->len; i++)
            g_ptr_array_add(warnings, g_strdup(g_ptr_array_index(cfg->warnings, i)));
    return rs;
}

static char *join_ptr(const GPtrArray *a, const char *sep)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < a->len; i++) {
        if (i)
            g_string_append(s, sep);
        g_string_append(s, g_ptr_array_index(a, i));
    }
    return g_string_free(s, FALSE);
}

char *ha_rules_write(const ha_rules *rs)
{
    GString *out = g_string_new(NULL);
    for (guint i = 0; i < rs->rules->len; i++) {
        const ha_rule *r = g_ptr_array_index(rs->rules, i);
        section_config_write_header(out, ha_rule_type_name(r->type), r->id);
        if (r->comment && r->comment[0]) {
            g_autofree char *enc = ha_comment_encode(r->comment);
            section_config_write_prop(out, "comment", enc);
        }
        if (r->disabled)
            section_config_write_prop(out, "disable", NULL);
        g_autofree char *res = join_ptr(r->resources, ",");
        if (r->type == HA_RULE_NODE_AFFINITY) {
            g_autofree char *nodes = nodes_to_string(r->nodes);
            section_config_write_prop(out, "nodes", nodes);
            section_config_write_prop(out, "resources", res);
            if (r->has_affinity)
                section_config_write_prop(out, "affinity", r->positive ? "positive" : "negative");
            section_config_write_prop(out, "strict", r->strict ? "1" : "0");
        } else {
            section_config_write_prop(out, "affinity", r->positive ? "positive" : "negative");
            section_config_write_prop(out, "resources", res);
        }
        section_config_write_end(out);
    }
    return g_string_free(out, FALSE);
}

void ha_group_free(ha_group *g)
{
    if (!g)
        return;
    g_free(g->id);
    g_ptr_array_unref(g->nodes);
    g_free(g->comment);
    g_free(g);
}

ha_groups *ha_groups_new(void)
{
    ha_groups *gs = g_new0(ha_groups, 1);
    gs->groups = g_ptr_array_new_with_free_func((GDestroyNotify)ha_group_free);
    gs->digest = g_strdup("");
    return gs;
}

void ha_groups_free(ha_groups *gs)
{
    if (!gs)
        return;
    g_ptr_array_unref(gs->groups);
    g_free(gs->digest);
    g_free(gs);
}

ha_group *ha_groups_find(const ha_groups *gs, const char *id)
{
    for (guint i = 0; gs && i < gs->groups->len; i++) {
        ha_group *g = g_ptr_array_index(gs->groups, i);
        if (strcmp(g->id, id) == 0)
            return g;
    }
    return NULL;
}

ha_groups *ha_groups_parse(const char *text, const char *filename, GPtrArray *warnings)
{
    g_autoptr(section_config) cfg = section_config_parse(text, filename);
    ha_groups *gs = ha_groups_new();
    g_free(gs->digest);
    gs->digest = g_strdup(cfg->digest);
    for (guint i = 0; i < cfg->sections->len; i++) {
        section_config_section *sec = g_ptr_array_index(cfg->sections, i);
        if (strcmp(sec->type, "group") != 0) {
            section_config_warn(cfg, sec->line, filename, "unknown section type '%s', skipping",
                                sec->type);
            continue;
        }
        if (!ha_config_id_valid(sec->id) || ha_groups_find(gs, sec->id)) {
            section_config_warn(cfg, sec->line, filename, "invalid or duplicate group id '%s', skipping",
                                sec->id);
            continue;
        }
        ha_group *g = g_new0(ha_group, 1);
        g->id = g_strdup(sec->id);
        g->nodes = g_ptr_array_new_with_free_func(rule_node_free);
        gboolean has_nodes = FALSE;
        for (guint j = 0; j < sec->props->len; j++) {
            section_config_prop *p = g_ptr_array_index(sec->props, j);
            if (strcmp(p->key, "nodes") == 0) {
                g_autoptr(GPtrArray) nodes = NULL;
                g_autofree char *bad = NULL;
                if (!ha_rule_nodes_parse(p->value, &nodes, &bad)) {
                    section_config_warn(cfg, p->line, filename, "invalid node entry '%s'", bad);
                    continue;
                }
                g_ptr_array_unref(g->nodes);
                g->nodes = g_steal_pointer(&nodes);
                has_nodes = g->nodes->len > 0;
            } else if (strcmp(p->key, "restricted") == 0 || strcmp(p->key, "nofailback") == 0) {
                int b = section_config_parse_bool(p->value);
                if (b < 0) {
                    section_config_warn(cfg, p->line, filename, "invalid boolean '%s', ignoring",
                                        p->value);
                    continue;
                }
                if (p->key[0] == 'r')
                    g->restricted = b;
                else
                    g->nofailback = b;
            } else if (strcmp(p->key, "comment") == 0) {
                g->comment = g_strdup(p->value);
            } else {
                section_config_warn(cfg, p->line, filename, "unknown property '%s', ignoring", p->key);
            }
        }
        if (!has_nodes) {
            section_config_warn(cfg, sec->line, filename, "group '%s' has no valid 'nodes', skipping",
                                sec->id);
            ha_group_free(g);
            continue;
        }
        g_ptr_array_add(gs->groups, g);
    }
    if (warnings)
        for (guint i = 0; i < cfg->warnings->len; i++)
            g_ptr_array_add(warnings, g_strdup(g_ptr_array_index(cfg->warnings, i)));
    return gs;
}

char *ha_groups_write(const ha_groups *gs)
{
    GString *out = g_string_new(NULL);
    for (guint i = 0; i < gs->groups->len; i++) {
        const ha_group *g = g_ptr_array_index(gs->groups, i);
        section_config_write_header(out, "group", g->id);
        if (g->comment && g->comment[0])
            section_config_write_prop(out, "comment", g->comment);
        g_autofree char *nodes = nodes_to_string(g->nodes);
        section_config_write_prop(out, "nodes", nodes);
        section_config_write_prop(out, "nofailback", g->nofailback ? "1" : "0");
        section_config_write_prop(out, "restricted", g->restricted ? "1" : "0");
        section_config_write_end(out);
    }
    return g_string_free(out, FALSE);
}
