/*
 * select: the node selection algorithm of ha.md §6.6, step by step.
 *
 * Candidates are the usage object's nodes (the online nodes).  Node affinity gives
 * the allowed nodes and the preferred (highest priority) ones; resource affinity
 * gives `together` (node -> count of positive partners) and `separate` (nodes of
 * negative partners).  Ties in the final ranking break by node name (bytewise).
 */
#include "ha/select.h"

#include <string.h>

/* Fill @together (node -> positive partner count) and @separate (negative partners' nodes). */
static void resource_affinity(const ha_compiled_rules *rules, ha_usage *usage, GHashTable *ss,
                              const char *sid, GHashTable *together, GHashTable *separate)
{
    GHashTable *pos = rules ? g_hash_table_lookup(rules->positive, sid) : NULL;
    GHashTable *neg = rules ? g_hash_table_lookup(rules->negative, sid) : NULL;
    GHashTableIter it;
    gpointer k;
    if (pos) {
        g_hash_table_iter_init(&it, pos);
        while (g_hash_table_iter_next(&it, &k, NULL)) {
            ha_service_state *csd = g_hash_table_lookup(ss, k);
            if (!csd)
                continue;
            const char *cur, *tgt;
            ha_usage_used_nodes(usage, csd->state, csd->node, csd->target, &cur, &tgt);
            const char *node = tgt ? tgt : cur;
            if (node) {
                int n = GPOINTER_TO_INT(g_hash_table_lookup(together, node));
                g_hash_table_replace(together, g_strdup(node), GINT_TO_POINTER(n + 1));
            }
        }
    }
    if (neg) {
        g_hash_table_iter_init(&it, neg);
        while (g_hash_table_iter_next(&it, &k, NULL)) {
            ha_service_state *csd = g_hash_table_lookup(ss, k);
            if (!csd)
                continue;
            const char *cur, *tgt;
            ha_usage_used_nodes(usage, csd->state, csd->node, csd->target, &cur, &tgt);
            if (cur)
                g_hash_table_add(separate, g_strdup(cur));
            if (tgt)
                g_hash_table_add(separate, g_strdup(tgt));
        }
    }
}

typedef struct {
    GHashTable *scores;
} sort_ctx;

static int score_cmp(gconstpointer a, gconstpointer b, gpointer data)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    sort_ctx *ctx = data;
    double *sx = g_hash_table_lookup(ctx->scores, x), *sy = g_hash_table_lookup(ctx->scores, y);
    double vx = sx ? *sx : 0, vy = sy ? *sy : 0;
    if (vx < vy)
        return -1;
    if (vx > vy)
        return 1;
    return strcmp(x, y);
}

char *ha_select_node(const ha_compiled_rules *rules, ha_usage *usage, GHashTable *ss,
                     const char *sid, const ha_service_state *sd, bool failback,
                     ha_select_pref pref)
{
    const char *current = sd->node;
    g_autoptr(GPtrArray) candidates = ha_usage_list_nodes(usage);
    g_autoptr(GHashTable) allowed = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GHashTable) preferred = g_hash_table_new(g_str_hash, g_str_equal);
    const ha_node_affinity *na = rules ? g_hash_table_lookup(rules->node_affinity, sid) : NULL;

    if (!na) {
        for (guint i = 0; i < candidates->len; i++) {
            g_hash_table_add(allowed, candidates->pdata[i]);
            g_hash_table_add(preferred, candidates->pdata[i]);
        }
    } else if (na->negative) {
        for (guint i = 0; i < candidates->len; i++) {
            bool found;
            ha_node_affinity_priority(na, candidates->pdata[i], &found);
            if (!found) {
                g_hash_table_add(allowed, candidates->pdata[i]);
                g_hash_table_add(preferred, candidates->pdata[i]);
            }
        }
    } else {
        int best = G_MININT;
        for (guint i = 0; i < candidates->len; i++) {
            bool found;
            int prio = ha_node_affinity_priority(na, candidates->pdata[i], &found);
            if (!found)
                continue;
            g_hash_table_add(allowed, candidates->pdata[i]);
            best = MAX(best, prio);
        }
        for (guint i = 0; i < candidates->len; i++) {
            bool found;
            int prio = ha_node_affinity_priority(na, candidates->pdata[i], &found);
            if (found && prio == best)
                g_hash_table_add(preferred, candidates->pdata[i]);
        }
    }
    if (g_hash_table_size(preferred) == 0)
        return NULL;

    g_autoptr(GHashTable) together = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GHashTable) separate = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    resource_affinity(rules, usage, ss, sid, together, separate);

    if (pref == HA_SELECT_NONE && !failback && current && g_hash_table_contains(allowed, current) &&
        (GPOINTER_TO_INT(g_hash_table_lookup(together, current)) > 0 ||
         !g_hash_table_contains(separate, current)))
        return g_strdup(current);

    if (pref == HA_SELECT_TRY_NEXT && sd->failed_nodes)
        for (guint i = 0; i < sd->failed_nodes->len; i++)
            g_hash_table_remove(preferred, g_ptr_array_index(sd->failed_nodes, i));

    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, separate);
    while (g_hash_table_iter_next(&it, &k, NULL))
        g_hash_table_remove(preferred, k);

    const char *best_together = NULL;
    int best_count = 0;
    g_autoptr(GPtrArray) tnodes = ha_sorted_keys(together);
    for (guint i = 0; i < tnodes->len; i++) {
        int cnt = GPOINTER_TO_INT(g_hash_table_lookup(together, tnodes->pdata[i]));
        if (g_hash_table_contains(preferred, tnodes->pdata[i]) && cnt > best_count) {
            best_count = cnt;
            best_together = tnodes->pdata[i];
        }
    }
    if (best_together) {
        g_hash_table_iter_init(&it, preferred);
        while (g_hash_table_iter_next(&it, &k, &v))
            if (strcmp(k, best_together) != 0)
                g_hash_table_iter_remove(&it);
    }

    if (sd->maintenance_node && g_hash_table_contains(preferred, sd->maintenance_node))
        return g_strdup(sd->maintenance_node);
    if (pref == HA_SELECT_NONE && current && g_hash_table_contains(preferred, current))
        return g_strdup(current);

    g_autoptr(GPtrArray) list = ha_sorted_keys(preferred);
    if (list->len == 0)
        return NULL;
    g_autoptr(GHashTable) scores = ha_usage_score_nodes(usage, sid);
    sort_ctx ctx = {scores};
    g_ptr_array_sort_with_data(list, score_cmp, &ctx);
    if (pref == HA_SELECT_TRY_NEXT && current) {
        for (guint i = 0; i + 1 < list->len; i++)
            if (strcmp(list->pdata[i], current) == 0)
                return g_strdup(list->pdata[i + 1]);
    }
    return g_strdup(list->pdata[0]);
}
