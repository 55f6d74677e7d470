/*
 * memdb-log: how memdb makes operations durable.  Every applied operation is appended
 * to the operation log (wlog.h); a merge writes the rows changed since the last merge
 * (the `dirty` and `deleted` sets) and the version row in one SQLite transaction and
 * cuts the log behind them.  Merges run in the background once a second (the flusher
 * thread: the rows are copied under the apply lock, SQLite is written under the merge
 * lock only), and in the foreground when the log is full or unusable, and at close.
 * On open the log is replayed by applying its operations again.
 *
 * Lock order: apply_lock before merge_lock.  merge_lock serialises every use of the
 * SQLite connection, so merges reach the database in the order of their snapshots.
 */
#include "pmxcfs/memdb-private.h"

#include <errno.h>
#include <string.h>

/* ---------------------------------------------------------------------------------- */
/* persistence: the operation log and the merge into SQLite */


/* Make sure a transaction is open (merge_lock held). */
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

/* ---------------------------------------------------------------------------------- */
/* merges */

/* The rows of a merge, copied out of the tree so that SQLite can be written without
 * holding the apply lock. */
typedef struct merge_row {
    memdb_attr attr;
    char *name;
    uint8_t *data; /* files: attr.size bytes */
} merge_row;

typedef struct merge_snapshot {
    GArray *rows;    /* merge_row */
    GArray *deleted; /* uint64_t */
    uint64_t version;
    uint32_t writer;
    uint32_t mtime;
    uint64_t log_pos; /* the operation log up to here is in the snapshot */
} merge_snapshot;

static void merge_row_clear(gpointer p)
{
    merge_row *r = p;
    g_free(r->name);
    g_free(r->data);
}

static void snapshot_free(merge_snapshot *s)
{
    g_array_free(s->rows, TRUE);
    g_array_free(s->deleted, TRUE);
    g_free(s);
}

/* Copy the pending rows and empty the sets (apply lock held). */
static merge_snapshot *snapshot_take(memdb *m)
{
    merge_snapshot *s = g_new0(merge_snapshot, 1);
    s->rows = g_array_sized_new(FALSE, FALSE, sizeof(merge_row), g_hash_table_size(m->dirty));
    g_array_set_clear_func(s->rows, merge_row_clear);
    s->deleted = g_array_sized_new(FALSE, FALSE, sizeof(uint64_t),
                                   g_hash_table_size(m->deleted));
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, m->dirty);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        memdb_entry *e = key;
        merge_row r = {.name = g_strdup(e->name)};
        mdb_entry_attr(e, &r.attr);
        if (e->type == CFS_TYPE_REG && e->size)
            r.data = g_memdup2(e->data, e->size);
        g_array_append_val(s->rows, r);
    }
    g_hash_table_iter_init(&it, m->deleted);
    while (g_hash_table_iter_next(&it, &key, NULL))
        g_array_append_val(s->deleted, *(uint64_t *)key);
    s->version = m->root->version;
    s->writer = m->root->writer;
    s->mtime = m->root->mtime;
    s->log_pos = wlog_head(m->wlog);
    g_hash_table_remove_all(m->dirty);
    g_hash_table_remove_all(m->deleted);
    return s;
}

/* Write a snapshot in one transaction (merge_lock held). */
static int snapshot_write(memdb *m, const merge_snapshot *s)
{
    int r = mdb_txn_ensure(m);
    for (guint i = 0; r == 0 && i < s->deleted->len; i++)
        r = database_delete(m->db, g_array_index(s->deleted, uint64_t, i));
    for (guint i = 0; r == 0 && i < s->rows->len; i++) {
        const merge_row *row = &g_array_index(s->rows, merge_row, i);
        const memdb_attr *a = &row->attr;
        r = database_put(m->db, a->inode, a->parent, a->version, a->writer, a->mtime, a->type,
                         row->name, row->data, a->size);
    }
    if (r == 0)
        r = database_put_version(m->db, s->version, s->writer, s->mtime, CFS_TYPE_REG);
    if (r == 0)
        r = database_commit(m->db);
    else if (database_in_transaction(m->db))
        database_rollback(m->db);
    return r;
}

/*
 * Merge now, with the apply lock held: everything pending goes into one transaction and
 * the operation log is cut behind it.  A previous failed background merge first makes
 * RAM equal to database + log again.  On failure the log keeps everything.
 */
int mdb_merge(memdb *m)
{
    g_rec_mutex_lock(&m->merge_lock);
    if (m->merge_failed) {
        g_autoptr(GError) err = NULL;
        if (memdb_reload(m, &err) < 0) {
            g_rec_mutex_unlock(&m->merge_lock);
            return -EIO;
        }
    }
    merge_snapshot *s = snapshot_take(m);
    int r = snapshot_write(m, s);
    if (r == 0)
        wlog_cut(m->wlog, s->log_pos);
    else
        m->merge_failed = true; /* the pending rows are only in the log now */
    snapshot_free(s);
    g_rec_mutex_unlock(&m->merge_lock);
    return r;
}

/*
 * After a failed merge or log append: RAM back to database + log (which also rebuilds
 * the pending rows), and -EIO for the operation(s) that are in neither.
 */
static int mdb_txn_failed(memdb *m, int r, const char *what)
{
    g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_CRITICAL, "%s: %s", what, g_strerror(-r));
    g_autoptr(GError) err = NULL;
    if (memdb_reload(m, &err) < 0)
        g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_CRITICAL, "reload after %s failed: %s", what,
              err->message);
    return -EIO;
}

/*
 * Merge operations that are in RAM but not in the operation log (apply lock held): 0,
 * or -EIO after RAM was restored from database + log.  After a failed background merge
 * the merge would first reload RAM from database + log, which silently drops exactly
 * these operations: they fail instead.
 */
static int merge_unlogged(memdb *m, const char *what)
{
    g_rec_mutex_lock(&m->merge_lock);
    int r = 0;
    if (m->merge_failed)
        r = mdb_txn_failed(m, -EIO, "operation log full after a failed merge");
    else if ((r = mdb_merge(m)) < 0)
        r = mdb_txn_failed(m, r, what);
    g_rec_mutex_unlock(&m->merge_lock);
    return r;
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
    if (r == 0)
        return result;
    /* the log is full or unusable: this operation goes to the database directly */
    g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_DEBUG,
          "operation log append failed: %s, writing to the database", g_strerror(-r));
    if (m->in_batch) {
        m->batch_merge = true; /* the batch commit merges */
        return result;
    }
    r = merge_unlogged(m, "database commit failed");
    return r < 0 ? r : result;
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
    if (m->batch_merge)
        r = merge_unlogged(m, "batch commit failed");
    m->batch_merge = false;
    g_rec_mutex_unlock(&m->apply_lock);
    return r;
}

/*
 * A background merge: the snapshot is taken under the apply lock, the database is
 * written with only the merge lock held, so writers and deliveries keep going.
 */
int memdb_flush(memdb *m)
{
    g_rec_mutex_lock(&m->apply_lock);
    if (m->in_batch || !mdb_merge_pending(m)) {
        g_rec_mutex_unlock(&m->apply_lock);
        return 0;
    }
    g_rec_mutex_lock(&m->merge_lock);
    if (m->merge_failed) {
        /* the last merge failed: redo it in the foreground, with the reload */
        int r = mdb_merge(m);
        if (r < 0)
            r = mdb_txn_failed(m, r, "operation log merge failed");
        g_rec_mutex_unlock(&m->merge_lock);
        g_rec_mutex_unlock(&m->apply_lock);
        return r;
    }
    merge_snapshot *s = snapshot_take(m);
    g_rec_mutex_unlock(&m->apply_lock);
    int r = snapshot_write(m, s);
    if (r == 0) {
        wlog_cut(m->wlog, s->log_pos);
    } else {
        g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_WARNING,
              "merging the operation log into the database failed: %s, the log keeps "
              "everything", g_strerror(-r));
        m->merge_failed = true;
    }
    snapshot_free(s);
    g_rec_mutex_unlock(&m->merge_lock);
    return r < 0 ? -EIO : 0;
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

int mdb_persist_entry(memdb *m, const memdb_entry *e)
{
    return database_put(m->db, e->inode, e->parent, e->version, e->writer, e->mtime, e->type,
                        e->name, e->type == CFS_TYPE_REG ? e->data : NULL,
                        e->type == CFS_TYPE_REG ? e->size : 0);
}

