/*
 * memdb-sync: the replication state of memdb: per-entry digests, the encoded index
 * (spec §8.2), the whole-tree checksum (§8.3), full entry copies for UPDATE messages,
 * and the commit of a resync (§9.6), which builds the leader's tree in RAM from the old
 * tree and the received entries, verifies its index and persists it in one transaction.
 */
#include "pmxcfs/memdb-private.h"

#include <errno.h>
#include <string.h>

/* ---------------------------------------------------------------------------------- */
/* digests */

/* Feed the per-entry digest input (spec §8.2), optionally preceded by the inode. */
static void mdb_digest_feed(sha256_ctx *ck, const memdb_attr *a, const char *name, const void *data,
                            bool with_inode)
{
    uint8_t fixed[8 + 29];
    uint8_t *p = fixed;
    if (with_inode) {
        wire_put_u64(p, a->inode);
        p += 8;
    }
    uint32_t size = a->type == CFS_TYPE_DIR ? 0 : a->size;
    wire_put_u64(p, a->version);
    wire_put_u32(p + 8, a->writer);
    wire_put_u32(p + 12, a->mtime);
    wire_put_u32(p + 16, size);
    p[20] = a->type;
    wire_put_u64(p + 21, a->parent);
    p += 29;
    sha256_update(ck, fixed, (size_t)(p - fixed));
    sha256_update(ck, name, strlen(name));
    if (a->type == CFS_TYPE_REG && size > 0)
        sha256_update(ck, data, size);
}

void memdb_entry_digest(const memdb_attr *attr, const char *name, const void *data,
                        uint8_t ret_digest[32])
{
    sha256_ctx *ck = sha256_new();
    mdb_digest_feed(ck, attr, name, data, false);
    sha256_final(ck, ret_digest);
    sha256_free(ck);
}

void mdb_entry_checksum(const memdb_entry *e, uint8_t ret[32])
{
    memdb_attr a;
    mdb_entry_attr(e, &a);
    sha256_ctx *ck = sha256_new();
    mdb_digest_feed(ck, &a, e->name, e->type == CFS_TYPE_REG ? e->data : NULL, true);
    sha256_final(ck, ret);
    sha256_free(ck);
}

static gint mdb_entry_cmp_inode(gconstpointer a, gconstpointer b)
{
    const memdb_entry *x = *(memdb_entry *const *)a;
    const memdb_entry *y = *(memdb_entry *const *)b;
    return x->inode < y->inode ? -1 : x->inode > y->inode;
}

/* All entries of @index sorted by inode. */
static GPtrArray *entries_sorted(GHashTable *index)
{
    GPtrArray *arr = g_ptr_array_sized_new(g_hash_table_size(index));
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, index);
    while (g_hash_table_iter_next(&it, NULL, &value))
        g_ptr_array_add(arr, value);
    g_ptr_array_sort(arr, mdb_entry_cmp_inode);
    return arr;
}

/* Encode the index of an arbitrary tree (same layout as memdb_encode_index). */
static GBytes *mdb_index_encode_tree(GHashTable *index, memdb_entry *root)
{
    GPtrArray *arr = entries_sorted(index);
    uint32_t count = arr->len;
    size_t bytes = 32 + (size_t)40 * count;
    uint8_t *buf = g_malloc(bytes);
    memdb_entry *last = g_ptr_array_index(arr, count - 1);
    wire_put_u64(buf, root->version);
    wire_put_u64(buf + 8, last->inode);
    wire_put_u32(buf + 16, root->writer);
    wire_put_u32(buf + 20, root->mtime);
    wire_put_u32(buf + 24, count);
    wire_put_u32(buf + 28, (uint32_t)bytes);
    sha256_ctx *ck = sha256_new();
    for (uint32_t i = 0; i < count; i++) {
        memdb_entry *e = g_ptr_array_index(arr, i);
        memdb_attr a;
        mdb_entry_attr(e, &a);
        uint8_t *p = buf + 32 + (size_t)40 * i;
        wire_put_u64(p, e->inode);
        sha256_init(ck);
        mdb_digest_feed(ck, &a, e->name, e->type == CFS_TYPE_REG ? e->data : NULL, false);
        sha256_final(ck, p + 8);
    }
    sha256_free(ck);
    g_ptr_array_free(arr, TRUE);
    return g_bytes_new_take(buf, bytes);
}

GBytes *memdb_encode_index(memdb *m)
{
    g_rw_lock_reader_lock(&m->tree_lock);
    GBytes *b = mdb_index_encode_tree(m->index, m->root);
    g_rw_lock_reader_unlock(&m->tree_lock);
    return b;
}

void memdb_compute_checksum(memdb *m, uint8_t ret_checksum[32])
{
    g_rw_lock_reader_lock(&m->tree_lock);
    GPtrArray *arr = entries_sorted(m->index);
    sha256_ctx *ck = sha256_new();
    for (guint i = 0; i < arr->len; i++) {
        memdb_entry *e = g_ptr_array_index(arr, i);
        memdb_attr a;
        mdb_entry_attr(e, &a);
        mdb_digest_feed(ck, &a, e->name, e->type == CFS_TYPE_REG ? e->data : NULL, true);
    }
    g_rw_lock_reader_unlock(&m->tree_lock);
    sha256_final(ck, ret_checksum);
    sha256_free(ck);
    g_ptr_array_free(arr, TRUE);
}

/* ---------------------------------------------------------------------------------- */
/* resync (spec §9.6, §10.13) */

int memdb_entry_copy(memdb *m, uint64_t inode, memdb_attr *ret_attr, char **ret_name,
                     GBytes **ret_data)
{
    int r = -ENOENT;
    g_rw_lock_reader_lock(&m->tree_lock);
    memdb_entry *e = mdb_get(m, inode);
    if (e) {
        mdb_entry_attr(e, ret_attr);
        *ret_name = g_strdup(e->name);
        *ret_data = e->type == CFS_TYPE_REG && e->size ? g_bytes_new(e->data, e->size) : NULL;
        r = 0;
    }
    g_rw_lock_reader_unlock(&m->tree_lock);
    return r;
}

void memdb_update_free(memdb_update *u)
{
    if (!u)
        return;
    g_free(u->name);
    if (u->data)
        g_bytes_unref(u->data);
    g_free(u);
}

static memdb_entry *entry_from_update(const memdb_update *u)
{
    memdb_entry *e = mdb_entry_new(u->attr.inode, u->attr.parent, u->attr.version, u->attr.writer,
                               u->attr.mtime, u->attr.type, u->name ? u->name : "");
    if (u->attr.type == CFS_TYPE_REG && u->data && g_bytes_get_size(u->data)) {
        gsize len;
        const void *p = g_bytes_get_data(u->data, &len);
        e->data = g_memdup2(p, len);
        e->size = e->capacity = (uint32_t)len;
    }
    return e;
}

/* A new entry object for an unchanged entry, sharing the old entry's data buffer. */
static memdb_entry *entry_share(const memdb_entry *old)
{
    memdb_entry *e = mdb_entry_new(old->inode, old->parent, old->version, old->writer, old->mtime,
                               old->type, old->name);
    if (old->type == CFS_TYPE_REG) {
        e->data = old->data;
        e->size = old->size;
        e->capacity = old->capacity;
    }
    return e;
}

int memdb_sync_commit(memdb *m, GBytes *leader_index, GPtrArray *updates,
                      memdb_sync_stats *ret_stats, GError **error)
{
    gsize ilen;
    const uint8_t *idx = g_bytes_get_data(leader_index, &ilen);
    if (ilen < 32 || wire_get_u32(idx + 28) != ilen ||
        ilen != 32 + (gsize)40 * wire_get_u32(idx + 24)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "leader index has a bad length");
        return -EINVAL;
    }
    uint32_t count = wire_get_u32(idx + 24);
    memdb_sync_stats stats = {0};
    int r = 0;
    gint64 t_start = g_get_monotonic_time();
    gint64 t_db = 0;

    g_rec_mutex_lock(&m->apply_lock);
    g_rec_mutex_lock(&m->merge_lock);
    if (m->merge_failed && mdb_merge(m) < 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO,
                    "the database is not writable (an earlier merge failed)");
        g_rec_mutex_unlock(&m->merge_lock);
        g_rec_mutex_unlock(&m->apply_lock);
        return -EIO;
    }
    GHashTable *byinode = g_hash_table_new(g_int64_hash, g_int64_equal);
    for (guint i = 0; i < updates->len; i++) {
        memdb_update *u = g_ptr_array_index(updates, i);
        g_hash_table_replace(byinode, &u->attr.inode, u);
    }
    GHashTable *index = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                              (GDestroyNotify)mdb_entry_free);
    GPtrArray *shared = g_ptr_array_new(); /* pairs: old, new */
    memdb_entry *root = NULL;

    for (uint32_t i = 0; i < count && r == 0; i++) {
        uint64_t inode = wire_get_u64(idx + 32 + (size_t)40 * i);
        memdb_update *u = g_hash_table_lookup(byinode, &inode);
        memdb_entry *old = mdb_get(m, inode);
        memdb_entry *e;
        if (u) {
            if ((u->attr.type != CFS_TYPE_DIR && u->attr.type != CFS_TYPE_REG) ||
                (inode == 0 && u->attr.type != CFS_TYPE_DIR)) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                            "update for inode %" G_GUINT64_FORMAT " has a bad type", inode);
                r = -EINVAL;
                break;
            }
            e = entry_from_update(u);
            if (old)
                stats.overwritten++;
            else
                stats.added++;
        } else if (old) {
            e = entry_share(old);
            g_ptr_array_add(shared, old);
            g_ptr_array_add(shared, e);
        } else {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                        "no update received for missing inode %" G_GUINT64_FORMAT, inode);
            r = -EINVAL;
            break;
        }
        if (g_hash_table_contains(index, &e->inode)) {
            mdb_entry_free(e);
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "duplicate inode in index");
            r = -EINVAL;
            break;
        }
        g_hash_table_insert(index, &e->inode, e);
        if (inode == 0)
            root = e;
    }
    if (r == 0 && !root) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "leader index has no root");
        r = -EINVAL;
    }
    /* link the new tree */
    if (r == 0) {
        root->name[0] = '\0';
        root->parent = 0;
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, index);
        while (r == 0 && g_hash_table_iter_next(&it, NULL, &value)) {
            memdb_entry *e = value;
            if (e->inode == 0)
                continue;
            memdb_entry *p = g_hash_table_lookup(index, &e->parent);
            if (!p || p->type != CFS_TYPE_DIR || mdb_entry_child(p, e->name) ||
                memdb_name_is_bad(e->name)) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                            "received tree is inconsistent at inode %" G_GUINT64_FORMAT
                            " ('%s')",
                            e->inode, e->name);
                r = -EINVAL;
                break;
            }
            mdb_entry_attach(p, e);
        }
    }
    if (r == 0) {
        g_autoptr(GBytes) mine = mdb_index_encode_tree(index, root);
        if (!g_bytes_equal(mine, leader_index)) {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                        "new index does not match master index");
            r = -EINVAL;
        }
    }
    /* which local entries disappear */
    GPtrArray *removed = g_ptr_array_new();
    if (r == 0) {
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, m->index);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
            memdb_entry *old = value;
            if (!g_hash_table_contains(index, &old->inode))
                g_ptr_array_add(removed, old);
        }
        stats.removed = removed->len;
        /* A replaced entry whose local version is not older than the leader's, and whose
         * name, place or content differ, was a divergent local change (the same inode
         * number was used on both sides).  Equal content with another mtime (two nodes
         * importing the same corosync.conf) is not a loss. */
        for (guint i = 0; i < updates->len && !stats.local_changes_lost; i++) {
            memdb_update *u = g_ptr_array_index(updates, i);
            memdb_entry *old = mdb_get(m, u->attr.inode);
            if (!old || u->attr.inode == 0 || old->version < u->attr.version)
                continue;
            gsize ulen = u->data ? g_bytes_get_size(u->data) : 0;
            bool same = old->type == u->attr.type && old->parent == u->attr.parent &&
                        strcmp(old->name, u->name ? u->name : "") == 0 &&
                        (old->type == CFS_TYPE_DIR ||
                         (old->size == ulen &&
                          (ulen == 0 || memcmp(old->data, g_bytes_get_data(u->data, NULL),
                                               ulen) == 0)));
            if (!same)
                stats.local_changes_lost = true;
        }
    }
    /* persist: one transaction, which also takes along what the operation log held */
    t_db = g_get_monotonic_time();
    if (r == 0) {
        r = mdb_txn_ensure(m);
        for (guint i = 0; r == 0 && i < removed->len; i++)
            r = database_delete(m->db, ((memdb_entry *)removed->pdata[i])->inode);
        GHashTableIter dit;
        gpointer dkey;
        g_hash_table_iter_init(&dit, m->deleted);
        while (r == 0 && g_hash_table_iter_next(&dit, &dkey, NULL))
            if (!g_hash_table_contains(index, dkey))
                r = database_delete(m->db, *(uint64_t *)dkey);
        for (guint i = 0; r == 0 && i < updates->len; i++) {
            memdb_update *u = g_ptr_array_index(updates, i);
            if (u->attr.inode == 0)
                continue;
            memdb_entry *e = g_hash_table_lookup(index, &u->attr.inode);
            if (e)
                r = mdb_persist_entry(m, e);
        }
        /* unchanged entries whose rows were not merged yet (shared with the new tree) */
        g_hash_table_iter_init(&dit, m->dirty);
        while (r == 0 && g_hash_table_iter_next(&dit, &dkey, NULL)) {
            memdb_entry *olde = dkey;
            memdb_entry *e = g_hash_table_lookup(index, &olde->inode);
            if (e && !g_hash_table_contains(byinode, &olde->inode))
                r = mdb_persist_entry(m, e);
        }
        if (r == 0)
            r = database_put_version(m->db, root->version, root->writer, root->mtime,
                                     root->type);
        if (r == 0)
            r = database_commit(m->db);
        else if (database_in_transaction(m->db))
            database_rollback(m->db);
        if (r < 0)
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO,
                        "database commit of the resync failed: %s", g_strerror(-r));
    }
    g_ptr_array_free(removed, TRUE);

    if (r == 0) {
        /* publish: the old entries give their shared data to the new ones */
        for (guint i = 0; i < shared->len; i += 2) {
            memdb_entry *old = shared->pdata[i];
            if (old->type == CFS_TYPE_REG) {
                old->data = NULL;
                old->capacity = 0;
            }
        }
        uint64_t bytes = 0;
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, index);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
            memdb_entry *e = value;
            if (e->type == CFS_TYPE_REG)
                bytes += e->size;
        }
        g_hash_table_remove_all(m->dirty);
        g_hash_table_remove_all(m->deleted);
        wlog_truncate(m->wlog);
        g_rw_lock_writer_lock(&m->tree_lock);
        GHashTable *old_index = m->index;
        m->index = index;
        m->root = root;
        m->total_bytes = bytes;
        mdb_vmlist_rebuild(m, true);
        mdb_locks_rebuild(m, NULL);
        g_rw_lock_writer_unlock(&m->tree_lock);
        g_hash_table_destroy(old_index);
        mdb_notify(m, MEMDB_CHANGE_RELOAD, NULL, NULL, 0, NULL);
        stats.build_ms = (double)(t_db - t_start) / 1000;
        stats.database_ms = (double)(g_get_monotonic_time() - t_db) / 1000;
        if (ret_stats)
            *ret_stats = stats;
    } else {
        for (guint i = 1; i < shared->len; i += 2) {
            memdb_entry *e = shared->pdata[i];
            if (e->type == CFS_TYPE_REG)
                e->data = NULL;
        }
        g_hash_table_destroy(index);
    }
    g_ptr_array_free(shared, TRUE);
    g_hash_table_destroy(byinode);
    g_rec_mutex_unlock(&m->merge_lock);
    g_rec_mutex_unlock(&m->apply_lock);
    return r;
}

