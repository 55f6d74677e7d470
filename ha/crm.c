/*
 * crm: CRM state machine (wait_for_quorum, master, lost_manager_lock, slave).
 *
 * Transitions are evaluated first, then the work of the (possibly new) state, as in
 * the reference.  The watchdog is opened on the first successful manager-lock
 * acquisition (unless the stack is fully disarmed), fed only right after a successful
 * renewal, and closed cleanly when the lock is lost or released.
 */
#include "ha/crm.h"

#include "ha/manager.h"

#include <errno.h>
#include <string.h>

#define CRM_MAX_IDLE_ROUNDS 90 /* going idle after this many idle master rounds (ha.md §10) */

typedef enum {
    CRM_STARTUP,
    CRM_WAIT_FOR_QUORUM,
    CRM_MASTER,
    CRM_LOST_MANAGER_LOCK,
    CRM_SLAVE,
} crm_state;

static const char *const crm_state_names[] = {"startup", "wait_for_quorum", "master",
                                              "lost_manager_lock", "slave"};

struct ha_crm {
    ha_env *env;
    crm_state state;
    ha_manager *manager;
    char *watchdog;
    bool disarmed_mode;
    bool shutdown_request;
    bool cluster_state_update;
    int idle_rounds;
};

#define LOG(c, lvl, ...) ha_env_log((c)->env, (lvl), __VA_ARGS__)

static void set_state(ha_crm *crm, crm_state state)
{
    if (crm->state == state)
        return;
    LOG(crm, HA_LOG_INFO, "status change %s => %s", crm_state_names[crm->state],
        crm_state_names[state]);
    crm->state = state;
    g_clear_pointer(&crm->manager, ha_manager_free);
    if (state == CRM_MASTER)
        crm->manager = ha_manager_new(crm->env);
}

ha_crm *ha_crm_new(ha_env *env)
{
    ha_crm *crm = g_new0(ha_crm, 1);
    crm->env = env;
    crm->state = CRM_STARTUP;
    set_state(crm, CRM_WAIT_FOR_QUORUM);
    return crm;
}

void ha_crm_free(ha_crm *crm)
{
    if (!crm)
        return;
    ha_manager_free(crm->manager);
    g_free(crm->watchdog);
    g_free(crm);
}

const char *ha_crm_state(const ha_crm *crm)
{
    return crm_state_names[crm->state];
}

void ha_crm_shutdown_request(ha_crm *crm)
{
    if (!crm->shutdown_request)
        LOG(crm, HA_LOG_INFO, "server received shutdown request");
    crm->shutdown_request = true;
}

static void watchdog_close(ha_crm *crm)
{
    ha_env_watchdog_close(crm->env, &crm->watchdog);
}

/* Manager lock; after a success feed or open the watchdog (unless fully disarmed). */
static bool get_protected_lock(ha_crm *crm)
{
    ha_env *env = crm->env;
    if (!ha_env_get_protected_lock(env, NULL))
        return false;
    if (!crm->watchdog) {
        if (crm->disarmed_mode)
            return true;
        g_autoptr(ha_manager_status) ms = NULL;
        if (env->ops->read_manager_status(env, &ms, NULL) == 0 && ms->disarm_state &&
            strcmp(ms->disarm_state, "disarmed") == 0) {
            LOG(crm, HA_LOG_INFO, "taking over as disarmed master, skipping watchdog");
            crm->disarmed_mode = true;
            return true;
        }
    }
    ha_env_watchdog_feed(env, &crm->watchdog);
    return true;
}

static int count_fenced_here(ha_manager_status *ms, const char *node)
{
    int n = 0;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, ms->service_status);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        ha_service_state *sd = v;
        if (sd->node && strcmp(sd->node, node) == 0 && sd->state == HA_SS_FENCE)
            n++;
    }
    return n;
}

/* healthy (ha.md §3.1); fills *ret_ms with the manager status read */
static bool healthy(ha_crm *crm, ha_manager_status **ret_ms)
{
    ha_env *env = crm->env;
    if (!env->ops->quorate(env) || !crm->cluster_state_update)
        return false;
    g_autoptr(GError) err = NULL;
    g_autoptr(ha_manager_status) ms = NULL;
    if (env->ops->read_manager_status(env, &ms, &err) < 0) {
        LOG(crm, HA_LOG_ERR, "could not read manager status: %s", err->message);
        return false;
    }
    if (count_fenced_here(ms, ha_env_nodename(env)) > 0)
        return false;
    *ret_ms = g_steal_pointer(&ms);
    return true;
}

static bool may_become_active(ha_crm *crm, bool allow_without_services)
{
    ha_env *env = crm->env;
    g_autoptr(ha_manager_status) ms = NULL;
    if (!healthy(crm, &ms))
        return false;
    if (allow_without_services)
        return true;
    g_autoptr(GError) err = NULL;
    g_autoptr(ha_resources) sc = NULL;
    if (env->ops->read_service_config(env, &sc, &err) < 0) {
        LOG(crm, HA_LOG_ERR, "could not read service config: %s", err->message);
        return false;
    }
    if (sc->order->len > 0)
        return true;
    const char *self = ha_env_nodename(env);
    if (ms->master_node && strcmp(ms->master_node, self) != 0 &&
        ha_manager_status_node_state(ms, ms->master_node) == HA_NODE_ONLINE)
        return false;
    /* work to do? */
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, ms->node_status);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        if (GPOINTER_TO_INT(v) != HA_NODE_MAINTENANCE)
            continue;
        if (!ms->node_request || !GPOINTER_TO_INT(g_hash_table_lookup(ms->node_request, k)))
            return true;
    }
    if (env->ops->any_pending_crm_command(env))
        return true;
    if (g_hash_table_size(ms->service_status) > 0)
        return true;
    if (ms->disarm_mode)
        return true;
    return false;
}

static bool allowed_to_go_idle(ha_crm *crm)
{
    ha_env *env = crm->env;
    g_autoptr(ha_manager_status) ms = NULL;
    if (!healthy(crm, &ms))
        return false;
    if (ms->disarm_mode)
        return false;
    g_autoptr(ha_resources) sc = NULL;
    if (env->ops->read_service_config(env, &sc, NULL) < 0)
        return false;
    return sc->order->len == 0 && g_hash_table_size(ms->service_status) == 0;
}

static bool work(ha_crm *crm)
{
    ha_env *env = crm->env;
    switch (crm->state) {
    case CRM_WAIT_FOR_QUORUM:
        if (may_become_active(crm, false))
            set_state(crm, get_protected_lock(crm) ? CRM_MASTER : CRM_SLAVE);
        break;
    case CRM_SLAVE:
        if (may_become_active(crm, false)) {
            if (get_protected_lock(crm))
                set_state(crm, CRM_MASTER);
        } else {
            set_state(crm, CRM_WAIT_FOR_QUORUM);
        }
        break;
    case CRM_LOST_MANAGER_LOCK:
        if (may_become_active(crm, true) && get_protected_lock(crm))
            set_state(crm, CRM_MASTER);
        break;
    case CRM_MASTER:
        if (!get_protected_lock(crm)) {
            set_state(crm, CRM_LOST_MANAGER_LOCK);
        } else if (allowed_to_go_idle(crm)) {
            if (++crm->idle_rounds > CRM_MAX_IDLE_ROUNDS) {
                LOG(crm, HA_LOG_INFO, "cluster had no service configured for %d rounds, going idle.",
                    CRM_MAX_IDLE_ROUNDS);
                crm->idle_rounds = 0;
                env->ops->release_ha_manager_lock(env);
                watchdog_close(crm);
                set_state(crm, CRM_WAIT_FOR_QUORUM);
            }
        } else {
            crm->idle_rounds = 0;
        }
        break;
    case CRM_STARTUP:
        break;
    }

    switch (crm->state) {
    case CRM_WAIT_FOR_QUORUM:
        if (crm->shutdown_request)
            return false;
        env->ops->sleep(env, env->timing.idle_sleep_ms);
        break;
    case CRM_MASTER: {
        gint64 start = ha_env_time(env);
        if (crm->shutdown_request) {
            watchdog_close(crm);
            LOG(crm, HA_LOG_INFO, "voluntary release CRM lock");
            if (!env->ops->release_ha_manager_lock(env))
                LOG(crm, HA_LOG_NOTICE, "CRM lock release failed, let the lock timeout");
            return false;
        }
        if (!crm->cluster_state_update) {
            LOG(crm, HA_LOG_NOTICE, "temporary inconsistent cluster state (cfs restart?), skip round");
        } else {
            g_autoptr(GError) err = NULL;
            if (ha_manager_manage(crm->manager, &err) < 0)
                LOG(crm, HA_LOG_ERR, "got unexpected error - %s",
                    err ? err->message : "unknown error");
            bool full = ha_manager_fully_disarmed(crm->manager);
            if (full && !crm->disarmed_mode) {
                LOG(crm, HA_LOG_INFO, "HA stack fully disarmed, releasing CRM watchdog");
                watchdog_close(crm);
                crm->disarmed_mode = true;
            } else if (!full && crm->disarmed_mode) {
                LOG(crm, HA_LOG_INFO, "re-arming HA stack");
                crm->disarmed_mode = false;
            }
        }
        env->ops->sleep_until(env, start + env->timing.round_ms);
        break;
    }
    case CRM_LOST_MANAGER_LOCK:
        watchdog_close(crm);
        if (crm->shutdown_request)
            return false;
        set_state(crm, CRM_WAIT_FOR_QUORUM);
        break;
    case CRM_SLAVE:
        if (crm->shutdown_request)
            return false;
        break;
    case CRM_STARTUP:
        break;
    }
    return true;
}

bool ha_crm_do_one_iteration(ha_crm *crm)
{
    ha_env *env = crm->env;
    env->ops->loop_start_hook(env);
    crm->cluster_state_update = env->ops->cluster_state_update(env);
    bool res = work(crm);
    env->ops->loop_end_hook(env);
    return res;
}
