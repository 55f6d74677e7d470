/*
 * config-resources: resources.cfg parser/writer and the resource records.
 *
 * Only `vm` and `ct` sections are accepted from the file (the simulator adds `fa`
 * through its own JSON reader).  A section with a bad header or name is skipped with
 * a warning; a bad value drops only that key and keeps its default.
 */
#include "ha/config-resources.h"

#include "lib/section-config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

ha_resource *ha_resource_new(const char *sid)
{
    ha_resource *r = g_new0(ha_resource, 1);
    r->sid = g_strdup(sid);
    const char *colon = sid ? strchr(sid, ':') : NULL;
    if (colon) {
        r->type = g_strndup(sid, colon - sid);
        r->name = g_strdup(colon + 1);
    }
    r->state = g_strdup("started");
    r->max_restart = 1;
    r->max_relocate = 1;
    r->failback = 1;
    r->auto_rebalance = 1;
    return r;
}

ha_resource *ha_resource_copy(const ha_resource *r)
{
    ha_resource *c = g_new0(ha_resource, 1);
    *c = *r;
    c->sid = g_strdup(r->sid);
    c->type = g_strdup(r->type);
    c->name = g_strdup(r->name);
    c->node = g_strdup(r->node);
    c->state = g_strdup(r->state);
    c->group = g_strdup(r->group);
    c->comment = g_strdup(r->comment);
    return c;
}

void ha_resource_free(ha_resource *r)
{
    if (!r)
        return;
    g_free(r->sid);
    g_free(r->type);
    g_free(r->name);
    g_free(r->node);
    g_free(r->state);
    g_free(r->group);
    g_free(r->comment);
    g_free(r);
}

ha_resources *ha_resources_new(void)
{
    ha_resources *rs = g_new0(ha_resources, 1);
    rs->by_sid = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                       (GDestroyNotify)ha_resource_free);
    rs->order = g_ptr_array_new();
    return rs;
}

void ha_resources_free(ha_resources *rs)
{
    if (!rs)
        return;
    g_ptr_array_unref(rs->order);
    g_hash_table_unref(rs->by_sid);
    g_free(rs->digest);
    g_free(rs);
}

void ha_resources_add(ha_resources *rs, ha_resource *r)
{
    ha_resource *old = g_hash_table_lookup(rs->by_sid, r->sid);
    if (old) {
        for (guint i = 0; i < rs->order->len; i++)
            if (rs->order->pdata[i] == old->sid)
                rs->order->pdata[i] = r->sid;
    } else {
        g_ptr_array_add(rs->order, r->sid);
    }
    g_hash_table_replace(rs->by_sid, r->sid, r);
}

ha_resource *ha_resources_get(const ha_resources *rs, const char *sid)
{
    return rs ? g_hash_table_lookup(rs->by_sid, sid) : NULL;
}

void ha_resources_remove(ha_resources *rs, const char *sid)
{
    ha_resource *r = g_hash_table_lookup(rs->by_sid, sid);
    if (!r)
        return;
    g_ptr_array_remove(rs->order, r->sid);
    g_hash_table_remove(rs->by_sid, sid);
}

ha_resources *ha_resources_copy(const ha_resources *rs)
{
    ha_resources *c = ha_resources_new();
    for (guint i = 0; i < rs->order->len; i++)
        ha_resources_add(c, ha_resource_copy(ha_resources_get(rs, rs->order->pdata[i])));
    c->digest = g_strdup(rs->digest);
    return c;
}

int ha_sid_parse(const char *sid, char **ret_type, char **ret_name)
{
    if (!sid)
        return -EINVAL;
    const char *colon = strchr(sid, ':');
    if (!colon || colon == sid || !colon[1])
        return -EINVAL;
    for (const char *p = sid; p < colon; p++)
        if (!g_ascii_islower(*p))
            return -EINVAL;
    for (const char *p = colon + 1; *p; p++)
        if (g_ascii_isspace(*p))
            return -EINVAL;
    if (ret_type)
        *ret_type = g_strndup(sid, colon - sid);
    if (ret_name)
        *ret_name = g_strdup(colon + 1);
    return 0;
}

bool ha_guest_name_valid(const char *name)
{
    if (!name || name[0] < '1' || name[0] > '9' || !name[1])
        return false;
    for (const char *p = name; *p; p++)
        if (!g_ascii_isdigit(*p))
            return false;
    return true;
}

static bool parse_uint(const char *v, int *ret)
{
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || !end || end == v || *end || n < 0 || n > G_MAXINT)
        return false;
    *ret = (int)n;
    return true;
}

ha_resources *ha_resources_parse(const char *text, const char *filename, GPtrArray *warnings)
{
    g_autoptr(section_config) cfg = section_config_parse(text, filename);
    ha_resources *rs = ha_resources_new();
    rs->digest = g_strdup(cfg->digest);
    for (guint i = 0; i < cfg->sections->len; i++) {
        section_config_section *sec = g_ptr_array_index(cfg->sections, i);
        if (strcmp(sec->type, "vm") != 0 && strcmp(sec->type, "ct") != 0) {
            section_config_warn(cfg, sec->line, filename, "unknown section type '%s', skipping",
                                sec->type);
            continue;
        }
        if (!ha_guest_name_valid(sec->id)) {
            section_config_warn(cfg, sec->line, filename, "invalid VMID '%s', skipping", sec->id);
            continue;
        }
        g_autofree char *sid = g_strdup_printf("%s:%s", sec->type, sec->id);
        if (ha_resources_get(rs, sid)) {
            section_config_warn(cfg, sec->line, filename, "duplicate resource '%s', skipping", sid);
            continue;
        }
        ha_resource *r = ha_resource_new(sid);
        for (guint j = 0; j < sec->props->len; j++) {
            section_config_prop *p = g_ptr_array_index(sec->props, j);
            const char *k = p->key, *v = p->value;
            int b;
            if (strcmp(k, "state") == 0) {
                if (strcmp(v, "started") && strcmp(v, "stopped") && strcmp(v, "enabled") &&
                    strcmp(v, "disabled") && strcmp(v, "ignored")) {
                    section_config_warn(cfg, p->line, filename, "invalid state '%s', ignoring", v);
                    continue;
                }
                g_free(r->state);
                r->state = g_strdup(strcmp(v, "enabled") == 0 ? "started" : v);
                r->present |= HA_RES_HAS_STATE;
            } else if (strcmp(k, "max_restart") == 0 || strcmp(k, "max_relocate") == 0) {
                int n;
                if (!parse_uint(v, &n)) {
                    section_config_warn(cfg, p->line, filename, "invalid integer '%s' for '%s', ignoring",
                                        v, k);
                    continue;
                }
                if (k[4] == 'r' && k[5] == 'e' && k[6] == 's') {
                    r->max_restart = n;
                    r->present |= HA_RES_HAS_MAX_RESTART;
                } else {
                    r->max_relocate = n;
                    r->present |= HA_RES_HAS_MAX_RELOCATE;
                }
            } else if (strcmp(k, "failback") == 0 || strcmp(k, "auto-rebalance") == 0) {
                if ((b = section_config_parse_bool(v)) < 0) {
                    section_config_warn(cfg, p->line, filename, "invalid boolean '%s' for '%s', ignoring",
                                        v, k);
                    continue;
                }
                if (k[0] == 'f') {
                    r->failback = b;
                    r->present |= HA_RES_HAS_FAILBACK;
                } else {
                    r->auto_rebalance = b;
                    r->present |= HA_RES_HAS_AUTO_REBALANCE;
                }
            } else if (strcmp(k, "group") == 0) {
                g_free(r->group);
                r->group = g_strdup(v);
                r->present |= HA_RES_HAS_GROUP;
            } else if (strcmp(k, "comment") == 0) {
                if (strlen(v) > 4096) {
                    section_config_warn(cfg, p->line, filename, "comment too long, ignoring");
                    continue;
                }
                g_free(r->comment);
                r->comment = g_strdup(v);
                r->present |= HA_RES_HAS_COMMENT;
            } else {
                section_config_warn(cfg, p->line, filename, "unknown property '%s', ignoring", k);
            }
        }
        ha_resources_add(rs, r);
    }
    if (warnings)
        for (guint i = 0; i < cfg->warnings->len; i++)
            g_ptr_array_add(warnings, g_strdup(g_ptr_array_index(cfg->warnings, i)));
    return rs;
}

char *ha_resources_write(const ha_resources *rs)
{
    GString *out = g_string_new(NULL);
    for (guint i = 0; i < rs->order->len; i++) {
        const ha_resource *r = ha_resources_get(rs, rs->order->pdata[i]);
        section_config_write_header(out, r->type, r->name);
        char buf[32];
        if ((r->present & HA_RES_HAS_COMMENT) && r->comment && r->comment[0])
            section_config_write_prop(out, "comment", r->comment);
        if (r->present & HA_RES_HAS_AUTO_REBALANCE)
            section_config_write_prop(out, "auto-rebalance", r->auto_rebalance ? "1" : "0");
        if (r->present & HA_RES_HAS_FAILBACK)
            section_config_write_prop(out, "failback", r->failback ? "1" : "0");
        if ((r->present & HA_RES_HAS_GROUP) && r->group)
            section_config_write_prop(out, "group", r->group);
        if (r->present & HA_RES_HAS_MAX_RELOCATE) {
            g_snprintf(buf, sizeof(buf), "%d", r->max_relocate);
            section_config_write_prop(out, "max_relocate", buf);
        }
        if (r->present & HA_RES_HAS_MAX_RESTART) {
            g_snprintf(buf, sizeof(buf), "%d", r->max_restart);
            section_config_write_prop(out, "max_restart", buf);
        }
        if (r->present & HA_RES_HAS_STATE)
            section_config_write_prop(out, "state", r->state);
        section_config_write_end(out);
    }
    return g_string_free(out, FALSE);
}
