/*
 * env: helpers shared by every environment backend and the core: logging, and the
 * protected lock acquisition and watchdog handling common to the CRM and the LRM.
 */
#include "ha/env.h"

#include <stdarg.h>

void ha_env_log(ha_env *env, ha_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    env->ops->log(env, level, msg);
}

bool ha_env_get_protected_lock(ha_env *env, const char *agent_node)
{
    gint64 start = ha_env_time(env);
    for (int count = 1;; count++) {
        if (agent_node ? env->ops->get_ha_agent_lock(env, agent_node)
                       : env->ops->get_ha_manager_lock(env))
            return true;
        if (count >= HA_LOCK_ATTEMPTS)
            return false;
        if (ha_env_time(env) - start > env->timing.lock_retry_budget_ms)
            return false;
        env->ops->sleep(env, env->timing.lock_retry_sleep_ms);
    }
}

void ha_env_watchdog_feed(ha_env *env, char **handle)
{
    g_autoptr(GError) err = NULL;
    int r = *handle ? env->ops->watchdog_update(env, *handle, &err)
                    : env->ops->watchdog_open(env, handle, &err);
    if (r < 0)
        ha_env_log(env, HA_LOG_ERR, "got unexpected error - %s", err->message);
}

void ha_env_watchdog_close(ha_env *env, char **handle)
{
    if (!*handle)
        return;
    g_autoptr(GError) err = NULL;
    if (env->ops->watchdog_close(env, *handle, &err) < 0)
        ha_env_log(env, HA_LOG_ERR, "got unexpected error - %s", err->message);
    g_clear_pointer(handle, g_free);
}

void ha_node_info_free(ha_node_info *ni)
{
    if (!ni)
        return;
    g_free(ni->node);
    g_free(ni);
}
