/*
 * sim/hardware: scenario loading, hardware commands, the discrete-time run loop
 * (ha.md §9.8) and the status file dump.
 *
 * The run loop is the reference's: daemons run in node order, each advancing the
 * hardware clock by its own one-tick step; loops last max(20, 2n) ticks; command
 * batches run every fifth loop, after every daemon clock has been set to the loop
 * end; the run ends at the first batch slot more than 500 ticks after the last
 * command.  An error inside a hardware command aborts the run with
 * "exit simulation - <reason>".
 */
#include "ha/sim/hardware.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_LOOP_MIN_TICKS 20     /* ha.md §9.8 */
#define SIM_BATCH_EVERY 5         /* loops between command batches */
#define SIM_END_AFTER_TICKS 500   /* end: more than this after the last command */
#define SIM_MAX_TICKS 10000       /* hard cap */
#define GIB (1024ULL * 1024 * 1024)

static void sim_service_free(gpointer p)
{
    sim_service *s = p;
    g_free(s->node);
    g_free(s->state);
    g_free(s->max_restart);
    g_free(s->max_relocate);
    g_free(s->failback);
    g_free(s->group);
    g_free(s->comment);
    g_free(s->lock);
    g_free(s);
}

static void sim_lock_free(gpointer p)
{
    sim_lock *l = p;
    g_free(l->holder);
    g_free(l);
}

static void sim_watchdog_free(gpointer p)
{
    sim_watchdog *w = p;
    g_free(w->node);
    g_free(w);
}

static void sim_node_free(gpointer p)
{
    sim_node *n = p;
    ha_crm_free(n->crm);
    ha_lrm_free(n->lrm);
    g_free(n->name);
    g_free(n->shutdown);
    g_free(n->version);
    g_hash_table_unref(n->running);
    g_free(n->lrm_status);
    g_free(n);
}

void sim_hw_free(sim_hw *hw)
{
    if (!hw)
        return;
    g_ptr_array_unref(hw->nodes); /* daemons first: they reference hw */
    if (hw->cmdlist)
        json_node_unref(hw->cmdlist);
    g_free(hw->manager_status);
    g_hash_table_unref(hw->services);
    g_free(hw->rules_text);
    g_free(hw->groups_text);
    g_free(hw->datacenter_text);
    ha_dc_settings_clear(&hw->dc);
    g_hash_table_unref(hw->static_stats);
    g_hash_table_unref(hw->dynamic_stats);
    g_string_free(hw->crm_commands, TRUE);
    g_hash_table_unref(hw->locks);
    g_hash_table_unref(hw->watchdogs);
    g_hash_table_unref(hw->fa_start_tries);
    g_hash_table_unref(hw->fa_migrate_tries);
    if (hw->logf)
        fclose(hw->logf);
    g_free(hw->abort_msg);
    g_free(hw->testdir);
    g_free(hw->statusdir);
    g_free(hw);
}

/* ---- logging ---- */

void sim_hw_log(sim_hw *hw, const char *level, const char *source, gint64 t, const char *msg)
{
    g_autofree char *line = NULL;
    if (hw->timing.sim_unit_ms == 1000)
        line = g_strdup_printf("%-5s %5" G_GINT64_FORMAT " %12s: %s\n", level, t / 1000, source, msg);
    else
        line = g_strdup_printf("%-5s %8.2f %12s: %s\n", level, t / 1000.0, source, msg);
    if (!hw->quiet)
        fputs(line, stdout);
    if (hw->logf)
        fputs(line, hw->logf);
}

static void hw_log(sim_hw *hw, const char *level, const char *source, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
static void hw_log(sim_hw *hw, const char *level, const char *source, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    sim_hw_log(hw, level, source, hw->H, msg);
}

/* ---- cluster view ---- */

sim_node *sim_hw_node(sim_hw *hw, const char *name)
{
    for (guint i = 0; name && i < hw->nodes->len; i++) {
        sim_node *n = g_ptr_array_index(hw->nodes, i);
        if (strcmp(n->name, name) == 0)
            return n;
    }
    return NULL;
}

static bool cluster_quorate(sim_hw *hw)
{
    guint online = 0;
    for (guint i = 0; i < hw->nodes->len; i++) {
        sim_node *n = g_ptr_array_index(hw->nodes, i);
        if (n->power && n->network)
            online++;
    }
    return online > hw->nodes->len / 2;
}

void sim_hw_node_info(sim_hw *hw, GPtrArray **ret, bool *ret_quorate)
{
    bool q = cluster_quorate(hw);
    GPtrArray *a = g_ptr_array_new_with_free_func((GDestroyNotify)ha_node_info_free);
    for (guint i = 0; i < hw->nodes->len; i++) {
        sim_node *n = g_ptr_array_index(hw->nodes, i);
        ha_node_info *ni = g_new0(ha_node_info, 1);
        ni->node = g_strdup(n->name);
        ni->online = q && n->power && n->network;
        g_ptr_array_add(a, ni);
    }
    *ret = a;
    *ret_quorate = q;
}

bool sim_hw_node_quorate(sim_hw *hw, sim_node *node)
{
    return node->power && node->network && cluster_quorate(hw);
}

/* ---- loading ---- */

/* Read <dir>/<name> into *@ret, NULL when the file does not exist; -EIO otherwise. */
static int read_optional(const char *dir, const char *name, char **ret, GError **error)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    char *text = NULL;
    GError *err = NULL;
    if (!g_file_get_contents(path, &text, NULL, &err)) {
        if (!g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            g_propagate_error(error, err);
            return -EIO;
        }
        g_error_free(err);
    }
    *ret = text;
    return 0;
}

static JsonNode *parse_json(const char *text, const char *what, GError **error)
{
    g_autoptr(JsonParser) p = json_parser_new();
    GError *err = NULL;
    if (!json_parser_load_from_data(p, text, -1, &err)) {
        g_set_error(error, HA_CONFIG_ERROR, EINVAL, "unable to parse '%s' - %s", what, err->message);
        g_error_free(err);
        return NULL;
    }
    JsonNode *root = json_parser_get_root(p);
    if (!root) {
        g_set_error(error, HA_CONFIG_ERROR, EINVAL, "unable to parse '%s' - empty", what);
        return NULL;
    }
    return json_node_copy(root);
}

/* A scalar member as text; NULL when absent, null or not a scalar. */
static char *member_text(JsonObject *o, const char *key)
{
    return ha_json_value_string(json_object_get_member(o, key));
}

static bool json_number(JsonObject *o, const char *key, double *ret)
{
    g_autofree char *s = member_text(o, key);
    if (!s)
        return false;
    char *end = NULL;
    *ret = g_ascii_strtod(s, &end);
    return end && end != s && *end == '\0';
}

static bool sid_valid(const char *sid)
{
    if (!(g_str_has_prefix(sid, "vm:") || g_str_has_prefix(sid, "ct:") || g_str_has_prefix(sid, "fa:")))
        return false;
    return ha_guest_name_valid(sid + 3);
}

static sim_node *node_new(sim_hw *hw, const char *name)
{
    sim_node *n = g_new0(sim_node, 1);
    n->name = g_strdup(name);
    n->cfs_rw = n->cfs_update = true;
    n->running = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return n;
}

static int node_cmp(gconstpointer a, gconstpointer b)
{
    return strcmp((*(sim_node *const *)a)->name, (*(sim_node *const *)b)->name);
}

static int load_hardware(sim_hw *hw, GError **error)
{
    g_autofree char *text = NULL;
    if (read_optional(hw->testdir, "hardware_status", &text, error) < 0)
        return -EINVAL;
    if (!text) {
        for (int i = 1; i <= 3; i++) {
            g_autofree char *name = g_strdup_printf("node%d", i);
            sim_node *n = node_new(hw, name);
            n->maxcpu = 24;
            n->maxmem = 128 * GIB;
            n->has_maxcpu = n->has_maxmem = true;
            g_ptr_array_add(hw->nodes, n);
        }
        return 0;
    }
    g_autoptr(JsonNode) root = parse_json(text, "hardware_status", error);
    if (!root)
        return -EINVAL;
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, HA_CONFIG_ERROR, EINVAL, "hardware_status: not a JSON object");
        return -EINVAL;
    }
    JsonObject *o = json_node_get_object(root);
    GList *members = json_object_get_members(o);
    for (GList *l = members; l; l = l->next) {
        JsonNode *nn = json_object_get_member(o, l->data);
        if (!JSON_NODE_HOLDS_OBJECT(nn) || !ha_node_name_valid(l->data)) {
            g_set_error(error, HA_CONFIG_ERROR, EINVAL, "hardware_status: invalid node entry '%s'",
                        (char *)l->data);
            g_list_free(members);
            return -EINVAL;
        }
        JsonObject *no = json_node_get_object(nn);
        sim_node *n = node_new(hw, l->data);
        g_autofree char *power = member_text(no, "power");
        g_autofree char *network = member_text(no, "network");
        n->power = power && strcmp(power, "on") == 0;
        n->network = network && strcmp(network, "on") == 0;
        double d;
        if (json_number(no, "maxcpu", &d)) {
            n->maxcpu = d;
            n->has_maxcpu = true;
        }
        if (json_number(no, "maxmem", &d)) {
            n->maxmem = (guint64)d;
            n->has_maxmem = true;
        }
        n->version = member_text(no, "pve-manager-version");
        g_ptr_array_add(hw->nodes, n);
    }
    g_list_free(members);
    g_ptr_array_sort(hw->nodes, node_cmp);
    if (hw->nodes->len == 0) {
        g_set_error(error, HA_CONFIG_ERROR, EINVAL, "hardware_status: no nodes");
        return -EINVAL;
    }
    return 0;
}

static int load_services(sim_hw *hw, GError **error)
{
    g_autofree char *text = NULL;
    if (read_optional(hw->testdir, "service_config", &text, error) < 0)
        return -EINVAL;
    if (!text) {
        for (int i = 0; i < 6; i++) {
            sim_service *s = g_new0(sim_service, 1);
            s->node = g_strdup_printf("node%d", i % 3 + 1);
            g_hash_table_insert(hw->services, g_strdup_printf("vm:%d", 101 + i), s);
        }
        return 0;
    }
    g_autoptr(JsonNode) root = parse_json(text, "service_config", error);
    if (!root)
        return -EINVAL;
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, HA_CONFIG_ERROR, EINVAL, "service_config: not a JSON object");
        return -EINVAL;
    }
    JsonObject *o = json_node_get_object(root);
    GList *members = json_object_get_members(o);
    for (GList *l = members; l; l = l->next) {
        const char *sid = l->data;
        JsonNode *sn = json_object_get_member(o, sid);
        if (!sid_valid(sid) || !JSON_NODE_HOLDS_OBJECT(sn)) {
            g_set_error(error, HA_CONFIG_ERROR, EINVAL, "service_config: invalid service '%s'", sid);
            g_list_free(members);
            return -EINVAL;
        }
        JsonObject *so = json_node_get_object(sn);
        sim_service *s = g_new0(sim_service, 1);
        s->node = member_text(so, "node");
        s->state = member_text(so, "state");
        s->max_restart = member_text(so, "max_restart");
        s->max_relocate = member_text(so, "max_relocate");
        s->failback = member_text(so, "failback");
        s->group = member_text(so, "group");
        s->comment = member_text(so, "comment");
        s->lock = member_text(so, "lock");
        g_hash_table_insert(hw->services, g_strdup(sid), s);
        if (!s->node || !sim_hw_node(hw, s->node)) {
            g_set_error(error, HA_CONFIG_ERROR, EINVAL, "service_config: service '%s' without valid node",
                        sid);
            g_list_free(members);
            return -EINVAL;
        }
        if (s->state && strcmp(s->state, "started") && strcmp(s->state, "stopped") &&
            strcmp(s->state, "enabled") && strcmp(s->state, "disabled") && strcmp(s->state, "ignored")) {
            g_set_error(error, HA_CONFIG_ERROR, EINVAL, "service_config: service '%s' has invalid state '%s'",
                        sid, s->state);
            g_list_free(members);
            return -EINVAL;
        }
    }
    g_list_free(members);
    return 0;
}

static int load_stats(sim_hw *hw, const char *file, GHashTable *table, bool dynamic, GError **error)
{
    g_autofree char *text = NULL;
    if (read_optional(hw->testdir, file, &text, error) < 0)
        return -EINVAL;
    if (!text) {
        if (!dynamic) {
            GHashTableIter it;
            gpointer k;
            g_hash_table_iter_init(&it, hw->services);
            while (g_hash_table_iter_next(&it, &k, NULL)) {
                ha_stats *s = g_new0(ha_stats, 1);
                s->maxcpu = 4;
                s->maxmem = 4 * GIB;
                g_hash_table_insert(table, g_strdup(k), s);
            }
        } else {
            GHashTableIter it;
            gpointer k;
            g_hash_table_iter_init(&it, hw->static_stats);
            while (g_hash_table_iter_next(&it, &k, NULL)) {
                ha_stats *s = g_new0(ha_stats, 1);
                s->cpu = 2;
                s->mem = 2 * GIB;
                g_hash_table_insert(table, g_strdup(k), s);
            }
        }
        return 0;
    }
    g_autoptr(JsonNode) root = parse_json(text, file, error);
    if (!root)
        return -EINVAL;
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, HA_CONFIG_ERROR, EINVAL, "%s: not a JSON object", file);
        return -EINVAL;
    }
    JsonObject *o = json_node_get_object(root);
    GList *members = json_object_get_members(o);
    for (GList *l = members; l; l = l->next) {
        JsonNode *sn = json_object_get_member(o, l->data);
        if (!JSON_NODE_HOLDS_OBJECT(sn))
            continue;
        JsonObject *so = json_node_get_object(sn);
        ha_stats *s = g_new0(ha_stats, 1);
        double d;
        if (json_number(so, dynamic ? "cpu" : "maxcpu", &d))
            dynamic ? (s->cpu = d) : (s->maxcpu = d);
        if (json_number(so, dynamic ? "mem" : "maxmem", &d))
            dynamic ? (s->mem = (guint64)d) : (s->maxmem = (guint64)d);
        g_hash_table_insert(table, g_strdup(l->data), s);
    }
    g_list_free(members);
    return 0;
}

static int load_running(sim_hw *hw, GError **error)
{
    for (guint i = 0; i < hw->nodes->len; i++) {
        sim_node *n = g_ptr_array_index(hw->nodes, i);
        g_autofree char *file = g_strdup_printf("service_status_%s", n->name);
        g_autofree char *text = NULL;
        if (read_optional(hw->testdir, file, &text, error) < 0)
            return -EINVAL;
        if (!text)
            continue;
        g_autoptr(JsonNode) root = parse_json(text, file, error);
        if (!root)
            return -EINVAL;
        if (!JSON_NODE_HOLDS_OBJECT(root))
            continue;
        JsonObject *o = json_node_get_object(root);
        GList *members = json_object_get_members(o);
        for (GList *l = members; l; l = l->next) {
            g_autofree char *v = ha_json_value_string(json_object_get_member(o, l->data));
            g_hash_table_replace(n->running, g_strdup(l->data),
                                 GINT_TO_POINTER(v && strcmp(v, "0") != 0 && v[0]));
        }
        g_list_free(members);
    }
    return 0;
}

int sim_hw_load(const char *testdir, const ha_timing *timing, bool quiet, sim_hw **ret,
                GError **error)
{
    g_autoptr(sim_hw) hw = g_new0(sim_hw, 1);
    hw->testdir = g_strdup(testdir);
    hw->statusdir = g_build_filename(testdir, "status", NULL);
    hw->timing = *timing;
    hw->quiet = quiet;
    hw->nodes = g_ptr_array_new_with_free_func(sim_node_free);
    hw->services = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, sim_service_free);
    hw->static_stats = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    hw->dynamic_stats = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    hw->crm_commands = g_string_new(NULL);
    hw->locks = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, sim_lock_free);
    hw->watchdogs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, sim_watchdog_free);
    hw->fa_start_tries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    hw->fa_migrate_tries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    ha_dc_settings_init(&hw->dc);

    g_autofree char *cmdlist = NULL;
    if (read_optional(testdir, "cmdlist", &cmdlist, error) < 0)
        return -EINVAL;
    if (!cmdlist) {
        g_set_error(error, HA_CONFIG_ERROR, ENOENT, "missing '%s/cmdlist'", testdir);
        return -ENOENT;
    }
    hw->cmdlist = parse_json(cmdlist, "cmdlist", error);
    if (!hw->cmdlist)
        return -EINVAL;
    if (!JSON_NODE_HOLDS_ARRAY(hw->cmdlist)) {
        g_set_error(error, HA_CONFIG_ERROR, EINVAL, "cmdlist: not a JSON array of batches");
        return -EINVAL;
    }
    JsonArray *batches = json_node_get_array(hw->cmdlist);
    for (guint i = 0; i < json_array_get_length(batches); i++) {
        JsonNode *b = json_array_get_element(batches, i);
        if (!JSON_NODE_HOLDS_ARRAY(b)) {
            g_set_error(error, HA_CONFIG_ERROR, EINVAL, "cmdlist: batch %u is not an array", i + 1);
            return -EINVAL;
        }
        JsonArray *ba = json_node_get_array(b);
        for (guint j = 0; j < json_array_get_length(ba); j++) {
            JsonNode *c = json_array_get_element(ba, j);
            if (!JSON_NODE_HOLDS_VALUE(c) || json_node_get_value_type(c) != G_TYPE_STRING) {
                g_set_error(error, HA_CONFIG_ERROR, EINVAL, "cmdlist: batch %u item %u is not a string",
                            i + 1, j + 1);
                return -EINVAL;
            }
        }
    }
    if (load_hardware(hw, error) < 0 || load_services(hw, error) < 0 ||
        load_stats(hw, "static_service_stats", hw->static_stats, false, error) < 0 ||
        load_stats(hw, "dynamic_service_stats", hw->dynamic_stats, true, error) < 0 ||
        load_running(hw, error) < 0)
        return -EINVAL;

    if (read_optional(testdir, "manager_status", &hw->manager_status, error) < 0)
        return -EINVAL;
    if (hw->manager_status) {
        g_autoptr(ha_manager_status) ms = NULL;
        if (ha_manager_status_parse(hw->manager_status, &ms, error) < 0)
            return -EINVAL;
    }
    if (read_optional(testdir, "rules_config", &hw->rules_text, error) < 0)
        return -EINVAL;
    if (read_optional(testdir, "groups", &hw->groups_text, error) < 0)
        return -EINVAL;
    if (read_optional(testdir, "datacenter.cfg", &hw->datacenter_text, error) < 0)
        return -EINVAL;
    if (hw->datacenter_text && ha_dc_settings_parse_json(hw->datacenter_text, &hw->dc, error) < 0)
        return -EINVAL;

    /* recreate status/ */
    if (g_file_test(hw->statusdir, G_FILE_TEST_IS_DIR)) {
        g_autoptr(GDir) d = g_dir_open(hw->statusdir, 0, NULL);
        const char *name;
        while (d && (name = g_dir_read_name(d))) {
            g_autofree char *p = g_build_filename(hw->statusdir, name, NULL);
            g_unlink(p);
        }
    }
    if (g_mkdir_with_parents(hw->statusdir, 0755) < 0) {
        int e = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "cannot create '%s': %s",
                    hw->statusdir, g_strerror(e));
        return -e;
    }
    g_autofree char *logpath = g_build_filename(hw->statusdir, "log", NULL);
    hw->logf = fopen(logpath, "w");
    if (!hw->logf) {
        int e = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "cannot create '%s': %s",
                    logpath, g_strerror(e));
        return -e;
    }
    for (guint i = 0; i < hw->nodes->len; i++) {
        sim_node *n = g_ptr_array_index(hw->nodes, i);
        sim_env_init(&n->crm_env, hw, n, "crm");
        sim_env_init(&n->lrm_env, hw, n, "lrm");
    }
    *ret = g_steal_pointer(&hw);
    return 0;
}

/* ---- hardware commands (ha.md §9.4) ---- */

static void power_on(sim_hw *hw, sim_node *n)
{
    if (!n->power) {
        if (!n->crm)
            n->crm = ha_crm_new(&n->crm_env.env);
        if (!n->lrm)
            n->lrm = ha_lrm_new(&n->lrm_env.env);
        n->lrm_restart_pending = false;
        n->cfs_rw = n->cfs_update = true;
    }
    n->power = n->network = true;
    g_clear_pointer(&n->shutdown, g_free);
}

static void power_off(sim_hw *hw, sim_node *n)
{
    if (n->power) {
        if (n->crm) {
            ha_env_log(&n->crm_env.env, HA_LOG_INFO, "killed by poweroff");
            g_clear_pointer(&n->crm, ha_crm_free);
        }
        if (n->lrm) {
            ha_env_log(&n->lrm_env.env, HA_LOG_INFO, "killed by poweroff");
            g_clear_pointer(&n->lrm, ha_lrm_free);
        }
        GHashTableIter it;
        gpointer v;
        g_hash_table_iter_init(&it, hw->watchdogs);
        while (g_hash_table_iter_next(&it, NULL, &v))
            if (strcmp(((sim_watchdog *)v)->node, n->name) == 0)
                g_hash_table_iter_remove(&it);
        g_hash_table_remove_all(n->running);
    }
    n->power = n->network = false;
    n->crm_stop_pending = false;
    g_clear_pointer(&n->shutdown, g_free);
}

static bool parse_mib(const char *s, guint64 *ret)
{
    char *end = NULL;
    double d = g_ascii_strtod(s, &end);
    if (!end || end == s || *end || d < 0)
        return false;
    *ret = (guint64)(d * 1024 * 1024);
    return true;
}

static bool parse_double(const char *s, double *ret)
{
    char *end = NULL;
    *ret = g_ascii_strtod(s, &end);
    return end && end != s && *end == '\0' && *ret >= 0;
}

static int service_cmd(sim_hw *hw, char **w, int n, const char *cmdstr, GString *err)
{
    const char *sid = w[1];
    const char *action = n > 2 ? w[2] : "";
    sim_service *s = g_hash_table_lookup(hw->services, sid);
    if (strcmp(action, "add") == 0) {
        if (n < 4 || !sim_hw_node(hw, w[3]) || !sid_valid(sid)) {
            g_string_printf(err, "sim_hardware_cmd: invalid command '%s'", cmdstr);
            return -EINVAL;
        }
        if (s) {
            g_string_printf(err, "resource ID '%s' already defined", sid);
            return -EEXIST;
        }
        s = g_new0(sim_service, 1);
        s->node = g_strdup(w[3]);
        s->state = g_strdup(n > 4 ? w[4] : "started");
        g_hash_table_insert(hw->services, g_strdup(sid), s);
        if (n > 5 && strcmp(w[5], "0") != 0)
            g_hash_table_replace(sim_hw_node(hw, w[3])->running, g_strdup(sid), GINT_TO_POINTER(1));
        return 0;
    }
    if (!s) {
        g_string_printf(err, "no such service '%s'", sid);
        return -ENOENT;
    }
    if (n == 3 && (strcmp(action, "started") == 0 || strcmp(action, "disabled") == 0 ||
                   strcmp(action, "stopped") == 0 || strcmp(action, "ignored") == 0 ||
                   strcmp(action, "enabled") == 0)) {
        g_free(s->state);
        s->state = g_strdup(action);
    } else if (n == 4 && (strcmp(action, "migrate") == 0 || strcmp(action, "relocate") == 0 ||
                          strcmp(action, "stop") == 0)) {
        g_string_append_printf(hw->crm_commands, "%s %s %s\n", action, sid, w[3]);
    } else if (n == 3 && strcmp(action, "delete") == 0) {
        g_hash_table_remove(hw->services, sid);
        g_hash_table_remove(hw->static_stats, sid);
    } else if ((n == 3 || n == 4) && strcmp(action, "lock") == 0) {
        g_free(s->lock);
        s->lock = g_strdup(n == 4 ? w[3] : "backup");
    } else if ((n == 3 || n == 4) && strcmp(action, "unlock") == 0) {
        if (s->lock && n == 4 && strcmp(s->lock, w[3]) != 0)
            g_printerr("found lock '%s' trying to remove '%s' lock\n", s->lock, w[3]);
        else
            g_clear_pointer(&s->lock, g_free);
    } else if (strcmp(action, "set-static-stats") == 0 || strcmp(action, "set-dynamic-stats") == 0) {
        bool dyn = action[4] == 'd';
        GHashTable *t = dyn ? hw->dynamic_stats : hw->static_stats;
        ha_stats *st = g_hash_table_lookup(t, sid);
        if (!st) {
            st = g_new0(ha_stats, 1);
            g_hash_table_insert(t, g_strdup(sid), st);
        }
        for (int i = 3; i + 1 < n; i += 2) {
            bool ok;
            if (strcmp(w[i], dyn ? "cpu" : "maxcpu") == 0)
                ok = parse_double(w[i + 1], dyn ? &st->cpu : &st->maxcpu);
            else if (strcmp(w[i], dyn ? "mem" : "maxmem") == 0)
                ok = parse_mib(w[i + 1], dyn ? &st->mem : &st->maxmem);
            else
                ok = false;
            if (!ok) {
                g_string_printf(err, "sim_hardware_cmd: invalid command '%s'", cmdstr);
                return -EINVAL;
            }
        }
        if ((n - 3) % 2) {
            g_string_printf(err, "sim_hardware_cmd: invalid command '%s'", cmdstr);
            return -EINVAL;
        }
    } else if (n == 4 && strcmp(action, "manual-migrate") == 0) {
        bool ignored = s->state && strcmp(s->state, "ignored") == 0;
        g_autoptr(ha_manager_status) ms = NULL;
        bool disarm_ignore = ha_manager_status_parse(hw->manager_status, &ms, NULL) == 0 &&
                             ms->disarm_mode && strcmp(ms->disarm_mode, "ignore") == 0;
        if (!sim_hw_node(hw, w[3])) {
            g_string_printf(err, "sim_hardware_cmd: no such node '%s'", w[3]);
            return -EINVAL;
        }
        if (!ignored && !disarm_ignore) {
            g_string_printf(err, "cannot manual-migrate service '%s' - it is HA managed", sid);
            return -EPERM;
        }
        sim_node *from = sim_hw_node(hw, s->node);
        gpointer running = from ? g_hash_table_lookup(from->running, sid) : NULL;
        if (from)
            g_hash_table_remove(from->running, sid);
        if (running)
            g_hash_table_replace(sim_hw_node(hw, w[3])->running, g_strdup(sid), running);
        g_free(s->node);
        s->node = g_strdup(w[3]);
    } else {
        g_string_printf(err, "sim_hardware_cmd: unknown service action '%s' in '%s'", action, cmdstr);
        return -EINVAL;
    }
    return 0;
}

/* Execute one hardware command (logged "execute <cmd>" with @source). */
static int hardware_cmd(sim_hw *hw, const char *cmdstr, const char *source)
{
    hw_log(hw, "info", source, "execute %s", cmdstr);
    g_autofree char *trimmed = g_strstrip(g_strdup(cmdstr));
    g_auto(GStrv) w = g_regex_split_simple("\\s+", trimmed, 0, 0);
    int n = (int)g_strv_length(w);
    g_autoptr(GString) err = g_string_new(NULL);
    int r = 0;
    if (n < 2) {
        g_string_printf(err, "sim_hardware_cmd: unknown command '%s'", cmdstr);
        r = -EINVAL;
        goto out;
    }
    if (strcmp(w[0], "service") == 0) {
        r = service_cmd(hw, w, n, cmdstr, err);
        goto out;
    }
    sim_node *node = sim_hw_node(hw, w[1]);
    if (!node) {
        g_string_printf(err, "sim_hardware_cmd: no such node '%s' in '%s'", w[1], cmdstr);
        r = -EINVAL;
        goto out;
    }
    if (n == 3 && strcmp(w[0], "power") == 0 && strcmp(w[2], "on") == 0) {
        power_on(hw, node);
    } else if (n == 3 && strcmp(w[0], "power") == 0 && strcmp(w[2], "off") == 0) {
        power_off(hw, node);
    } else if (n == 3 && strcmp(w[0], "network") == 0 &&
               (strcmp(w[2], "on") == 0 || strcmp(w[2], "off") == 0)) {
        node->network = strcmp(w[2], "on") == 0;
    } else if (n == 4 && strcmp(w[0], "cfs") == 0 &&
               (strcmp(w[2], "rw") == 0 || strcmp(w[2], "update") == 0) &&
               (strcmp(w[3], "work") == 0 || strcmp(w[3], "fail") == 0)) {
        bool ok = strcmp(w[3], "work") == 0;
        if (strcmp(w[2], "rw") == 0)
            node->cfs_rw = ok;
        else
            node->cfs_update = ok;
    } else if (n == 4 && strcmp(w[0], "pve-manager-version") == 0 && strcmp(w[2], "set") == 0) {
        g_free(node->version);
        node->version = g_strdup(w[3]);
    } else if (n == 2 && (strcmp(w[0], "reboot") == 0 || strcmp(w[0], "shutdown") == 0)) {
        g_free(node->shutdown);
        node->shutdown = g_strdup(w[0]);
        if (node->lrm)
            ha_lrm_shutdown_request(node->lrm);
    } else if (n == 2 && strcmp(w[0], "restart-lrm") == 0) {
        if (node->lrm) {
            node->lrm_restart_pending = true;
            ha_lrm_shutdown_request(node->lrm);
        }
    } else if (strcmp(w[0], "crm") == 0 && n >= 3) {
        const char *a = w[2];
        if (n == 3 && strcmp(a, "stop") == 0) {
            if (node->crm) {
                node->crm_stop_pending = true;
                ha_crm_shutdown_request(node->crm);
            }
        } else if (n == 3 && strcmp(a, "start") == 0) {
            if (!node->crm)
                node->crm = ha_crm_new(&node->crm_env.env);
        } else if (n == 3 && (strcmp(a, "enable-node-maintenance") == 0 ||
                              strcmp(a, "disable-node-maintenance") == 0)) {
            g_string_append_printf(hw->crm_commands, "%s %s\n", a, node->name);
        } else if (n == 4 && strcmp(a, "disarm-ha") == 0) {
            g_string_append_printf(hw->crm_commands, "disarm-ha %s\n", w[3]);
        } else if (n == 3 && strcmp(a, "arm-ha") == 0) {
            g_string_append(hw->crm_commands, "arm-ha\n");
        } else {
            g_string_printf(err, "sim_hardware_cmd: unknown crm command '%s'", cmdstr);
            r = -EINVAL;
        }
    } else {
        g_string_printf(err, "sim_hardware_cmd: unknown command '%s'", cmdstr);
        r = -EINVAL;
    }
out:
    if (r < 0 && !hw->abort_msg)
        hw->abort_msg = g_strdup(err->str);
    return r;
}

/* ---- run loop ---- */

static void watchdog_check(sim_hw *hw)
{
    for (guint i = 0; i < hw->nodes->len; i++) {
        sim_node *n = g_ptr_array_index(hw->nodes, i);
        bool expired = false;
        GHashTableIter it;
        gpointer v;
        g_hash_table_iter_init(&it, hw->watchdogs);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
            sim_watchdog *wd = v;
            if (strcmp(wd->node, n->name) == 0 &&
                hw->H - wd->update_time > hw->timing.client_timeout_ms) {
                g_hash_table_iter_remove(&it);
                expired = true;
            }
        }
        if (!expired)
            continue;
        g_autofree char *cmd = g_strdup_printf("power %s off", n->name);
        hardware_cmd(hw, cmd, "watchdog");
        hw_log(hw, "info", "hardware", "server '%s' stopped by poweroff (watchdog)", n->name);
    }
}

static void run_daemons(sim_hw *hw, int skip_crm, int skip_lrm)
{
    for (guint i = 0; i < hw->nodes->len && !hw->abort_msg; i++) {
        sim_node *n = g_ptr_array_index(hw->nodes, i);
        if (n->crm) {
            if (skip_crm > 0) {
                if (i == 0)
                    hw_log(hw, "info", "run-loop", "skipping CRM round");
            } else {
                bool alive = ha_crm_do_one_iteration(n->crm);
                hw->H = MAX(hw->H, n->crm_env.clock);
                if (!alive) {
                    ha_env_log(&n->crm_env.env, HA_LOG_INFO, "exit (loop end)");
                    g_clear_pointer(&n->crm, ha_crm_free);
                    if (n->shutdown && strcmp(n->shutdown, "reboot") == 0) {
                        g_autofree char *off = g_strdup_printf("power %s off", n->name);
                        g_autofree char *on = g_strdup_printf("power %s on", n->name);
                        hardware_cmd(hw, off, "reboot");
                        hardware_cmd(hw, on, "reboot");
                    } else if (n->shutdown && strcmp(n->shutdown, "shutdown") == 0) {
                        g_autofree char *off = g_strdup_printf("power %s off", n->name);
                        hardware_cmd(hw, off, "shutdown");
                    } else if (n->crm_stop_pending) {
                        n->crm_stop_pending = false;
                    } else if (!hw->abort_msg) {
                        hw->abort_msg = g_strdup("unexpected CRM exit - not implemented");
                    }
                }
            }
        }
        if (hw->abort_msg)
            break;
        if (n->lrm) {
            if (skip_lrm > 0) {
                if (i == 0)
                    hw_log(hw, "info", "run-loop", "skipping LRM round");
            } else {
                bool alive = ha_lrm_do_one_iteration(n->lrm);
                hw->H = MAX(hw->H, n->lrm_env.clock);
                if (!alive) {
                    ha_env_log(&n->lrm_env.env, HA_LOG_INFO, "exit (loop end)");
                    g_clear_pointer(&n->lrm, ha_lrm_free);
                    if (n->lrm_restart_pending) {
                        if (n->shutdown) {
                            if (!hw->abort_msg)
                                hw->abort_msg = g_strdup("lrm restart during shutdown - not implemented");
                        } else {
                            n->lrm_restart_pending = false;
                            n->lrm = ha_lrm_new(&n->lrm_env.env);
                        }
                    } else if (n->shutdown) {
                        g_autofree char *stop = g_strdup_printf("crm %s stop", n->name);
                        g_autofree char *src = g_strdup(n->shutdown);
                        hardware_cmd(hw, stop, src);
                    } else if (!hw->abort_msg) {
                        hw->abort_msg = g_strdup("unexpected LRM exit - not implemented");
                    }
                }
            }
        }
        if (hw->abort_msg)
            break;
        watchdog_check(hw);
    }
}

int sim_hw_run(sim_hw *hw)
{
    const gint64 unit = hw->timing.sim_unit_ms;
    gint64 next_cmd_at = 0, last_cmd = 0;
    int skip_crm = 0, skip_lrm = 0;
    guint loop = 0, batch = 0;
    JsonArray *batches = json_node_get_array(hw->cmdlist);
    hw_log(hw, "info", "hardware", "starting simulation");
    for (;;) {
        gint64 start = hw->H;
        gint64 looptime = MAX(SIM_LOOP_MIN_TICKS, 2 * (gint64)hw->nodes->len) * unit;
        if (looptime >= hw->timing.client_timeout_ms) {
            hw->abort_msg = g_strdup(
                "unable to simulate so many nodes. You need to increase watchdog/lock timeouts.");
            break;
        }
        run_daemons(hw, skip_crm, skip_lrm);
        if (hw->abort_msg)
            break;
        if (skip_crm > 0)
            skip_crm--;
        if (skip_lrm > 0)
            skip_lrm--;
        if (hw->H - start < looptime)
            hw->H = start + looptime;
        if (hw->H > SIM_MAX_TICKS * unit) {
            hw->abort_msg = g_strdup_printf("simulation exceeded maximum time (%d) - force end",
                                            SIM_MAX_TICKS);
            break;
        }
        for (guint i = 0; i < hw->nodes->len; i++) {
            sim_node *n = g_ptr_array_index(hw->nodes, i);
            n->crm_env.clock = MAX(n->crm_env.clock, hw->H);
            n->crm_env.loop_delay = 0;
            n->lrm_env.clock = MAX(n->lrm_env.clock, hw->H);
            n->lrm_env.loop_delay = 0;
        }
        if (hw->H < next_cmd_at)
            continue;
        if (loop % SIM_BATCH_EVERY == 0) {
            if (batch >= json_array_get_length(batches)) {
                if (hw->H - last_cmd > SIM_END_AFTER_TICKS * unit)
                    break;
            } else {
                JsonArray *cmds = json_array_get_array_element(batches, batch++);
                for (guint i = 0; i < json_array_get_length(cmds) && !hw->abort_msg; i++) {
                    const char *c = json_array_get_string_element(cmds, i);
                    last_cmd = hw->H;
                    g_auto(GStrv) w = g_regex_split_simple("\\s+", c, 0, 0);
                    int wn = (int)g_strv_length(w);
                    if (wn >= 1 && strcmp(w[0], "delay") == 0) {
                        char *end = NULL;
                        long d = wn == 2 ? strtol(w[1], &end, 10) : -1;
                        if (d < 0 || !end || *end) {
                            hw_log(hw, "info", "cmdlist", "execute %s", c);
                            hw->abort_msg = g_strdup_printf("invalid delay command '%s'", c);
                            break;
                        }
                        hw_log(hw, "info", "cmdlist", "execute %s", c);
                        next_cmd_at = hw->H + d * unit;
                    } else if (wn >= 1 && strcmp(w[0], "skip-round") == 0) {
                        hw_log(hw, "info", "cmdlist", "execute %s", c);
                        long k = 1;
                        char *end = NULL;
                        if (wn == 3)
                            k = strtol(w[2], &end, 10);
                        if (wn < 2 || wn > 3 || (wn == 3 && (!end || *end || k < 0)) ||
                            (strcmp(w[1], "crm") != 0 && strcmp(w[1], "lrm") != 0)) {
                            hw->abort_msg = g_strdup_printf("invalid skip-round command '%s'", c);
                            break;
                        }
                        if (w[1][0] == 'c')
                            skip_crm += (int)k;
                        else
                            skip_lrm += (int)k;
                    } else {
                        hardware_cmd(hw, c, "cmdlist");
                    }
                }
                if (hw->abort_msg)
                    break;
            }
        }
        loop++;
    }
    if (hw->abort_msg) {
        hw_log(hw, "err", "hardware", "exit simulation - %s", hw->abort_msg);
        return -ECANCELED;
    }
    hw_log(hw, "info", "hardware", "exit simulation - done");
    return 0;
}

/* ---- status dump ---- */

static int write_file(sim_hw *hw, const char *name, const char *text, GError **error)
{
    g_autofree char *path = g_build_filename(hw->statusdir, name, NULL);
    return g_file_set_contents(path, text ? text : "", -1, error) ? 0 : -EIO;
}

static char *builder_string(JsonBuilder *b)
{
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}

static void add_time(JsonBuilder *b, gint64 ms)
{
    if (ms % 1000 == 0)
        json_builder_add_int_value(b, ms / 1000);
    else
        json_builder_add_double_value(b, ms / 1000.0);
}

int sim_hw_write_status(sim_hw *hw, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    for (guint i = 0; i < hw->nodes->len; i++) {
        sim_node *n = g_ptr_array_index(hw->nodes, i);
        json_builder_set_member_name(b, n->name);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "cfs");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "rw");
        json_builder_add_boolean_value(b, n->cfs_rw);
        json_builder_set_member_name(b, "update");
        json_builder_add_boolean_value(b, n->cfs_update);
        json_builder_end_object(b);
        if (n->has_maxcpu) {
            json_builder_set_member_name(b, "maxcpu");
            json_builder_add_double_value(b, n->maxcpu);
        }
        if (n->has_maxmem) {
            json_builder_set_member_name(b, "maxmem");
            json_builder_add_int_value(b, (gint64)n->maxmem);
        }
        json_builder_set_member_name(b, "network");
        json_builder_add_string_value(b, n->network ? "on" : "off");
        json_builder_set_member_name(b, "power");
        json_builder_add_string_value(b, n->power ? "on" : "off");
        if (n->version) {
            json_builder_set_member_name(b, "pve-manager-version");
            json_builder_add_string_value(b, n->version);
        }
        json_builder_set_member_name(b, "shutdown");
        if (n->shutdown)
            json_builder_add_string_value(b, n->shutdown);
        else
            json_builder_add_null_value(b);
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
    g_autofree char *hwtext = builder_string(b);
    if (write_file(hw, "hardware_status", hwtext, error) < 0)
        return -EIO;

    g_autoptr(JsonBuilder) lb = json_builder_new();
    json_builder_begin_object(lb);
    g_autoptr(GPtrArray) lk = ha_sorted_keys(hw->locks);
    for (guint i = 0; i < lk->len; i++) {
        sim_lock *l = g_hash_table_lookup(hw->locks, lk->pdata[i]);
        json_builder_set_member_name(lb, lk->pdata[i]);
        json_builder_begin_object(lb);
        json_builder_set_member_name(lb, "node");
        json_builder_add_string_value(lb, l->holder);
        json_builder_set_member_name(lb, "time");
        add_time(lb, l->time);
        json_builder_end_object(lb);
    }
    json_builder_end_object(lb);
    g_autofree char *locks = builder_string(lb);
    if (write_file(hw, "cluster_locks", locks, error) < 0)
        return -EIO;

    g_autoptr(JsonBuilder) wb = json_builder_new();
    json_builder_begin_object(wb);
    g_autoptr(GPtrArray) wk = ha_sorted_keys(hw->watchdogs);
    for (guint i = 0; i < wk->len; i++) {
        sim_watchdog *wd = g_hash_table_lookup(hw->watchdogs, wk->pdata[i]);
        json_builder_set_member_name(wb, wk->pdata[i]);
        json_builder_begin_object(wb);
        json_builder_set_member_name(wb, "node");
        json_builder_add_string_value(wb, wd->node);
        json_builder_set_member_name(wb, "update_time");
        add_time(wb, wd->update_time);
        json_builder_end_object(wb);
    }
    json_builder_end_object(wb);
    g_autofree char *wds = builder_string(wb);
    if (write_file(hw, "watchdog_status", wds, error) < 0)
        return -EIO;

    if (write_file(hw, "manager_status", hw->manager_status ? hw->manager_status : "{}", error) < 0)
        return -EIO;
    for (guint i = 0; i < hw->nodes->len; i++) {
        sim_node *n = g_ptr_array_index(hw->nodes, i);
        g_autofree char *lname = g_strdup_printf("lrm_status_%s", n->name);
        if (write_file(hw, lname, n->lrm_status ? n->lrm_status : "{}", error) < 0)
            return -EIO;
        g_autoptr(JsonBuilder) rb = json_builder_new();
        json_builder_begin_object(rb);
        g_autoptr(GPtrArray) rk = ha_sorted_keys(n->running);
        for (guint j = 0; j < rk->len; j++) {
            json_builder_set_member_name(rb, rk->pdata[j]);
            json_builder_add_int_value(rb, GPOINTER_TO_INT(g_hash_table_lookup(n->running, rk->pdata[j])));
        }
        json_builder_end_object(rb);
        g_autofree char *rtext = builder_string(rb);
        g_autofree char *sname = g_strdup_printf("service_status_%s", n->name);
        if (write_file(hw, sname, rtext, error) < 0)
            return -EIO;
    }

    g_autoptr(JsonBuilder) sb = json_builder_new();
    json_builder_begin_object(sb);
    g_autoptr(GPtrArray) sk = ha_sorted_keys(hw->services);
    for (guint i = 0; i < sk->len; i++) {
        sim_service *s = g_hash_table_lookup(hw->services, sk->pdata[i]);
        json_builder_set_member_name(sb, sk->pdata[i]);
        json_builder_begin_object(sb);
#define STR(key, field)                                     \
    if (s->field) {                                         \
        json_builder_set_member_name(sb, key);              \
        json_builder_add_string_value(sb, s->field);        \
    }
        STR("comment", comment)
        STR("failback", failback)
        STR("group", group)
        STR("lock", lock)
        STR("max_relocate", max_relocate)
        STR("max_restart", max_restart)
        STR("node", node)
        STR("state", state)
#undef STR
        json_builder_end_object(sb);
    }
    json_builder_end_object(sb);
    g_autofree char *stext = builder_string(sb);
    if (write_file(hw, "service_config", stext, error) < 0)
        return -EIO;
    if (hw->rules_text && write_file(hw, "rules_config", hw->rules_text, error) < 0)
        return -EIO;
    if (hw->groups_text && write_file(hw, "groups", hw->groups_text, error) < 0)
        return -EIO;
    if (hw->datacenter_text && write_file(hw, "datacenter.cfg", hw->datacenter_text, error) < 0)
        return -EIO;
    if (write_file(hw, "crm_commands", hw->crm_commands->str, error) < 0)
        return -EIO;
    for (int k = 0; k < 2; k++) {
        GHashTable *t = k ? hw->dynamic_stats : hw->static_stats;
        g_autoptr(JsonBuilder) tb = json_builder_new();
        json_builder_begin_object(tb);
        g_autoptr(GPtrArray) keys = ha_sorted_keys(t);
        for (guint i = 0; i < keys->len; i++) {
            ha_stats *st = g_hash_table_lookup(t, keys->pdata[i]);
            json_builder_set_member_name(tb, keys->pdata[i]);
            json_builder_begin_object(tb);
            json_builder_set_member_name(tb, k ? "cpu" : "maxcpu");
            json_builder_add_double_value(tb, k ? st->cpu : st->maxcpu);
            json_builder_set_member_name(tb, k ? "mem" : "maxmem");
            json_builder_add_int_value(tb, (gint64)(k ? st->mem : st->maxmem));
            json_builder_end_object(tb);
        }
        json_builder_end_object(tb);
        g_autofree char *ttext = builder_string(tb);
        if (write_file(hw, k ? "dynamic_service_stats" : "static_service_stats", ttext, error) < 0)
            return -EIO;
    }
    /* copy fence.cfg for completeness (an unreadable one is left out) */
    g_autofree char *fence = NULL;
    read_optional(hw->testdir, "fence.cfg", &fence, NULL);
    if (fence && write_file(hw, "fence.cfg", fence, error) < 0)
        return -EIO;
    return 0;
}
