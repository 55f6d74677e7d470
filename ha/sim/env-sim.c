/*
 * sim/env-sim: the simulated environment backend (ha.md §9.7).
 *
 * Each daemon gets its own sim_env with its own clock: set to the hardware clock at
 * loop start, advanced by exactly one tick at loop end, whatever it slept.  File
 * operations fail with "cfs connection refused - not mounted?" while the node's cfs
 * rw flag is off; locks need quorum and follow the simulator's lock table rules.
 */
#include "ha/sim/hardware.h"

#include <errno.h>
#include <string.h>

#define CFS_ERR "cfs connection refused - not mounted?"

static sim_env *S(ha_env *env)
{
    return (sim_env *)env;
}

static bool cfs_ok(ha_env *env, GError **error)
{
    if (S(env)->node->cfs_rw)
        return true;
    g_set_error(error, HA_CONFIG_ERROR, EIO, CFS_ERR);
    return false;
}

static const char *op_nodename(ha_env *env)
{
    return S(env)->node->name;
}

static int op_read_manager_status(ha_env *env, ha_manager_status **ret, GError **error)
{
    if (!cfs_ok(env, error))
        return -EIO;
    return ha_manager_status_parse(S(env)->hw->manager_status, ret, error);
}

static int op_write_manager_status(ha_env *env, const ha_manager_status *ms, GError **error)
{
    if (!cfs_ok(env, error))
        return -EIO;
    g_free(S(env)->hw->manager_status);
    S(env)->hw->manager_status = ha_manager_status_to_json(ms);
    return 0;
}

static int op_read_lrm_status(ha_env *env, const char *node, ha_lrm_status **ret, GError **error)
{
    if (!cfs_ok(env, error))
        return -EIO;
    sim_node *n = sim_hw_node(S(env)->hw, node);
    return ha_lrm_status_parse(n ? n->lrm_status : NULL, ret, error);
}

static int op_write_lrm_status(ha_env *env, const ha_lrm_status *ls, GError **error)
{
    if (!cfs_ok(env, error))
        return -EIO;
    g_free(S(env)->node->lrm_status);
    S(env)->node->lrm_status = ha_lrm_status_to_json(ls);
    return 0;
}

static void op_is_node_shutdown(ha_env *env, bool *shutdown, bool *reboot)
{
    const char *s = S(env)->node->shutdown;
    *reboot = s && strcmp(s, "reboot") == 0;
    *shutdown = s && (*reboot || strcmp(s, "shutdown") == 0);
}

static int op_queue_crm_command(ha_env *env, const char *line, GError **error)
{
    if (!cfs_ok(env, error))
        return -EIO;
    g_string_append_printf(S(env)->hw->crm_commands, "%s\n", line);
    return 0;
}

static bool op_any_pending_crm_command(ha_env *env)
{
    return S(env)->hw->crm_commands->len > 0;
}

static int op_read_crm_commands(ha_env *env, char **ret, GError **error)
{
    if (!cfs_ok(env, error))
        return -EIO;
    *ret = g_strdup(S(env)->hw->crm_commands->str);
    g_string_truncate(S(env)->hw->crm_commands, 0);
    return 0;
}

static int to_int(const char *s, int def)
{
    if (!s)
        return def;
    return (int)g_ascii_strtoll(s, NULL, 10);
}

static int op_read_service_config(ha_env *env, ha_resources **ret, GError **error)
{
    if (!cfs_ok(env, error))
        return -EIO;
    ha_resources *rs = ha_resources_new();
    GString *digest_src = g_string_new(NULL);
    g_autoptr(GPtrArray) sids = ha_sorted_keys(S(env)->hw->services);
    for (guint i = 0; i < sids->len; i++) {
        sim_service *s = g_hash_table_lookup(S(env)->hw->services, sids->pdata[i]);
        ha_resource *r = ha_resource_new(sids->pdata[i]);
        r->node = g_strdup(s->node);
        g_free(r->state);
        r->state = g_strdup(!s->state ? "disabled" : strcmp(s->state, "enabled") == 0 ? "started" : s->state);
        r->max_restart = to_int(s->max_restart, 1);
        r->max_relocate = to_int(s->max_relocate, 1);
        r->failback = to_int(s->failback, 1);
        r->group = g_strdup(s->group);
        r->comment = g_strdup(s->comment);
        g_string_append_printf(digest_src, "%s:%s:%s:%d:%d:%d:%s\n", r->sid, r->node, r->state,
                               r->max_restart, r->max_relocate, r->failback,
                               r->group ? r->group : "");
        ha_resources_add(rs, r);
    }
    rs->digest = g_compute_checksum_for_string(G_CHECKSUM_SHA1, digest_src->str, -1);
    g_string_free(digest_src, TRUE);
    *ret = rs;
    return 0;
}

static int op_update_service_config(ha_env *env, const char *sid, const char *key,
                                    const char *value, GError **error)
{
    if (!cfs_ok(env, error))
        return -EIO;
    sim_service *s = g_hash_table_lookup(S(env)->hw->services, sid);
    if (!s) {
        g_set_error(error, HA_CONFIG_ERROR, ENOENT, "no such service '%s'", sid);
        return -ENOENT;
    }
    if (strcmp(key, "state") == 0) {
        g_free(s->state);
        s->state = g_strdup(value);
    }
    return 0;
}

static int op_write_service_config(ha_env *env, const ha_resources *rs, GError **error)
{
    if (!cfs_ok(env, error))
        return -EIO;
    for (guint i = 0; i < rs->order->len; i++) {
        const ha_resource *r = ha_resources_get(rs, rs->order->pdata[i]);
        sim_service *s = g_hash_table_lookup(S(env)->hw->services, r->sid);
        if (!s)
            continue;
        g_free(s->group);
        s->group = g_strdup(r->group);
        g_free(s->failback);
        s->failback = g_strdup_printf("%d", r->failback);
    }
    return 0;
}

static int op_read_rules_config(ha_env *env, ha_rules **ret, GError **error)
{
    if (!cfs_ok(env, error))
        return -EIO;
    *ret = ha_rules_parse(S(env)->hw->rules_text, "rules_config", NULL);
    return 0;
}

static int op_write_rules_config(ha_env *env, const ha_rules *rs, GError **error)
{
    if (!cfs_ok(env, error))
        return -EIO;
    g_free(S(env)->hw->rules_text);
    S(env)->hw->rules_text = ha_rules_write(rs);
    return 0;
}

static int op_read_group_config(ha_env *env, ha_groups **ret, GError **error)
{
    if (!cfs_ok(env, error))
        return -EIO;
    *ret = ha_groups_parse(S(env)->hw->groups_text, "groups", NULL);
    return 0;
}

static int op_delete_group_config(ha_env *env, GError **error)
{
    if (!cfs_ok(env, error))
        return -EIO;
    g_clear_pointer(&S(env)->hw->groups_text, g_free);
    return 0;
}

static int op_steal_service(ha_env *env, const char *sid, const char *from, const char *to,
                            GError **error)
{
    if (!cfs_ok(env, error))
        return -EIO;
    sim_service *s = g_hash_table_lookup(S(env)->hw->services, sid);
    if (!s) {
        g_set_error(error, HA_CONFIG_ERROR, ENOENT, "no such service '%s'", sid);
        return -ENOENT;
    }
    g_free(s->node);
    s->node = g_strdup(to);
    return 0;
}

static void op_get_node_info(ha_env *env, GPtrArray **ret, bool *ret_quorate)
{
    sim_hw_node_info(S(env)->hw, ret, ret_quorate);
}

static bool op_quorate(ha_env *env)
{
    return sim_hw_node_quorate(S(env)->hw, S(env)->node);
}

static bool op_cluster_state_update(ha_env *env)
{
    return S(env)->node->cfs_update;
}

static const char *level_name(ha_log_level l)
{
    switch (l) {
    case HA_LOG_DEBUG:
        return "debug";
    case HA_LOG_INFO:
        return "info";
    case HA_LOG_NOTICE:
        return "noti";
    case HA_LOG_WARNING:
        return "warn";
    case HA_LOG_ERR:
        return "err";
    case HA_LOG_EMAIL:
        return "emai";
    }
    return "info";
}

static void op_log(ha_env *env, ha_log_level level, const char *msg)
{
    if (level == HA_LOG_DEBUG)
        return;
    g_autofree char *src = g_strdup_printf("%s/%s", S(env)->node->name, S(env)->log_id);
    g_autofree char *m = g_strdup(msg);
    g_strchomp(m);
    sim_hw_log(S(env)->hw, level_name(level), src, S(env)->clock, m);
}

static void op_send_notification(ha_env *env, const char *prefix, const char *text)
{
    g_autofree char *msg = g_strdup_printf("%s: %s", prefix, text);
    op_log(env, HA_LOG_EMAIL, msg);
}

static bool sim_lock_op(ha_env *env, const char *name, bool unlock)
{
    sim_hw *hw = S(env)->hw;
    S(env)->loop_delay += unlock ? 0 : hw->timing.sim_unit_ms;
    if (!op_quorate(env))
        return false;
    const char *self = S(env)->node->name;
    gint64 now = S(env)->clock;
    sim_lock *l = g_hash_table_lookup(hw->locks, name);
    if (unlock) {
        if (!l)
            return false;
        gint64 age = now - l->time;
        if (age > hw->timing.lock_timeout_ms)
            return true;
        if (strcmp(l->holder, self) == 0) {
            g_hash_table_remove(hw->locks, name);
            return true;
        }
        return false;
    }
    if (l) {
        gint64 age = now - l->time;
        if (age <= hw->timing.lock_timeout_ms) {
            if (strcmp(l->holder, self) != 0)
                return false;
            l->time = now;
            return true;
        }
        ha_env_log(env, HA_LOG_INFO, "got lock '%s'", name);
        g_free(l->holder);
        l->holder = g_strdup(self);
        l->time = now;
        return true;
    }
    l = g_new0(sim_lock, 1);
    l->holder = g_strdup(self);
    l->time = now;
    g_hash_table_insert(hw->locks, g_strdup(name), l);
    ha_env_log(env, HA_LOG_INFO, "got lock '%s'", name);
    return true;
}

static bool op_get_ha_manager_lock(ha_env *env)
{
    return sim_lock_op(env, "ha_manager_lock", false);
}

static bool op_release_ha_manager_lock(ha_env *env)
{
    return sim_lock_op(env, "ha_manager_lock", true);
}

static bool op_get_ha_agent_lock(ha_env *env, const char *node)
{
    g_autofree char *name = g_strdup_printf("ha_agent_%s_lock", node);
    return sim_lock_op(env, name, false);
}

static bool op_release_ha_agent_lock(ha_env *env)
{
    g_autofree char *name = g_strdup_printf("ha_agent_%s_lock", S(env)->node->name);
    return sim_lock_op(env, name, true);
}

static gint64 op_get_time(ha_env *env)
{
    return S(env)->clock;
}

static void op_sleep(ha_env *env, gint64 ms)
{
    S(env)->loop_delay += ms;
}

static void op_sleep_until(ha_env *env, gint64 t)
{
    if (t > S(env)->clock)
        S(env)->loop_delay += t - S(env)->clock;
}

static void op_loop_start_hook(ha_env *env)
{
    sim_env *se = S(env);
    se->loop_delay = 0;
    if (se->hw->H > se->clock)
        se->clock = se->hw->H;
}

static void op_loop_end_hook(ha_env *env)
{
    sim_env *se = S(env);
    if (se->loop_delay > se->hw->timing.sim_sleep_cap_ms && !se->hw->abort_msg)
        se->hw->abort_msg = g_strdup_printf("loop took too long (%" G_GINT64_FORMAT " seconds)",
                                            se->loop_delay / 1000);
    se->loop_delay = 0;
    se->clock += se->hw->timing.sim_unit_ms;
}

static int op_watchdog_open(ha_env *env, char **ret, GError **error)
{
    sim_hw *hw = S(env)->hw;
    char *id = g_strdup_printf("WD:%s:%u:%u", S(env)->node->name, 1000u, ++hw->watchdog_counter);
    sim_watchdog *wd = g_new0(sim_watchdog, 1);
    wd->node = g_strdup(S(env)->node->name);
    wd->update_time = S(env)->clock;
    g_hash_table_insert(hw->watchdogs, g_strdup(id), wd);
    *ret = id;
    return 0;
}

static int watchdog_touch(ha_env *env, const char *handle, bool close, GError **error)
{
    sim_hw *hw = S(env)->hw;
    sim_watchdog *wd = g_hash_table_lookup(hw->watchdogs, handle);
    if (!wd) {
        g_set_error(error, HA_CONFIG_ERROR, ENOENT, "no such watchdog handle '%s'", handle);
        return -ENOENT;
    }
    if (S(env)->clock - wd->update_time > hw->timing.client_timeout_ms) {
        g_set_error(error, HA_CONFIG_ERROR, ETIMEDOUT, "watchdog expired");
        return -ETIMEDOUT;
    }
    if (close)
        g_hash_table_remove(hw->watchdogs, handle);
    else
        wd->update_time = S(env)->clock;
    return 0;
}

static int op_watchdog_update(ha_env *env, const char *handle, GError **error)
{
    return watchdog_touch(env, handle, false, error);
}

static int op_watchdog_close(ha_env *env, const char *handle, GError **error)
{
    return watchdog_touch(env, handle, true, error);
}

static int op_get_max_workers(ha_env *env)
{
    return 0;
}

static void op_get_datacenter_settings(ha_env *env, ha_dc_settings *ret)
{
    ha_dc_settings_copy(ret, &S(env)->hw->dc);
}

static bool op_get_static_service_stats(ha_env *env, const char *sid, ha_stats *ret)
{
    ha_stats *s = g_hash_table_lookup(S(env)->hw->static_stats, sid);
    if (!s)
        return false;
    *ret = *s;
    return true;
}

static bool op_get_dynamic_service_stats(ha_env *env, const char *sid, ha_stats *ret)
{
    ha_stats *s = g_hash_table_lookup(S(env)->hw->dynamic_stats, sid);
    if (!s)
        return false;
    *ret = *s;
    return true;
}

static bool op_get_static_node_stats(ha_env *env, const char *node, ha_stats *ret)
{
    sim_node *n = sim_hw_node(S(env)->hw, node);
    if (!n || !n->has_maxcpu || !n->has_maxmem)
        return false;
    memset(ret, 0, sizeof(*ret));
    ret->maxcpu = n->maxcpu;
    ret->maxmem = n->maxmem;
    return true;
}

static bool op_get_dynamic_node_stats(ha_env *env, const char *node, ha_stats *ret)
{
    sim_node *n = sim_hw_node(S(env)->hw, node);
    if (!n)
        return false;
    memset(ret, 0, sizeof(*ret));
    ret->maxcpu = n->has_maxcpu ? n->maxcpu : 24;
    ret->maxmem = n->has_maxmem ? n->maxmem : 128ULL << 30;
    return true;
}

static char *op_get_node_version(ha_env *env, const char *node)
{
    sim_node *n = sim_hw_node(S(env)->hw, node);
    if (!n)
        return NULL;
    return g_strdup(n->version ? n->version : "9.0.0~2");
}

static const ha_agent *op_agent_lookup(ha_env *env, const char *type)
{
    return sim_agent_lookup(type);
}

static char *op_new_uid(ha_env *env, const char *state)
{
    sim_hw *hw = S(env)->hw;
    g_autofree char *src = g_strdup_printf("%s:%" G_GINT64_FORMAT ":%" G_GUINT64_FORMAT, state,
                                           S(env)->clock, ++hw->uid_counter);
    guint8 digest[16];
    gsize len = sizeof(digest);
    GChecksum *ck = g_checksum_new(G_CHECKSUM_MD5);
    g_checksum_update(ck, (const guchar *)src, -1);
    g_checksum_get_digest(ck, digest, &len);
    g_checksum_free(ck);
    g_autofree char *b64 = g_base64_encode(digest, len);
    b64[22] = '\0'; /* 22 characters, unpadded */
    return g_strdup(b64);
}

static const ha_env_ops sim_ops = {
    .nodename = op_nodename,
    .read_manager_status = op_read_manager_status,
    .write_manager_status = op_write_manager_status,
    .read_lrm_status = op_read_lrm_status,
    .write_lrm_status = op_write_lrm_status,
    .is_node_shutdown = op_is_node_shutdown,
    .queue_crm_command = op_queue_crm_command,
    .any_pending_crm_command = op_any_pending_crm_command,
    .read_crm_commands = op_read_crm_commands,
    .read_service_config = op_read_service_config,
    .update_service_config = op_update_service_config,
    .write_service_config = op_write_service_config,
    .read_rules_config = op_read_rules_config,
    .write_rules_config = op_write_rules_config,
    .read_group_config = op_read_group_config,
    .delete_group_config = op_delete_group_config,
    .steal_service = op_steal_service,
    .get_node_info = op_get_node_info,
    .quorate = op_quorate,
    .cluster_state_update = op_cluster_state_update,
    .log = op_log,
    .send_notification = op_send_notification,
    .get_ha_manager_lock = op_get_ha_manager_lock,
    .release_ha_manager_lock = op_release_ha_manager_lock,
    .get_ha_agent_lock = op_get_ha_agent_lock,
    .release_ha_agent_lock = op_release_ha_agent_lock,
    .get_time = op_get_time,
    .sleep = op_sleep,
    .sleep_until = op_sleep_until,
    .loop_start_hook = op_loop_start_hook,
    .loop_end_hook = op_loop_end_hook,
    .watchdog_open = op_watchdog_open,
    .watchdog_update = op_watchdog_update,
    .watchdog_close = op_watchdog_close,
    .get_max_workers = op_get_max_workers,
    .get_datacenter_settings = op_get_datacenter_settings,
    .get_static_service_stats = op_get_static_service_stats,
    .get_dynamic_service_stats = op_get_dynamic_service_stats,
    .get_static_node_stats = op_get_static_node_stats,
    .get_dynamic_node_stats = op_get_dynamic_node_stats,
    .get_node_version = op_get_node_version,
    .agent_lookup = op_agent_lookup,
    .new_uid = op_new_uid,
};

void sim_env_init(sim_env *se, sim_hw *hw, sim_node *node, const char *log_id)
{
    memset(se, 0, sizeof(*se));
    se->env.ops = &sim_ops;
    se->env.backend = se;
    se->env.timing = hw->timing;
    se->hw = hw;
    se->node = node;
    se->log_id = log_id;
}
