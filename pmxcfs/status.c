/*
 * status: RAM-only daemon status, the kvstore application and the JSON virtual files.
 *
 * The observed-file table is a fixed array in the reference's order (it is the order
 * of `.version`); counters live next to it.  One mutex (`lock`) guards all state; the
 * cluster log, key/value and RRD tables are plain data structures (clog.c,
 * kvstore.c) used only under it.  Messages to broadcast are built under the lock and
 * sent after it is released, so a slow transport never blocks readers.
 *
 * The JSON layouts are byte-exact copies of the reference formats (spec §2.3-2.6),
 * which Perl clients parse; entry order inside objects is ours to choose (sorted, so
 * output is deterministic).  `.version`, `.members` and `.vmlist` are cached: each has
 * a generation counter (or the VM-list version) that every change of its inputs
 * increments, and the text is rebuilt only when the counter moved (W24); so is
 * `.clusterlog`.
 */
#include "pmxcfs/status.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pmxcfs/clog.h"
#include "pmxcfs/kvstore.h"

#define G_LOG_DOMAIN_STATUS "status"

/* The 43 observed paths, in the order `.version` prints them (spec §2.2). */
static const char *const observed_paths[] = {
    "corosync.conf",
    "corosync.conf.new",
    "storage.cfg",
    "user.cfg",
    "domains.cfg",
    "notifications.cfg",
    "priv/notifications.cfg",
    "priv/shadow.cfg",
    "priv/acme/plugins.cfg",
    "priv/tfa.cfg",
    "priv/token.cfg",
    "priv/wg-keys.cfg",
    "datacenter.cfg",
    "vzdump.cron",
    "vzdump.conf",
    "jobs.cfg",
    "ha/crm_commands",
    "ha/manager_status",
    "ha/resources.cfg",
    "ha/rules.cfg",
    "ha/groups.cfg",
    "ha/fence.cfg",
    "status.cfg",
    "replication.cfg",
    "ceph.conf",
    "sdn/vnets.cfg",
    "sdn/zones.cfg",
    "sdn/controllers.cfg",
    "sdn/subnets.cfg",
    "sdn/ipams.cfg",
    "sdn/mac-cache.json",
    "sdn/pve-ipam-state.json",
    "sdn/dns.cfg",
    "sdn/fabrics.cfg",
    "sdn/route-maps.cfg",
    "sdn/prefix-lists.cfg",
    "sdn/.running-config",
    "virtual-guest/cpu-models.conf",
    "virtual-guest/profiles.cfg",
    "firewall/cluster.fw",
    "mapping/directory.cfg",
    "mapping/pci.cfg",
    "mapping/usb.cfg",
};
#define OBSERVED_COUNT G_N_ELEMENTS(observed_paths)

/* One configured node (spec §11.3). */
typedef struct status_node {
    char *name;
    uint32_t id;
    uint32_t votes;
    bool online;
    kvstore_table *kv; /* created on the first UPDATE from that node */
} status_node;

/* A cached virtual file (NULL until built) and the generations it was built from. */
typedef struct cached_text {
    GBytes *text;
    uint64_t gen;
    uint64_t gen2; /* .version: the VM-list version; 0 for the others */
} cached_text;

struct cfs_status {
    GMutex lock;
    char *nodename;
    uint32_t starttime;
    bool quorate;
    uint64_t clinfo_version;
    uint32_t observed[OBSERVED_COUNT];
    GHashTable *observed_index; /* path -> index + 1 (immutable after creation) */
    memdb *memdb;

    char *local_address; /* resolved at start-up */
    bool have_clinfo;
    char *cluster_name;
    uint64_t config_version;
    GHashTable *nodes; /* node id -> status_node */
    GHashTable *ips;   /* node name -> address (`nodeip`) */

    kvstore_table *kv_local;
    kvstore_rrd *rrd;
    clog *log;

    cfs_status_transport transport; /* .send is NULL without a transport */

    uint64_t version_gen; /* inputs of .version except the VM-list version */
    uint64_t members_gen; /* inputs of .members */
    uint64_t log_gen;     /* every change of the cluster log ring */
    cached_text version_cache;
    cached_text members_cache;
    cached_text log_cache; /* .clusterlog */
    GMutex vmlist_lock;    /* guards vmlist_cache only (generation reads memdb) */
    cached_text vmlist_cache;
};

/* A message built under the lock, sent after it. */
typedef struct pending_msg {
    uint16_t subtype;
    GBytes *payload;
} pending_msg;

static void pending_msg_clear(gpointer p)
{
    g_bytes_unref(((pending_msg *)p)->payload);
}

static GArray *pending_new(void)
{
    GArray *a = g_array_new(FALSE, FALSE, sizeof(pending_msg));
    g_array_set_clear_func(a, pending_msg_clear);
    return a;
}

static void pending_add(GArray *pending, uint16_t subtype, GBytes *payload)
{
    pending_msg m = {.subtype = subtype, .payload = payload};
    g_array_append_val(pending, m);
}

static void status_node_free(gpointer p)
{
    status_node *n = p;
    g_free(n->name);
    kvstore_table_free(n->kv);
    g_free(n);
}

static void cached_text_clear(cached_text *c)
{
    g_clear_pointer(&c->text, g_bytes_unref);
}

static bool cached_text_fresh(const cached_text *c, uint64_t gen, uint64_t gen2)
{
    return c->text && c->gen == gen && c->gen2 == gen2;
}

/* Replace the cached text by @text (taken). */
static void cached_text_set(cached_text *c, GBytes *text, uint64_t gen, uint64_t gen2)
{
    cached_text_clear(c);
    *c = (cached_text){.text = text, .gen = gen, .gen2 = gen2};
}

static uint64_t now_monotonic(void)
{
    return (uint64_t)g_get_monotonic_time();
}

cfs_status *cfs_status_new(const char *nodename, memdb *m)
{
    cfs_status *st = g_new0(cfs_status, 1);
    g_mutex_init(&st->lock);
    g_mutex_init(&st->vmlist_lock);
    st->nodename = g_strdup(nodename);
    st->starttime = (uint32_t)time(NULL);
    st->memdb = m;
    st->observed_index = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < OBSERVED_COUNT; i++)
        g_hash_table_insert(st->observed_index, (gpointer)observed_paths[i],
                            GUINT_TO_POINTER(i + 1));
    st->nodes = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, status_node_free);
    st->ips = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    st->kv_local = kvstore_table_new();
    st->rrd = kvstore_rrd_new();
    st->log = clog_new(CFS_CLOG_RING_SIZE);
    clog_add(st->log, st->starttime, (uint32_t)getpid(), 6, nodename, "root", "cluster",
             "starting cluster log", NULL);
    return st;
}

void cfs_status_free(cfs_status *st)
{
    if (!st)
        return;
    cached_text_clear(&st->version_cache);
    cached_text_clear(&st->members_cache);
    cached_text_clear(&st->log_cache);
    cached_text_clear(&st->vmlist_cache);
    clog_free(st->log);
    kvstore_rrd_free(st->rrd);
    kvstore_table_free(st->kv_local);
    g_hash_table_destroy(st->ips);
    g_hash_table_destroy(st->nodes);
    g_hash_table_destroy(st->observed_index);
    g_free(st->cluster_name);
    g_free(st->local_address);
    g_free(st->nodename);
    g_mutex_clear(&st->vmlist_lock);
    g_mutex_clear(&st->lock);
    g_free(st);
}

const char *cfs_status_nodename(cfs_status *st)
{
    return st->nodename;
}

void cfs_status_set_quorate(cfs_status *st, bool quorate)
{
    g_mutex_lock(&st->lock);
    if (st->quorate != quorate) {
        st->quorate = quorate;
        st->members_gen++;
    }
    g_mutex_unlock(&st->lock);
}

bool cfs_status_is_quorate(cfs_status *st)
{
    g_mutex_lock(&st->lock);
    bool q = st->quorate;
    g_mutex_unlock(&st->lock);
    return q;
}

void cfs_status_path_changed(cfs_status *st, const char *path)
{
    guint idx = GPOINTER_TO_UINT(g_hash_table_lookup(st->observed_index, path));
    if (!idx)
        return;
    g_mutex_lock(&st->lock);
    st->observed[idx - 1]++;
    st->version_gen++;
    g_mutex_unlock(&st->lock);
}

void cfs_status_bump_all(cfs_status *st)
{
    g_mutex_lock(&st->lock);
    for (guint i = 0; i < OBSERVED_COUNT; i++)
        st->observed[i]++;
    st->version_gen++;
    g_mutex_unlock(&st->lock);
}

uint32_t cfs_status_path_version(cfs_status *st, const char *path)
{
    guint idx = GPOINTER_TO_UINT(g_hash_table_lookup(st->observed_index, path));
    if (!idx)
        return 0;
    g_mutex_lock(&st->lock);
    uint32_t v = st->observed[idx - 1];
    g_mutex_unlock(&st->lock);
    return v;
}

/* ---------------------------------------------------------------------------------- */
/* cluster information */

/* The cluster-info version changed (it is part of `.version` and `.members`). */
static void clinfo_changed(cfs_status *st)
{
    st->clinfo_version++;
    st->version_gen++;
    st->members_gen++;
}

void cfs_status_set_local_address(cfs_status *st, const char *address)
{
    g_mutex_lock(&st->lock);
    g_free(st->local_address);
    st->local_address = g_strdup(address);
    g_mutex_unlock(&st->lock);
}

void cfs_status_set_cluster_info(cfs_status *st, const char *cluster_name, uint64_t config_version,
                                 const cfs_status_node *nodes, size_t n_nodes)
{
    GHashTable *fresh =
        g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, status_node_free);
    g_mutex_lock(&st->lock);
    for (size_t i = 0; i < n_nodes; i++) {
        const cfs_status_node *in = &nodes[i];
        gpointer key = GUINT_TO_POINTER(in->nodeid);
        if (!in->name || !*in->name || in->nodeid == 0 || g_hash_table_contains(fresh, key))
            continue;
        status_node *n = g_new0(status_node, 1);
        n->name = g_strdup(in->name);
        n->id = in->nodeid;
        n->votes = in->votes;
        status_node *old = g_hash_table_lookup(st->nodes, key);
        if (old) {
            n->online = old->online;
            n->kv = g_steal_pointer(&old->kv);
        }
        g_hash_table_insert(fresh, key, n);
    }
    g_hash_table_destroy(st->nodes);
    st->nodes = fresh;
    g_free(st->cluster_name);
    st->cluster_name = g_strdup(cluster_name ? cluster_name : "");
    st->config_version = config_version;
    st->have_clinfo = true;
    clinfo_changed(st);
    g_mutex_unlock(&st->lock);
}

void cfs_status_clear_cluster_info(cfs_status *st)
{
    g_mutex_lock(&st->lock);
    g_hash_table_remove_all(st->nodes);
    g_clear_pointer(&st->cluster_name, g_free);
    st->config_version = 0;
    st->have_clinfo = false;
    clinfo_changed(st);
    g_mutex_unlock(&st->lock);
}

uint64_t cfs_status_clinfo_version(cfs_status *st)
{
    g_mutex_lock(&st->lock);
    uint64_t v = st->clinfo_version;
    g_mutex_unlock(&st->lock);
    return v;
}

void cfs_status_set_members(cfs_status *st, const uint32_t *nodeids, size_t n)
{
    g_mutex_lock(&st->lock);
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, st->nodes);
    while (g_hash_table_iter_next(&it, NULL, &value))
        ((status_node *)value)->online = false;
    for (size_t i = 0; i < n; i++) {
        status_node *node = g_hash_table_lookup(st->nodes, GUINT_TO_POINTER(nodeids[i]));
        if (node)
            node->online = true;
    }
    clinfo_changed(st);
    g_mutex_unlock(&st->lock);
}

int cfs_status_set_online(cfs_status *st, uint32_t nodeid, bool online)
{
    int r = -ENOENT;
    g_mutex_lock(&st->lock);
    status_node *node = g_hash_table_lookup(st->nodes, GUINT_TO_POINTER(nodeid));
    if (node) {
        if (node->online != online) {
            node->online = online;
            clinfo_changed(st);
        }
        r = 0;
    }
    g_mutex_unlock(&st->lock);
    return r;
}

static status_node *node_by_name(cfs_status *st, const char *name)
{
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, st->nodes);
    while (g_hash_table_iter_next(&it, NULL, &value))
        if (strcmp(((status_node *)value)->name, name) == 0)
            return value;
    return NULL;
}

/* ---------------------------------------------------------------------------------- */
/* key/value store */

static bool is_nodeip_value(const void *value, size_t len)
{
    return len > 0 && len < CFS_MAX_NODEIP_LEN && ((const char *)value)[len - 1] == '\0';
}

/* Store the address of @name; true if it changed. */
static bool ip_set(cfs_status *st, const char *name, const char *address)
{
    const char *old = g_hash_table_lookup(st->ips, name);
    if (old && strcmp(old, address) == 0)
        return false;
    g_hash_table_replace(st->ips, g_strdup(name), g_strdup(address));
    return true;
}

/*
 * Route one key/value pair into the tables of node @name (spec §11.1): `rrd/...` to the
 * RRD table, `nodeip` to the node's address, anything else to @kv.  Invalid RRD and
 * `nodeip` values are ignored, like the reference.
 */
static void route_update(cfs_status *st, const char *name, kvstore_table **kv, const char *key,
                         const void *value, size_t len)
{
    if (g_str_has_prefix(key, "rrd/")) {
        kvstore_rrd_set(st->rrd, key + 4, value, len, (int64_t)now_monotonic());
    } else if (strcmp(key, "nodeip") == 0) {
        if (is_nodeip_value(value, len) && ip_set(st, name, value))
            clinfo_changed(st);
    } else {
        if (!*kv)
            *kv = kvstore_table_new(); /* a node's table is created on first use */
        kvstore_table_set(*kv, key, value, len);
        st->version_gen++;
    }
}

/* Queue a kvstore UPDATE for broadcasting, if there is a transport. */
static void queue_update(cfs_status *st, GArray *pending, const char *key, const void *value,
                         size_t len)
{
    GBytes *payload = NULL;
    if (st->transport.send && kvstore_update_encode(key, value, len, &payload) == 0)
        pending_add(pending, CFS_KVSTORE_MSG_UPDATE, payload);
}

/* Send the queued messages; call without the lock. */
static void pending_send(cfs_status *st, GArray *pending)
{
    if (!pending->len)
        return;
    g_mutex_lock(&st->lock);
    cfs_status_transport t = st->transport;
    g_mutex_unlock(&st->lock);
    if (!t.send)
        return;
    for (guint i = 0; i < pending->len; i++) {
        pending_msg *m = &g_array_index(pending, pending_msg, i);
        gsize len;
        const void *data = g_bytes_get_data(m->payload, &len);
        int r = t.send(t.user_data, m->subtype, data, len);
        if (r < 0)
            g_log(G_LOG_DOMAIN_STATUS, G_LOG_LEVEL_DEBUG,
                  "unable to send kvstore message (subtype %u): %s", m->subtype, g_strerror(-r));
    }
}

int cfs_status_set(cfs_status *st, const char *key, const void *value, size_t len)
{
    if (len > CFS_MAX_STATUS_VALUE)
        return -EFBIG;
    if (!key[0])
        return -EINVAL;
    if (strlen(key) >= CFS_STATUS_KEY_LEN)
        return -ENAMETOOLONG;
    g_autoptr(GArray) pending = pending_new();
    g_mutex_lock(&st->lock);
    route_update(st, st->nodename, &st->kv_local, key, value, len);
    queue_update(st, pending, key, value, len);
    g_mutex_unlock(&st->lock);
    pending_send(st, pending);
    return 0;
}

int cfs_status_get(cfs_status *st, const char *nodename, const char *key, GBytes **ret_value)
{
    int r = -ENOENT;
    g_mutex_lock(&st->lock);
    kvstore_table *kv = NULL;
    if (!nodename || !*nodename || strcmp(nodename, st->nodename) == 0) {
        kv = st->kv_local;
    } else {
        status_node *node = node_by_name(st, nodename);
        kv = node ? node->kv : NULL;
    }
    if (kv)
        r = kvstore_table_get(kv, key, ret_value);
    g_mutex_unlock(&st->lock);
    return r;
}

/* ---------------------------------------------------------------------------------- */
/* cluster log */

int cfs_status_log(cfs_status *st, uint8_t priority, const char *ident, const char *tag,
                   uint32_t pid, const char *msg)
{
    g_autoptr(GArray) pending = pending_new();
    GBytes *entry = NULL;
    g_mutex_lock(&st->lock);
    int r = clog_add(st->log, (uint32_t)time(NULL), pid, priority, st->nodename, ident, tag, msg,
                     &entry);
    if (r == 0)
        st->log_gen++;
    if (r == 0 && st->transport.send)
        pending_add(pending, CFS_KVSTORE_MSG_LOG, entry);
    else if (r == 0)
        g_bytes_unref(entry);
    g_mutex_unlock(&st->lock);
    pending_send(st, pending);
    return r;
}

GBytes *cfs_status_clusterlog_json(cfs_status *st, const char *user, uint32_t max)
{
    GString *s = g_string_sized_new(4096);
    g_mutex_lock(&st->lock);
    clog_dump_json(st->log, s, user, max);
    g_mutex_unlock(&st->lock);
    return g_string_free_to_bytes(s);
}

/* ---------------------------------------------------------------------------------- */
/* kvstore group application */

void cfs_status_set_transport(cfs_status *st, const cfs_status_transport *transport)
{
    g_mutex_lock(&st->lock);
    st->transport = transport && transport->send ? *transport : (cfs_status_transport){0};
    g_mutex_unlock(&st->lock);
}

static void deliver_update(cfs_status *st, uint32_t nodeid, const void *payload, size_t len)
{
    const char *key;
    const void *value;
    size_t vlen;
    if (kvstore_update_decode(payload, len, &key, &value, &vlen) < 0) {
        g_log(G_LOG_DOMAIN_STATUS, G_LOG_LEVEL_WARNING,
              "received short or unterminated kvstore update from node %u, ignoring", nodeid);
        return;
    }
    g_mutex_lock(&st->lock);
    status_node *node = g_hash_table_lookup(st->nodes, GUINT_TO_POINTER(nodeid));
    if (node)
        route_update(st, node->name, &node->kv, key, value, vlen);
    g_mutex_unlock(&st->lock);
    if (!node)
        g_log(G_LOG_DOMAIN_STATUS, G_LOG_LEVEL_DEBUG,
              "received kvstore update from unknown node %u, ignoring", nodeid);
}

static void deliver_log(cfs_status *st, uint32_t nodeid, const void *payload, size_t len)
{
    g_mutex_lock(&st->lock);
    int r = clog_insert(st->log, payload, len);
    if (r == 0)
        st->log_gen++;
    g_mutex_unlock(&st->lock);
    if (r == -EINVAL)
        g_log(G_LOG_DOMAIN_STATUS, G_LOG_LEVEL_WARNING,
              "received invalid cluster log entry from node %u, ignoring", nodeid);
    else if (r == -EEXIST)
        g_log(G_LOG_DOMAIN_STATUS, G_LOG_LEVEL_DEBUG, "ignore insert of duplicate cluster log");
}

int cfs_status_deliver(cfs_status *st, uint32_t nodeid, bool from_self, uint16_t subtype,
                       const void *payload, size_t len)
{
    if (from_self)
        return 0;
    switch (subtype) {
    case CFS_KVSTORE_MSG_UPDATE:
        deliver_update(st, nodeid, payload, len);
        break;
    case CFS_KVSTORE_MSG_LOG:
        deliver_log(st, nodeid, payload, len);
        break;
    default:
        g_log(G_LOG_DOMAIN_STATUS, G_LOG_LEVEL_WARNING,
              "received unknown kvstore message type %u from node %u, ignoring", subtype, nodeid);
        break;
    }
    return 0;
}

GBytes *cfs_status_get_state(cfs_status *st)
{
    g_mutex_lock(&st->lock);
    GBytes *state = clog_state_get(st->log);
    st->log_gen++; /* rewritten in sorted order */
    g_mutex_unlock(&st->lock);
    return state;
}

typedef struct rebroadcast_ctx {
    cfs_status *st;
    GArray *pending;
} rebroadcast_ctx;

static void rebroadcast_one(const char *key, GBytes *value, void *user_data)
{
    rebroadcast_ctx *ctx = user_data;
    gsize len;
    const void *data = g_bytes_get_data(value, &len);
    queue_update(ctx->st, ctx->pending, key, data, len);
}

void cfs_status_process_states(cfs_status *st, GBytes *const *states, size_t n, size_t local_index)
{
    g_autoptr(GArray) pending = pending_new();
    g_mutex_lock(&st->lock);
    if (local_index < n)
        clog_merge(st->log, states, n, local_index);
    st->log_gen++;
    rebroadcast_ctx ctx = {.st = st, .pending = pending};
    kvstore_table_foreach(st->kv_local, rebroadcast_one, &ctx);
    g_mutex_unlock(&st->lock);
    pending_send(st, pending);
}

void cfs_status_synced(cfs_status *st)
{
    g_autoptr(GArray) pending = pending_new();
    g_mutex_lock(&st->lock);
    const char *stored = g_hash_table_lookup(st->ips, st->nodename);
    g_autofree char *ip = g_strdup(stored ? stored : st->local_address);
    if (ip) {
        /* like a local SET_STATUS: our own .members shows the address too */
        route_update(st, st->nodename, &st->kv_local, "nodeip", ip, strlen(ip) + 1);
        queue_update(st, pending, "nodeip", ip, strlen(ip) + 1);
    }
    g_mutex_unlock(&st->lock);
    pending_send(st, pending);
}

/* ---------------------------------------------------------------------------------- */
/* virtual files */

static void append_json_string(GString *s, const char *str)
{
    g_string_append_c(s, '"');
    clog_json_escape(s, str);
    g_string_append_c(s, '"');
}

static gint node_cmp_id(gconstpointer a, gconstpointer b)
{
    uint32_t x = (*(status_node *const *)a)->id, y = (*(status_node *const *)b)->id;
    return x < y ? -1 : x > y;
}

/* The configured nodes sorted by node id (pointers owned by st->nodes). */
static GPtrArray *nodes_sorted(cfs_status *st)
{
    GPtrArray *arr = g_ptr_array_sized_new(g_hash_table_size(st->nodes));
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, st->nodes);
    while (g_hash_table_iter_next(&it, NULL, &value))
        g_ptr_array_add(arr, value);
    g_ptr_array_sort(arr, node_cmp_id);
    return arr;
}

static GBytes *generate_version(cfs_status *st, uint64_t vmlist_version)
{
    GString *s = g_string_sized_new(2048);
    g_string_append_printf(s,
                           "{\n\"starttime\": %u,\n\"clinfo\": %" G_GUINT64_FORMAT
                           ",\n\"vmlist\": %" G_GUINT64_FORMAT ",\n",
                           st->starttime, st->clinfo_version, vmlist_version);
    for (guint i = 0; i < OBSERVED_COUNT; i++)
        g_string_append_printf(s, "\"%s\": %u,\n", observed_paths[i], st->observed[i]);
    g_string_append(s, "\"kvstore\": {\n");
    append_json_string(s, st->nodename);
    g_string_append(s, ": {\n");
    kvstore_table_append_versions(st->kv_local, s);
    g_string_append_c(s, '}');
    g_autoptr(GPtrArray) nodes = nodes_sorted(st);
    for (guint i = 0; i < nodes->len; i++) {
        status_node *n = nodes->pdata[i];
        if (!n->kv || strcmp(n->name, st->nodename) == 0)
            continue;
        g_string_append(s, "\n,\n");
        append_json_string(s, n->name);
        g_string_append(s, ": {\n");
        kvstore_table_append_versions(n->kv, s);
        g_string_append_c(s, '}');
    }
    g_string_append(s, "\n}\n}\n");
    return g_string_free_to_bytes(s);
}

GBytes *cfs_status_version_json(cfs_status *st)
{
    uint64_t vmlist_version = memdb_vmlist_version(st->memdb);
    g_mutex_lock(&st->lock);
    cached_text *c = &st->version_cache;
    if (!cached_text_fresh(c, st->version_gen, vmlist_version))
        cached_text_set(c, generate_version(st, vmlist_version), st->version_gen, vmlist_version);
    GBytes *r = g_bytes_ref(c->text);
    g_mutex_unlock(&st->lock);
    return r;
}

static GBytes *generate_members(cfs_status *st)
{
    GString *s = g_string_sized_new(512);
    g_string_append(s, "{\n\"nodename\": ");
    append_json_string(s, st->nodename);
    g_string_append_printf(s, ",\n\"version\": %" G_GUINT64_FORMAT, st->clinfo_version);
    if (st->have_clinfo) {
        g_string_append(s, ",\n\"cluster\": { \"name\": ");
        append_json_string(s, st->cluster_name);
        g_string_append_printf(s,
                               ", \"version\": %" G_GUINT64_FORMAT
                               ", \"nodes\": %u, \"quorate\": %d },\n\"nodelist\": {\n",
                               st->config_version, g_hash_table_size(st->nodes),
                               st->quorate ? 1 : 0);
        g_autoptr(GPtrArray) nodes = nodes_sorted(st);
        for (guint i = 0; i < nodes->len; i++) {
            status_node *n = nodes->pdata[i];
            if (i)
                g_string_append(s, ",\n");
            g_string_append(s, "  ");
            append_json_string(s, n->name);
            g_string_append_printf(s, ": { \"id\": %u, \"online\": %d", n->id, n->online ? 1 : 0);
            const char *ip = g_hash_table_lookup(st->ips, n->name);
            if (ip) {
                g_string_append(s, ", \"ip\": ");
                append_json_string(s, ip);
            }
            g_string_append_c(s, '}');
        }
        g_string_append(s, "\n  }");
    }
    g_string_append(s, "\n}\n");
    return g_string_free_to_bytes(s);
}

GBytes *cfs_status_members_json(cfs_status *st)
{
    g_mutex_lock(&st->lock);
    cached_text *c = &st->members_cache;
    if (!cached_text_fresh(c, st->members_gen, 0))
        cached_text_set(c, generate_members(st), st->members_gen, 0);
    GBytes *r = g_bytes_ref(c->text);
    g_mutex_unlock(&st->lock);
    return r;
}

static gint vm_cmp_decimal(gconstpointer a, gconstpointer b)
{
    char x[16], y[16];
    g_snprintf(x, sizeof(x), "%u", ((const memdb_vm *)a)->vmid);
    g_snprintf(y, sizeof(y), "%u", ((const memdb_vm *)b)->vmid);
    return strcmp(x, y);
}

static GBytes *generate_vmlist(GArray *vms, uint64_t version)
{
    GString *s = g_string_sized_new(64 + (gsize)vms->len * 64);
    g_string_append_printf(s, "{\n\"version\": %" G_GUINT64_FORMAT, version);
    if (vms->len) {
        /* sorted as strings, like the reference's output ("100" < "99") */
        g_array_sort(vms, vm_cmp_decimal);
        g_string_append(s, ",\n\"ids\": {\n");
        for (guint i = 0; i < vms->len; i++) {
            memdb_vm *vm = &g_array_index(vms, memdb_vm, i);
            g_string_append_printf(s, "%s\"%u\": { \"node\": ", i ? ",\n" : "", vm->vmid);
            append_json_string(s, vm->node);
            g_string_append_printf(s, ", \"type\": \"%s\", \"version\": %" G_GUINT64_FORMAT " }",
                                   memdb_vm_type_name(vm->type), vm->version);
        }
        g_string_append(s, "}");
    }
    g_string_append(s, "\n\n}\n");
    return g_string_free_to_bytes(s);
}

GBytes *cfs_status_vmlist_json(cfs_status *st)
{
    g_mutex_lock(&st->vmlist_lock);
    cached_text *c = &st->vmlist_cache;
    if (!cached_text_fresh(c, memdb_vmlist_version(st->memdb), 0)) {
        uint64_t version = 0;
        g_autoptr(GArray) vms = memdb_vmlist_snapshot(st->memdb, &version);
        cached_text_set(c, generate_vmlist(vms, version), version, 0);
    }
    GBytes *r = g_bytes_ref(c->text);
    g_mutex_unlock(&st->vmlist_lock);
    return r;
}

GBytes *cfs_status_clusterlog_file(cfs_status *st)
{
    g_mutex_lock(&st->lock);
    cached_text *c = &st->log_cache;
    if (!cached_text_fresh(c, st->log_gen, 0)) {
        GString *s = g_string_sized_new(8192);
        clog_dump_json(st->log, s, NULL, CFS_CLOG_DEFAULT_DUMP);
        cached_text_set(c, g_string_free_to_bytes(s), st->log_gen, 0);
    }
    GBytes *r = g_bytes_ref(c->text);
    g_mutex_unlock(&st->lock);
    return r;
}

GBytes *cfs_status_rrd_dump(cfs_status *st)
{
    g_mutex_lock(&st->lock);
    GBytes *r = kvstore_rrd_dump(st->rrd, (int64_t)now_monotonic());
    g_mutex_unlock(&st->lock);
    return r;
}
