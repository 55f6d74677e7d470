/*
 * usage: scheduler implementations.
 *
 * basic: score = number of services counted on the node.
 * static/dynamic: for each candidate node, the cluster as if the service ran there,
 * criteria (1 + RMS CPU, 1 + max CPU, 1 + RMS mem, 1 + max mem) as fractions of
 * capacity, weights -1, -2, -5, -10, ranked with TOPSIS; the score is the negated
 * closeness.  Service stats come from the env (static: maxcpu/maxmem, a maxcpu of 0
 * meaning the whole node; dynamic: measured cpu/mem).
 */
#include "ha/usage.h"

#include <errno.h>
#include <math.h>
#include <string.h>

typedef struct {
    char *name;
    GHashTable *services; /* sid set */
    ha_stats stats;       /* capacity */
} usage_node;

struct ha_usage {
    ha_env *env;
    ha_sched_mode mode;
    GPtrArray *nodes;        /* usage_node*, sorted by name */
    GHashTable *svc_stats;   /* sid -> ha_stats* cache */
};

static void usage_node_free(gpointer p)
{
    usage_node *n = p;
    g_free(n->name);
    g_hash_table_unref(n->services);
    g_free(n);
}

static int usage_node_cmp(gconstpointer a, gconstpointer b)
{
    return strcmp((*(usage_node *const *)a)->name, (*(usage_node *const *)b)->name);
}

static usage_node *find_node(const ha_usage *u, const char *name)
{
    if (!name)
        return NULL;
    for (guint i = 0; i < u->nodes->len; i++) {
        usage_node *n = g_ptr_array_index(u->nodes, i);
        if (strcmp(n->name, name) == 0)
            return n;
    }
    return NULL;
}

int ha_usage_new(ha_env *env, ha_sched_mode mode, const GPtrArray *nodes, ha_usage **ret,
                 GError **error)
{
    ha_usage *u = g_new0(ha_usage, 1);
    u->env = env;
    u->mode = mode;
    u->nodes = g_ptr_array_new_with_free_func(usage_node_free);
    u->svc_stats = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    for (guint i = 0; i < nodes->len; i++) {
        usage_node *n = g_new0(usage_node, 1);
        n->name = g_strdup(g_ptr_array_index(nodes, i));
        n->services = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_ptr_array_add(u->nodes, n);
        if (mode != HA_SCHED_BASIC) {
            bool ok = mode == HA_SCHED_STATIC
                          ? env->ops->get_static_node_stats(env, n->name, &n->stats)
                          : env->ops->get_dynamic_node_stats(env, n->name, &n->stats);
            if (!ok || n->stats.maxcpu <= 0 || n->stats.maxmem == 0) {
                g_set_error(error, HA_CONFIG_ERROR, ENODATA, "did not get %s node usage information for '%s'", mode == HA_SCHED_STATIC ? "static" : "dynamic", n->name);
                ha_usage_free(u);
                return -ENODATA;
            }
        }
    }
    g_ptr_array_sort(u->nodes, usage_node_cmp);
    *ret = u;
    return 0;
}

void ha_usage_free(ha_usage *u)
{
    if (!u)
        return;
    g_ptr_array_unref(u->nodes);
    g_hash_table_unref(u->svc_stats);
    g_free(u);
}

GPtrArray *ha_usage_list_nodes(const ha_usage *u)
{
    GPtrArray *a = g_ptr_array_new();
    for (guint i = 0; i < u->nodes->len; i++)
        g_ptr_array_add(a, ((usage_node *)g_ptr_array_index(u->nodes, i))->name);
    return a;
}

void ha_usage_used_nodes(const ha_usage *u, ha_svc_state state, const char *node,
                         const char *target, const char **ret_current, const char **ret_target)
{
    *ret_current = NULL;
    *ret_target = NULL;
    switch (state) {
    case HA_SS_STARTED:
    case HA_SS_REQUEST_STOP:
    case HA_SS_FENCE:
    case HA_SS_FREEZE:
    case HA_SS_ERROR:
    case HA_SS_RECOVERY:
    case HA_SS_MIGRATE:
    case HA_SS_RELOCATE:
        if (find_node(u, node))
            *ret_current = node;
        break;
    default:
        break;
    }
    if ((state == HA_SS_MIGRATE || state == HA_SS_RELOCATE ||
         state == HA_SS_REQUEST_START_BALANCE) &&
        find_node(u, target))
        *ret_target = target;
}

static void add_service_to_node(ha_usage *u, const char *node, const char *sid)
{
    usage_node *n = find_node(u, node);
    if (n)
        g_hash_table_add(n->services, g_strdup(sid));
}

void ha_usage_add_service(ha_usage *u, const char *sid, ha_svc_state state, const char *node,
                          const char *target)
{
    const char *cur, *tgt;
    ha_usage_used_nodes(u, state, node, target, &cur, &tgt);
    if (cur)
        add_service_to_node(u, cur, sid);
    if (tgt)
        add_service_to_node(u, tgt, sid);
}

void ha_usage_remove_service(ha_usage *u, const char *sid)
{
    for (guint i = 0; i < u->nodes->len; i++)
        g_hash_table_remove(((usage_node *)g_ptr_array_index(u->nodes, i))->services, sid);
}

static const ha_stats *service_stats(ha_usage *u, const char *sid)
{
    ha_stats *s = g_hash_table_lookup(u->svc_stats, sid);
    if (s)
        return s;
    s = g_new0(ha_stats, 1);
    bool ok = u->mode == HA_SCHED_STATIC ? u->env->ops->get_static_service_stats(u->env, sid, s)
                                         : u->env->ops->get_dynamic_service_stats(u->env, sid, s);
    if (!ok)
        memset(s, 0, sizeof(*s));
    if (u->mode == HA_SCHED_DYNAMIC) {
        /* dynamic stats measure usage: use them as the load */
        s->maxcpu = s->cpu;
        s->maxmem = s->mem;
    }
    g_hash_table_insert(u->svc_stats, g_strdup(sid), s);
    return s;
}

static double add_cpu(double old, double nodemax, double add)
{
    return add == 0.0 ? old + nodemax : old + add;
}

/* current cpu/mem load of a node */
static void node_load(ha_usage *u, usage_node *n, double *ret_cpu, double *ret_mem)
{
    double cpu = 0, mem = 0;
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, n->services);
    while (g_hash_table_iter_next(&it, &k, NULL)) {
        const ha_stats *s = service_stats(u, k);
        cpu = add_cpu(cpu, n->stats.maxcpu, s->maxcpu);
        mem += (double)s->maxmem;
    }
    *ret_cpu = cpu;
    *ret_mem = mem;
}

void ha_topsis_score(const double *m, int rows, int ncrit, const double *weights,
                     double *ret_scores)
{
    double wsum = 0;
    for (int c = 0; c < ncrit; c++)
        wsum += fabs(weights[c]);
    g_autofree double *v = g_new0(double, (gsize)rows * ncrit);
    for (int c = 0; c < ncrit; c++) {
        double norm = 0;
        for (int r = 0; r < rows; r++)
            norm += m[r * ncrit + c] * m[r * ncrit + c];
        norm = sqrt(norm);
        double w = wsum > 0 ? fabs(weights[c]) / wsum : 0;
        for (int r = 0; r < rows; r++)
            v[r * ncrit + c] = norm != 0.0 ? m[r * ncrit + c] * w / norm : m[r * ncrit + c];
    }
    g_autofree double *best = g_new0(double, ncrit);
    g_autofree double *worst = g_new0(double, ncrit);
    for (int c = 0; c < ncrit; c++) {
        double mn = INFINITY, mx = -INFINITY;
        for (int r = 0; r < rows; r++) {
            mn = fmin(mn, v[r * ncrit + c]);
            mx = fmax(mx, v[r * ncrit + c]);
        }
        /* cost criteria (negative weight): smaller is better */
        best[c] = weights[c] < 0 ? mn : mx;
        worst[c] = weights[c] < 0 ? mx : mn;
    }
    for (int r = 0; r < rows; r++) {
        double db = 0, dw = 0;
        for (int c = 0; c < ncrit; c++) {
            double x = v[r * ncrit + c];
            db += (x - best[c]) * (x - best[c]);
            dw += (x - worst[c]) * (x - worst[c]);
        }
        db = sqrt(db);
        dw = sqrt(dw);
        ret_scores[r] = (db + dw) == 0.0 ? 0.0 : dw / (db + dw);
    }
}

GHashTable *ha_usage_score_nodes(ha_usage *u, const char *sid)
{
    GHashTable *scores = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    int n = (int)u->nodes->len;
    if (u->mode == HA_SCHED_BASIC || n == 0) {
        for (int i = 0; i < n; i++) {
            usage_node *un = g_ptr_array_index(u->nodes, i);
            double *d = g_new(double, 1);
            *d = g_hash_table_size(un->services);
            g_hash_table_insert(scores, g_strdup(un->name), d);
        }
        return scores;
    }
    const ha_stats *svc = service_stats(u, sid);
    g_autofree double *cpu = g_new0(double, n);
    g_autofree double *mem = g_new0(double, n);
    for (int i = 0; i < n; i++)
        node_load(u, g_ptr_array_index(u->nodes, i), &cpu[i], &mem[i]);
    g_autofree double *matrix = g_new0(double, (gsize)n * 4);
    for (int t = 0; t < n; t++) {
        double hc = 0, sc = 0, hm = 0, sm = 0;
        for (int i = 0; i < n; i++) {
            usage_node *un = g_ptr_array_index(u->nodes, i);
            double c = i == t ? add_cpu(cpu[i], un->stats.maxcpu, svc->maxcpu) : cpu[i];
            double m = i == t ? mem[i] + (double)svc->maxmem : mem[i];
            c /= un->stats.maxcpu;
            m /= (double)un->stats.maxmem;
            hc = fmax(hc, c);
            sc += c * c;
            hm = fmax(hm, m);
            sm += m * m;
        }
        matrix[t * 4 + 0] = 1.0 + sqrt(sc / n);
        matrix[t * 4 + 1] = 1.0 + hc;
        matrix[t * 4 + 2] = 1.0 + sqrt(sm / n);
        matrix[t * 4 + 3] = 1.0 + hm;
    }
    static const double weights[4] = {-1.0, -2.0, -5.0, -10.0};
    g_autofree double *res = g_new0(double, n);
    ha_topsis_score(matrix, n, 4, weights, res);
    for (int i = 0; i < n; i++) {
        double *d = g_new(double, 1);
        *d = -res[i];
        g_hash_table_insert(scores, g_strdup(((usage_node *)g_ptr_array_index(u->nodes, i))->name), d);
    }
    return scores;
}
