/*
 * config-datacenter: datacenter.cfg keys used by the HA stack.
 *
 * Property strings are comma-separated `name=value` pairs.  Unknown names are kept
 * silently (the file serves many components); bad values warn and keep defaults.
 */
#include "ha/config-datacenter.h"

#include "ha/config-status.h"
#include "lib/section-config.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

void ha_dc_settings_init(ha_dc_settings *s)
{
    memset(s, 0, sizeof(*s));
    s->auto_rebalance_threshold = 0.3;
    s->auto_rebalance_margin = 0.1;
    s->auto_rebalance_hold = 3;
    s->max_workers = 4;
}

void ha_dc_settings_clear(ha_dc_settings *s)
{
    g_free(s->shutdown_policy);
    g_free(s->crs_ha);
    g_free(s->auto_rebalance_method);
    g_free(s->fencing);
    g_free(s->ha_timing);
    ha_dc_settings_init(s);
}

void ha_dc_settings_copy(ha_dc_settings *dst, const ha_dc_settings *src)
{
    *dst = *src;
    dst->shutdown_policy = g_strdup(src->shutdown_policy);
    dst->crs_ha = g_strdup(src->crs_ha);
    dst->auto_rebalance_method = g_strdup(src->auto_rebalance_method);
    dst->fencing = g_strdup(src->fencing);
    dst->ha_timing = g_strdup(src->ha_timing);
}

static void warn(GPtrArray *w, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void warn(GPtrArray *w, const char *fmt, ...)
{
    if (!w)
        return;
    va_list ap;
    va_start(ap, fmt);
    g_ptr_array_add(w, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

/* threshold/margin: fractions; values > 1 are percent (I-6) */
static void set_fraction(double *slot, const char *name, const char *v, GPtrArray *w)
{
    char *end = NULL;
    double d = g_ascii_strtod(v, &end);
    if (!end || end == v || *end || d < 0 || d > 100) {
        warn(w, "invalid value '%s' for '%s', ignoring", v, name);
        return;
    }
    *slot = d > 1 ? d / 100.0 : d;
}

static void apply_pair(ha_dc_settings *s, const char *key, const char *name, const char *v,
                       GPtrArray *w)
{
    if (strcmp(key, "ha") == 0) {
        if (strcmp(name, "shutdown_policy") == 0) {
            g_free(s->shutdown_policy);
            s->shutdown_policy = g_strdup(v);
        }
        return;
    }
    if (strcmp(key, "crs") != 0)
        return;
    if (strcmp(name, "ha") == 0) {
        g_free(s->crs_ha);
        s->crs_ha = g_strdup(v);
    } else if (strcmp(name, "ha-rebalance-on-start") == 0) {
        int b = section_config_parse_bool(v);
        if (b < 0)
            warn(w, "invalid boolean '%s' for '%s', ignoring", v, name);
        else
            s->rebalance_on_start = b;
    } else if (strcmp(name, "ha-auto-rebalance") == 0) {
        int b = section_config_parse_bool(v);
        if (b < 0)
            warn(w, "invalid boolean '%s' for '%s', ignoring", v, name);
        else
            s->auto_rebalance = b;
    } else if (strcmp(name, "ha-auto-rebalance-threshold") == 0) {
        set_fraction(&s->auto_rebalance_threshold, name, v, w);
    } else if (strcmp(name, "ha-auto-rebalance-margin") == 0) {
        set_fraction(&s->auto_rebalance_margin, name, v, w);
    } else if (strcmp(name, "ha-auto-rebalance-hold-duration") == 0) {
        char *end = NULL;
        long n = strtol(v, &end, 10);
        if (!end || end == v || *end || n < 0 || n > 1000000)
            warn(w, "invalid value '%s' for '%s', ignoring", v, name);
        else
            s->auto_rebalance_hold = (int)n;
    } else if (strcmp(name, "ha-auto-rebalance-method") == 0) {
        g_free(s->auto_rebalance_method);
        s->auto_rebalance_method = g_strdup(v);
    }
}

void ha_dc_settings_apply(ha_dc_settings *s, const char *key, const char *value, GPtrArray *w)
{
    if (strcmp(key, "max_workers") == 0) {
        char *end = NULL;
        long n = strtol(value, &end, 10);
        if (!end || end == value || *end || n < 1 || n > 1024)
            warn(w, "invalid max_workers '%s', ignoring", value);
        else
            s->max_workers = (int)n;
        return;
    }
    if (strcmp(key, "fencing") == 0) {
        g_free(s->fencing);
        s->fencing = g_strdup(value);
        return;
    }
    if (strcmp(key, "ha-timing") == 0) {
        g_free(s->ha_timing);
        s->ha_timing = g_strdup(value);
        return;
    }
    if (strcmp(key, "ha") != 0 && strcmp(key, "crs") != 0)
        return;
    g_auto(GStrv) items = g_strsplit(value, ",", -1);
    for (int i = 0; items[i]; i++) {
        g_strstrip(items[i]);
        if (!items[i][0])
            continue;
        char *eq = strchr(items[i], '=');
        if (!eq) {
            /* the default key of both property strings */
            apply_pair(s, key, strcmp(key, "ha") == 0 ? "shutdown_policy" : "ha", items[i], w);
            continue;
        }
        *eq = '\0';
        apply_pair(s, key, items[i], eq + 1, w);
    }
}

void ha_dc_settings_parse(const char *text, ha_dc_settings *ret, GPtrArray *warnings)
{
    ha_dc_settings_init(ret);
    g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);
    for (int i = 0; lines[i]; i++) {
        char *line = g_strstrip(lines[i]);
        if (!line[0] || line[0] == '#')
            continue;
        char *colon = strchr(line, ':');
        if (!colon) {
            warn(warnings, "datacenter.cfg:%d: unable to parse line '%s', ignoring", i + 1, line);
            continue;
        }
        *colon = '\0';
        char *key = g_strstrip(line);
        char *value = g_strstrip(colon + 1);
        ha_dc_settings_apply(ret, key, value, warnings);
    }
}

int ha_dc_settings_parse_json(const char *text, ha_dc_settings *ret, GError **error)
{
    ha_dc_settings_init(ret);
    if (!text || !*text)
        return 0;
    g_autoptr(JsonParser) parser = json_parser_new();
    GError *perr = NULL;
    if (!json_parser_load_from_data(parser, text, -1, &perr)) {
        g_set_error(error, HA_CONFIG_ERROR, EINVAL, "unable to parse datacenter.cfg - %s",
                    perr->message);
        g_error_free(perr);
        return -EINVAL;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, HA_CONFIG_ERROR, EINVAL, "unable to parse datacenter.cfg - not an object");
        return -EINVAL;
    }
    JsonObject *o = json_node_get_object(root);
    static const char *const keys[] = {"ha", "crs"};
    for (gsize k = 0; k < G_N_ELEMENTS(keys); k++) {
        if (!json_object_has_member(o, keys[k]))
            continue;
        JsonNode *n = json_object_get_member(o, keys[k]);
        if (JSON_NODE_HOLDS_OBJECT(n)) {
            JsonObject *sub = json_node_get_object(n);
            GList *members = json_object_get_members(sub);
            for (GList *l = members; l; l = l->next) {
                g_autofree char *v = ha_json_value_string(json_object_get_member(sub, l->data));
                if (v)
                    apply_pair(ret, keys[k], l->data, v, NULL);
            }
            g_list_free(members);
        } else {
            g_autofree char *v = ha_json_value_string(n);
            if (v)
                ha_dc_settings_apply(ret, keys[k], v, NULL);
        }
    }
    if (json_object_has_member(o, "ha-timing")) {
        g_autofree char *v = ha_json_value_string(json_object_get_member(o, "ha-timing"));
        if (v)
            ha_dc_settings_apply(ret, "ha-timing", v, NULL);
    }
    return 0;
}
