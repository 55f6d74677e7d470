/*
 * env: helpers shared by every environment backend and the core.
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

void ha_node_info_free(ha_node_info *ni)
{
    if (!ni)
        return;
    g_free(ni->node);
    g_free(ni);
}
