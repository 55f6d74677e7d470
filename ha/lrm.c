/*
 * lrm: LRM state machine (wait_for_agent_lock, active, maintenance, lost_agent_lock),
 * the job queue and the restart policy.
 *
 * The arming rule: the agent lock (and with it the watchdog) is taken only when not
 * disarmed, no fence is requested, there is an active service and the node is
 * quorate.  The watchdog is fed only right after a successful renewal.  A uid is
 * executed at most once (except `stopped`, re-enforced every round); results are
 * pruned to uids still in service_status.
 */
#include "ha/lrm.h"

#include <errno.h>
#include <string.h>

#define LRM_MAX_IDLE_ROUNDS 60 /* ha.md §10 */

typedef enum {
    LRM_STARTUP,
    LRM_WAIT_FOR_AGENT_LOCK,
    LRM_ACTIVE,
    LRM_MAINTENANCE,
    LRM_LOST_AGENT_LOCK,
} lrm_state;

static const char *const lrm_state_names[] = {"startup", "wait_for_agent_lock", "active",
                                              "maintenance", "lost_agent_lock"};

typedef struct {
    char *sid;
    char *uid; /* NULL: shutdown stop job */
    char *state;
    char *target;
    char *timeout;
    int start_tries;
} worker;

struct ha_lrm {
    ha_env *env;
    lrm_state state;
    gint64 state_change_time;
    char *mode;
    GHashTable *service_status; /* sid -> ha_service_state* */
    ha_node_state node_status;
    GHashTable *results;        /* uid -> ha_lrm_result* */
    GHashTable *restart_tries;  /* sid -> GINT */
    GHashTable *workers;        /* sid -> worker* */
    char *watchdog;
    bool shutdown_request;
    gint64 shutdown_request_time;
    int shutdown_errors;
    bool cluster_state_update;
    int active_idle_rounds;
    bool wrote_status_at_startup;
};

#define LOG(l, lvl, ...) ha_env_log((l)->env, (lvl), __VA_ARGS__)

static void worker_free(gpointer p)
{
    worker *w = p;
    g_free(w->sid);
    g_free(w->uid);
    g_free(w->state);
    g_free(w->target);
    g_free(w->timeout);
    g_free(w);
}

static void set_state(ha_lrm *lrm, lrm_state state)
{
    if (lrm->state == state)
        return;
    LOG(lrm, HA_LOG_INFO, "status change %s => %s", lrm_state_names[lrm->state],
        lrm_state_names[state]);
    lrm->state = state;
    lrm->state_change_time = ha_env_time(lrm->env);
}

ha_lrm *ha_lrm_new(ha_env *env)
{
    ha_lrm *lrm = g_new0(ha_lrm, 1);
    lrm->env = env;
    lrm->mode = g_strdup("active");
    lrm->service_status = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                (GDestroyNotify)ha_service_state_free);
    lrm->results = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify)ha_lrm_result_free);
    lrm->restart_tries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    lrm->workers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, worker_free);
    lrm->state = LRM_STARTUP;
    set_state(lrm, LRM_WAIT_FOR_AGENT_LOCK);
    return lrm;
}

void ha_lrm_free(ha_lrm *lrm)
{
    if (!lrm)
        return;
    g_free(lrm->mode);
    g_hash_table_unref(lrm->service_status);
    g_hash_table_unref(lrm->results);
    g_hash_table_unref(lrm->restart_tries);
    g_hash_table_unref(lrm->workers);
    g_free(lrm->watchdog);
    g_free(lrm);
}

const char *ha_lrm_state(const ha_lrm *lrm)
{
    return lrm_state_names[lrm->state];
}

const char *ha_lrm_mode(const ha_lrm *lrm)
{
    return lrm->mode;
}

static void set_mode(ha_lrm *lrm, const char *mode)
{
    g_free(lrm->mode);
    lrm->mode = g_strdup(mode);
}

static bool mode_is(const ha_lrm *lrm, const char *mode)
{
    return strcmp(lrm->mode, mode) == 0;
}

/* ---- status ---- */

static bool update_lrm_status(ha_lrm *lrm)
{
    ha_env *env = lrm->env;
    if (!env->ops->quorate(env))
        return false;
    g_autoptr(ha_lrm_status) ls = ha_lrm_status_new();
    ls->state = g_strdup(lrm_state_names[lrm->state]);
    ls->mode = g_strdup(lrm->mode);
    ls->timestamp = ha_env_time(env) / 1000;
    ls->has_timestamp = true;
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, lrm->results);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        ha_lrm_result *r = v;
        g_hash_table_insert(ls->results, g_strdup(k), ha_lrm_result_new(r->sid, r->state, r->exit_code));
    }
    g_autoptr(GError) err = NULL;
    if (env->ops->write_lrm_status(env, ls, &err) < 0) {
        LOG(lrm, HA_LOG_ERR, "unable to write lrm status file - %s", err->message);
        return false;
    }
    return true;
}

static bool update_service_status(ha_lrm *lrm)
{
    ha_env *env = lrm->env;
    g_autoptr(GError) err = NULL;
    g_autoptr(ha_manager_status) ms = NULL;
    if (env->ops->read_manager_status(env, &ms, &err) < 0) {
        LOG(lrm, HA_LOG_ERR, "updating service status from manager failed: %s", err->message);
        return false;
    }
    g_hash_table_unref(lrm->service_status);
    lrm->service_status = g_steal_pointer(&ms->service_status);
    ms->service_status = g_hash_table_new(g_str_hash, g_str_equal);
    const char *self = ha_env_nodename(env);
    lrm->node_status = ha_manager_status_node_state(ms, self);
    if (!lrm->shutdown_request) {
        bool maint = ms->node_request && GPOINTER_TO_INT(g_hash_table_lookup(ms->node_request, self));
        if (maint)
            set_mode(lrm, "maintenance");
        else if (ms->disarm_mode)
            set_mode(lrm, "disarm");
        else if (mode_is(lrm, "maintenance") || mode_is(lrm, "disarm"))
            set_mode(lrm, "active");
    }
    return true;
}

static bool is_mine(const ha_service_state *sd, const char *self)
{
    return sd->node && strcmp(sd->node, self) == 0;
}

static int active_service_count(ha_lrm *lrm)
{
    return ha_service_status_active_count(lrm->service_status, ha_env_nodename(lrm->env));
}

static bool fence_requested(ha_lrm *lrm)
{
    const char *self = ha_env_nodename(lrm->env);
    if (lrm->node_status == HA_NODE_FENCE)
        return true;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, lrm->service_status);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        ha_service_state *sd = v;
        if (is_mine(sd, self) && sd->state == HA_SS_FENCE)
            return true;
    }
    return false;
}

static bool has_assigned_service(ha_lrm *lrm)
{
    const char *self = ha_env_nodename(lrm->env);
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, lrm->service_status);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (is_mine(v, self))
            return true;
    return false;
}

/* ---- lock and watchdog ---- */

static void watchdog_close(ha_lrm *lrm)
{
    ha_env_watchdog_close(lrm->env, &lrm->watchdog);
}

/* This node's agent lock; after a success feed or open the watchdog. */
static bool get_protected_lock(ha_lrm *lrm)
{
    ha_env *env = lrm->env;
    if (!ha_env_get_protected_lock(env, ha_env_nodename(env)))
        return false;
    ha_env_watchdog_feed(env, &lrm->watchdog);
    return true;
}

/* ---- resource agent execution (ha.md §5.4) ---- */

/*
 * Execute one resource agent command for @sid with the requested @state;
 * @target/@timeout may be NULL.  Returns the exit code, or -1 when the command
 * could not run (the error is logged).
 */
static int exec_resource_agent(ha_env *env, const char *sid, const ha_resource *cd,
                               const char *state, const char *target, const char *timeout)
{
    g_autofree char *type = NULL, *name = NULL;
    if (ha_sid_parse(sid, &type, &name) < 0) {
        ha_env_log(env, HA_LOG_ERR, "unable to parse service id '%s'", sid);
        return HA_EUNKNOWN_SERVICE_TYPE;
    }
    const ha_agent *agent = env->ops->agent_lookup(env, type);
    if (!agent) {
        ha_env_log(env, HA_LOG_ERR, "service type '%s' not implemented", type);
        return HA_EUNKNOWN_SERVICE_TYPE;
    }
    if (!cd) {
        ha_env_log(env, HA_LOG_ERR, "missing resource configuration for '%s'", sid);
        return HA_EUNKNOWN_SERVICE;
    }
    if (strcmp(state, "error") == 0) {
        ha_env_log(env, HA_LOG_ERR,
                   "service %s is in an error state and needs manual intervention. Look up "
                   "'ERROR RECOVERY' in the documentation.",
                   sid);
        return HA_SUCCESS;
    }
    if (!cd->node || strcmp(cd->node, ha_env_nodename(env)) != 0) {
        ha_env_log(env, HA_LOG_ERR, "service '%s' not on this node", sid);
        return HA_EWRONG_NODE;
    }
    bool running = agent->check_running(env, name);
    if (strcmp(state, "started") == 0) {
        if (running)
            return HA_SUCCESS;
        ha_env_log(env, HA_LOG_INFO, "starting service %s", sid);
        agent->start(env, name);
        if (agent->check_running(env, name)) {
            ha_env_log(env, HA_LOG_INFO, "service status %s started", sid);
            return HA_SUCCESS;
        }
        ha_env_log(env, HA_LOG_WARNING, "unable to start service %s", sid);
        return HA_ERROR;
    }
    if (strcmp(state, "request_stop") == 0 || strcmp(state, "stopped") == 0) {
        if (!running)
            return HA_SUCCESS;
        if (timeout)
            ha_env_log(env, HA_LOG_INFO, "stopping service %s (timeout=%s)", sid, timeout);
        else
            ha_env_log(env, HA_LOG_INFO, "stopping service %s", sid);
        agent->shutdown(env, name, timeout);
        if (!agent->check_running(env, name)) {
            ha_env_log(env, HA_LOG_INFO, "service status %s stopped", sid);
            return HA_SUCCESS;
        }
        ha_env_log(env, HA_LOG_INFO, "unable to stop service %s (still running)", sid);
        return HA_ERROR;
    }
    if (strcmp(state, "migrate") == 0 || strcmp(state, "relocate") == 0 ||
        strcmp(state, "request_start_balance") == 0) {
        if (!target) {
            ha_env_log(env, HA_LOG_ERR, "%s '%s' failed - missing target", state, sid);
            return -1;
        }
        if (strcmp(cd->node, target) == 0)
            return HA_SUCCESS;
        if (strcmp(state, "request_start_balance") == 0 && running) {
            ha_env_log(env, HA_LOG_INFO, "ignoring rebalance-on-start for service %s - already running",
                       sid);
            return HA_IGNORED;
        }
        if (!agent->migrate(env, name, target, strcmp(state, "migrate") == 0)) {
            ha_env_log(env, HA_LOG_ERR, "service %s not moved (migration error)", sid);
            return HA_ERROR;
        }
        return HA_SUCCESS;
    }
    ha_env_log(env, HA_LOG_ERR, "implement me (cmd '%s')", state);
    return HA_EUNKNOWN_COMMAND;
}

/* ---- jobs ---- */

static void queue_command(ha_lrm *lrm, const char *sid, const char *uid, const char *state,
                          const char *target, const char *timeout)
{
    if (strcmp(state, "stopped") != 0 && uid && g_hash_table_contains(lrm->results, uid))
        return;
    /* inline workers never stay running, so a queued entry is always replaceable */
    worker *w = g_new0(worker, 1);
    w->sid = g_strdup(sid);
    w->uid = g_strdup(uid);
    w->state = g_strdup(state);
    w->target = g_strdup(target);
    w->timeout = g_strdup(timeout);
    g_hash_table_replace(lrm->workers, g_strdup(sid), w);
}

static int handle_exitcode(ha_lrm *lrm, const char *sid, const char *cmd, int exit_code,
                           const ha_resources *sc)
{
    if (strcmp(cmd, "started") != 0)
        return exit_code;
    const ha_resource *cd = ha_resources_get(sc, sid);
    int max_restart = cd ? cd->max_restart : 0;
    if (exit_code == HA_SUCCESS) {
        g_hash_table_replace(lrm->restart_tries, g_strdup(sid), GINT_TO_POINTER(0));
        return exit_code;
    }
    if (exit_code != HA_ERROR)
        return exit_code;
    int tries = GPOINTER_TO_INT(g_hash_table_lookup(lrm->restart_tries, sid));
    if (tries >= max_restart) {
        LOG(lrm, HA_LOG_ERR, "unable to start service %s on local node after %d retries", sid, tries);
        g_hash_table_replace(lrm->restart_tries, g_strdup(sid), GINT_TO_POINTER(0));
        return HA_ERROR;
    }
    tries++;
    g_hash_table_replace(lrm->restart_tries, g_strdup(sid), GINT_TO_POINTER(tries));
    LOG(lrm, HA_LOG_WARNING, "restart policy: retry number %d for service '%s'", tries, sid);
    return HA_ETRY_AGAIN;
}

static void command_finished(ha_lrm *lrm, worker *w, int status, const ha_resources *sc)
{
    int exit_code = status;
    if (status == -1)
        LOG(lrm, HA_LOG_ERR, "resource agent %s finished - failed to execute", w->sid);
    if (!w->uid) {
        if (exit_code != 0)
            lrm->shutdown_errors++;
        return;
    }
    exit_code = handle_exitcode(lrm, w->sid, w->state, exit_code, sc);
    if (exit_code == HA_ETRY_AGAIN)
        return;
    g_hash_table_replace(lrm->results, g_strdup(w->uid), ha_lrm_result_new(w->sid, w->state, exit_code));
    /* prune results to uids still in service_status */
    g_autoptr(GHashTable) valid = g_hash_table_new(g_str_hash, g_str_equal);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, lrm->service_status);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (((ha_service_state *)v)->uid)
            g_hash_table_add(valid, ((ha_service_state *)v)->uid);
    g_hash_table_iter_init(&it, lrm->results);
    while (g_hash_table_iter_next(&it, &k, NULL))
        if (!g_hash_table_contains(valid, k))
            g_hash_table_iter_remove(&it);
}

static int worker_cmp(gconstpointer a, gconstpointer b)
{
    const worker *x = *(worker *const *)a, *y = *(worker *const *)b;
    if (x->start_tries != y->start_tries)
        return x->start_tries > y->start_tries ? -1 : 1;
    return strcmp(x->sid, y->sid);
}

/* Run the queued jobs; returns the number still registered. */
static int run_workers(ha_lrm *lrm)
{
    ha_env *env = lrm->env;
    if (g_hash_table_size(lrm->workers) == 0)
        return 0;
    g_autoptr(ha_resources) sc = NULL;
    g_autoptr(GError) err = NULL;
    if (env->ops->read_service_config(env, &sc, &err) < 0) {
        LOG(lrm, HA_LOG_ERR, "got unexpected error - %s", err->message);
        return (int)g_hash_table_size(lrm->workers);
    }
    g_autoptr(GPtrArray) jobs = g_ptr_array_new();
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, lrm->workers);
    while (g_hash_table_iter_next(&it, NULL, &v))
        g_ptr_array_add(jobs, v);
    g_ptr_array_sort(jobs, worker_cmp);
    /* inline execution (max_workers == 0): one pass runs every job to completion */
    for (guint i = 0; i < jobs->len; i++) {
        worker *w = g_ptr_array_index(jobs, i);
        w->start_tries++;
        int res = exec_resource_agent(env, w->sid, ha_resources_get(sc, w->sid), w->state,
                                      w->target, w->timeout);
        gpointer key = NULL;
        g_hash_table_steal_extended(lrm->workers, w->sid, &key, NULL);
        g_free(key);
        command_finished(lrm, w, res, sc);
        worker_free(w);
    }
    return (int)g_hash_table_size(lrm->workers);
}

static int manage_resources(ha_lrm *lrm)
{
    const char *self = ha_env_nodename(lrm->env);
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, lrm->restart_tries);
    while (g_hash_table_iter_next(&it, &k, NULL))
        if (!g_hash_table_contains(lrm->service_status, k))
            g_hash_table_iter_remove(&it);
    g_autoptr(GPtrArray) sids = ha_sorted_keys(lrm->service_status);
    for (guint i = 0; i < sids->len; i++) {
        ha_service_state *sd = g_hash_table_lookup(lrm->service_status, sids->pdata[i]);
        if (!sd->node || !sd->uid || strcmp(sd->node, self) != 0 || sd->state == HA_SS_NONE)
            continue;
        if (sd->state == HA_SS_RECOVERY || sd->state == HA_SS_FREEZE ||
            sd->state == HA_SS_REQUEST_START)
            continue;
        queue_command(lrm, sids->pdata[i], sd->uid, ha_svc_state_name(sd->state), sd->target,
                      sd->timeout);
    }
    return run_workers(lrm);
}

/* ---- shutdown request ---- */

void ha_lrm_shutdown_request(ha_lrm *lrm)
{
    ha_env *env = lrm->env;
    if (lrm->shutdown_request)
        return;
    const char *self = ha_env_nodename(env);
    bool shutdown = false, reboot = false;
    env->ops->is_node_shutdown(env, &shutdown, &reboot);
    ha_dc_settings dc;
    env->ops->get_datacenter_settings(env, &dc);
    g_autofree char *policy = g_strdup(dc.shutdown_policy ? dc.shutdown_policy : "conditional");
    ha_dc_settings_clear(&dc);
    if (shutdown)
        LOG(lrm, HA_LOG_INFO, "got shutdown request with shutdown policy '%s'", policy);
    bool freeze_all = false, maintenance = false;
    if (strcmp(policy, "conditional") == 0)
        freeze_all = reboot;
    else if (strcmp(policy, "freeze") == 0)
        freeze_all = true;
    else if (strcmp(policy, "failover") == 0)
        freeze_all = false;
    else if (strcmp(policy, "migrate") == 0)
        maintenance = true;
    else {
        LOG(lrm, HA_LOG_ERR, "unknown shutdown policy '%s', fall back to conditional", policy);
        freeze_all = reboot;
    }
    if (!maintenance && shutdown) {
        g_autoptr(GPtrArray) sids = ha_sorted_keys(lrm->service_status);
        for (guint i = 0; i < sids->len; i++) {
            ha_service_state *sd = g_hash_table_lookup(lrm->service_status, sids->pdata[i]);
            if (is_mine(sd, self))
                queue_command(lrm, sids->pdata[i], NULL, "request_stop", NULL, NULL);
        }
    }
    const char *type = reboot ? "reboot" : "shutdown";
    if (shutdown) {
        if (mode_is(lrm, "maintenance")) {
            if (maintenance)
                LOG(lrm, HA_LOG_INFO, "%s LRM, ignore maintenance policy, already in maintenance mode",
                    type);
            else
                LOG(lrm, HA_LOG_INFO, "%s LRM, ignore %s policy as manual maintenance mode is enabled",
                    type, policy);
        } else if (maintenance) {
            LOG(lrm, HA_LOG_INFO, "%s LRM, doing maintenance, removing this node from active list", type);
            set_mode(lrm, "maintenance");
        } else if (freeze_all) {
            LOG(lrm, HA_LOG_INFO, "%s LRM, stop and freeze all services", type);
            set_mode(lrm, "restart");
        } else {
            LOG(lrm, HA_LOG_INFO, "shutdown LRM, stop all services");
            set_mode(lrm, "shutdown");
        }
    } else if (mode_is(lrm, "maintenance")) {
        LOG(lrm, HA_LOG_INFO, "Restarting LRM in maintenance mode may be delayed until all services are moved");
    } else {
        LOG(lrm, HA_LOG_INFO, "restart LRM, freeze all services");
        set_mode(lrm, "restart");
    }
    lrm->shutdown_request = true;
    lrm->shutdown_request_time = ha_env_time(env);
    if (!update_lrm_status(lrm))
        LOG(lrm, HA_LOG_ERR, "unable to update lrm status file - not quorate?");
}

/* ---- the round ---- */

static void transitions(ha_lrm *lrm)
{
    ha_env *env = lrm->env;
    bool fence = fence_requested(lrm);
    switch (lrm->state) {
    case LRM_WAIT_FOR_AGENT_LOCK:
        if (mode_is(lrm, "disarm"))
            break;
        if (!fence && active_service_count(lrm) > 0 && env->ops->quorate(env) &&
            get_protected_lock(lrm))
            set_state(lrm, LRM_ACTIVE);
        break;
    case LRM_LOST_AGENT_LOCK:
        if (!fence && env->ops->quorate(env) && get_protected_lock(lrm))
            set_state(lrm, LRM_ACTIVE);
        break;
    case LRM_ACTIVE:
        if (fence) {
            LOG(lrm, HA_LOG_ERR, "node needs to be fenced - releasing agent_lock");
            set_state(lrm, LRM_LOST_AGENT_LOCK);
        } else if (!get_protected_lock(lrm)) {
            set_state(lrm, LRM_LOST_AGENT_LOCK);
        } else if (mode_is(lrm, "maintenance")) {
            set_state(lrm, LRM_MAINTENANCE);
        } else if (mode_is(lrm, "disarm")) {
            if (run_workers(lrm) == 0) {
                LOG(lrm, HA_LOG_INFO, "HA disarm requested, releasing agent lock and watchdog");
                env->ops->release_ha_agent_lock(env);
                watchdog_close(lrm);
                set_state(lrm, LRM_WAIT_FOR_AGENT_LOCK);
            }
        } else if (!has_assigned_service(lrm) && run_workers(lrm) == 0) {
            if (++lrm->active_idle_rounds > LRM_MAX_IDLE_ROUNDS) {
                LOG(lrm, HA_LOG_INFO, "node had no service configured for %d rounds, going idle.",
                    LRM_MAX_IDLE_ROUNDS);
                env->ops->release_ha_agent_lock(env);
                watchdog_close(lrm);
                set_state(lrm, LRM_WAIT_FOR_AGENT_LOCK);
                lrm->active_idle_rounds = 0;
            }
        } else {
            lrm->active_idle_rounds = 0;
        }
        break;
    case LRM_MAINTENANCE:
        if (fence) {
            LOG(lrm, HA_LOG_ERR, "node needs to be fenced during maintenance mode - releasing agent_lock");
            set_state(lrm, LRM_LOST_AGENT_LOCK);
        } else if (mode_is(lrm, "disarm") && active_service_count(lrm) == 0 &&
                   run_workers(lrm) == 0) {
            LOG(lrm, HA_LOG_INFO, "HA disarm requested during maintenance, releasing agent lock and watchdog");
            env->ops->release_ha_agent_lock(env);
            watchdog_close(lrm);
            set_state(lrm, LRM_WAIT_FOR_AGENT_LOCK);
        } else if (active_service_count(lrm) > 0 || run_workers(lrm) > 0) {
            if (!get_protected_lock(lrm))
                set_state(lrm, LRM_LOST_AGENT_LOCK);
        } else if (!mode_is(lrm, "maintenance")) {
            set_state(lrm, get_protected_lock(lrm) ? LRM_ACTIVE : LRM_LOST_AGENT_LOCK);
        }
        break;
    case LRM_STARTUP:
        break;
    }
}

static bool work(ha_lrm *lrm)
{
    ha_env *env = lrm->env;
    const ha_timing *t = &env->timing;
    if (!lrm->wrote_status_at_startup) {
        if (update_lrm_status(lrm)) {
            lrm->wrote_status_at_startup = true;
        } else {
            env->ops->sleep(env, t->idle_sleep_ms);
            return !lrm->shutdown_request;
        }
    }
    update_service_status(lrm);
    transitions(lrm);

    switch (lrm->state) {
    case LRM_WAIT_FOR_AGENT_LOCK:
        if (lrm->shutdown_request)
            return false;
        update_lrm_status(lrm);
        env->ops->sleep(env, t->idle_sleep_ms);
        break;
    case LRM_ACTIVE: {
        gint64 start = ha_env_time(env);
        bool shutdown = false;
        if (update_service_status(lrm)) {
            if (lrm->shutdown_request) {
                if (mode_is(lrm, "restart")) {
                    int workers = run_workers(lrm);
                    if (active_service_count(lrm) == 0 && workers == 0) {
                        watchdog_close(lrm);
                        shutdown = true;
                        env->ops->release_ha_agent_lock(env);
                    }
                } else if (run_workers(lrm) == 0) {
                    if (lrm->shutdown_errors == 0) {
                        watchdog_close(lrm);
                        env->ops->release_ha_agent_lock(env);
                    }
                    shutdown = true;
                }
            } else if (!lrm->cluster_state_update) {
                LOG(lrm, HA_LOG_NOTICE, "temporary inconsistent cluster state (cfs restart?), skip round");
            } else {
                manage_resources(lrm);
            }
        }
        update_lrm_status(lrm);
        if (shutdown)
            return false;
        env->ops->sleep_until(env, start + t->round_ms);
        break;
    }
    case LRM_LOST_AGENT_LOCK:
        if (lrm->shutdown_request) {
            int count = active_service_count(lrm);
            if (count > 0) {
                LOG(lrm, HA_LOG_ERR,
                    "got shutdown request in state 'lost_agent_lock' - detected %d running services",
                    count);
                if (mode_is(lrm, "restart") &&
                    ha_env_time(env) - lrm->state_change_time > t->restart_giveup_ms) {
                    LOG(lrm, HA_LOG_ERR,
                        "lost agent lock and restart request for over %d seconds - giving up!",
                        (int)(t->restart_giveup_ms / 1000));
                    return false;
                }
            } else {
                watchdog_close(lrm);
                return false;
            }
        }
        env->ops->sleep(env, t->idle_sleep_ms);
        break;
    case LRM_MAINTENANCE: {
        gint64 start = ha_env_time(env);
        if (!update_service_status(lrm))
            break; /* the reference exits here; skipping the round is safe (ha.md §11) */
        bool shutdown = false;
        if (active_service_count(lrm) == 0 && run_workers(lrm) == 0) {
            watchdog_close(lrm);
            shutdown = lrm->shutdown_request;
            env->ops->release_ha_agent_lock(env);
        }
        if (!shutdown)
            manage_resources(lrm);
        update_lrm_status(lrm);
        if (shutdown)
            return false;
        env->ops->sleep_until(env, start + t->idle_sleep_ms);
        break;
    }
    case LRM_STARTUP:
        break;
    }
    return true;
}

bool ha_lrm_do_one_iteration(ha_lrm *lrm)
{
    ha_env *env = lrm->env;
    env->ops->loop_start_hook(env);
    lrm->cluster_state_update = env->ops->cluster_state_update(env);
    bool res = work(lrm);
    env->ops->loop_end_hook(env);
    return res;
}
