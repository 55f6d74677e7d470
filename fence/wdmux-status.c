/*
 * wdmux-status: JSON rendering and parsing of the mux status file, and the timing
 * invariant check the HA daemons run before arming (fence.md 4.6, 5).
 *
 * The rendering is deterministic (fixed member order, two-space indent) so tests can
 * compare it byte for byte; the parser accepts any member order and ignores unknown
 * members, so later mux versions can add fields.
 */
#include "fence/wdmux-status.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "fence/wdmux-defs.h"

G_DEFINE_QUARK(wdmux_status_error_quark, wdmux_status_error)

wdmux_status *wdmux_status_new(void)
{
    wdmux_status *st = g_new0(wdmux_status, 1);
    st->clients = g_array_new(FALSE, TRUE, sizeof(wdmux_status_client));
    return st;
}

wdmux_status *wdmux_status_new_reference(void)
{
    wdmux_status *st = wdmux_status_new();
    st->backend = g_strdup("reference");
    st->device = g_strdup(WDMUX_DEVICE_PATH);
    st->magic_close = true;
    st->device_timeout_ms = WDMUX_DEFAULT_DEVICE_TIMEOUT_MS;
    st->client_timeout_ms = WDMUX_DEFAULT_CLIENT_TIMEOUT_MS;
    st->warn_before_ms = WDMUX_DEFAULT_WARN_BEFORE_MS;
    st->tick_ms = WDMUX_DEFAULT_TICK_MS;
    st->updates_enabled = true;
    return st;
}

void wdmux_status_free(wdmux_status *st)
{
    if (!st)
        return;
    g_free(st->backend);
    g_free(st->node);
    g_free(st->device);
    g_free(st->identity);
    g_array_unref(st->clients);
    g_free(st);
}

static void status_add_string(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

static void status_add_int(JsonBuilder *b, const char *name, gint64 value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, value);
}

static void status_add_bool(JsonBuilder *b, const char *name, bool value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_boolean_value(b, value);
}

char *wdmux_status_render(const wdmux_status *st)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    status_add_string(b, "backend", st->backend);
    status_add_string(b, "node", st->node);
    status_add_string(b, "device", st->device);
    status_add_string(b, "identity", st->identity);
    status_add_bool(b, "magic_close", st->magic_close);
    status_add_int(b, "device_timeout_ms", st->device_timeout_ms);
    status_add_int(b, "client_timeout_ms", st->client_timeout_ms);
    status_add_int(b, "warn_before_ms", st->warn_before_ms);
    status_add_int(b, "tick_ms", st->tick_ms);
    status_add_bool(b, "updates_enabled", st->updates_enabled);
    json_builder_set_member_name(b, "clients");
    json_builder_begin_array(b);
    for (guint i = 0; i < st->clients->len; i++) {
        const wdmux_status_client *c = &g_array_index(st->clients, wdmux_status_client, i);
        json_builder_begin_object(b);
        status_add_int(b, "pid", c->pid);
        status_add_int(b, "uid", c->uid);
        status_add_int(b, "age_ms", c->age_ms);
        status_add_string(b, "state", c->state);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);

    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_pretty(gen, TRUE);
    json_generator_set_indent(gen, 2);
    json_generator_set_root(gen, root);
    g_autofree char *text = json_generator_to_data(gen, NULL);
    return g_strconcat(text, "\n", NULL);
}

static gboolean status_parse_error(GError **error, const char *what)
{
    g_set_error(error, WDMUX_STATUS_ERROR, WDMUX_STATUS_ERROR_PARSE, "watchdog-mux status: %s",
                what);
    return FALSE;
}

static gboolean status_get_int(JsonObject *o, const char *name, bool required, gint64 min,
                               gint64 *ret, GError **error)
{
    JsonNode *n = json_object_get_member(o, name);
    if (!n) {
        if (!required)
            return TRUE;
        g_autofree char *msg = g_strdup_printf("member '%s' is missing", name);
        return status_parse_error(error, msg);
    }
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
        json_node_get_int(n) < min) {
        g_autofree char *msg =
            g_strdup_printf("member '%s' must be an integer >= %" G_GINT64_FORMAT, name, min);
        return status_parse_error(error, msg);
    }
    *ret = json_node_get_int(n);
    return TRUE;
}

static gboolean status_get_string(JsonObject *o, const char *name, char **ret, GError **error)
{
    JsonNode *n = json_object_get_member(o, name);
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return TRUE;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
        g_autofree char *msg = g_strdup_printf("member '%s' must be a string", name);
        return status_parse_error(error, msg);
    }
    g_free(*ret);
    *ret = g_strdup(json_node_get_string(n));
    return TRUE;
}

static gboolean status_get_bool(JsonObject *o, const char *name, bool *ret, GError **error)
{
    JsonNode *n = json_object_get_member(o, name);
    if (!n)
        return TRUE;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN) {
        g_autofree char *msg = g_strdup_printf("member '%s' must be true or false", name);
        return status_parse_error(error, msg);
    }
    *ret = json_node_get_boolean(n);
    return TRUE;
}

static gboolean status_parse_client(JsonNode *n, wdmux_status_client *ret, GError **error)
{
    if (!JSON_NODE_HOLDS_OBJECT(n))
        return status_parse_error(error, "every member of 'clients' must be an object");
    JsonObject *o = json_node_get_object(n);
    gint64 pid = 0, uid = 0, age = 0;
    g_autofree char *state = NULL;
    if (!status_get_int(o, "pid", true, 0, &pid, error) ||
        !status_get_int(o, "uid", false, 0, &uid, error) ||
        !status_get_int(o, "age_ms", false, 0, &age, error) ||
        !status_get_string(o, "state", &state, error))
        return FALSE;
    if (pid > G_MAXINT32 || uid > G_MAXUINT32)
        return status_parse_error(error, "client pid or uid out of range");
    *ret = (wdmux_status_client){.pid = (pid_t)pid, .uid = (uid_t)uid, .age_ms = age};
    g_strlcpy(ret->state, state ? state : "ok", sizeof(ret->state));
    return TRUE;
}

gboolean wdmux_status_parse(const char *text, gssize len, wdmux_status **ret_status, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) local = NULL;

    if (!json_parser_load_from_data(parser, text, len, &local))
        return status_parse_error(error, local->message);
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root))
        return status_parse_error(error, "not a JSON object");
    JsonObject *o = json_node_get_object(root);

    g_autoptr(wdmux_status) st = wdmux_status_new();
    st->updates_enabled = true;
    if (!status_get_int(o, "device_timeout_ms", true, 1, &st->device_timeout_ms, error) ||
        !status_get_int(o, "client_timeout_ms", true, 1, &st->client_timeout_ms, error) ||
        !status_get_int(o, "warn_before_ms", true, 0, &st->warn_before_ms, error) ||
        !status_get_int(o, "tick_ms", true, 1, &st->tick_ms, error) ||
        !status_get_string(o, "backend", &st->backend, error) ||
        !status_get_string(o, "node", &st->node, error) ||
        !status_get_string(o, "device", &st->device, error) ||
        !status_get_string(o, "identity", &st->identity, error) ||
        !status_get_bool(o, "magic_close", &st->magic_close, error) ||
        !status_get_bool(o, "updates_enabled", &st->updates_enabled, error))
        return FALSE;

    JsonNode *clients = json_object_get_member(o, "clients");
    if (clients) {
        if (!JSON_NODE_HOLDS_ARRAY(clients))
            return status_parse_error(error, "member 'clients' must be an array");
        JsonArray *a = json_node_get_array(clients);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            wdmux_status_client c;
            if (!status_parse_client(json_array_get_element(a, i), &c, error))
                return FALSE;
            g_array_append_val(st->clients, c);
        }
    }
    *ret_status = g_steal_pointer(&st);
    return TRUE;
}

gboolean wdmux_status_read(const char *path, wdmux_status **ret_status, GError **error)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    g_autoptr(GError) local = NULL;

    if (!g_file_get_contents(path, &text, &len, error))
        return FALSE;
    if (!wdmux_status_parse(text, (gssize)len, ret_status, &local)) {
        g_set_error(error, WDMUX_STATUS_ERROR, WDMUX_STATUS_ERROR_PARSE, "%s: %s", path,
                    local->message);
        return FALSE;
    }
    return TRUE;
}

gboolean wdmux_check_invariant(const wdmux_status *st, const wdmux_timing *t, GError **error)
{
    gint64 slack = t->lock_timeout_ms - (t->renew_bound_ms + st->client_timeout_ms + st->tick_ms +
                                         st->device_timeout_ms);

    if (t->margin_ms > 0 && t->renew_bound_ms >= 0 && slack >= t->margin_ms)
        return TRUE;

    g_set_error(error, WDMUX_STATUS_ERROR, WDMUX_STATUS_ERROR_INVARIANT,
                "watchdog timing invariant violated: lock timeout %" G_GINT64_FORMAT
                " ms - (renewal bound %" G_GINT64_FORMAT " ms + client timeout %" G_GINT64_FORMAT
                " ms + mux tick %" G_GINT64_FORMAT " ms + device timeout %" G_GINT64_FORMAT
                " ms) = slack %" G_GINT64_FORMAT " ms, but the margin is %" G_GINT64_FORMAT " ms%s",
                t->lock_timeout_ms, t->renew_bound_ms, st->client_timeout_ms, st->tick_ms,
                st->device_timeout_ms, slack, t->margin_ms,
                t->margin_ms > 0 ? "" : " (the margin must be positive)");
    return FALSE;
}
