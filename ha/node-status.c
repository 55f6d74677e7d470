/*
 * node-status: node state machine of the master (ha.md §4).
 *
 * The update walks the membership (online nodes, sorted) and then the known nodes
 * that are not online (sorted), exactly as the reference does, so that the order of
 * the logged changes matches.  last_online times are in ms of the env clock and only
 * live in memory unless the I-2 option persists them.
 */
#include "ha/node-status.h"

#include <string.h>

struct ha_node_status {
    ha_env *env;
    GHashTable *status;      /* node -> GINT_TO_POINTER(ha_node_state) */
    GHashTable *last_online; /* node -> gint64* ms */
};

ha_node_status *ha_node_status_new(ha_env *env, GHashTable *initial)
{
    ha_node_status *ns = g_new0(ha_node_status, 1);
    ns->env = env;
    ns->status = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    ns->last_online = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    if (initial) {
        GHashTableIter it;
        gpointer k, v;
        g_hash_table_iter_init(&it, initial);
        while (g_hash_table_iter_next(&it, &k, &v))
            g_hash_table_insert(ns->status, g_strdup(k), v);
    }
    return ns;
}

void ha_node_status_free(ha_node_status *ns)
{
    if (!ns)
        return;
    g_hash_table_unref(ns->status);
    g_hash_table_unref(ns->last_online);
    g_free(ns);
}

GHashTable *ha_node_status_table(const ha_node_status *ns)
{
    return ns->status;
}

GHashTable *ha_node_status_last_online(const ha_node_status *ns)
{
    return ns->last_online;
}

void ha_node_status_set_last_online(ha_node_status *ns, const char *node, gint64 t_ms)
{
    gint64 *v = g_new(gint64, 1);
    *v = t_ms;
    g_hash_table_replace(ns->last_online, g_strdup(node), v);
}

ha_node_state ha_node_status_get(const ha_node_status *ns, const char *node)
{
    return node ? GPOINTER_TO_INT(g_hash_table_lookup(ns->status, node)) : HA_NODE_UNKNOWN;
}

static void set_state(ha_node_status *ns, const char *node, ha_node_state state)
{
    ha_node_state last = ha_node_status_get(ns, node);
    if (last == state && g_hash_table_contains(ns->status, node))
        return;
    if (last != state)
        ha_env_log(ns->env, HA_LOG_INFO, "node '%s': state changed from '%s' => '%s'", node,
                   ha_node_state_name(last), ha_node_state_name(state));
    g_hash_table_replace(ns->status, g_strdup(node), GINT_TO_POINTER(state));
}

bool ha_node_status_is_online(const ha_node_status *ns, const char *node)
{
    return ha_node_status_get(ns, node) == HA_NODE_ONLINE;
}

bool ha_node_status_is_operational(const ha_node_status *ns, const char *node)
{
    ha_node_state s = ha_node_status_get(ns, node);
    return s == HA_NODE_ONLINE || s == HA_NODE_MAINTENANCE;
}

static const ha_node_info *find_info(const GPtrArray *info, const char *node)
{
    for (guint i = 0; i < info->len; i++) {
        const ha_node_info *ni = g_ptr_array_index(info, i);
        if (strcmp(ni->node, node) == 0)
            return ni;
    }
    return NULL;
}

bool ha_node_status_offline_delayed(ha_node_status *ns, const char *node, gint64 delay_ms)
{
    if (ha_node_status_is_online(ns, node))
        return false;
    gint64 now = ha_env_time(ns->env);
    gint64 *last = g_hash_table_lookup(ns->last_online, node);
    if (!last) {
        ha_node_status_set_last_online(ns, node, now);
        return false;
    }
    return now - *last >= delay_ms;
}

void ha_node_status_update(ha_node_status *ns, const GPtrArray *info, GHashTable *lrm_modes)
{
    gint64 now = ha_env_time(ns->env);
    for (guint i = 0; i < info->len; i++) {
        const ha_node_info *ni = g_ptr_array_index(info, i);
        if (!ni->online)
            continue;
        const char *mode = lrm_modes ? g_hash_table_lookup(lrm_modes, ni->node) : NULL;
        bool maint = mode && strcmp(mode, "maintenance") == 0;
        ha_node_status_set_last_online(ns, ni->node, now);
        switch (ha_node_status_get(ns, ni->node)) {
        case HA_NODE_ONLINE:
            if (maint)
                set_state(ns, ni->node, HA_NODE_MAINTENANCE);
            break;
        case HA_NODE_UNKNOWN:
        case HA_NODE_GONE:
            set_state(ns, ni->node, HA_NODE_ONLINE);
            break;
        case HA_NODE_FENCE:
            break;
        case HA_NODE_MAINTENANCE:
            if (!maint)
                set_state(ns, ni->node, HA_NODE_ONLINE);
            break;
        }
    }
    g_autoptr(GPtrArray) nodes = ha_node_status_list_nodes(ns);
    for (guint i = 0; i < nodes->len; i++) {
        g_autofree char *node = g_strdup(g_ptr_array_index(nodes, i));
        const ha_node_info *ni = find_info(info, node);
        if (ni && ni->online)
            continue;
        const char *mode = lrm_modes ? g_hash_table_lookup(lrm_modes, node) : NULL;
        bool maint = mode && strcmp(mode, "maintenance") == 0;
        switch (ha_node_status_get(ns, node)) {
        case HA_NODE_ONLINE:
            set_state(ns, node, HA_NODE_UNKNOWN);
            break;
        case HA_NODE_MAINTENANCE:
            if (!maint)
                set_state(ns, node, HA_NODE_UNKNOWN);
            break;
        case HA_NODE_UNKNOWN:
            if (!ni)
                set_state(ns, node, HA_NODE_GONE);
            break;
        case HA_NODE_GONE:
            if (ha_node_status_offline_delayed(ns, node, ns->env->timing.gone_delete_ms)) {
                ha_env_log(ns->env, HA_LOG_NOTICE,
                           "deleting gone node '%s', not a cluster member anymore.", node);
                g_hash_table_remove(ns->last_online, node);
                g_hash_table_remove(ns->status, node);
            }
            break;
        case HA_NODE_FENCE:
            break;
        }
    }
}

bool ha_node_status_fence_node(ha_node_status *ns, const char *node)
{
    ha_env *env = ns->env;
    if (ha_node_status_get(ns, node) != HA_NODE_FENCE) {
        set_state(ns, node, HA_NODE_FENCE);
        g_autofree char *msg = g_strdup_printf("Try to fence node '%s'", node);
        env->ops->send_notification(env, "FENCE", msg);
    }
    if (!env->ops->get_ha_agent_lock(env, node))
        return false;
    g_autofree char *msg = g_strdup_printf("fencing: acknowledged - got agent lock for node '%s'", node);
    ha_env_log(env, HA_LOG_INFO, "%s", msg);
    set_state(ns, node, HA_NODE_UNKNOWN);
    env->ops->send_notification(env, "SUCCEED", msg);
    return true;
}

GPtrArray *ha_node_status_list_nodes(const ha_node_status *ns)
{
    return ha_sorted_keys(ns->status);
}

GPtrArray *ha_node_status_list_online(const ha_node_status *ns)
{
    GPtrArray *all = ha_sorted_keys(ns->status);
    GPtrArray *res = g_ptr_array_new();
    for (guint i = 0; i < all->len; i++)
        if (ha_node_status_is_online(ns, all->pdata[i]))
            g_ptr_array_add(res, all->pdata[i]);
    g_ptr_array_unref(all);
    return res;
}

bool ha_node_status_list_changed(const ha_node_status *ns, const GPtrArray *info)
{
    for (guint i = 0; i < info->len; i++) {
        const ha_node_info *ni = g_ptr_array_index(info, i);
        if (!g_hash_table_contains(ns->status, ni->node))
            return true;
    }
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, ns->status);
    while (g_hash_table_iter_next(&it, &k, NULL))
        if (!find_info(info, k))
            return true;
    return false;
}
