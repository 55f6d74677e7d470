/*
 * manager: service state machine, CRM commands, disarm, group migration and
 * fencing of the master (ha.md §6).
 *
 * The round order and every logged text follow ha.md §6.4/§6.5 so that decisions
 * and log lines match the reference.  Quirks the spec asks to keep (the maintenance
 * + fence continuation in `started`, rebalance-on-start without a node) are
 * reproduced.  All state is in the ha_manager object; nothing is global.
 */
#include "ha/manager.h"

#include "ha/node-status.h"
#include "ha/rules.h"
#include "ha/select.h"
#include "ha/usage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUP_MIGRATION_FIRST 3    /* rounds before the first attempt (ha.md §10) */
#define GROUP_MIGRATION_INTERVAL 6 /* rounds between attempts */
#define GROUP_MIGRATION_MIN_VERSION "9.0.0~16"

struct ha_manager {
    ha_env *env;
    ha_node_status *ns;
    GHashTable *ss; /* sid -> ha_service_state* */
    GHashTable *node_request; /* node -> GINT maintenance; NULL when absent */
    char *disarm_mode;
    char *disarm_state;

    ha_usage *usage;
    ha_compiled_rules *rules;
    char *last_rules_digest;
    char *last_groups_digest;
    char *last_services_digest;
    int group_migration_round;

    char *sched_name; /* current scheduler mode name, NULL before the first update */
    bool rebalance_on_start;

    /* per round */
    ha_resources *sc;
    ha_groups *groups;
    GHashTable *lrm_results; /* uid -> ha_lrm_result* (borrowed from lrm_status objects) */
    GHashTable *lrm_modes;   /* node -> mode string */
    GPtrArray *lrm_status_objs;
};

static void update_scheduler_mode(ha_manager *m);

ha_manager *ha_manager_new(ha_env *env)
{
    ha_manager *m = g_new0(ha_manager, 1);
    m->env = env;
    g_autoptr(ha_manager_status) old = NULL;
    if (env->ops->read_manager_status(env, &old, NULL) < 0)
        old = ha_manager_status_new();
    m->ns = ha_node_status_new(env, old->node_status);
    m->ss = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                  (GDestroyNotify)ha_service_state_free);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, old->service_status);
    while (g_hash_table_iter_next(&it, &k, &v))
        g_hash_table_insert(m->ss, g_strdup(k), ha_service_state_copy(v));
    if (old->node_request) {
        m->node_request = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_hash_table_iter_init(&it, old->node_request);
        while (g_hash_table_iter_next(&it, &k, &v))
            g_hash_table_insert(m->node_request, g_strdup(k), v);
    }
    m->disarm_mode = g_strdup(old->disarm_mode);
    m->disarm_state = g_strdup(old->disarm_state);
    if (env->persist_last_online && old->node_last_online) {
        gint64 now = ha_env_time(env);
        g_hash_table_iter_init(&it, old->node_last_online);
        while (g_hash_table_iter_next(&it, &k, &v)) {
            gint64 t = *(gint64 *)v * 1000;
            ha_node_status_set_last_online(m->ns, k, MIN(t, now));
        }
    }
    m->last_rules_digest = g_strdup("");
    m->last_groups_digest = g_strdup("");
    m->last_services_digest = g_strdup("");
    m->group_migration_round = GROUP_MIGRATION_FIRST;
    update_scheduler_mode(m);
    return m;
}

static void clear_round(ha_manager *m)
{
    g_clear_pointer(&m->sc, ha_resources_free);
    g_clear_pointer(&m->groups, ha_groups_free);
    g_clear_pointer(&m->lrm_results, g_hash_table_unref);
    g_clear_pointer(&m->lrm_modes, g_hash_table_unref);
    g_clear_pointer(&m->lrm_status_objs, g_ptr_array_unref);
}

void ha_manager_free(ha_manager *m)
{
    if (!m)
        return;
    clear_round(m);
    ha_node_status_free(m->ns);
    g_hash_table_unref(m->ss);
    if (m->node_request)
        g_hash_table_unref(m->node_request);
    g_free(m->disarm_mode);
    g_free(m->disarm_state);
    ha_usage_free(m->usage);
    ha_compiled_rules_free(m->rules);
    g_free(m->last_rules_digest);
    g_free(m->last_groups_digest);
    g_free(m->last_services_digest);
    g_free(m->sched_name);
    g_free(m);
}

bool ha_manager_fully_disarmed(const ha_manager *m)
{
    return m->disarm_mode && m->disarm_state && strcmp(m->disarm_state, "disarmed") == 0;
}

#define LOG(m, lvl, ...) ha_env_log((m)->env, (lvl), __VA_ARGS__)

/* ---- state change ---- */

typedef struct {
    const char *node;
    const char *target;
    bool has_target; /* target given (possibly NULL: the rebalance quirk) */
    const char *timeout;
} change_params;

static void usage_update(ha_manager *m, const char *sid, const ha_service_state *sd)
{
    if (!m->usage)
        return;
    ha_usage_remove_service(m->usage, sid);
    ha_usage_add_service(m->usage, sid, sd->state, sd->node, sd->target);
}

static void change_state(ha_manager *m, const char *sid, ha_svc_state new_state,
                         const change_params *p)
{
    ha_service_state *sd = g_hash_table_lookup(m->ss, sid);
    g_return_if_fail(sd != NULL);
    ha_svc_state old_state = sd->state;
    g_return_if_fail(old_state != new_state);

    ha_service_state *n = ha_service_state_new();
    n->state = new_state;
    n->node = g_strdup(sd->node);
    if (sd->failed_nodes)
        n->failed_nodes = g_ptr_array_ref(sd->failed_nodes);
    n->maintenance_node = g_strdup(sd->maintenance_node);
    GString *text = g_string_new(NULL);
    if (p && p->node) {
        g_free(n->node);
        n->node = g_strdup(p->node);
        g_string_append_printf(text, "node = %s", p->node);
    }
    if (p && p->has_target) {
        n->has_target = true;
        n->target = g_strdup(p->target);
        g_string_append_printf(text, "%starget = %s", text->len ? ", " : "", p->target ? p->target : "");
    }
    if (p && p->timeout) {
        n->timeout = g_strdup(p->timeout);
        g_string_append_printf(text, "%stimeout = %s", text->len ? ", " : "", p->timeout);
    }
    n->uid = m->env->ops->new_uid(m->env, ha_svc_state_name(new_state));
    g_hash_table_replace(m->ss, g_strdup(sid), n);
    usage_update(m, sid, n);
    if (text->len)
        LOG(m, HA_LOG_INFO, "service '%s': state changed from '%s' to '%s'  (%s)", sid,
            ha_svc_state_name(old_state), ha_svc_state_name(new_state), text->str);
    else
        LOG(m, HA_LOG_INFO, "service '%s': state changed from '%s' to '%s'", sid,
            ha_svc_state_name(old_state), ha_svc_state_name(new_state));
    g_string_free(text, TRUE);
}

static void new_uid(ha_manager *m, ha_service_state *sd)
{
    g_free(sd->uid);
    sd->uid = m->env->ops->new_uid(m->env, ha_svc_state_name(sd->state));
}

static void clear_cmd(ha_service_state *sd)
{
    g_clear_pointer(&sd->cmd, g_free);
    g_clear_pointer(&sd->cmd_arg, g_free);
}

static void append_failed_node(ha_service_state *sd, const char *node)
{
    if (!sd->failed_nodes)
        sd->failed_nodes = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(sd->failed_nodes, g_strdup(node ? node : ""));
}

/* ---- scheduler ---- */

static void update_scheduler_mode(ha_manager *m)
{
    ha_dc_settings dc;
    m->env->ops->get_datacenter_settings(m->env, &dc);
    m->rebalance_on_start = dc.rebalance_on_start;
    const char *mode = dc.crs_ha ? dc.crs_ha : "basic";
    if (!m->sched_name) {
        if (strcmp(mode, "basic") != 0)
            LOG(m, HA_LOG_INFO, "using scheduler mode '%s'", mode);
    } else if (strcmp(mode, m->sched_name) != 0) {
        LOG(m, HA_LOG_INFO, "switching scheduler mode from '%s' to '%s'", m->sched_name, mode);
    }
    g_free(m->sched_name);
    m->sched_name = g_strdup(mode);
    ha_dc_settings_clear(&dc);
}

static void recompute_usage(ha_manager *m)
{
    g_autoptr(GPtrArray) online = ha_node_status_list_online(m->ns);
    ha_usage *u = NULL;
    const char *mode = m->sched_name ? m->sched_name : "basic";
    if (strcmp(mode, "static") == 0 || strcmp(mode, "dynamic") == 0) {
        g_autoptr(GError) err = NULL;
        ha_sched_mode sm = mode[0] == 's' ? HA_SCHED_STATIC : HA_SCHED_DYNAMIC;
        if (ha_usage_new(m->env, sm, online, &u, &err) < 0)
            LOG(m, HA_LOG_WARNING, "fallback to 'basic' scheduler mode, init for '%s' failed - %s",
                mode, err->message);
    } else if (strcmp(mode, "basic") != 0) {
        LOG(m, HA_LOG_WARNING, "got unknown scheduler mode '%s', using 'basic'", mode);
    }
    if (!u)
        ha_usage_new(m->env, HA_SCHED_BASIC, online, &u, NULL);
    g_autoptr(GPtrArray) sids = ha_sorted_keys(m->ss);
    for (guint i = 0; i < sids->len; i++) {
        ha_service_state *sd = g_hash_table_lookup(m->ss, sids->pdata[i]);
        ha_usage_add_service(u, sids->pdata[i], sd->state, sd->node, sd->target);
    }
    /* non-HA guests: configured guests without a record, by their requested state */
    for (guint i = 0; m->sc && i < m->sc->order->len; i++) {
        const char *sid = m->sc->order->pdata[i];
        if (g_hash_table_contains(m->ss, sid))
            continue;
        const ha_resource *r = ha_resources_get(m->sc, sid);
        if (r->node && strcmp(r->state, "started") == 0)
            ha_usage_add_service(u, sid, HA_SS_STARTED, r->node, NULL);
    }
    ha_usage_free(m->usage);
    m->usage = u;
}

static char *select_node(ha_manager *m, const char *sid, const ha_resource *cd,
                         const ha_service_state *sd, ha_select_pref pref)
{
    return ha_select_node(m->rules, m->usage, m->ss, sid, sd, cd ? cd->failback : true, pref);
}

/* ---- transitions ---- */

static ha_svc_state req_svc_state(const ha_resource *cd)
{
    return strcmp(cd->state, "started") == 0 ? HA_SS_STARTED : HA_SS_REQUEST_STOP;
}

static void next_state_request_start(ha_manager *m, const char *sid, const ha_resource *cd,
                                     ha_service_state *sd)
{
    g_autofree char *current = g_strdup(sd->node);
    if (m->rebalance_on_start) {
        g_autofree char *sel = select_node(m, sid, cd, sd, HA_SELECT_BEST_SCORE);
        bool is_new = !sel || !current || strcmp(sel, current) != 0;
        LOG(m, HA_LOG_INFO, "service %s: re-balance selected %s node %s for startup", sid,
            is_new ? "new" : "current", sel ? sel : "");
        if (is_new) {
            /* reference quirk: no selectable node still moves on, without target */
            change_params p = {.node = current, .target = sel, .has_target = true};
            change_state(m, sid, HA_SS_REQUEST_START_BALANCE, &p);
            return;
        }
    }
    change_params p = {.node = current};
    change_state(m, sid, HA_SS_STARTED, &p);
}

static void consume_motion_cmd(ha_manager *m, const char *sid, ha_service_state *sd,
                               bool log_motion, bool *ret_changed)
{
    g_autofree char *cmd = g_strdup(sd->cmd);
    g_autofree char *target = g_strdup(sd->cmd_arg);
    *ret_changed = false;
    if (!target || !ha_node_status_is_online(m->ns, target)) {
        LOG(m, HA_LOG_ERR, "ignore service '%s' %s request - node '%s' not online", sid, cmd,
            target ? target : "");
    } else if (sd->node && strcmp(sd->node, target) == 0) {
        LOG(m, HA_LOG_INFO, "ignore service '%s' %s request - service already on node '%s'", sid,
            cmd, target);
    } else {
        *ret_changed = true;
        if (log_motion)
            LOG(m, HA_LOG_INFO, "%s service '%s' to node '%s'", cmd, sid, target);
        g_autofree char *node = g_strdup(sd->node);
        change_params p = {.node = node, .target = target, .has_target = true};
        change_state(m, sid, strcmp(cmd, "migrate") == 0 ? HA_SS_MIGRATE : HA_SS_RELOCATE, &p);
    }
}

static void next_state_started(ha_manager *m, const char *sid, const ha_resource *cd,
                               ha_service_state *sd, const ha_lrm_result *res)
{
    const ha_timing *t = &m->env->timing;
    if (!ha_node_status_is_online(m->ns, sd->node)) {
        if (ha_node_status_offline_delayed(m->ns, sd->node, t->fence_delay_ms))
            change_state(m, sid, HA_SS_FENCE, NULL);
        sd = g_hash_table_lookup(m->ss, sid);
        if (ha_node_status_get(m->ns, sd->node) != HA_NODE_MAINTENANCE)
            return;
        /* quirk (ha.md §6.5): evaluation continues, even after the change to fence */
        g_free(sd->maintenance_node);
        sd->maintenance_node = g_strdup(sd->node);
    }
    if (strcmp(cd->state, "disabled") == 0 || strcmp(cd->state, "stopped") == 0) {
        if (sd->state != HA_SS_REQUEST_STOP)
            change_state(m, sid, HA_SS_REQUEST_STOP, NULL);
        return;
    }
    if (strcmp(cd->state, "started") != 0) {
        LOG(m, HA_LOG_ERR, "service '%s' - unknown state '%s' in service configuration", sid,
            cd->state);
        return;
    }
    if (sd->cmd) {
        if (strcmp(sd->cmd, "migrate") == 0 || strcmp(sd->cmd, "relocate") == 0) {
            bool changed = false;
            consume_motion_cmd(m, sid, sd, true, &changed);
            if (changed)
                return;
        } else if (strcmp(sd->cmd, "stop") == 0) {
            g_autofree char *timeout = g_strdup(sd->cmd_arg ? sd->cmd_arg : "0");
            if (g_ascii_strtoll(timeout, NULL, 10) == 0)
                LOG(m, HA_LOG_INFO, "request immediate service hard-stop for service '%s'", sid);
            else
                LOG(m, HA_LOG_INFO, "request graceful stop with timeout '%s' for service '%s'",
                    timeout, sid);
            change_params p = {.timeout = timeout};
            change_state(m, sid, HA_SS_REQUEST_STOP, &p);
            g_autoptr(GError) err = NULL;
            if (m->env->ops->update_service_config(m->env, sid, "state", "stopped", &err) < 0)
                LOG(m, HA_LOG_ERR, "unable to update service config for '%s' - %s", sid,
                    err->message);
            return;
        } else {
            LOG(m, HA_LOG_ERR, "unknown command '%s' for service '%s'", sd->cmd, sid);
        }
        clear_cmd(sd);
        return;
    }

    ha_select_pref pref = HA_SELECT_NONE;
    if (res) {
        int ec = res->exit_code;
        if (ec == HA_SUCCESS) {
            if (sd->failed_nodes) {
                g_autofree char *fn = ha_service_state_failed_nodes_text(sd);
                LOG(m, HA_LOG_INFO, "relocation policy successful for '%s' on node '%s', failed nodes: %s",
                    sid, sd->node, fn);
            }
            g_clear_pointer(&sd->failed_nodes, g_ptr_array_unref);
            sd->running = true;
        } else if (ec == HA_ERROR || ec == HA_EWRONG_NODE) {
            sd->running = false;
            append_failed_node(sd, sd->node);
            if ((int)sd->failed_nodes->len <= cd->max_relocate) {
                pref = HA_SELECT_TRY_NEXT;
                LOG(m, HA_LOG_WARNING, "starting service %s on node '%s' failed, relocating service.",
                    sid, sd->node);
            } else {
                g_autofree char *fn = ha_service_state_failed_nodes_text(sd);
                LOG(m, HA_LOG_ERR,
                    "recovery policy for service %s failed, entering error state. Failed nodes: %s",
                    sid, fn);
                change_state(m, sid, HA_SS_ERROR, NULL);
                return;
            }
        } else {
            append_failed_node(sd, sd->node);
            LOG(m, HA_LOG_ERR, "service '%s' got unrecoverable error (exit code %d)", sid, ec);
            change_state(m, sid, HA_SS_ERROR, NULL);
            return;
        }
    }
    g_autofree char *node = select_node(m, sid, cd, sd, pref);
    if (node && (!sd->node || strcmp(node, sd->node) != 0)) {
        if (sd->maintenance_node) {
            if (strcmp(node, sd->maintenance_node) == 0) {
                LOG(m, HA_LOG_INFO, "moving service '%s' back to '%s', node came back from maintenance.",
                    sid, sd->maintenance_node);
                g_clear_pointer(&sd->maintenance_node, g_free);
            } else if (!sd->node || strcmp(sd->node, sd->maintenance_node) != 0) {
                LOG(m, HA_LOG_INFO, "dropping maintenance fallback node '%s' for '%s'",
                    sd->maintenance_node, sid);
                g_clear_pointer(&sd->maintenance_node, g_free);
            }
        }
        g_autofree char *cur = g_strdup(sd->node);
        change_params p = {.node = cur, .target = node, .has_target = true};
        if (cd->type && strcmp(cd->type, "vm") == 0) {
            LOG(m, HA_LOG_INFO, "migrate service '%s' to node '%s' (running)", sid, node);
            change_state(m, sid, HA_SS_MIGRATE, &p);
        } else {
            LOG(m, HA_LOG_INFO, "relocate service '%s' to node '%s'", sid, node);
            change_state(m, sid, HA_SS_RELOCATE, &p);
        }
        return;
    }
    if (pref == HA_SELECT_TRY_NEXT && !node) {
        g_autofree char *fn = ha_service_state_failed_nodes_text(sd);
        LOG(m, HA_LOG_WARNING,
            "Start Error Recovery: Tried all available nodes for service '%s', retry start on "
            "current node. Tried nodes: %s",
            sid, fn);
    }
    if (sd->maintenance_node && sd->node && strcmp(sd->node, sd->maintenance_node) == 0 &&
        ha_node_status_is_online(m->ns, sd->node)) {
        LOG(m, HA_LOG_INFO, "service '%s': clearing stale maintenance node '%s' setting (is current node)",
            sid, sd->maintenance_node);
        g_clear_pointer(&sd->maintenance_node, g_free);
    }
    if (res)
        new_uid(m, sd);
}

static void next_state_migrate_relocate(ha_manager *m, const char *sid, const ha_resource *cd,
                                        ha_service_state *sd, const ha_lrm_result *res)
{
    if (res) {
        int ec = res->exit_code;
        ha_svc_state req = req_svc_state(cd);
        if (ec == HA_SUCCESS) {
            g_autofree char *target = g_strdup(sd->target);
            change_params p = {.node = target};
            change_state(m, sid, req, &p);
            return;
        } else if (ec == HA_EWRONG_NODE) {
            LOG(m, HA_LOG_ERR, "service '%s' - migration failed: service registered on wrong node!", sid);
            change_state(m, sid, HA_SS_ERROR, NULL);
        } else if (ec == HA_IGNORED) {
            LOG(m, HA_LOG_INFO,
                "service '%s' - rebalance-on-start request ignored - service already running", sid);
            g_autofree char *node = g_strdup(sd->node);
            change_params p = {.node = node};
            change_state(m, sid, req, &p);
        } else {
            LOG(m, HA_LOG_ERR, "service '%s' - migration failed (exit code %d)", sid, ec);
            g_autofree char *node = g_strdup(sd->node);
            change_params p = {.node = node};
            change_state(m, sid, req, &p);
            return;
        }
        sd = g_hash_table_lookup(m->ss, sid);
    }
    if (ha_node_status_offline_delayed(m->ns, sd->node, m->env->timing.fence_delay_ms) &&
        sd->state != HA_SS_FENCE)
        change_state(m, sid, HA_SS_FENCE, NULL);
}

static void next_state_request_stop(ha_manager *m, const char *sid, ha_service_state *sd,
                                    const ha_lrm_result *res)
{
    if (res) {
        if (res->exit_code == HA_SUCCESS) {
            change_state(m, sid, HA_SS_STOPPED, NULL);
        } else {
            LOG(m, HA_LOG_ERR, "service '%s' stop failed (exit code %d)", sid, res->exit_code);
            change_state(m, sid, HA_SS_ERROR, NULL);
        }
        return;
    }
    if (ha_node_status_offline_delayed(m->ns, sd->node, m->env->timing.fence_delay_ms))
        change_state(m, sid, HA_SS_FENCE, NULL);
}

static void next_state_stopped(ha_manager *m, const char *sid, const ha_resource *cd,
                               ha_service_state *sd)
{
    if (cd->node && (!sd->node || strcmp(sd->node, cd->node) != 0)) {
        LOG(m, HA_LOG_INFO, "fixup service '%s' location (%s => %s)", sid, sd->node ? sd->node : "",
            cd->node);
        g_free(sd->node);
        sd->node = g_strdup(cd->node);
    }
    if (sd->cmd) {
        if (strcmp(sd->cmd, "migrate") == 0 || strcmp(sd->cmd, "relocate") == 0) {
            bool changed = false;
            consume_motion_cmd(m, sid, sd, false, &changed);
            if (changed)
                return;
        } else if (strcmp(sd->cmd, "stop") == 0) {
            LOG(m, HA_LOG_INFO, "ignore service '%s' %s request - service already stopped", sid, sd->cmd);
        } else {
            LOG(m, HA_LOG_ERR, "unknown command '%s' for service '%s'", sd->cmd, sid);
        }
        clear_cmd(sd);
    }
    if (strcmp(cd->state, "disabled") == 0)
        return;
    if (ha_node_status_offline_delayed(m->ns, sd->node, m->env->timing.fence_delay_ms) &&
        ha_node_status_get(m->ns, sd->node) != HA_NODE_MAINTENANCE) {
        change_state(m, sid, HA_SS_FENCE, NULL);
        return;
    }
    if (strcmp(cd->state, "stopped") == 0)
        return;
    if (strcmp(cd->state, "started") == 0) {
        g_autofree char *node = g_strdup(sd->node);
        change_params p = {.node = node};
        change_state(m, sid, HA_SS_REQUEST_START, &p);
        return;
    }
    LOG(m, HA_LOG_ERR, "service '%s' - unknown state '%s' in service configuration", sid, cd->state);
}

static void fence_recovery_cleanup(ha_manager *m, const char *sid, const char *fenced_node)
{
    static const char *const removable[] = {"backup", "mounted", "migrate", "clone", "rollback",
                                            "snapshot", "snapshot-delete", "suspending",
                                            "suspended", NULL};
    g_autofree char *type = NULL, *name = NULL;
    if (ha_sid_parse(sid, &type, &name) < 0)
        return;
    const ha_agent *agent = m->env->ops->agent_lookup(m->env, type);
    if (!agent || !agent->remove_locks)
        return;
    g_autofree char *lock = agent->remove_locks(m->env, name, removable, fenced_node);
    if (lock)
        LOG(m, HA_LOG_WARNING, "removed leftover lock '%s' from recovered service '%s' to allow its start.",
            lock, sid);
}

static void next_state_recovery(ha_manager *m, const char *sid, const ha_resource *cd,
                                ha_service_state *sd)
{
    g_autofree char *fenced = g_strdup(sd->node);
    recompute_usage(m); /* the most current node state */
    g_autofree char *node = select_node(m, sid, cd, sd, HA_SELECT_BEST_SCORE);
    if (node) {
        if (fenced && strcmp(node, fenced) == 0)
            LOG(m, HA_LOG_INFO, "recover service '%s' to previous failed and fenced node '%s' again",
                sid, fenced);
        else
            LOG(m, HA_LOG_INFO, "recover service '%s' from fenced node '%s' to node '%s'", sid,
                fenced ? fenced : "", node);
        fence_recovery_cleanup(m, sid, fenced);
        g_autoptr(GError) err = NULL;
        if (m->env->ops->steal_service(m->env, sid, fenced, node, &err) < 0) {
            LOG(m, HA_LOG_ERR, "got unexpected error - %s", err->message);
            return;
        }
        m->env->ops->cluster_state_update(m->env);
        /* the guest moved: keep this round's config in step (not the no-config fallback) */
        ha_resource *conf = ha_resources_get(m->sc, sid);
        if (conf) {
            g_free(conf->node);
            conf->node = g_strdup(node);
        }
        g_free(sd->node);
        sd->node = g_strdup(node);
        change_params p = {.node = node};
        change_state(m, sid, req_svc_state(cd), &p);
        return;
    }
    LOG(m, HA_LOG_ERR, "recovering service '%s' from fenced node '%s' failed, no recovery node found",
        sid, fenced ? fenced : "");
    if (strcmp(cd->state, "disabled") == 0) {
        g_clear_pointer(&sd->failed_nodes, g_ptr_array_unref);
        change_state(m, sid, HA_SS_STOPPED, NULL);
    }
}

static void next_state_error(ha_manager *m, const char *sid, const ha_resource *cd,
                             ha_service_state *sd)
{
    if (strcmp(cd->state, "disabled") == 0) {
        g_clear_pointer(&sd->failed_nodes, g_ptr_array_unref);
        change_state(m, sid, HA_SS_STOPPED, NULL);
    }
}

/* ---- CRM commands ---- */

static bool is_disarmed(const ha_manager *m)
{
    return m->disarm_mode != NULL;
}

static void queue_motion(ha_manager *m, const char *line, const char *task, const char *sid,
                         const char *target)
{
    GHashTable *neg = m->rules ? g_hash_table_lookup(m->rules->negative, sid) : NULL;
    GHashTable *pos = m->rules ? g_hash_table_lookup(m->rules->positive, sid) : NULL;
    if (neg) {
        g_autoptr(GPtrArray) partners = ha_sorted_keys(neg);
        for (guint i = 0; i < partners->len; i++) {
            ha_service_state *csd = g_hash_table_lookup(m->ss, partners->pdata[i]);
            if (!csd)
                continue;
            if ((csd->node && strcmp(csd->node, target) == 0) ||
                (csd->target && strcmp(csd->target, target) == 0)) {
                LOG(m, HA_LOG_ERR,
                    "crm command '%s' error - service '%s' on node '%s' in negative affinity with "
                    "service '%s'",
                    line, (char *)partners->pdata[i], target, sid);
                return;
            }
        }
    }
    LOG(m, HA_LOG_INFO, "got crm command: %s", line);
    ha_service_state *sd = g_hash_table_lookup(m->ss, sid);
    clear_cmd(sd);
    sd->cmd = g_strdup(task);
    sd->cmd_arg = g_strdup(target);
    if (pos) {
        g_autoptr(GPtrArray) partners = ha_sorted_keys(pos);
        for (guint i = 0; i < partners->len; i++) {
            ha_service_state *csd = g_hash_table_lookup(m->ss, partners->pdata[i]);
            if (!csd)
                continue;
            if ((csd->node && strcmp(csd->node, target) == 0) ||
                (csd->target && strcmp(csd->target, target) == 0))
                continue;
            LOG(m, HA_LOG_INFO,
                "crm command '%s' - %s service '%s' to node '%s' (service '%s' in positive affinity "
                "with service '%s')",
                line, task, (char *)partners->pdata[i], target, (char *)partners->pdata[i], sid);
            clear_cmd(csd);
            csd->cmd = g_strdup(task);
            csd->cmd_arg = g_strdup(target);
        }
    }
}

static void handle_command(ha_manager *m, const char *line)
{
    g_auto(GStrv) w = g_regex_split_simple("\\s+", line, 0, 0);
    int n = (int)g_strv_length(w);
    if (n > 0 && w[n - 1][0] == '\0')
        n--;
    if (n == 3 && (strcmp(w[0], "migrate") == 0 || strcmp(w[0], "relocate") == 0)) {
        ha_service_state *sd = g_hash_table_lookup(m->ss, w[1]);
        if (!sd)
            LOG(m, HA_LOG_ERR, "crm command error - no such service: %s", line);
        else if (!ha_node_status_is_online(m->ns, w[2]))
            LOG(m, HA_LOG_ERR, "crm command error - node not online: %s", line);
        else if (sd->node && strcmp(sd->node, w[2]) == 0)
            LOG(m, HA_LOG_INFO, "ignore crm command - service already on target node: %s", line);
        else
            queue_motion(m, line, w[0], w[1], w[2]);
    } else if (n == 3 && strcmp(w[0], "stop") == 0) {
        ha_service_state *sd = g_hash_table_lookup(m->ss, w[1]);
        if (!sd) {
            LOG(m, HA_LOG_ERR, "crm command error - no such service: %s", line);
        } else {
            LOG(m, HA_LOG_INFO, "got crm command: %s", line);
            clear_cmd(sd);
            sd->cmd = g_strdup("stop");
            sd->cmd_arg = g_strdup(w[2]);
        }
    } else if (n == 2 && strcmp(w[0], "enable-node-maintenance") == 0) {
        ha_node_state st = ha_node_status_get(m->ns, w[1]);
        if (is_disarmed(m)) {
            LOG(m, HA_LOG_WARNING, "ignoring maintenance command for node %s - HA stack is disarmed", w[1]);
        } else if (st == HA_NODE_ONLINE) {
            if (!m->node_request)
                m->node_request = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
            g_hash_table_replace(m->node_request, g_strdup(w[1]), GINT_TO_POINTER(1));
        } else if (st == HA_NODE_MAINTENANCE) {
            LOG(m, HA_LOG_INFO, "ignoring crm command - node %s is already in maintenance state", w[1]);
        } else {
            LOG(m, HA_LOG_ERR, "crm command error - node not online: %s", line);
        }
    } else if (n == 2 && strcmp(w[0], "disable-node-maintenance") == 0) {
        ha_node_state st = ha_node_status_get(m->ns, w[1]);
        if (st != HA_NODE_MAINTENANCE)
            LOG(m, HA_LOG_WARNING, "clearing maintenance of node %s requested, but it's in state %s",
                w[1], ha_node_state_name(st));
        if (!m->node_request)
            m->node_request = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_hash_table_replace(m->node_request, g_strdup(w[1]), GINT_TO_POINTER(0));
    } else if (n == 2 && strcmp(w[0], "disarm-ha") == 0 &&
               (strcmp(w[1], "freeze") == 0 || strcmp(w[1], "ignore") == 0)) {
        if (is_disarmed(m)) {
            LOG(m, HA_LOG_NOTICE, "ignoring disarm-ha command - already in disarm state (%s)",
                m->disarm_state);
            return;
        }
        LOG(m, HA_LOG_INFO, "got crm command: %s", line);
        if (strcmp(w[1], "ignore") == 0) {
            g_autoptr(GPtrArray) sids = ha_sorted_keys(m->ss);
            for (guint i = 0; i < sids->len; i++)
                LOG(m, HA_LOG_INFO, "disarm: suspending HA tracking for service '%s'",
                    (char *)sids->pdata[i]);
        }
        m->disarm_mode = g_strdup(w[1]);
        m->disarm_state = g_strdup("disarming");
    } else if (n == 1 && strcmp(w[0], "arm-ha") == 0) {
        if (!is_disarmed(m)) {
            LOG(m, HA_LOG_NOTICE, "ignoring arm-ha command - HA stack is not disarmed");
            return;
        }
        LOG(m, HA_LOG_INFO, "got crm command: arm-ha");
        if (strcmp(m->disarm_mode, "ignore") == 0) {
            g_autoptr(GPtrArray) sids = ha_sorted_keys(m->ss);
            for (guint i = 0; i < sids->len; i++) {
                ha_service_state *sd = g_hash_table_lookup(m->ss, sids->pdata[i]);
                const ha_resource *cd = ha_resources_get(m->sc, sids->pdata[i]);
                if (!cd || !cd->node || (sd->node && strcmp(sd->node, cd->node) == 0))
                    continue;
                LOG(m, HA_LOG_INFO, "service '%s': updating node '%s' => '%s' (changed while disarmed)",
                    (char *)sids->pdata[i], sd->node ? sd->node : "", cd->node);
                g_free(sd->node);
                sd->node = g_strdup(cd->node);
            }
        }
        g_clear_pointer(&m->disarm_mode, g_free);
        g_clear_pointer(&m->disarm_state, g_free);
    } else {
        LOG(m, HA_LOG_ERR, "unable to parse crm command: %s", line);
    }
}

static int process_crm_commands(ha_manager *m, GError **error)
{
    g_autofree char *text = NULL;
    if (m->env->ops->read_crm_commands(m->env, &text, error) < 0)
        return -EIO;
    g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);
    int n = (int)g_strv_length(lines);
    while (n > 0 && lines[n - 1][0] == '\0')
        n--; /* trailing empty fields are not commands */
    for (int i = 0; i < n; i++)
        handle_command(m, lines[i]);
    return 0;
}

/* ---- disarm ---- */

typedef enum { DISARM_NONE, DISARM_END_ROUND, DISARM_SKIP, DISARM_DEFERRED } disarm_result;

static disarm_result handle_disarm(ha_manager *m, GHashTable *deferred)
{
    if (strcmp(m->disarm_mode, "freeze") != 0 && strcmp(m->disarm_mode, "ignore") != 0) {
        LOG(m, HA_LOG_ERR, "unknown disarm-mode '%s', ignoring", m->disarm_mode);
        return DISARM_SKIP;
    }
    g_autoptr(GPtrArray) sids = ha_sorted_keys(m->ss);
    for (guint i = 0; i < sids->len; i++) {
        ha_service_state *sd = g_hash_table_lookup(m->ss, sids->pdata[i]);
        if (sd->state == HA_SS_FENCE || sd->state == HA_SS_RECOVERY) {
            LOG(m, HA_LOG_WARNING, "deferring disarm - service '%s' is in '%s' state",
                (char *)sids->pdata[i], ha_svc_state_name(sd->state));
            g_hash_table_add(deferred, g_strdup(sids->pdata[i]));
        } else if (sd->state == HA_SS_MIGRATE || sd->state == HA_SS_RELOCATE) {
            LOG(m, HA_LOG_INFO, "deferring disarm - service '%s' is in '%s' state",
                (char *)sids->pdata[i], ha_svc_state_name(sd->state));
            g_hash_table_add(deferred, g_strdup(sids->pdata[i]));
        }
    }
    if (g_hash_table_size(deferred) > 0)
        return DISARM_DEFERRED;
    bool freeze = strcmp(m->disarm_mode, "freeze") == 0;
    for (guint i = 0; i < sids->len; i++) {
        ha_service_state *sd = g_hash_table_lookup(m->ss, sids->pdata[i]);
        ha_service_state *n = ha_service_state_new();
        n->state = sd->state;
        n->node = g_strdup(sd->node);
        n->uid = g_strdup(sd->uid);
        n->maintenance_node = g_strdup(sd->maintenance_node);
        if (freeze && (sd->state == HA_SS_STARTED || sd->state == HA_SS_STOPPED ||
                       sd->state == HA_SS_REQUEST_STOP || sd->state == HA_SS_REQUEST_START ||
                       sd->state == HA_SS_REQUEST_START_BALANCE)) {
            LOG(m, HA_LOG_INFO, "disarm: freezing service '%s' (was '%s')", (char *)sids->pdata[i],
                ha_svc_state_name(sd->state));
            n->state = HA_SS_FREEZE;
            new_uid(m, n);
        }
        g_hash_table_replace(m->ss, g_strdup(sids->pdata[i]), n);
    }
    if (strcmp(m->disarm_state, "disarmed") != 0) {
        bool all = true;
        g_autoptr(GPtrArray) online = ha_node_status_list_online(m->ns);
        for (guint i = 0; i < online->len; i++) {
            const char *mode = g_hash_table_lookup(m->lrm_modes, online->pdata[i]);
            if (!mode || strcmp(mode, "disarm") != 0)
                all = false;
        }
        if (all) {
            LOG(m, HA_LOG_INFO, "all LRMs disarmed, HA stack is now fully disarmed");
            g_free(m->disarm_state);
            m->disarm_state = g_strdup("disarmed");
        }
    }
    return DISARM_END_ROUND;
}

/* ---- group migration (ha.md §6.10) ---- */

/* -1/0/1, -2 when either does not parse (the caller treats < 0 as too old); a missing
 * ~rev passes an equal major.minor.patch */
static int version_cmp_min(const char *have, const char *min)
{
    unsigned hv[4] = {0}, mv[4] = {0};
    int hn = sscanf(have, "%u.%u%*[.-]%u~%u", &hv[0], &hv[1], &hv[2], &hv[3]);
    int mn = sscanf(min, "%u.%u%*[.-]%u~%u", &mv[0], &mv[1], &mv[2], &mv[3]);
    if (hn < 3 || mn < 3)
        return -2;
    for (int i = 0; i < 3; i++)
        if (hv[i] != mv[i])
            return hv[i] < mv[i] ? -1 : 1;
    if (hn < 4 || mn < 4)
        return 0;
    return hv[3] < mv[3] ? -1 : hv[3] > mv[3] ? 1 : 0;
}

static char *group_migration_check(ha_manager *m)
{
    ha_env *env = m->env;
    if (!env->ops->quorate(env))
        return g_strdup("cluster is not quorate");
    g_autoptr(GPtrArray) nodes = ha_node_status_list_nodes(m->ns);
    if (nodes->len == 0)
        return g_strdup("node list is empty");
    for (guint i = 0; i < nodes->len; i++) {
        const char *node = nodes->pdata[i];
        ha_node_state st = ha_node_status_get(m->ns, node);
        if (st != HA_NODE_ONLINE) {
            LOG(m, HA_LOG_NOTICE, "ha groups migration: node '%s' is in state '%s'", node,
                ha_node_state_name(st));
            return g_strdup_printf("node '%s' is not online", node);
        }
        g_autoptr(ha_lrm_status) ls = NULL;
        if (env->ops->read_lrm_status(env, node, &ls, NULL) < 0 || !ls->state || !ls->mode)
            return g_strdup_printf("could not retrieve state for lrm '%s'", node);
        bool state_ok = strcmp(ls->state, "active") == 0 ||
                        (strcmp(ls->state, "wait_for_agent_lock") == 0 &&
                         ha_service_status_active_count(m->ss, node) == 0);
        bool mode_ok = strcmp(ls->mode, "active") == 0;
        if (!state_ok || !mode_ok) {
            LOG(m, HA_LOG_NOTICE, "ha groups migration: lrm '%s' is in state '%s' and mode '%s'",
                node, ls->state, ls->mode);
            if (!state_ok)
                return g_strdup_printf("lrm '%s' is not in state 'active' or 'idle'", node);
            return g_strdup_printf("lrm '%s' is not in mode 'active'", node);
        }
        g_autofree char *version = env->ops->get_node_version(env, node);
        if (!version)
            return g_strdup_printf("could not retrieve version from node '%s'", node);
        if (version_cmp_min(version, GROUP_MIGRATION_MIN_VERSION) < 0) {
            LOG(m, HA_LOG_NOTICE, "ha groups migration: node '%s' has version '%s'", node, version);
            return g_strdup_printf("node '%s' needs at least pve-manager version '%s'", node,
                                   GROUP_MIGRATION_MIN_VERSION);
        }
    }
    return NULL;
}

static void try_group_migration(ha_manager *m)
{
    ha_env *env = m->env;
    g_autoptr(ha_groups) groups = NULL;
    if (env->ops->read_group_config(env, &groups, NULL) < 0 || groups->groups->len == 0)
        return;
    if (--m->group_migration_round > 0)
        return;
    m->group_migration_round = GROUP_MIGRATION_INTERVAL;
    LOG(m, HA_LOG_INFO, "start ha group migration...");
    g_autofree char *reason = group_migration_check(m);
    g_autoptr(GError) err = NULL;
    if (!reason) {
        g_autoptr(ha_rules) rules = NULL;
        g_autoptr(ha_resources) sc = NULL;
        if (env->ops->read_rules_config(env, &rules, &err) < 0 ||
            env->ops->read_service_config(env, &sc, &err) < 0) {
            reason = g_strdup(err->message);
        } else {
            ha_rules_add_groups(rules, groups, sc);
            if (env->ops->write_rules_config(env, rules, &err) < 0) {
                reason = g_strdup(err->message);
            } else {
                LOG(m, HA_LOG_INFO, "ha groups migration: migration to rules config successful");
                for (guint i = 0; i < sc->order->len; i++) {
                    ha_resource *r = ha_resources_get(sc, sc->order->pdata[i]);
                    if (!r->group)
                        continue;
                    const ha_group *g = ha_groups_find(groups, r->group);
                    if (g && g->nofailback) {
                        r->failback = 0;
                        r->present |= HA_RES_HAS_FAILBACK;
                    }
                    g_clear_pointer(&r->group, g_free);
                    r->present &= ~HA_RES_HAS_GROUP;
                }
                if (env->ops->write_service_config(env, sc, &err) < 0) {
                    reason = g_strdup(err->message);
                } else {
                    LOG(m, HA_LOG_INFO, "ha groups migration: migration to resources config successful");
                    if (env->ops->delete_group_config(env, &err) < 0)
                        reason = g_strdup(err->message);
                    else
                        LOG(m, HA_LOG_INFO, "ha groups migration: group config deletion successful");
                }
            }
        }
    }
    if (reason) {
        LOG(m, HA_LOG_ERR, "abort ha groups migration: %s", reason);
        LOG(m, HA_LOG_ERR, "ha groups migration failed");
        LOG(m, HA_LOG_NOTICE, "retry ha groups migration in %d rounds (~ %d seconds)",
            GROUP_MIGRATION_INTERVAL,
            (int)(GROUP_MIGRATION_INTERVAL * env->timing.round_ms / 1000));
        return;
    }
    LOG(m, HA_LOG_NOTICE, "ha groups migration successful");
}

/* ---- the round ---- */

static int read_lrm_states(ha_manager *m, GError **error)
{
    m->lrm_results = g_hash_table_new(g_str_hash, g_str_equal);
    m->lrm_modes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    m->lrm_status_objs = g_ptr_array_new_with_free_func((GDestroyNotify)ha_lrm_status_free);
    g_autoptr(GPtrArray) nodes = ha_node_status_list_nodes(m->ns);
    for (guint i = 0; i < nodes->len; i++) {
        ha_lrm_status *ls = NULL;
        if (m->env->ops->read_lrm_status(m->env, nodes->pdata[i], &ls, error) < 0)
            return -EIO;
        g_ptr_array_add(m->lrm_status_objs, ls);
        g_hash_table_insert(m->lrm_modes, g_strdup(nodes->pdata[i]),
                            g_strdup(ls->mode ? ls->mode : "active"));
        GHashTableIter it;
        gpointer k, v;
        g_hash_table_iter_init(&it, ls->results);
        while (g_hash_table_iter_next(&it, &k, &v))
            if (!g_hash_table_contains(m->lrm_results, k))
                g_hash_table_insert(m->lrm_results, k, v);
    }
    return 0;
}

static int flush_status(ha_manager *m, GError **error)
{
    g_autoptr(ha_manager_status) ms = ha_manager_status_new();
    ms->master_node = g_strdup(ha_env_nodename(m->env));
    ms->timestamp = ha_env_time(m->env) / 1000;
    ms->has_timestamp = true;
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, ha_node_status_table(m->ns));
    while (g_hash_table_iter_next(&it, &k, &v))
        g_hash_table_insert(ms->node_status, g_strdup(k), v);
    g_hash_table_iter_init(&it, m->ss);
    while (g_hash_table_iter_next(&it, &k, &v))
        g_hash_table_insert(ms->service_status, g_strdup(k), ha_service_state_copy(v));
    if (m->node_request) {
        ms->node_request = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_hash_table_iter_init(&it, m->node_request);
        while (g_hash_table_iter_next(&it, &k, &v))
            g_hash_table_insert(ms->node_request, g_strdup(k), v);
    }
    ms->disarm_mode = g_strdup(m->disarm_mode);
    ms->disarm_state = g_strdup(m->disarm_state);
    if (m->env->persist_last_online) {
        ms->node_last_online = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        g_hash_table_iter_init(&it, ha_node_status_last_online(m->ns));
        while (g_hash_table_iter_next(&it, &k, &v)) {
            gint64 *t = g_new(gint64, 1);
            *t = *(gint64 *)v / 1000;
            g_hash_table_insert(ms->node_last_online, g_strdup(k), t);
        }
    }
    return m->env->ops->write_manager_status(m->env, ms, error);
}

static void apply_group_defaults(ha_manager *m)
{
    for (guint i = 0; m->groups && i < m->sc->order->len; i++) {
        ha_resource *r = ha_resources_get(m->sc, m->sc->order->pdata[i]);
        const ha_group *g = r->group ? ha_groups_find(m->groups, r->group) : NULL;
        if (g && g->nofailback)
            r->failback = 0;
    }
}

/* Recompile the rules when they, the groups, the services or the node list changed. */
static int update_rules(ha_manager *m, bool nodes_changed, GError **error)
{
    g_autoptr(ha_rules) rules = NULL;
    if (m->env->ops->read_rules_config(m->env, &rules, error) < 0)
        return -EIO;
    const char *groups_digest = m->groups ? m->groups->digest : "";
    const char *services_digest = m->sc->digest ? m->sc->digest : "";
    if (m->rules && !nodes_changed && strcmp(rules->digest, m->last_rules_digest) == 0 &&
        strcmp(groups_digest, m->last_groups_digest) == 0 &&
        strcmp(services_digest, m->last_services_digest) == 0)
        return 0;
    ha_rules_add_groups(rules, m->groups, m->sc);
    g_autoptr(GPtrArray) nodes = ha_node_status_list_nodes(m->ns);
    g_autoptr(GPtrArray) messages = g_ptr_array_new_with_free_func(g_free);
    ha_compiled_rules *c = ha_rules_compile(rules, nodes, messages);
    for (guint i = 0; i < messages->len; i++)
        LOG(m, HA_LOG_INFO, "%s", (char *)g_ptr_array_index(messages, i));
    ha_compiled_rules_free(m->rules);
    m->rules = c;
    g_free(m->last_rules_digest);
    m->last_rules_digest = g_strdup(rules->digest);
    g_free(m->last_groups_digest);
    m->last_groups_digest = g_strdup(groups_digest);
    g_free(m->last_services_digest);
    m->last_services_digest = g_strdup(services_digest);
    return 0;
}

static void service_loop(ha_manager *m, GHashTable *only)
{
    static const ha_resource disabled_cd = {.state = (char *)"disabled", .failback = 1};
    for (;;) {
        bool repeat = false;
        g_autoptr(GPtrArray) sids = ha_sorted_keys(m->ss);
        g_autoptr(GPtrArray) sid_copies = g_ptr_array_new_with_free_func(g_free);
        for (guint i = 0; i < sids->len; i++)
            g_ptr_array_add(sid_copies, g_strdup(sids->pdata[i]));
        for (guint i = 0; i < sid_copies->len; i++) {
            const char *sid = g_ptr_array_index(sid_copies, i);
            if (only && !g_hash_table_contains(only, sid))
                continue;
            ha_service_state *sd = g_hash_table_lookup(m->ss, sid);
            if (!sd)
                continue;
            const ha_resource *cd = ha_resources_get(m->sc, sid);
            if (!cd)
                cd = &disabled_cd;
            const ha_lrm_result *res = sd->uid ? g_hash_table_lookup(m->lrm_results, sd->uid) : NULL;
            ha_svc_state last = sd->state;
            switch (last) {
            case HA_SS_STOPPED:
                next_state_stopped(m, sid, cd, sd);
                break;
            case HA_SS_STARTED:
                next_state_started(m, sid, cd, sd, res);
                break;
            case HA_SS_REQUEST_START:
                next_state_request_start(m, sid, cd, sd);
                break;
            case HA_SS_MIGRATE:
            case HA_SS_RELOCATE:
            case HA_SS_REQUEST_START_BALANCE:
                next_state_migrate_relocate(m, sid, cd, sd, res);
                break;
            case HA_SS_FENCE:
                break;
            case HA_SS_RECOVERY:
                next_state_recovery(m, sid, cd, sd);
                break;
            case HA_SS_REQUEST_STOP:
                next_state_request_stop(m, sid, sd, res);
                break;
            case HA_SS_FREEZE: {
                const char *mode = sd->node ? g_hash_table_lookup(m->lrm_modes, sd->node) : NULL;
                if (mode && strcmp(mode, "active") == 0)
                    change_state(m, sid, req_svc_state(cd), NULL);
                break;
            }
            case HA_SS_ERROR:
                next_state_error(m, sid, cd, sd);
                break;
            case HA_SS_NONE:
                break;
            }
            sd = g_hash_table_lookup(m->ss, sid);
            const char *mode = sd->node ? g_hash_table_lookup(m->lrm_modes, sd->node) : NULL;
            if (mode && strcmp(mode, "restart") == 0 &&
                (sd->state == HA_SS_STARTED || sd->state == HA_SS_STOPPED ||
                 sd->state == HA_SS_REQUEST_STOP))
                change_state(m, sid, HA_SS_FREEZE, NULL);
            sd = g_hash_table_lookup(m->ss, sid);
            if (sd->state != last)
                repeat = true;
        }
        /* fencing step */
        g_autoptr(GHashTable) fenced = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        for (guint i = 0; i < sid_copies->len; i++) {
            const char *sid = g_ptr_array_index(sid_copies, i);
            ha_service_state *sd = g_hash_table_lookup(m->ss, sid);
            if (!sd || sd->state != HA_SS_FENCE || !sd->node)
                continue;
            gpointer ok;
            if (!g_hash_table_lookup_extended(fenced, sd->node, NULL, &ok)) {
                ok = GINT_TO_POINTER(ha_node_status_fence_node(m->ns, sd->node) ? 1 : 0);
                g_hash_table_insert(fenced, g_strdup(sd->node), ok);
            }
            if (!GPOINTER_TO_INT(ok))
                continue;
            change_state(m, sid, HA_SS_RECOVERY, NULL);
            repeat = true;
        }
        g_autoptr(GPtrArray) nodes = ha_node_status_list_nodes(m->ns);
        for (guint i = 0; i < nodes->len; i++) {
            g_autofree char *node = g_strdup(nodes->pdata[i]);
            if (g_hash_table_contains(fenced, node) ||
                ha_node_status_get(m->ns, node) != HA_NODE_FENCE)
                continue;
            LOG(m, HA_LOG_NOTICE, "node '%s' in fence state but no services to-fence! admin interference?!",
                node);
            if (ha_node_status_fence_node(m->ns, node))
                repeat = true;
        }
        if (!repeat)
            break;
    }
}

int ha_manager_manage(ha_manager *m, GError **error)
{
    ha_env *env = m->env;
    clear_round(m);
    g_autoptr(GPtrArray) info = NULL;
    bool quorate = false;
    env->ops->get_node_info(env, &info, &quorate);
    bool nodes_changed = ha_node_status_list_changed(m->ns, info);
    if (read_lrm_states(m, error) < 0)
        return -EIO;
    ha_node_status_update(m->ns, info, m->lrm_modes);
    if (!ha_node_status_is_operational(m->ns, ha_env_nodename(env))) {
        LOG(m, HA_LOG_INFO, "master seems offline");
        return 0;
    }
    update_scheduler_mode(m);
    try_group_migration(m);

    if (env->ops->read_service_config(env, &m->sc, error) < 0)
        return -EIO;
    if (env->ops->read_group_config(env, &m->groups, error) < 0)
        return -EIO;

    if (!is_disarmed(m)) {
        g_autoptr(GPtrArray) cfg_sids = ha_sorted_keys(m->sc->by_sid);
        for (guint i = 0; i < cfg_sids->len; i++) {
            const char *sid = cfg_sids->pdata[i];
            const ha_resource *cd = ha_resources_get(m->sc, sid);
            if (g_hash_table_contains(m->ss, sid) || strcmp(cd->state, "ignored") == 0)
                continue;
            LOG(m, HA_LOG_INFO, "adding new service '%s' on node '%s'", sid, cd->node ? cd->node : "");
            ha_service_state *sd = ha_service_state_new();
            sd->state = strcmp(cd->state, "started") == 0 ? HA_SS_REQUEST_START : HA_SS_REQUEST_STOP;
            sd->node = g_strdup(cd->node);
            sd->uid = env->ops->new_uid(env, "started");
            g_hash_table_insert(m->ss, g_strdup(sid), sd);
        }
        g_autoptr(GPtrArray) ss_sids = ha_sorted_keys(m->ss);
        g_autoptr(GPtrArray) stale = g_ptr_array_new_with_free_func(g_free);
        for (guint i = 0; i < ss_sids->len; i++) {
            const ha_resource *cd = ha_resources_get(m->sc, ss_sids->pdata[i]);
            if (cd && strcmp(cd->state, "ignored") != 0)
                continue;
            LOG(m, HA_LOG_INFO, "removing stale service '%s' (%s)", (char *)ss_sids->pdata[i],
                cd ? "ignored state requested" : "no config");
            g_ptr_array_add(stale, g_strdup(ss_sids->pdata[i]));
        }
        for (guint i = 0; i < stale->len; i++)
            g_hash_table_remove(m->ss, g_ptr_array_index(stale, i));
    }

    recompute_usage(m);
    apply_group_defaults(m);
    if (update_rules(m, nodes_changed, error) < 0 || process_crm_commands(m, error) < 0)
        return -EIO;

    g_autoptr(GHashTable) deferred = NULL;
    if (is_disarmed(m)) {
        deferred = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        disarm_result dr = handle_disarm(m, deferred);
        if (dr == DISARM_SKIP)
            return 0;
        if (dr == DISARM_END_ROUND)
            return flush_status(m, error);
    }
    service_loop(m, deferred);
    return flush_status(m, error);
}
