/*
 * config-status: JSON parsers and writers for manager_status and lrm_status.
 *
 * The records are plain structs; every JSON member we do not know is dropped on
 * parse (the files are rewritten whole each round by their single writer).  Numbers
 * given as strings (the reference writes some values as strings) are accepted where
 * a number is expected.
 */
#include "ha/config-status.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK(ha-config-error-quark, ha_config_error)

static const char *const svc_state_names[] = {
    [HA_SS_NONE] = "",
    [HA_SS_STOPPED] = "stopped",
    [HA_SS_REQUEST_STOP] = "request_stop",
    [HA_SS_REQUEST_START] = "request_start",
    [HA_SS_REQUEST_START_BALANCE] = "request_start_balance",
    [HA_SS_STARTED] = "started",
    [HA_SS_FENCE] = "fence",
    [HA_SS_RECOVERY] = "recovery",
    [HA_SS_MIGRATE] = "migrate",
    [HA_SS_RELOCATE] = "relocate",
    [HA_SS_FREEZE] = "freeze",
    [HA_SS_ERROR] = "error",
};

static const char *const node_state_names[] = {
    [HA_NODE_UNKNOWN] = "unknown", [HA_NODE_ONLINE] = "online",
    [HA_NODE_MAINTENANCE] = "maintenance", [HA_NODE_FENCE] = "fence",
    [HA_NODE_GONE] = "gone",
};

const char *ha_svc_state_name(ha_svc_state s)
{
    return (unsigned)s < G_N_ELEMENTS(svc_state_names) ? svc_state_names[s] : "";
}

int ha_svc_state_from_name(const char *name, ha_svc_state *ret)
{
    for (unsigned i = 1; i < G_N_ELEMENTS(svc_state_names); i++)
        if (name && strcmp(name, svc_state_names[i]) == 0) {
            *ret = i;
            return 0;
        }
    return -EINVAL;
}

const char *ha_node_state_name(ha_node_state s)
{
    return (unsigned)s < G_N_ELEMENTS(node_state_names) ? node_state_names[s] : "unknown";
}

int ha_node_state_from_name(const char *name, ha_node_state *ret)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(node_state_names); i++)
        if (name && strcmp(name, node_state_names[i]) == 0) {
            *ret = i;
            return 0;
        }
    return -EINVAL;
}

static int str_ptr_cmp(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void ha_strv_sort(GPtrArray *a)
{
    g_ptr_array_sort(a, str_ptr_cmp);
}

GPtrArray *ha_sorted_keys(GHashTable *table)
{
    GPtrArray *keys = g_ptr_array_new();
    if (!table)
        return keys;
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, table);
    while (g_hash_table_iter_next(&it, &k, NULL))
        g_ptr_array_add(keys, k);
    ha_strv_sort(keys);
    return keys;
}

char *ha_json_value_string(JsonNode *n)
{
    if (!n || !JSON_NODE_HOLDS_VALUE(n))
        return NULL;
    GType t = json_node_get_value_type(n);
    if (t == G_TYPE_STRING)
        return g_strdup(json_node_get_string(n));
    if (t == G_TYPE_INT64)
        return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(n));
    if (t == G_TYPE_BOOLEAN)
        return g_strdup(json_node_get_boolean(n) ? "1" : "0");
    if (t == G_TYPE_DOUBLE) {
        char buf[G_ASCII_DTOSTR_BUF_SIZE];
        return g_strdup(g_ascii_dtostr(buf, sizeof(buf), json_node_get_double(n)));
    }
    return NULL;
}

/* ---- service records ---- */

ha_service_state *ha_service_state_new(void)
{
    return g_new0(ha_service_state, 1);
}

void ha_service_state_free(ha_service_state *sd)
{
    if (!sd)
        return;
    g_free(sd->node);
    g_free(sd->uid);
    g_free(sd->target);
    if (sd->failed_nodes)
        g_ptr_array_unref(sd->failed_nodes);
    g_free(sd->maintenance_node);
    g_free(sd->timeout);
    g_free(sd->cmd);
    g_free(sd->cmd_arg);
    g_free(sd);
}

ha_service_state *ha_service_state_copy(const ha_service_state *sd)
{
    ha_service_state *c = ha_service_state_new();
    c->state = sd->state;
    c->node = g_strdup(sd->node);
    c->uid = g_strdup(sd->uid);
    c->target = g_strdup(sd->target);
    c->has_target = sd->has_target;
    c->running = sd->running;
    if (sd->failed_nodes) {
        c->failed_nodes = g_ptr_array_new_with_free_func(g_free);
        for (guint i = 0; i < sd->failed_nodes->len; i++)
            g_ptr_array_add(c->failed_nodes, g_strdup(g_ptr_array_index(sd->failed_nodes, i)));
    }
    c->maintenance_node = g_strdup(sd->maintenance_node);
    c->timeout = g_strdup(sd->timeout);
    c->cmd = g_strdup(sd->cmd);
    c->cmd_arg = g_strdup(sd->cmd_arg);
    return c;
}

char *ha_service_state_failed_nodes_text(const ha_service_state *sd)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; sd->failed_nodes && i < sd->failed_nodes->len; i++) {
        if (i)
            g_string_append(s, ", ");
        g_string_append(s, g_ptr_array_index(sd->failed_nodes, i));
    }
    return g_string_free(s, FALSE);
}

/* ---- helpers for parsing ---- */

static char *member_string(JsonObject *o, const char *key, gboolean *bad)
{
    if (!json_object_has_member(o, key))
        return NULL;
    JsonNode *n = json_object_get_member(o, key);
    if (JSON_NODE_HOLDS_NULL(n))
        return NULL;
    if (!JSON_NODE_HOLDS_VALUE(n)) {
        *bad = TRUE;
        return NULL;
    }
    char *v = ha_json_value_string(n);
    if (v)
        return v;
    *bad = TRUE;
    return NULL;
}

/* A number member (or numeric string).  Returns FALSE if absent. */
static gboolean member_number(JsonObject *o, const char *key, double *ret, gboolean *bad)
{
    if (!json_object_has_member(o, key))
        return FALSE;
    JsonNode *n = json_object_get_member(o, key);
    if (JSON_NODE_HOLDS_NULL(n))
        return FALSE;
    if (!JSON_NODE_HOLDS_VALUE(n)) {
        *bad = TRUE;
        return FALSE;
    }
    GType t = json_node_get_value_type(n);
    if (t == G_TYPE_INT64)
        *ret = (double)json_node_get_int(n);
    else if (t == G_TYPE_DOUBLE)
        *ret = json_node_get_double(n);
    else if (t == G_TYPE_BOOLEAN)
        *ret = json_node_get_boolean(n);
    else if (t == G_TYPE_STRING) {
        char *end = NULL;
        const char *s = json_node_get_string(n);
        *ret = g_ascii_strtod(s, &end);
        if (!end || end == s || *end) {
            *bad = TRUE;
            return FALSE;
        }
    } else {
        *bad = TRUE;
        return FALSE;
    }
    return TRUE;
}

/* An object member; NULL when absent or null, *bad set when of another type. */
static JsonObject *member_object(JsonObject *o, const char *key, gboolean *bad)
{
    JsonNode *n = json_object_get_member(o, key);
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return NULL;
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
        *bad = TRUE;
        return NULL;
    }
    return json_node_get_object(n);
}

static JsonObject *parse_object(const char *text, const char *what, GError **error,
                                JsonParser **ret_parser)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    if (!text || !*text || strspn(text, " \t\r\n") == strlen(text)) {
        *ret_parser = NULL;
        return NULL;
    }
    GError *perr = NULL;
    if (!json_parser_load_from_data(parser, text, -1, &perr)) {
        g_set_error(error, HA_CONFIG_ERROR, EINVAL, "unable to parse %s - %s", what, perr->message);
        g_error_free(perr);
        return NULL;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, HA_CONFIG_ERROR, EINVAL, "unable to parse %s - not a JSON object", what);
        return NULL;
    }
    *ret_parser = g_steal_pointer(&parser);
    return json_node_get_object(root);
}

/* ---- manager status ---- */

ha_manager_status *ha_manager_status_new(void)
{
    ha_manager_status *ms = g_new0(ha_manager_status, 1);
    ms->node_status = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    ms->service_status = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                               (GDestroyNotify)ha_service_state_free);
    return ms;
}

void ha_manager_status_free(ha_manager_status *ms)
{
    if (!ms)
        return;
    g_free(ms->master_node);
    g_hash_table_unref(ms->node_status);
    g_hash_table_unref(ms->service_status);
    if (ms->node_request)
        g_hash_table_unref(ms->node_request);
    if (ms->node_last_online)
        g_hash_table_unref(ms->node_last_online);
    g_free(ms->disarm_mode);
    g_free(ms->disarm_state);
    g_free(ms);
}

ha_node_state ha_manager_status_node_state(const ha_manager_status *ms, const char *node)
{
    return GPOINTER_TO_INT(g_hash_table_lookup(ms->node_status, node));
}

int ha_service_status_active_count(GHashTable *service_status, const char *node)
{
    int count = 0;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, service_status);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        const ha_service_state *sd = v;
        if (!(sd->node && strcmp(sd->node, node) == 0) &&
            !(sd->target && strcmp(sd->target, node) == 0))
            continue;
        if (sd->state == HA_SS_NONE || sd->state == HA_SS_STOPPED || sd->state == HA_SS_FREEZE ||
            sd->state == HA_SS_ERROR || sd->state == HA_SS_REQUEST_START)
            continue;
        count++;
    }
    return count;
}

static int parse_service_record(JsonObject *o, const char *sid, ha_service_state **ret,
                                GError **error)
{
    gboolean bad = FALSE;
    g_autoptr(ha_service_state) sd = ha_service_state_new();
    g_autofree char *state = member_string(o, "state", &bad);
    if (state && ha_svc_state_from_name(state, &sd->state) < 0) {
        g_set_error(error, HA_CONFIG_ERROR, EINVAL, "service '%s': unknown state '%s'", sid, state);
        return -EINVAL;
    }
    sd->node = member_string(o, "node", &bad);
    sd->uid = member_string(o, "uid", &bad);
    sd->has_target = json_object_has_member(o, "target");
    sd->target = member_string(o, "target", &bad);
    double v = 0;
    if (member_number(o, "running", &v, &bad))
        sd->running = v != 0;
    sd->maintenance_node = member_string(o, "maintenance_node", &bad);
    sd->timeout = member_string(o, "timeout", &bad);
    if (json_object_has_member(o, "failed_nodes")) {
        JsonNode *n = json_object_get_member(o, "failed_nodes");
        if (JSON_NODE_HOLDS_ARRAY(n)) {
            JsonArray *a = json_node_get_array(n);
            sd->failed_nodes = g_ptr_array_new_with_free_func(g_free);
            for (guint i = 0; i < json_array_get_length(a); i++) {
                JsonNode *e = json_array_get_element(a, i);
                if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING) {
                    bad = TRUE;
                    break;
                }
                g_ptr_array_add(sd->failed_nodes, g_strdup(json_node_get_string(e)));
            }
        } else if (!JSON_NODE_HOLDS_NULL(n)) {
            bad = TRUE;
        }
    }
    if (json_object_has_member(o, "cmd")) {
        JsonNode *n = json_object_get_member(o, "cmd");
        if (JSON_NODE_HOLDS_ARRAY(n)) {
            JsonArray *a = json_node_get_array(n);
            if (json_array_get_length(a) >= 1) {
                JsonNode *e = json_array_get_element(a, 0);
                if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING)
                    sd->cmd = g_strdup(json_node_get_string(e));
            }
            if (json_array_get_length(a) >= 2) {
                JsonNode *e = json_array_get_element(a, 1);
                if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING)
                    sd->cmd_arg = g_strdup(json_node_get_string(e));
                else if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_INT64)
                    sd->cmd_arg = g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(e));
            }
        }
    }
    if (bad) {
        g_set_error(error, HA_CONFIG_ERROR, EINVAL, "service '%s': wrongly typed member", sid);
        return -EINVAL;
    }
    *ret = g_steal_pointer(&sd);
    return 0;
}

int ha_manager_status_parse(const char *text, ha_manager_status **ret, GError **error)
{
    g_autoptr(JsonParser) parser = NULL;
    GError *perr = NULL;
    JsonObject *root = parse_object(text, "manager status", &perr, &parser);
    if (perr) {
        g_propagate_error(error, perr);
        return -EINVAL;
    }
    g_autoptr(ha_manager_status) ms = ha_manager_status_new();
    if (!root) {
        *ret = g_steal_pointer(&ms);
        return 0;
    }
    gboolean bad = FALSE;
    ms->master_node = member_string(root, "master_node", &bad);
    double v = 0;
    if (member_number(root, "timestamp", &v, &bad)) {
        ms->timestamp = (gint64)v;
        ms->has_timestamp = true;
    }
    JsonObject *node_status = member_object(root, "node_status", &bad);
    JsonObject *service_status = member_object(root, "service_status", &bad);
    JsonObject *node_request = member_object(root, "node_request", &bad);
    JsonObject *disarm = member_object(root, "disarm", &bad);
    JsonObject *node_last_online = member_object(root, "node_last_online", &bad);
    if (bad) {
        g_set_error(error, HA_CONFIG_ERROR, EINVAL, "unable to parse manager status - bad member type");
        return -EINVAL;
    }
    JsonObject *o;
    if ((o = node_status)) {
        GList *members = json_object_get_members(o);
        for (GList *l = members; l; l = l->next) {
            const char *node = l->data;
            gboolean b = FALSE;
            g_autofree char *st = member_string(o, node, &b);
            ha_node_state ns;
            if (!st || ha_node_state_from_name(st, &ns) < 0) {
                g_set_error(error, HA_CONFIG_ERROR, EINVAL,
                            "unable to parse manager status - node '%s' has invalid state", node);
                g_list_free(members);
                return -EINVAL;
            }
            g_hash_table_insert(ms->node_status, g_strdup(node), GINT_TO_POINTER(ns));
        }
        g_list_free(members);
    }
    if ((o = service_status)) {
        GList *members = json_object_get_members(o);
        for (GList *l = members; l; l = l->next) {
            const char *sid = l->data;
            JsonNode *n = json_object_get_member(o, sid);
            ha_service_state *sd = NULL;
            if (!JSON_NODE_HOLDS_OBJECT(n)) {
                g_set_error(error, HA_CONFIG_ERROR, EINVAL,
                            "unable to parse manager status - service '%s' is not an object", sid);
                g_list_free(members);
                return -EINVAL;
            }
            if (parse_service_record(json_node_get_object(n), sid, &sd, error) < 0) {
                g_list_free(members);
                return -EINVAL;
            }
            g_hash_table_insert(ms->service_status, g_strdup(sid), sd);
        }
        g_list_free(members);
    }
    if ((o = node_request)) {
        ms->node_request = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        GList *members = json_object_get_members(o);
        for (GList *l = members; l; l = l->next) {
            JsonNode *n = json_object_get_member(o, l->data);
            int maint = 0;
            if (JSON_NODE_HOLDS_OBJECT(n)) {
                double m = 0;
                gboolean b = FALSE;
                if (member_number(json_node_get_object(n), "maintenance", &m, &b))
                    maint = m != 0;
            }
            g_hash_table_insert(ms->node_request, g_strdup(l->data), GINT_TO_POINTER(maint));
        }
        g_list_free(members);
    }
    if ((o = disarm)) {
        gboolean b = FALSE;
        ms->disarm_mode = member_string(o, "mode", &b);
        ms->disarm_state = member_string(o, "state", &b);
        if (!ms->disarm_mode)
            ms->disarm_mode = g_strdup("");
        if (!ms->disarm_state)
            ms->disarm_state = g_strdup("disarming");
    }
    if ((o = node_last_online)) {
        ms->node_last_online = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        GList *members = json_object_get_members(o);
        for (GList *l = members; l; l = l->next) {
            double t = 0;
            gboolean b = FALSE;
            if (member_number(o, l->data, &t, &b)) {
                gint64 *tv = g_new(gint64, 1);
                *tv = (gint64)t;
                g_hash_table_insert(ms->node_last_online, g_strdup(l->data), tv);
            }
        }
        g_list_free(members);
    }
    *ret = g_steal_pointer(&ms);
    return 0;
}

static void build_service_record(JsonBuilder *b, const ha_service_state *sd)
{
    json_builder_begin_object(b);
    /* keys in sorted order */
    if (sd->cmd) {
        json_builder_set_member_name(b, "cmd");
        json_builder_begin_array(b);
        json_builder_add_string_value(b, sd->cmd);
        if (sd->cmd_arg)
            json_builder_add_string_value(b, sd->cmd_arg);
        json_builder_end_array(b);
    }
    if (sd->failed_nodes) {
        json_builder_set_member_name(b, "failed_nodes");
        json_builder_begin_array(b);
        for (guint i = 0; i < sd->failed_nodes->len; i++)
            json_builder_add_string_value(b, g_ptr_array_index(sd->failed_nodes, i));
        json_builder_end_array(b);
    }
    if (sd->maintenance_node) {
        json_builder_set_member_name(b, "maintenance_node");
        json_builder_add_string_value(b, sd->maintenance_node);
    }
    if (sd->node) {
        json_builder_set_member_name(b, "node");
        json_builder_add_string_value(b, sd->node);
    }
    if (sd->running) {
        json_builder_set_member_name(b, "running");
        json_builder_add_int_value(b, 1);
    }
    if (sd->state != HA_SS_NONE) {
        json_builder_set_member_name(b, "state");
        json_builder_add_string_value(b, ha_svc_state_name(sd->state));
    }
    if (sd->target || sd->has_target) {
        json_builder_set_member_name(b, "target");
        if (sd->target)
            json_builder_add_string_value(b, sd->target);
        else
            json_builder_add_null_value(b);
    }
    if (sd->timeout) {
        json_builder_set_member_name(b, "timeout");
        char *end = NULL;
        gint64 t = g_ascii_strtoll(sd->timeout, &end, 10);
        if (end && *end == '\0' && end != sd->timeout)
            json_builder_add_int_value(b, t);
        else
            json_builder_add_string_value(b, sd->timeout);
    }
    if (sd->uid) {
        json_builder_set_member_name(b, "uid");
        json_builder_add_string_value(b, sd->uid);
    }
    json_builder_end_object(b);
}

static char *builder_to_string(JsonBuilder *b)
{
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}

char *ha_manager_status_to_json(const ha_manager_status *ms)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    if (ms->disarm_mode) {
        json_builder_set_member_name(b, "disarm");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "mode");
        json_builder_add_string_value(b, ms->disarm_mode);
        json_builder_set_member_name(b, "state");
        json_builder_add_string_value(b, ms->disarm_state ? ms->disarm_state : "disarming");
        json_builder_end_object(b);
    }
    if (ms->master_node) {
        json_builder_set_member_name(b, "master_node");
        json_builder_add_string_value(b, ms->master_node);
    }
    if (ms->node_last_online) {
        json_builder_set_member_name(b, "node_last_online");
        json_builder_begin_object(b);
        g_autoptr(GPtrArray) keys = ha_sorted_keys(ms->node_last_online);
        for (guint i = 0; i < keys->len; i++) {
            json_builder_set_member_name(b, keys->pdata[i]);
            json_builder_add_int_value(b, *(gint64 *)g_hash_table_lookup(ms->node_last_online,
                                                                         keys->pdata[i]));
        }
        json_builder_end_object(b);
    }
    if (ms->node_request) {
        json_builder_set_member_name(b, "node_request");
        json_builder_begin_object(b);
        g_autoptr(GPtrArray) keys = ha_sorted_keys(ms->node_request);
        for (guint i = 0; i < keys->len; i++) {
            json_builder_set_member_name(b, keys->pdata[i]);
            json_builder_begin_object(b);
            if (GPOINTER_TO_INT(g_hash_table_lookup(ms->node_request, keys->pdata[i]))) {
                json_builder_set_member_name(b, "maintenance");
                json_builder_add_int_value(b, 1);
            }
            json_builder_end_object(b);
        }
        json_builder_end_object(b);
    }
    json_builder_set_member_name(b, "node_status");
    json_builder_begin_object(b);
    {
        g_autoptr(GPtrArray) keys = ha_sorted_keys(ms->node_status);
        for (guint i = 0; i < keys->len; i++) {
            json_builder_set_member_name(b, keys->pdata[i]);
            json_builder_add_string_value(
                b, ha_node_state_name(GPOINTER_TO_INT(g_hash_table_lookup(ms->node_status,
                                                                          keys->pdata[i]))));
        }
    }
    json_builder_end_object(b);
    json_builder_set_member_name(b, "service_status");
    json_builder_begin_object(b);
    {
        g_autoptr(GPtrArray) keys = ha_sorted_keys(ms->service_status);
        for (guint i = 0; i < keys->len; i++) {
            json_builder_set_member_name(b, keys->pdata[i]);
            build_service_record(b, g_hash_table_lookup(ms->service_status, keys->pdata[i]));
        }
    }
    json_builder_end_object(b);
    if (ms->has_timestamp) {
        json_builder_set_member_name(b, "timestamp");
        json_builder_add_int_value(b, ms->timestamp);
    }
    json_builder_end_object(b);
    return builder_to_string(b);
}

/* ---- lrm status ---- */

ha_lrm_result *ha_lrm_result_new(const char *sid, const char *state, int exit_code)
{
    ha_lrm_result *r = g_new0(ha_lrm_result, 1);
    r->sid = g_strdup(sid);
    r->state = g_strdup(state);
    r->exit_code = exit_code;
    return r;
}

void ha_lrm_result_free(ha_lrm_result *r)
{
    if (!r)
        return;
    g_free(r->sid);
    g_free(r->state);
    g_free(r);
}

ha_lrm_status *ha_lrm_status_new(void)
{
    ha_lrm_status *ls = g_new0(ha_lrm_status, 1);
    ls->results = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify)ha_lrm_result_free);
    return ls;
}

void ha_lrm_status_free(ha_lrm_status *ls)
{
    if (!ls)
        return;
    g_free(ls->state);
    g_free(ls->mode);
    g_free(ls->watchdog);
    g_hash_table_unref(ls->results);
    g_free(ls);
}

int ha_lrm_status_parse(const char *text, ha_lrm_status **ret, GError **error)
{
    g_autoptr(JsonParser) parser = NULL;
    GError *perr = NULL;
    JsonObject *root = parse_object(text, "lrm status", &perr, &parser);
    if (perr) {
        g_propagate_error(error, perr);
        return -EINVAL;
    }
    g_autoptr(ha_lrm_status) ls = ha_lrm_status_new();
    if (!root) {
        *ret = g_steal_pointer(&ls);
        return 0;
    }
    gboolean bad = FALSE;
    ls->state = member_string(root, "state", &bad);
    ls->mode = member_string(root, "mode", &bad);
    ls->watchdog = member_string(root, "watchdog", &bad);
    double v = 0;
    if (member_number(root, "timestamp", &v, &bad)) {
        ls->timestamp = (gint64)v;
        ls->has_timestamp = true;
    }
    JsonObject *o = member_object(root, "results", &bad);
    if (!bad && o) {
        GList *members = json_object_get_members(o);
        for (GList *l = members; l; l = l->next) {
            JsonNode *n = json_object_get_member(o, l->data);
            if (!JSON_NODE_HOLDS_OBJECT(n)) {
                bad = TRUE;
                break;
            }
            JsonObject *r = json_node_get_object(n);
            g_autofree char *sid = member_string(r, "sid", &bad);
            g_autofree char *state = member_string(r, "state", &bad);
            double ec = 0;
            if (!member_number(r, "exit_code", &ec, &bad))
                bad = TRUE;
            if (bad)
                break;
            g_hash_table_insert(ls->results, g_strdup(l->data),
                                ha_lrm_result_new(sid, state, (int)ec));
        }
        g_list_free(members);
    }
    if (bad) {
        g_set_error(error, HA_CONFIG_ERROR, EINVAL, "unable to parse lrm status - bad member type");
        return -EINVAL;
    }
    *ret = g_steal_pointer(&ls);
    return 0;
}

char *ha_lrm_status_to_json(const ha_lrm_status *ls)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    if (ls->mode) {
        json_builder_set_member_name(b, "mode");
        json_builder_add_string_value(b, ls->mode);
    }
    json_builder_set_member_name(b, "results");
    json_builder_begin_object(b);
    g_autoptr(GPtrArray) keys = ha_sorted_keys(ls->results);
    for (guint i = 0; i < keys->len; i++) {
        ha_lrm_result *r = g_hash_table_lookup(ls->results, keys->pdata[i]);
        json_builder_set_member_name(b, keys->pdata[i]);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "exit_code");
        json_builder_add_int_value(b, r->exit_code);
        json_builder_set_member_name(b, "sid");
        json_builder_add_string_value(b, r->sid);
        json_builder_set_member_name(b, "state");
        json_builder_add_string_value(b, r->state);
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
    if (ls->state) {
        json_builder_set_member_name(b, "state");
        json_builder_add_string_value(b, ls->state);
    }
    if (ls->has_timestamp) {
        json_builder_set_member_name(b, "timestamp");
        json_builder_add_int_value(b, ls->timestamp);
    }
    if (ls->watchdog) {
        json_builder_set_member_name(b, "watchdog");
        json_builder_add_string_value(b, ls->watchdog);
    }
    json_builder_end_object(b);
    return builder_to_string(b);
}
