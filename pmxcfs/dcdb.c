/*
 * dcdb: operations as CPG messages, applied in agreed order on every node.
 *
 * Delivery runs in the cluster service thread inside a dfsm burst, so all operations
 * of one dispatch share one SQLite transaction and local writers get their results
 * only after it committed (W26).  A message delivered while this node is not quorate
 * is not applied: the node answers EACCES and leaves the group to resync (spec §10.15).
 * The leader walks its own and each member's index in inode order (bounds-checked, W9)
 * and sends the union of differing entries.
 */
#include "pmxcfs/dcdb.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "pmxcfs/wire.h"

#define G_LOG_DOMAIN_DCDB "dcdb"
#define LOG_CRIT(...) g_log(G_LOG_DOMAIN_DCDB, G_LOG_LEVEL_CRITICAL, __VA_ARGS__)
#define LOG_WARN(...) g_log(G_LOG_DOMAIN_DCDB, G_LOG_LEVEL_WARNING, __VA_ARGS__)
#define LOG_NOTICE(...) g_log(G_LOG_DOMAIN_DCDB, G_LOG_LEVEL_MESSAGE, __VA_ARGS__)
#define LOG_DEBUG(...) g_log(G_LOG_DOMAIN_DCDB, G_LOG_LEVEL_DEBUG, __VA_ARGS__)

/* Bound on how long a local writer waits for its own message (W18). */
#define DCDB_SUBMIT_TIMEOUT_MS 60000
/* Cluster log priority of the entry for discarded local changes: syslog's LOG_WARNING
 * (<syslog.h> is not included: its LOG_* names clash with the macros above). */
#define DCDB_DISCARD_LOG_PRIORITY 4

struct dcdb {
    memdb *m;
    cfs_status *st;
    dcdb_hooks hooks;
    dfsm *dfsm;
    cfs_ops_cluster ops;
    /* true while applying an operation this process submitted for a FUSE request:
     * the kernel already knows its effect, so its caches need no invalidation */
    bool applying_own;
    /* synchronisation */
    GBytes *leader_index;
    GPtrArray *updates; /* memdb_update */
};

/* ---------------------------------------------------------------------------------- */
/* wire format */

int dcdb_encode_op(const cfs_op *op, uint8_t buf[DCDB_OP_HEADER], struct iovec iov[4])
{
    uint32_t pathlen = op->path ? (uint32_t)strlen(op->path) + 1 : 0;
    uint32_t tolen = op->to ? (uint32_t)strlen(op->to) + 1 : 0;
    uint32_t size = op->type == CFS_OP_WRITE ? op->size : 0;
    wire_put_u32(buf, size);
    wire_put_u32(buf + 4, op->offset);
    wire_put_u32(buf + 8, pathlen);
    wire_put_u32(buf + 12, tolen);
    wire_put_u32(buf + 16, op->type == CFS_OP_WRITE ? op->flags : 0);
    iov[0].iov_base = buf;
    iov[0].iov_len = DCDB_OP_HEADER;
    iov[1].iov_base = (void *)op->path;
    iov[1].iov_len = pathlen;
    iov[2].iov_base = (void *)op->to;
    iov[2].iov_len = tolen;
    iov[3].iov_base = (void *)op->data;
    iov[3].iov_len = size;
    return 4;
}

int dcdb_decode_op(uint16_t subtype, const void *payload, size_t len, cfs_op *ret_op)
{
    const uint8_t *p = payload;
    memset(ret_op, 0, sizeof(*ret_op));
    ret_op->type = (cfs_op_type)subtype;
    if (subtype == CFS_OP_UNLOCK_REQUEST || subtype == CFS_OP_UNLOCK) {
        /* 32-byte checksum + NUL-terminated path */
        if (len < 33 || p[len - 1] != '\0')
            return -EINVAL;
        memcpy(ret_op->checksum, p, 32);
        ret_op->path = (const char *)p + 32;
        return 0;
    }
    if (subtype < CFS_OP_WRITE || subtype > CFS_OP_MTIME || len < DCDB_OP_HEADER)
        return -EINVAL;
    uint64_t size = wire_get_u32(p);
    uint64_t pathlen = wire_get_u32(p + 8);
    uint64_t tolen = wire_get_u32(p + 12);
    if (DCDB_OP_HEADER + size + pathlen + tolen != len)
        return -EINVAL;
    const char *path = (const char *)p + DCDB_OP_HEADER;
    const char *to = path + pathlen;
    if ((pathlen && path[pathlen - 1] != '\0') || (tolen && to[tolen - 1] != '\0'))
        return -EINVAL;
    if (subtype != CFS_OP_WRITE && size != 0)
        return -EINVAL;
    if (subtype == CFS_OP_RENAME && !tolen)
        return -EINVAL;
    ret_op->size = (uint32_t)size;
    ret_op->offset = wire_get_u32(p + 4);
    ret_op->flags = wire_get_u32(p + 16);
    ret_op->path = pathlen ? path : "";
    ret_op->to = tolen ? to : NULL;
    ret_op->data = to + tolen;
    return 0;
}

GBytes *dcdb_encode_update(const memdb_attr *attr, const char *name, GBytes *data)
{
    uint32_t namelen = (uint32_t)strlen(name) + 1;
    gsize dlen = attr->type == CFS_TYPE_REG && data ? g_bytes_get_size(data) : 0;
    gsize total = DCDB_UPDATE_HEADER + namelen + dlen;
    uint8_t *buf = g_malloc(total);
    wire_put_u64(buf, attr->parent);
    wire_put_u64(buf + 8, attr->inode);
    wire_put_u64(buf + 16, attr->version);
    wire_put_u32(buf + 24, attr->writer);
    wire_put_u32(buf + 28, attr->mtime);
    wire_put_u32(buf + 32, (uint32_t)dlen);
    wire_put_u32(buf + 36, namelen);
    buf[40] = attr->type;
    memcpy(buf + DCDB_UPDATE_HEADER, name, namelen);
    if (dlen)
        memcpy(buf + DCDB_UPDATE_HEADER + namelen, g_bytes_get_data(data, NULL), dlen);
    return g_bytes_new_take(buf, total);
}

int dcdb_decode_update(const void *payload, size_t len, memdb_update **ret_update)
{
    const uint8_t *p = payload;
    if (len < DCDB_UPDATE_HEADER)
        return -EINVAL;
    uint64_t size = wire_get_u32(p + 32);
    uint64_t namelen = wire_get_u32(p + 36);
    uint8_t type = p[40];
    if ((type != CFS_TYPE_DIR && type != CFS_TYPE_REG) || namelen < 1 ||
        DCDB_UPDATE_HEADER + namelen + size != len ||
        p[DCDB_UPDATE_HEADER + namelen - 1] != '\0' || (type == CFS_TYPE_DIR && size != 0))
        return -EINVAL;
    memdb_update *u = g_new0(memdb_update, 1);
    u->attr.parent = wire_get_u64(p);
    u->attr.inode = wire_get_u64(p + 8);
    u->attr.version = wire_get_u64(p + 16);
    u->attr.writer = wire_get_u32(p + 24);
    u->attr.mtime = wire_get_u32(p + 28);
    u->attr.size = (uint32_t)size;
    u->attr.type = type;
    u->name = g_strndup((const char *)p + DCDB_UPDATE_HEADER, namelen - 1);
    if (size)
        u->data = g_bytes_new(p + DCDB_UPDATE_HEADER + namelen, size);
    *ret_update = u;
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* submission (FUSE threads) */

static int dcdb_submit(void *user_data, const cfs_op *op)
{
    dcdb *db = user_data;
    uint8_t hdr[DCDB_OP_HEADER];
    struct iovec iov[4];
    int n = dcdb_encode_op(op, hdr, iov);
    return dfsm_send_message_sync(db->dfsm, (uint16_t)op->type, iov, n,
                                  DCDB_SUBMIT_TIMEOUT_MS);
}

static void dcdb_send_unlock(dcdb *db, cfs_op_type type, const char *path,
                             const uint8_t checksum[32])
{
    struct iovec iov[2] = {
        {.iov_base = (void *)checksum, .iov_len = 32},
        {.iov_base = (void *)path, .iov_len = strlen(path) + 1},
    };
    int r = dfsm_send_message(db->dfsm, (uint16_t)type, iov, 2);
    if (r < 0)
        LOG_WARN("failed to send unlock message for '%s': %s, ignoring", path, g_strerror(-r));
}

static void dcdb_send_async(void *user_data, const cfs_op *op)
{
    dcdb *db = user_data;
    if (!cfs_status_is_quorate(db->st))
        return; /* unlock messages are silently not sent without quorum */
    dcdb_send_unlock(db, op->type, op->path, op->checksum);
}

/* ---------------------------------------------------------------------------------- */
/* delivery (service thread) */

static bool path_is(const char *path, const char *name)
{
    while (path && *path == '/')
        path++;
    return path && strcmp(path, name) == 0;
}

static int dcdb_deliver(void *user_data, uint32_t nodeid, uint32_t pid, uint16_t subtype,
                        uint32_t time, const void *payload, size_t len, int *ret_result)
{
    dcdb *db = user_data;
    cfs_op op;
    if (dcdb_decode_op(subtype, payload, len, &op) < 0) {
        LOG_CRIT("received a malformed or unknown message (subtype %u, %zu bytes) from %u/%u",
                 subtype, len, nodeid, pid);
        *ret_result = -EIO;
        return -1;
    }
    if (!cfs_status_is_quorate(db->st)) {
        LOG_CRIT("received write while not quorate - trigger resync");
        *ret_result = -EACCES;
        return -1;
    }
    bool local = dfsm_is_local(db->dfsm, nodeid, pid);

    if (op.type == CFS_OP_UNLOCK_REQUEST) {
        uint8_t csum[32];
        if (memdb_lock_checksum(db->m, op.path, csum) == 0 &&
            memcmp(csum, op.checksum, 32) == 0 &&
            dfsm_nodeid(db->dfsm) == dfsm_lowest_nodeid(db->dfsm) &&
            memdb_lock_expired(db->m, op.path, csum)) {
            LOG_NOTICE("lock '%s' expired - sending unlock", op.path);
            dcdb_send_unlock(db, CFS_OP_UNLOCK, op.path, csum);
        }
        *ret_result = 0;
        return 0;
    }

    db->applying_own = local && op.type != CFS_OP_UNLOCK;
    int r = cfs_op_apply(db->m, &op, nodeid, time);
    db->applying_own = false;
    *ret_result = r;
    if (r >= 0 && db->hooks.corosync_conf_changed &&
        (((op.type == CFS_OP_WRITE || op.type == CFS_OP_CREATE) &&
          path_is(op.path, "corosync.conf")) ||
         (op.type == CFS_OP_RENAME && path_is(op.to, "corosync.conf"))))
        db->hooks.corosync_conf_changed(db->hooks.user_data, local);
    return 0;
}

static GBytes *dcdb_get_state(void *user_data)
{
    dcdb *db = user_data;
    return memdb_encode_index(db->m);
}

static void dcdb_cleanup(void *user_data)
{
    dcdb *db = user_data;
    g_clear_pointer(&db->leader_index, g_bytes_unref);
    if (db->updates)
        g_ptr_array_set_size(db->updates, 0);
}

/* Mark (in @need) every leader entry whose (inode, digest) is missing from or
 * different in @member's index.  Both are sorted by inode; bounds-checked (W9). */
static void diff_index(const uint8_t *leader, uint32_t lcount, const uint8_t *member,
                       uint32_t mcount, bool *need)
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < lcount; i++) {
        const uint8_t *le = leader + 32 + (size_t)40 * i;
        uint64_t inode = wire_get_u64(le);
        while (j < mcount && wire_get_u64(member + 32 + (size_t)40 * j) < inode)
            j++;
        if (j < mcount && memcmp(member + 32 + (size_t)40 * j, le, 40) == 0)
            continue;
        need[i] = true;
    }
}

static int dcdb_send_updates(dcdb *db, dfsm *d, dfsm_member *members, guint count, guint leader)
{
    gsize llen;
    const uint8_t *li = g_bytes_get_data(members[leader].state, &llen);
    uint32_t lcount = wire_get_u32(li + 24);
    g_autofree bool *need = g_new0(bool, lcount);
    for (guint i = 0; i < count; i++) {
        if (members[i].synced)
            continue;
        gsize mlen;
        const uint8_t *mi = g_bytes_get_data(members[i].state, &mlen);
        diff_index(li, lcount, mi, wire_get_u32(mi + 24), need);
    }
    LOG_NOTICE("start sending inode updates");
    guint sent = 0;
    for (uint32_t i = 0; i < lcount; i++) {
        if (!need[i])
            continue;
        uint64_t inode = wire_get_u64(li + 32 + (size_t)40 * i);
        memdb_attr a;
        g_autofree char *name = NULL;
        g_autoptr(GBytes) data = NULL;
        if (memdb_entry_copy(db->m, inode, &a, &name, &data) < 0) {
            LOG_WARN("inode %" G_GUINT64_FORMAT " vanished before it could be sent, ignoring",
                     inode);
            continue;
        }
        g_autoptr(GBytes) msg = dcdb_encode_update(&a, name, data);
        gsize len;
        const void *p = g_bytes_get_data(msg, &len);
        struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
        int r = dfsm_send_update(d, &iov, 1);
        if (r < 0)
            LOG_WARN("failed to send update for inode %" G_GUINT64_FORMAT ": %s, ignoring",
                     inode, g_strerror(-r));
        else
            sent++;
    }
    LOG_NOTICE("sent all (%u) updates", sent);
    if (dfsm_send_update_complete(d) < 0) {
        LOG_CRIT("failed to send the update complete message");
        return -1;
    }
    return 0;
}

static int dcdb_process_state(void *user_data, dfsm *d, dfsm_member *members, guint count,
                              guint local)
{
    dcdb *db = user_data;
    for (guint i = 0; i < count; i++) {
        gsize len;
        const uint8_t *p = g_bytes_get_data(members[i].state, &len);
        if (len < 32 || wire_get_u32(p + 28) != len ||
            len != 32 + (gsize)40 * wire_get_u32(p + 24)) {
            LOG_CRIT("received a bad state from %u/%u (%zu bytes)", members[i].nodeid,
                     members[i].pid, (size_t)len);
            return -1;
        }
    }
    guint leader = 0;
    for (guint i = 1; i < count; i++) {
        const uint8_t *a = g_bytes_get_data(members[i].state, NULL);
        const uint8_t *b = g_bytes_get_data(members[leader].state, NULL);
        uint64_t va = wire_get_u64(a), vb = wire_get_u64(b);
        uint32_t ma = wire_get_u32(a + 20), mb = wire_get_u32(b + 20);
        if (va > vb || (va == vb && ma > mb))
            leader = i;
    }
    LOG_NOTICE("leader is %u/%u", members[leader].nodeid, members[leader].pid);
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < count; i++) {
        members[i].synced = i == leader || g_bytes_equal(members[i].state, members[leader].state);
        if (members[i].synced)
            g_string_append_printf(s, "%s%u/%u", s->len ? ", " : "", members[i].nodeid,
                                   members[i].pid);
    }
    LOG_NOTICE("synced members: %s", s->str);
    g_string_free(s, TRUE);

    if (!members[local].synced) {
        g_clear_pointer(&db->leader_index, g_bytes_unref);
        db->leader_index = g_bytes_ref(members[leader].state);
        g_ptr_array_set_size(db->updates, 0);
    }
    if (local == leader) {
        bool any = false;
        for (guint i = 0; i < count; i++)
            any |= !members[i].synced;
        if (any)
            return dcdb_send_updates(db, d, members, count, leader);
    }
    return 0;
}

static int dcdb_process_update(void *user_data, uint32_t nodeid, uint32_t pid,
                               const void *payload, size_t len)
{
    dcdb *db = user_data;
    memdb_update *u = NULL;
    if (dcdb_decode_update(payload, len, &u) < 0) {
        LOG_CRIT("received a malformed update from %u/%u", nodeid, pid);
        return -1;
    }
    g_ptr_array_add(db->updates, u); /* constant-time append (W3) */
    return 0;
}

/* W22: dcdb_commit()'s log line stays on this node; the cluster log entry reaches every
 * node and the GUI, so administrators notice that the leader's state won. */
static void log_discarded_changes(dcdb *db, const memdb_sync_stats *stats)
{
    g_autofree char *msg = g_strdup_printf(
        "resync from the leader discarded local changes (removed %u and replaced %u entries)",
        stats->removed, stats->overwritten);
    int r = cfs_status_log(db->st, DCDB_DISCARD_LOG_PRIORITY, "root", "cluster", (uint32_t)getpid(),
                           msg);
    if (r < 0)
        LOG_WARN("unable to add the resync entry to the cluster log: %s, ignoring", g_strerror(-r));
}

static int dcdb_commit(void *user_data)
{
    dcdb *db = user_data;
    if (!db->leader_index) {
        LOG_CRIT("update complete without a leader state");
        return -1;
    }
    LOG_NOTICE("update complete - trying to commit (got %u inode updates)", db->updates->len);
    memdb_sync_stats stats = {0};
    g_autoptr(GError) err = NULL;
    if (memdb_sync_commit(db->m, db->leader_index, db->updates, &stats, &err) < 0) {
        LOG_CRIT("%s", err->message);
        return -1;
    }
    g_log(G_LOG_DOMAIN_DCDB, G_LOG_LEVEL_MESSAGE,
          "committed %u updates (tree %.0f ms, database %.0f ms)", db->updates->len,
          stats.build_ms, stats.database_ms);
    if (stats.removed || stats.overwritten)
        g_log(G_LOG_DOMAIN_DCDB,
              stats.local_changes_lost ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_MESSAGE,
              "resync removed %u and replaced %u local entries, added %u%s", stats.removed,
              stats.overwritten, stats.added,
              stats.local_changes_lost ? " - local changes were discarded" : "");
    if (stats.local_changes_lost)
        log_discarded_changes(db, &stats);
    if (db->hooks.corosync_conf_changed)
        db->hooks.corosync_conf_changed(db->hooks.user_data, false);
    return 0;
}

static void dcdb_checksum(void *user_data, uint8_t ret[32])
{
    dcdb *db = user_data;
    memdb_compute_checksum(db->m, ret);
}

static void dcdb_burst_begin(void *user_data)
{
    dcdb *db = user_data;
    memdb_batch_begin(db->m);
}

static int dcdb_burst_end(void *user_data)
{
    dcdb *db = user_data;
    return memdb_batch_commit(db->m);
}

dcdb *dcdb_new(memdb *m, cfs_status *st, const dcdb_hooks *hooks)
{
    dcdb *db = g_new0(dcdb, 1);
    db->m = m;
    db->st = st;
    if (hooks)
        db->hooks = *hooks;
    db->updates = g_ptr_array_new_with_free_func((GDestroyNotify)memdb_update_free);
    dfsm_callbacks cb = {
        .deliver = dcdb_deliver,
        .get_state = dcdb_get_state,
        .process_state = dcdb_process_state,
        .process_update = dcdb_process_update,
        .commit = dcdb_commit,
        .cleanup = dcdb_cleanup,
        .checksum = dcdb_checksum,
        .burst_begin = dcdb_burst_begin,
        .burst_end = dcdb_burst_end,
    };
    db->dfsm = dfsm_new(DCDB_GROUP_NAME, DCDB_PROTOCOL_VERSION, G_LOG_DOMAIN_DCDB, &cb, db);
    db->ops.submit = dcdb_submit;
    db->ops.send_async = dcdb_send_async;
    db->ops.user_data = db;
    return db;
}

void dcdb_free(dcdb *db)
{
    if (!db)
        return;
    dfsm_free(db->dfsm);
    dcdb_cleanup(db);
    g_ptr_array_free(db->updates, TRUE);
    g_free(db);
}

dfsm *dcdb_get_dfsm(dcdb *db)
{
    return db->dfsm;
}

const cfs_ops_cluster *dcdb_ops_cluster(dcdb *db)
{
    return &db->ops;
}

bool dcdb_applying_own(dcdb *db)
{
    return db->applying_own;
}
