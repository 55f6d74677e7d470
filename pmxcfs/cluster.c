/*
 * cluster: the service thread for cluster mode.
 *
 * Everything in here runs on the thread's own GMainContext, except the setters called
 * before start and cfs_cluster_on_change(), which only forwards to thread-safe code.
 * Reconnection is driven by one-second retry timers per connection (quorum, each CPG
 * group), armed whenever a connection is missing and removed once it is up.
 */
#include "pmxcfs/cluster.h"

#include <errno.h>
#include <glib-unix.h>
#include <stdlib.h>

#include "pmxcfs/confsync.h"
#include "quorum/cs-quorum.h"

#define G_LOG_DOMAIN_CLUSTER "quorum"
#define RETRY_MS 1000

typedef struct group {
    cfs_cluster *c;
    dfsm *d;
    GSource *watch;
    int watched_fd;
    GSource *retry;
} group;

struct cfs_cluster {
    cfs_cluster_config cfg;
    GMainContext *ctx;
    GMainLoop *loop;
    GThread *thread;
    cs_quorum *quorum;
    GSource *quorum_watch;
    GSource *quorum_retry;
    dcdb *dcdb;
    confsync *confsync;
    GPtrArray *groups; /* group */
    GSource *verify_timer;
    cfs_fuse *fuse;
};

static void group_schedule_retry(group *g);
static void quorum_schedule_retry(cfs_cluster *c);

/* ---------------------------------------------------------------------------------- */
/* quorum */

static void quorum_notify(void *user_data, bool quorate)
{
    cfs_cluster *c = user_data;
    cfs_status_set_quorate(c->cfg.status, quorate);
    g_log(G_LOG_DOMAIN_CLUSTER, G_LOG_LEVEL_MESSAGE, quorate ? "node has quorum"
                                                             : "node lost quorum");
    if (c->fuse)
        cfs_fuse_invalidate_all(c->fuse);
}

static gboolean quorum_ready(gint fd, GIOCondition cond, gpointer user_data)
{
    (void)fd;
    (void)cond;
    cfs_cluster *c = user_data;
    if (cs_quorum_dispatch(c->quorum) == 0)
        return G_SOURCE_CONTINUE;
    g_log(G_LOG_DOMAIN_CLUSTER, G_LOG_LEVEL_CRITICAL, "quorum dispatch failed - corosync gone?");
    g_clear_pointer(&c->quorum_watch, g_source_unref);
    quorum_schedule_retry(c);
    return G_SOURCE_REMOVE;
}

static void quorum_connect(cfs_cluster *c)
{
    int r = cs_quorum_connect(c->quorum);
    if (r < 0) {
        quorum_schedule_retry(c);
        return;
    }
    c->quorum_watch = g_unix_fd_source_new(cs_quorum_fd(c->quorum), G_IO_IN | G_IO_ERR | G_IO_HUP);
    g_source_set_callback(c->quorum_watch, (GSourceFunc)(void (*)(void))quorum_ready, c, NULL);
    g_source_attach(c->quorum_watch, c->ctx);
}

static gboolean quorum_retry(gpointer user_data)
{
    cfs_cluster *c = user_data;
    g_clear_pointer(&c->quorum_retry, g_source_unref);
    quorum_connect(c);
    return G_SOURCE_REMOVE;
}

static void quorum_schedule_retry(cfs_cluster *c)
{
    if (c->quorum_retry)
        return;
    c->quorum_retry = g_timeout_source_new(RETRY_MS);
    g_source_set_callback(c->quorum_retry, quorum_retry, c, NULL);
    g_source_attach(c->quorum_retry, c->ctx);
}

/* ---------------------------------------------------------------------------------- */
/* CPG groups */

static void group_unwatch(group *g)
{
    if (g->watch) {
        g_source_destroy(g->watch);
        g_source_unref(g->watch);
        g->watch = NULL;
    }
    g->watched_fd = -1;
}

static gboolean group_ready(gint fd, GIOCondition cond, gpointer user_data)
{
    (void)fd;
    (void)cond;
    group *g = user_data;
    int r = dfsm_dispatch(g->d);
    if (r < 0) {
        g_clear_pointer(&g->watch, g_source_unref);
        g->watched_fd = -1;
        group_schedule_retry(g);
        return G_SOURCE_REMOVE;
    }
    if (dfsm_needs_restart(g->d))
        group_schedule_retry(g);
    return G_SOURCE_CONTINUE;
}

static void group_watch(group *g)
{
    int fd = dfsm_fd(g->d);
    if (fd == g->watched_fd && g->watch)
        return;
    group_unwatch(g);
    if (fd < 0)
        return;
    g->watch = g_unix_fd_source_new(fd, G_IO_IN | G_IO_ERR | G_IO_HUP);
    g_source_set_callback(g->watch, (GSourceFunc)(void (*)(void))group_ready, g, NULL);
    g_source_attach(g->watch, g->c->ctx);
    g->watched_fd = fd;
}

static void group_init(group *g)
{
    int r = dfsm_initialize(g->d);
    if (r == -EPERM)
        return; /* ERROR or VERSION_ERROR: stay out */
    group_watch(g);
    if (r < 0)
        group_schedule_retry(g);
}

static gboolean group_retry(gpointer user_data)
{
    group *g = user_data;
    g_clear_pointer(&g->retry, g_source_unref);
    if (dfsm_needs_restart(g->d))
        group_init(g);
    return G_SOURCE_REMOVE;
}

static void group_schedule_retry(group *g)
{
    if (g->retry)
        return;
    g->retry = g_timeout_source_new(RETRY_MS);
    g_source_set_callback(g->retry, group_retry, g, NULL);
    g_source_attach(g->retry, g->c->ctx);
}

void cfs_cluster_add_group(cfs_cluster *c, dfsm *d)
{
    group *g = g_new0(group, 1);
    g->c = c;
    g->d = d;
    g->watched_fd = -1;
    g_ptr_array_add(c->groups, g);
}

static void group_free(gpointer p)
{
    group *g = p;
    group_unwatch(g);
    if (g->retry) {
        g_source_destroy(g->retry);
        g_source_unref(g->retry);
    }
    g_free(g);
}

/* ---------------------------------------------------------------------------------- */
/* hooks from dcdb */

static void on_corosync_conf(void *user_data, bool notify)
{
    cfs_cluster *c = user_data;
    confsync_trigger(c->confsync, notify);
}

static gboolean verify_tick(gpointer user_data)
{
    cfs_cluster *c = user_data;
    dfsm_verify_request(dcdb_get_dfsm(c->dcdb));
    return G_SOURCE_CONTINUE;
}

/* ---------------------------------------------------------------------------------- */

cfs_cluster *cfs_cluster_new(const cfs_cluster_config *config)
{
    cfs_cluster *c = g_new0(cfs_cluster, 1);
    c->cfg = *config;
    c->ctx = g_main_context_new();
    c->loop = g_main_loop_new(c->ctx, FALSE);
    c->quorum = cs_quorum_new(quorum_notify, c);
    c->groups = g_ptr_array_new_with_free_func(group_free);
    dcdb_hooks hooks = {.corosync_conf_changed = on_corosync_conf, .user_data = c};
    c->dcdb = dcdb_new(config->memdb, config->status, &hooks);
    c->confsync = confsync_new(config->memdb, config->corosync_conf, c->ctx, NULL);
    cfs_cluster_add_group(c, dcdb_get_dfsm(c->dcdb));
    return c;
}

void cfs_cluster_free(cfs_cluster *c)
{
    if (!c)
        return;
    g_ptr_array_free(c->groups, TRUE);
    dcdb_free(c->dcdb);
    confsync_free(c->confsync);
    cs_quorum_free(c->quorum);
    g_main_loop_unref(c->loop);
    g_main_context_unref(c->ctx);
    g_free(c);
}

const cfs_ops_cluster *cfs_cluster_ops(cfs_cluster *c)
{
    return dcdb_ops_cluster(c->dcdb);
}

void cfs_cluster_set_fuse(cfs_cluster *c, cfs_fuse *f)
{
    c->fuse = f;
}

void cfs_cluster_on_change(cfs_cluster *c, const memdb_change *change)
{
    /* changes made for our own kernel requests are already in the kernel's caches */
    if (c && c->fuse && !dcdb_applying_own(c->dcdb))
        cfs_fuse_on_change(c->fuse, change);
}

GMainContext *cfs_cluster_context(cfs_cluster *c)
{
    return c->ctx;
}

static gboolean start_services(gpointer user_data)
{
    cfs_cluster *c = user_data;
    quorum_connect(c);
    for (guint i = 0; i < c->groups->len; i++)
        group_init(g_ptr_array_index(c->groups, i));
    unsigned interval = c->cfg.verify_interval ? c->cfg.verify_interval : 3600;
    c->verify_timer = g_timeout_source_new_seconds(interval);
    g_source_set_callback(c->verify_timer, verify_tick, c, NULL);
    g_source_attach(c->verify_timer, c->ctx);
    confsync_trigger(c->confsync, true);
    return G_SOURCE_REMOVE;
}

static gpointer cluster_thread(gpointer user_data)
{
    cfs_cluster *c = user_data;
    g_main_context_push_thread_default(c->ctx);
    g_main_loop_run(c->loop);
    g_main_context_pop_thread_default(c->ctx);
    return NULL;
}

int cfs_cluster_start(cfs_cluster *c)
{
    GSource *s = g_idle_source_new();
    g_source_set_callback(s, start_services, c, NULL);
    g_source_attach(s, c->ctx);
    g_source_unref(s);
    c->thread = g_thread_new("cluster", cluster_thread, c);
    return 0;
}

static gboolean stop_services(gpointer user_data)
{
    cfs_cluster *c = user_data;
    for (guint i = 0; i < c->groups->len; i++) {
        group *g = g_ptr_array_index(c->groups, i);
        group_unwatch(g);
        if (g->retry) {
            g_source_destroy(g->retry);
            g_clear_pointer(&g->retry, g_source_unref);
        }
        dfsm_finalize(g->d);
    }
    if (c->verify_timer) {
        g_source_destroy(c->verify_timer);
        g_clear_pointer(&c->verify_timer, g_source_unref);
    }
    if (c->quorum_watch) {
        g_source_destroy(c->quorum_watch);
        g_clear_pointer(&c->quorum_watch, g_source_unref);
    }
    if (c->quorum_retry) {
        g_source_destroy(c->quorum_retry);
        g_clear_pointer(&c->quorum_retry, g_source_unref);
    }
    cs_quorum_disconnect(c->quorum);
    g_main_loop_quit(c->loop);
    return G_SOURCE_REMOVE;
}

void cfs_cluster_stop(cfs_cluster *c)
{
    if (!c || !c->thread)
        return;
    GSource *s = g_idle_source_new();
    g_source_set_priority(s, G_PRIORITY_HIGH);
    g_source_set_callback(s, stop_services, c, NULL);
    g_source_attach(s, c->ctx);
    g_source_unref(s);
    g_thread_join(c->thread);
    c->thread = NULL;
}
