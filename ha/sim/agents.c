/*
 * sim/agents: simulated resource agents `vm`, `ct` and `fa` (ha.md §9.5, §9.6).
 *
 * The running map of each node is the truth about which guest runs where.  `fa`
 * guests encode failure behaviour in their name digits (a b c [d [e [f]]]); their
 * failure counters live in the hardware object, global across nodes.
 */
#include "ha/sim/hardware.h"

#include <string.h>

static sim_env *senv(ha_env *env)
{
    return (sim_env *)env;
}

static bool name_valid(const char *name)
{
    return ha_guest_name_valid(name);
}

static char *make_sid(const char *type, const char *name)
{
    return g_strdup_printf("%s:%s", type, name);
}

static sim_service *service(ha_env *env, const char *type, const char *name)
{
    g_autofree char *sid = make_sid(type, name);
    return g_hash_table_lookup(senv(env)->hw->services, sid);
}

static bool generic_running(ha_env *env, const char *type, const char *name)
{
    g_autofree char *sid = make_sid(type, name);
    return GPOINTER_TO_INT(g_hash_table_lookup(senv(env)->node->running, sid)) != 0;
}

static void generic_start(ha_env *env, const char *type, const char *name)
{
    g_autofree char *sid = make_sid(type, name);
    sim_service *s = service(env, type, name);
    if (s && s->lock) {
        ha_env_log(env, HA_LOG_ERR, "service '%s' locked (%s), unable to start!", sid, s->lock);
        return;
    }
    env->ops->sleep(env, 2 * senv(env)->hw->timing.sim_unit_ms);
    g_hash_table_replace(senv(env)->node->running, g_strdup(sid), GINT_TO_POINTER(1));
}

static void generic_shutdown(ha_env *env, const char *type, const char *name)
{
    g_autofree char *sid = make_sid(type, name);
    sim_service *s = service(env, type, name);
    if (s && s->lock) {
        ha_env_log(env, HA_LOG_ERR, "service '%s' locked (%s), unable to shutdown!", sid, s->lock);
        return;
    }
    env->ops->sleep(env, 2 * senv(env)->hw->timing.sim_unit_ms);
    g_hash_table_replace(senv(env)->node->running, g_strdup(sid), GINT_TO_POINTER(0));
}

typedef void (*shutdown_fn)(ha_env *env, const char *name, const char *timeout);

static bool generic_migrate(ha_env *env, const char *type, const char *name, const char *target,
                            bool online, shutdown_fn do_shutdown)
{
    g_autofree char *sid = make_sid(type, name);
    const char *cmd = online ? "migrate" : "relocate";
    ha_env_log(env, HA_LOG_INFO, "service %s - start %s to node '%s'", sid, cmd, target);
    sim_service *s = service(env, type, name);
    if (s && s->lock) {
        ha_env_log(env, HA_LOG_ERR, "service '%s' locked (%s), unable to %s!", sid, s->lock, cmd);
        return false;
    }
    if (!online && generic_running(env, type, name)) {
        ha_env_log(env, HA_LOG_INFO, "stopping service %s (relocate)", sid);
        do_shutdown(env, name, NULL);
        ha_env_log(env, HA_LOG_INFO, "service status %s stopped", sid);
    } else {
        env->ops->sleep(env, 2 * senv(env)->hw->timing.sim_unit_ms);
    }
    if (s) {
        g_free(s->node);
        s->node = g_strdup(target);
    }
    ha_env_log(env, HA_LOG_INFO, "service %s - end %s to node '%s'", sid, cmd, target);
    g_hash_table_remove(senv(env)->node->running, sid);
    return true;
}

static char *generic_remove_locks(ha_env *env, const char *type, const char *name,
                                  const char *const *locks)
{
    sim_service *s = service(env, type, name);
    if (!s || !s->lock)
        return NULL;
    for (int i = 0; locks[i]; i++)
        if (strcmp(locks[i], s->lock) == 0) {
            char *l = s->lock;
            s->lock = NULL;
            return l;
        }
    return NULL;
}

/* ---- vm ---- */
static bool vm_exists(ha_env *env, const char *name)
{
    return true;
}
static void vm_start(ha_env *env, const char *name)
{
    generic_start(env, "vm", name);
}
static void vm_shutdown(ha_env *env, const char *name, const char *timeout)
{
    generic_shutdown(env, "vm", name);
}
static bool vm_running(ha_env *env, const char *name)
{
    return generic_running(env, "vm", name);
}
static bool vm_migrate(ha_env *env, const char *name, const char *target, bool online)
{
    return generic_migrate(env, "vm", name, target, online, vm_shutdown);
}
static char *vm_remove_locks(ha_env *env, const char *name, const char *const *locks, const char *node)
{
    return generic_remove_locks(env, "vm", name, locks);
}

/* ---- ct ---- */
static void ct_start(ha_env *env, const char *name)
{
    generic_start(env, "ct", name);
}
static void ct_shutdown(ha_env *env, const char *name, const char *timeout)
{
    generic_shutdown(env, "ct", name);
}
static bool ct_running(ha_env *env, const char *name)
{
    return generic_running(env, "ct", name);
}
static bool ct_migrate(ha_env *env, const char *name, const char *target, bool online)
{
    if (online && generic_running(env, "ct", name)) {
        ha_env_log(env, HA_LOG_WARNING, "unable to live migrate running container, fallback to relocate");
        online = false;
    }
    return generic_migrate(env, "ct", name, target, online, ct_shutdown);
}
static char *ct_remove_locks(ha_env *env, const char *name, const char *const *locks, const char *node)
{
    return generic_remove_locks(env, "ct", name, locks);
}

/* ---- fa: digits a b c [d [e [f]]] ---- */
typedef struct {
    int start_fail, migrate_fail, stop_fail, exists, limit_node;
} fa_spec;

static fa_spec fa_decode(const char *name)
{
    fa_spec f = {0, 0, 0, 1, 0};
    size_t len = strlen(name);
    if (len < 3)
        return f;
    f.start_fail = name[1] - '0';
    f.migrate_fail = name[2] - '0';
    if (len > 3)
        f.stop_fail = name[3] - '0';
    if (len > 4)
        f.exists = name[4] - '0';
    if (len > 5)
        f.limit_node = name[5] - '0';
    return f;
}

static bool fa_applies(ha_env *env, const fa_spec *f)
{
    if (f->limit_node == 0)
        return true;
    g_autofree char *n = g_strdup_printf("node%d", f->limit_node);
    return strcmp(ha_env_nodename(env), n) == 0;
}

/* true if this attempt fails */
static bool fa_attempt(GHashTable *tries, ha_env *env, const char *name, const fa_spec *f, int limit)
{
    if (fa_applies(env, f)) {
        int t = GPOINTER_TO_INT(g_hash_table_lookup(tries, name)) + 1;
        g_hash_table_replace(tries, g_strdup(name), GINT_TO_POINTER(t));
        if (limit >= t)
            return true;
    }
    g_hash_table_replace(tries, g_strdup(name), GINT_TO_POINTER(0));
    return false;
}

static bool fa_exists(ha_env *env, const char *name)
{
    return fa_decode(name).exists != 0;
}
static void fa_start(ha_env *env, const char *name)
{
    fa_spec f = fa_decode(name);
    if (fa_attempt(senv(env)->hw->fa_start_tries, env, name, &f, f.start_fail))
        return;
    generic_start(env, "fa", name);
}
static void fa_shutdown(ha_env *env, const char *name, const char *timeout)
{
    if (fa_decode(name).stop_fail)
        return;
    generic_shutdown(env, "fa", name);
}
static bool fa_running(ha_env *env, const char *name)
{
    return generic_running(env, "fa", name);
}
static bool fa_migrate(ha_env *env, const char *name, const char *target, bool online)
{
    fa_spec f = fa_decode(name);
    if (fa_attempt(senv(env)->hw->fa_migrate_tries, env, name, &f, f.migrate_fail))
        return false;
    return generic_migrate(env, "fa", name, target, online, fa_shutdown);
}
static char *fa_remove_locks(ha_env *env, const char *name, const char *const *locks, const char *node)
{
    return generic_remove_locks(env, "fa", name, locks);
}

static const ha_agent agents[] = {
    {"vm", name_valid, vm_exists, vm_start, vm_shutdown, vm_running, vm_migrate, vm_remove_locks},
    {"ct", name_valid, vm_exists, ct_start, ct_shutdown, ct_running, ct_migrate, ct_remove_locks},
    {"fa", name_valid, fa_exists, fa_start, fa_shutdown, fa_running, fa_migrate, fa_remove_locks},
};

const ha_agent *sim_agent_lookup(const char *type)
{
    for (gsize i = 0; i < G_N_ELEMENTS(agents); i++)
        if (strcmp(agents[i].type, type) == 0)
            return &agents[i];
    return NULL;
}
