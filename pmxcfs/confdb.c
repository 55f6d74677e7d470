/*
 * confdb: cmap -> cluster information.
 *
 * Change notifications only mark the information stale; one idle source then re-reads
 * everything, so a corosync reload that rewrites the whole node list causes one update
 * instead of dozens.  Values are read through cmap iteration and converted to strings
 * first, which keeps the node-list parsing independent of cmap's value types (a node id
 * may be stored as u32 or as a string) and testable without corosync.
 */
#include "pmxcfs/confdb.h"

#include <corosync/cmap.h>
#include <errno.h>
#include <glib-unix.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quorum/cs-error.h"

#define G_LOG_DOMAIN_CONFDB "confdb"
#define RETRY_MS            1000
#define NODELIST_PREFIX     "nodelist.node."

struct confdb {
    cfs_status *status;
    GMainContext *ctx;
    cmap_handle_t handle;
    bool connected;
    cmap_track_handle_t track_nodes;
    cmap_track_handle_t track_version;
    GSource *watch;
    GSource *retry;
    GSource *reread;
};

static void schedule_retry(confdb *c);

/* ---------------------------------------------------------------------------------- */
/* parsing */

static void status_node_clear(gpointer p)
{
    g_free((char *)((cfs_status_node *)p)->name);
}

typedef struct raw_node {
    char *nodeid;
    char *name;
    char *ring0_addr;
    char *votes;
} raw_node;

static void raw_node_free(gpointer p)
{
    raw_node *n = p;
    g_free(n->nodeid);
    g_free(n->name);
    g_free(n->ring0_addr);
    g_free(n->votes);
    g_free(n);
}

static bool parse_u32(const char *s, uint32_t *ret)
{
    if (!s || !*s)
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > UINT32_MAX)
        return false;
    *ret = (uint32_t)v;
    return true;
}

static gint node_cmp(gconstpointer a, gconstpointer b)
{
    uint32_t x = ((const cfs_status_node *)a)->nodeid, y = ((const cfs_status_node *)b)->nodeid;
    return x < y ? -1 : x > y;
}

GArray *confdb_parse_nodelist(GHashTable *keys)
{
    g_autoptr(GHashTable) raw =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, raw_node_free);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, keys);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        const char *key = k;
        if (!g_str_has_prefix(key, NODELIST_PREFIX))
            continue;
        const char *rest = key + strlen(NODELIST_PREFIX);
        const char *dot = strchr(rest, '.');
        if (!dot || dot == rest)
            continue;
        g_autofree char *idx = g_strndup(rest, (gsize)(dot - rest));
        const char *field = dot + 1;
        char **slot = NULL;
        raw_node *n = g_hash_table_lookup(raw, idx);
        if (!n) {
            n = g_new0(raw_node, 1);
            g_hash_table_insert(raw, g_strdup(idx), n);
        }
        if (strcmp(field, "nodeid") == 0)
            slot = &n->nodeid;
        else if (strcmp(field, "name") == 0)
            slot = &n->name;
        else if (strcmp(field, "ring0_addr") == 0)
            slot = &n->ring0_addr;
        else if (strcmp(field, "quorum_votes") == 0)
            slot = &n->votes;
        if (slot) {
            g_free(*slot);
            *slot = g_strdup(v);
        }
    }

    GArray *nodes = g_array_new(FALSE, FALSE, sizeof(cfs_status_node));
    g_array_set_clear_func(nodes, status_node_clear);
    g_hash_table_iter_init(&it, raw);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        raw_node *n = v;
        const char *name = n->name && *n->name ? n->name : n->ring0_addr;
        cfs_status_node out = {0};
        if (!name || !*name || !parse_u32(n->nodeid, &out.nodeid) || out.nodeid == 0)
            continue;
        if (!parse_u32(n->votes, &out.votes))
            out.votes = 1;
        out.name = g_strdup(name);
        g_array_append_val(nodes, out);
    }
    g_array_sort(nodes, node_cmp);
    return nodes;
}

/* ---------------------------------------------------------------------------------- */
/* reading cmap */

/* All keys below @prefix, values as strings. */
static int read_prefix(cmap_handle_t h, const char *prefix, GHashTable *out)
{
    cmap_iter_handle_t iter;
    int r = cs_errno(cmap_iter_init(h, prefix, &iter));
    if (r < 0)
        return r;
    char key[CMAP_KEYNAME_MAXLEN + 1];
    size_t len;
    cmap_value_types_t type;
    while (cmap_iter_next(h, iter, key, &len, &type) == CS_OK) {
        char *str = NULL;
        if (type == CMAP_VALUETYPE_STRING) {
            if (cmap_get_string(h, key, &str) == CS_OK) {
                g_hash_table_replace(out, g_strdup(key), g_strdup(str));
                free(str);
            }
            continue;
        }
        uint64_t u = 0;
        int64_t i = 0;
        bool ok = false, is_signed = false;
        switch (type) {
        case CMAP_VALUETYPE_UINT8: {
            uint8_t x;
            ok = cmap_get_uint8(h, key, &x) == CS_OK;
            u = x;
        } break;
        case CMAP_VALUETYPE_UINT16: {
            uint16_t x;
            ok = cmap_get_uint16(h, key, &x) == CS_OK;
            u = x;
        } break;
        case CMAP_VALUETYPE_UINT32: {
            uint32_t x;
            ok = cmap_get_uint32(h, key, &x) == CS_OK;
            u = x;
        } break;
        case CMAP_VALUETYPE_UINT64:
            ok = cmap_get_uint64(h, key, &u) == CS_OK;
            break;
        case CMAP_VALUETYPE_INT8: {
            int8_t x;
            ok = cmap_get_int8(h, key, &x) == CS_OK;
            i = x;
            is_signed = true;
        } break;
        case CMAP_VALUETYPE_INT16: {
            int16_t x;
            ok = cmap_get_int16(h, key, &x) == CS_OK;
            i = x;
            is_signed = true;
        } break;
        case CMAP_VALUETYPE_INT32: {
            int32_t x;
            ok = cmap_get_int32(h, key, &x) == CS_OK;
            i = x;
            is_signed = true;
        } break;
        case CMAP_VALUETYPE_INT64:
            ok = cmap_get_int64(h, key, &i) == CS_OK;
            is_signed = true;
            break;
        default:
            break;
        }
        if (ok)
            g_hash_table_replace(out, g_strdup(key),
                                 is_signed ? g_strdup_printf("%" PRId64, i)
                                           : g_strdup_printf("%" PRIu64, u));
    }
    cmap_iter_finalize(h, iter);
    return 0;
}

/* Read everything and update the status layer; 0 or -errno. */
static int confdb_read(confdb *c)
{
    char *name = NULL;
    int r = cs_errno(cmap_get_string(c->handle, "totem.cluster_name", &name));
    if (r < 0) {
        g_log(G_LOG_DOMAIN_CONFDB, G_LOG_LEVEL_WARNING,
              "unable to read totem.cluster_name from cmap: %s", g_strerror(-r));
        return r;
    }
    uint64_t version = 0;
    if (cmap_get_uint64(c->handle, "totem.config_version", &version) != CS_OK)
        version = 0;
    g_autoptr(GHashTable) keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    r = read_prefix(c->handle, NODELIST_PREFIX, keys);
    if (r < 0) {
        free(name);
        return r;
    }
    g_autoptr(GArray) nodes = confdb_parse_nodelist(keys);
    cfs_status_set_cluster_info(c->status, name, version, (cfs_status_node *)(void *)nodes->data,
                                nodes->len);
    g_log(G_LOG_DOMAIN_CONFDB, G_LOG_LEVEL_MESSAGE,
          "update cluster info (cluster name %s, version = %" PRIu64 ")", name, version);
    free(name);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* connection */

static void disconnect(confdb *c)
{
    if (c->watch) {
        g_source_destroy(c->watch);
        g_clear_pointer(&c->watch, g_source_unref);
    }
    if (c->reread) {
        g_source_destroy(c->reread);
        g_clear_pointer(&c->reread, g_source_unref);
    }
    if (c->connected) {
        cmap_track_delete(c->handle, c->track_nodes);
        cmap_track_delete(c->handle, c->track_version);
        cmap_finalize(c->handle);
        c->connected = false;
    }
}

static gboolean reread_cb(gpointer user_data)
{
    confdb *c = user_data;
    g_clear_pointer(&c->reread, g_source_unref);
    if (c->connected && confdb_read(c) < 0) {
        disconnect(c);
        schedule_retry(c);
    }
    return G_SOURCE_REMOVE;
}

static void on_change(cmap_handle_t h, cmap_track_handle_t t, int32_t event, const char *key,
                      struct cmap_notify_value new_value, struct cmap_notify_value old_value,
                      void *user_data)
{
    (void)h;
    (void)t;
    (void)event;
    (void)key;
    (void)new_value;
    (void)old_value;
    confdb *c = user_data;
    if (c->reread)
        return;
    c->reread = g_idle_source_new();
    g_source_set_callback(c->reread, reread_cb, c, NULL);
    g_source_attach(c->reread, c->ctx);
}

static gboolean ready_cb(gint fd, GIOCondition cond, gpointer user_data)
{
    (void)fd;
    (void)cond;
    confdb *c = user_data;
    int r = cs_errno(cmap_dispatch(c->handle, CS_DISPATCH_ALL));
    if (r == 0 || r == -EAGAIN)
        return G_SOURCE_CONTINUE;
    g_log(G_LOG_DOMAIN_CONFDB, G_LOG_LEVEL_CRITICAL, "cmap dispatch failed: %s", g_strerror(-r));
    g_clear_pointer(&c->watch, g_source_unref); /* removed by returning REMOVE */
    disconnect(c);
    schedule_retry(c);
    return G_SOURCE_REMOVE;
}

static int connect_cmap(confdb *c)
{
    int r = cs_errno(cmap_initialize(&c->handle));
    if (r < 0)
        return r;
    c->connected = true;
    int32_t flags = CMAP_TRACK_ADD | CMAP_TRACK_DELETE | CMAP_TRACK_MODIFY;
    r = cs_errno(cmap_track_add(c->handle, NODELIST_PREFIX, flags | CMAP_TRACK_PREFIX, on_change, c,
                                &c->track_nodes));
    if (r == 0)
        r = cs_errno(cmap_track_add(c->handle, "totem.config_version", flags, on_change, c,
                                    &c->track_version));
    int fd = -1;
    if (r == 0)
        r = cs_errno(cmap_fd_get(c->handle, &fd));
    if (r == 0)
        r = confdb_read(c);
    if (r < 0) {
        disconnect(c);
        return r;
    }
    c->watch = g_unix_fd_source_new(fd, G_IO_IN | G_IO_ERR | G_IO_HUP);
    g_source_set_callback(c->watch, (GSourceFunc)(void (*)(void))ready_cb, c, NULL);
    g_source_attach(c->watch, c->ctx);
    return 0;
}

static gboolean retry_cb(gpointer user_data)
{
    confdb *c = user_data;
    g_clear_pointer(&c->retry, g_source_unref);
    if (connect_cmap(c) < 0)
        schedule_retry(c);
    return G_SOURCE_REMOVE;
}

static void schedule_retry(confdb *c)
{
    if (c->retry)
        return;
    c->retry = g_timeout_source_new(RETRY_MS);
    g_source_set_callback(c->retry, retry_cb, c, NULL);
    g_source_attach(c->retry, c->ctx);
}

confdb *confdb_new(cfs_status *status, GMainContext *ctx)
{
    confdb *c = g_new0(confdb, 1);
    c->status = status;
    c->ctx = g_main_context_ref(ctx);
    /* first attempt at once (an idle source), then every second until it works */
    c->retry = g_idle_source_new();
    g_source_set_callback(c->retry, retry_cb, c, NULL);
    g_source_attach(c->retry, ctx);
    return c;
}

void confdb_free(confdb *c)
{
    if (!c)
        return;
    disconnect(c);
    if (c->retry) {
        g_source_destroy(c->retry);
        g_source_unref(c->retry);
    }
    g_main_context_unref(c->ctx);
    g_free(c);
}
