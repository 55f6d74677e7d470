/*
 * memdb-log: how memdb makes operations durable.  Every applied operation is appended
 * to the operation log (wlog.h); a merge writes the rows changed since the last merge
 * (the `dirty` and `deleted` sets) and the version row in one SQLite transaction and
 * truncates the log.  Merges happen on a timer (the flusher thread), when the log grows
 * large, at the end of a batch whose log append failed, and at close.  On open the log
 * is replayed by applying its operations again.
 */
#include "pmxcfs/memdb-private.h"

#include <errno.h>
#include <string.h>

/* ---------------------------------------------------------------------------------- */
/* persistence: the operation log and the merge into SQLite */


/* Make sure a transaction is open. */
int mdb_txn_ensure(memdb *m)
{
    if (database_in_transaction(m->db))
        return 0;
    return database_begin(m->db);
}

void mdb_mark_dirty(memdb *m, memdb_entry *e)
{
    g_hash_table_add(m->dirty, e);
}

void mdb_mark_deleted(memdb *m, memdb_entry *e)
{
    g_hash_table_remove(m->dirty, e);
    uint64_t *key = g_new(uint64_t, 1);
    *key = e->inode;
    g_hash_table_add(m->deleted, key);
}

bool mdb_merge_pending(memdb *m)
{
    return g_hash_table_size(m->dirty) > 0 || g_hash_table_size(m->deleted) > 0 ||
           wlog_size(m->wlog) > 0;
}

/*
 * Merge: one SQLite transaction with every row changed since the last mdb_merge (deleted
 * rows, changed entries, the version row), then empty the log.  On failure the
 * transaction is rolled back and the log keeps everything.
 */
int mdb_txn_commit(memdb *m)
{
    int r = 0;
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, m->deleted);
    while (r == 0 && g_hash_table_iter_next(&it, &key, NULL))
        r = database_delete(m->db, *(uint64_t *)key);
    g_hash_table_iter_init(&it, m->dirty);
    while (r == 0 && g_hash_table_iter_next(&it, &key, NULL))
        r = mdb_persist_entry(m, key);
    if (r == 0)
        r = mdb_persist_version(m);
    if (r == 0)
        r = database_commit(m->db);
    else
        database_rollback(m->db);
    if (r < 0)
        return r;
    g_hash_table_remove_all(m->dirty);
    g_hash_table_remove_all(m->deleted);
    if (wlog_truncate(m->wlog) < 0)
        g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_WARNING,
              "cannot truncate the operation log, ignoring (its records are merged)");
    return 0;
}

int mdb_merge(memdb *m)
{
    int r = mdb_txn_ensure(m);
    if (r == 0)
        r = mdb_txn_commit(m);
    return r;
}

/* After a failed merge: RAM back to database + log, -EIO for the operation(s). */
int mdb_txn_failed(memdb *m, int r, const char *what)
{
    g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_CRITICAL, "%s: %s", what, g_strerror(-r));
    if (database_in_transaction(m->db))
        database_rollback(m->db);
    g_autoptr(GError) err = NULL;
    if (memdb_reload(m, &err) < 0)
        g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_CRITICAL, "reload after %s failed: %s", what,
              err->message);
    return -EIO;
}

/*
 * Make an applied operation durable: one record in the operation log.  Returns
 * @result, or -EIO when neither the log nor the database could take it (RAM was then
 * restored from database + log).  While replaying the log nothing is written.
 */
int mdb_persist_op(memdb *m, wlog_record *rec, int result)
{
    if (m->replaying)
        return result;
    rec->version = m->root->version;
    rec->writer = m->root->writer;
    if (rec->type != WLOG_OP_MTIME)
        rec->mtime = m->root->mtime;
    int r = wlog_append(m->wlog, rec);
    if (r == 0 && (m->in_batch || wlog_size(m->wlog) < WLOG_MERGE_BYTES))
        return result;
    if (r < 0)
        g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_WARNING,
              "operation log append failed: %s, writing to the database", g_strerror(-r));
    if (m->in_batch) {
        m->batch_merge = true; /* the batch commit merges */
        return result;
    }
    r = mdb_merge(m);
    if (r < 0)
        return mdb_txn_failed(m, r, "database commit failed");
    return result;
}

void memdb_batch_begin(memdb *m)
{
    g_rec_mutex_lock(&m->apply_lock);
    g_return_if_fail(!m->in_batch);
    m->in_batch = true;
    m->batch_merge = false;
}

int memdb_batch_commit(memdb *m)
{
    int r = 0;
    m->in_batch = false;
    if (m->batch_merge || wlog_size(m->wlog) >= WLOG_MERGE_BYTES) {
        r = mdb_merge(m);
        if (r < 0)
            r = mdb_txn_failed(m, r, "batch commit failed");
    }
    m->batch_merge = false;
    g_rec_mutex_unlock(&m->apply_lock);
    return r;
}

int memdb_flush(memdb *m)
{
    g_rec_mutex_lock(&m->apply_lock);
    int r = 0;
    if (!m->in_batch && mdb_merge_pending(m)) {
        r = mdb_merge(m);
        if (r < 0)
            r = mdb_txn_failed(m, r, "operation log merge failed");
    }
    g_rec_mutex_unlock(&m->apply_lock);
    return r;
}

gpointer mdb_flusher_main(gpointer data)
{
    memdb *m = data;
    g_mutex_lock(&m->flusher_lock);
    while (!m->flusher_stop) {
        gint64 until = g_get_monotonic_time() + (gint64)m->opts.flush_interval_ms * 1000;
        g_cond_wait_until(&m->flusher_cond, &m->flusher_lock, until);
        if (m->flusher_stop)
            break;
        g_mutex_unlock(&m->flusher_lock);
        memdb_flush(m);
        g_mutex_lock(&m->flusher_lock);
    }
    g_mutex_unlock(&m->flusher_lock);
    return NULL;
}

/* Apply one logged operation again; false stops the replay. */
static bool wlog_apply(void *user_data, const wlog_record *rec)
{
    memdb *m = user_data;
    if (rec->version <= m->root->version)
        return true; /* already merged into the database */
    int r = -EINVAL;
    if (rec->version == m->root->version + 1) {
        switch (rec->type) {
        case WLOG_OP_WRITE:
            r = memdb_write(m, rec->path, rec->offset, rec->data, rec->size,
                            (rec->flags & WLOG_FLAG_TRUNCATE) != 0, rec->writer, rec->mtime);
            break;
        case WLOG_OP_MKDIR:
            r = memdb_mkdir(m, rec->path, rec->writer, rec->mtime);
            break;
        case WLOG_OP_DELETE:
            r = memdb_delete(m, rec->path, rec->writer, rec->mtime);
            break;
        case WLOG_OP_RENAME:
            r = rec->to ? memdb_rename(m, rec->path, rec->to, rec->writer, rec->mtime) : -EINVAL;
            break;
        case WLOG_OP_CREATE:
            r = memdb_create(m, rec->path, rec->writer, rec->mtime);
            break;
        case WLOG_OP_MTIME:
            r = memdb_mtime(m, rec->path, rec->writer, rec->mtime);
            break;
        }
    }
    if (r < 0 || m->root->version != rec->version) {
        m->wlog_stopped = true;
        return false;
    }
    return true;
}

/* Re-apply the operation log onto the tree just loaded from the database.  Call without
 * the tree lock; changes are not reported (the caller reports a RELOAD). */
void mdb_wlog_replay_all(memdb *m)
{
    uint64_t before = m->root->version;
    uint64_t bad = 0;
    m->wlog_stopped = false;
    m->replaying = true;
    wlog_replay(m->wlog, wlog_apply, m, &bad);
    m->replaying = false;
    uint64_t applied = m->root->version - before;
    if (applied)
        g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_MESSAGE,
              "replayed %" G_GUINT64_FORMAT " operations from the operation log", applied);
    if (bad || m->wlog_stopped)
        g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_WARNING,
              "discarding the rest of the operation log: it does not continue version "
              "%" G_GUINT64_FORMAT "%s, ignoring",
              m->root->version, bad ? " (torn record)" : "");
}

/* Bump the global version for an operation; returns the new version. */
uint64_t mdb_root_bump(memdb *m, uint32_t writer, uint32_t mtime)
{
    m->root->version++;
    m->root->writer = writer;
    m->root->mtime = mtime;
    return m->root->version;
}

int mdb_persist_version(memdb *m)
{
    return database_put_version(m->db, m->root->version, m->root->writer, m->root->mtime,
                                CFS_TYPE_REG);
}

int mdb_persist_entry(memdb *m, const memdb_entry *e)
{
    return database_put(m->db, e->inode, e->parent, e->version, e->writer, e->mtime, e->type,
                        e->name, e->type == CFS_TYPE_REG ? e->data : NULL,
                        e->type == CFS_TYPE_REG ? e->size : 0);
}

