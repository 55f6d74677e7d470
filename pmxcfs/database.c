/*
 * database: SQLite persistence of the pmxcfs tree.
 *
 * The file format is the reference's (spec §9.2): one table `tree` with the exact
 * column order and CHECK constraints, no other objects.  Statements are prepared once.
 * Every write happens inside an explicit transaction; a failing step sets a sticky
 * error so that the following commit fails and the caller rolls back and reloads.
 * SQLite result codes are converted to errno values only in database_errno().
 */
#include "pmxcfs/database.h"

#include <errno.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pmxcfs/cfs-limits.h"

#define DATABASE_BUSY_TIMEOUT_MS 10000
/* Checkpoint the WAL in the background once it holds this many pages (SQLite's own
 * automatic checkpoint also uses 1000, but runs inside the committing writer). */
#define DATABASE_CHECKPOINT_PAGES 2000
/* A WAL larger than this is truncated after the checkpoint (spec §9.7, W15). */
#define DATABASE_WAL_TRUNCATE_PAGES 16384

/* The reference's schema text, byte for byte (spec §9.2; fixtures/manifest.json). */
#define DATABASE_SCHEMA                                                                            \
    "CREATE TABLE tree ("                                                                          \
    "  inode INTEGER PRIMARY KEY NOT NULL,"                                                        \
    "  parent INTEGER NOT NULL CHECK(typeof(parent)=='integer'),"                                  \
    "  version INTEGER NOT NULL CHECK(typeof(version)=='integer'),"                                \
    "  writer INTEGER NOT NULL CHECK(typeof(writer)=='integer'),"                                  \
    "  mtime INTEGER NOT NULL CHECK(typeof(mtime)=='integer'),"                                    \
    "  type INTEGER NOT NULL CHECK(typeof(type)=='integer'),"                                      \
    "  name TEXT NOT NULL,"                                                                        \
    "  data BLOB)"

enum {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_PUT,
    STMT_DELETE,
    STMT_LOAD,
    STMT_COUNT,
};

static const char *const statement_sql[STMT_COUNT] = {
    [STMT_BEGIN] = "BEGIN",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_PUT] = "REPLACE INTO tree (inode, parent, version, writer, mtime, type, name, data) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [STMT_DELETE] = "DELETE FROM tree WHERE inode = ?1",
    [STMT_LOAD] = "SELECT inode, parent, version, writer, mtime, type, name, data FROM tree",
};

struct database {
    sqlite3 *handle;
    sqlite3_stmt *stmt[STMT_COUNT];
    char *path;
    bool has_table;
    /* background checkpointer */
    GThread *ckpt_thread;
    GMutex ckpt_lock;
    GCond ckpt_cond;
    int ckpt_pages; /* WAL size reported by the last commit, 0 = nothing to do */
    bool ckpt_stop;
    bool in_transaction;
    int sticky_error; /* first failure inside the current transaction */
};

static int database_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_CANTOPEN:
        return -ENOENT;
    case SQLITE_TOOBIG:
        return -EFBIG;
    default:
        return -EIO;
    }
}

static int database_exec_simple(database *db, const char *sql, GError **error)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db->handle, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: %s", sql,
                    msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return database_errno(rc);
    }
    return 0;
}

/* Verify that an existing `tree` table is the reference's (same columns, same order). */
static int database_check_schema(database *db, bool *ret_exists, GError **error)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->handle, "SELECT name FROM pragma_table_info('tree')", -1,
                                &st, NULL);
    if (rc != SQLITE_OK) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot read schema: %s",
                    sqlite3_errmsg(db->handle));
        return database_errno(rc);
    }
    static const char *const columns[] = {"inode", "parent", "version", "writer",
                                          "mtime", "type",   "name",    "data"};
    unsigned n = 0;
    int r = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (n >= G_N_ELEMENTS(columns) || g_strcmp0(name, columns[n]) != 0) {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                        "table 'tree' has an unexpected column '%s'", name ? name : "");
            r = -EINVAL;
            break;
        }
        n++;
    }
    if (r == 0 && rc != SQLITE_DONE) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot read schema: %s",
                    sqlite3_errmsg(db->handle));
        r = database_errno(rc);
    }
    if (r == 0 && n != 0 && n != G_N_ELEMENTS(columns)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                    "table 'tree' has %u columns, expected %zu", n, G_N_ELEMENTS(columns));
        r = -EINVAL;
    }
    sqlite3_finalize(st);
    *ret_exists = n != 0;
    return r;
}

database *database_open(const char *path, bool *ret_created, GError **error)
{
    g_autoptr(database) db = g_new0(database, 1);
    bool created = access(path, F_OK) != 0;

    int rc = sqlite3_open_v2(path, &db->handle,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot open database '%s': %s",
                    path, db->handle ? sqlite3_errmsg(db->handle) : sqlite3_errstr(rc));
        return NULL;
    }
    db->path = g_strdup(path);
    sqlite3_extended_result_codes(db->handle, 1);
    sqlite3_busy_timeout(db->handle, DATABASE_BUSY_TIMEOUT_MS);

    /* Reading the schema makes SQLite validate the header: a file that is not a
     * database fails here.  Nothing is written before database_prepare_writes(). */
    GError *local = NULL;
    if (database_check_schema(db, &db->has_table, &local) < 0) {
        g_propagate_prefixed_error(error, local, "database '%s': ", path);
        return NULL;
    }
    if (ret_created)
        *ret_created = created;
    return g_steal_pointer(&db);
}

/* Called by SQLite after every commit with the WAL size in pages. */
static int database_wal_hook(void *user_data, sqlite3 *handle, const char *name, int pages)
{
    (void)handle;
    (void)name;
    database *db = user_data;
    if (pages >= DATABASE_CHECKPOINT_PAGES) {
        g_mutex_lock(&db->ckpt_lock);
        db->ckpt_pages = pages;
        g_cond_signal(&db->ckpt_cond);
        g_mutex_unlock(&db->ckpt_lock);
    }
    return SQLITE_OK;
}

/*
 * The checkpointer: copies WAL pages into the database file (with its fsyncs) on its
 * own connection, so committing writers never pay for it.  PASSIVE checkpoints never
 * block writers; a WAL that grew large is truncated once it was checkpointed.
 */
static gpointer database_checkpointer(gpointer user_data)
{
    database *db = user_data;
    sqlite3 *h = NULL;
    if (sqlite3_open_v2(db->path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        sqlite3_close(h);
        h = NULL;
    } else {
        sqlite3_busy_timeout(h, DATABASE_BUSY_TIMEOUT_MS);
        /* a checkpoint only works once the connection has opened the WAL */
        sqlite3_exec(h, "PRAGMA journal_mode", NULL, NULL, NULL);
    }
    g_mutex_lock(&db->ckpt_lock);
    while (!db->ckpt_stop) {
        if (db->ckpt_pages == 0) {
            g_cond_wait(&db->ckpt_cond, &db->ckpt_lock);
            continue;
        }
        int pages = db->ckpt_pages;
        db->ckpt_pages = 0;
        g_mutex_unlock(&db->ckpt_lock);
        if (h) {
            int mode = pages >= DATABASE_WAL_TRUNCATE_PAGES ? SQLITE_CHECKPOINT_TRUNCATE
                                                            : SQLITE_CHECKPOINT_PASSIVE;
            sqlite3_wal_checkpoint_v2(h, NULL, mode, NULL, NULL);
        }
        g_mutex_lock(&db->ckpt_lock);
    }
    g_mutex_unlock(&db->ckpt_lock);
    if (h)
        sqlite3_close(h);
    return NULL;
}

int database_prepare_writes(database *db, GError **error)
{
    GError *local = NULL;
    if (database_exec_simple(db, "PRAGMA journal_mode=WAL", &local) < 0 ||
        database_exec_simple(db, "PRAGMA synchronous=NORMAL", &local) < 0 ||
        database_exec_simple(db, "PRAGMA wal_autocheckpoint=0", &local) < 0 ||
        (!db->has_table && database_exec_simple(db, DATABASE_SCHEMA, &local) < 0)) {
        g_propagate_prefixed_error(error, local, "database '%s': ", db->path);
        return -EIO;
    }
    db->has_table = true;
    for (int i = 0; i < STMT_COUNT; i++) {
        if (db->stmt[i])
            continue;
        int rc = sqlite3_prepare_v3(db->handle, statement_sql[i], -1,
                                    SQLITE_PREPARE_PERSISTENT, &db->stmt[i], NULL);
        if (rc != SQLITE_OK) {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                        "database '%s': cannot prepare '%s': %s", db->path, statement_sql[i],
                        sqlite3_errmsg(db->handle));
            return database_errno(rc);
        }
    }
    /* The database holds secrets (priv/): mode 0600 on every open (spec §9.1). */
    if (chmod(db->path, 0600) < 0) {
        int r = -errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-r),
                    "database '%s': chmod: %s", db->path, g_strerror(-r));
        return r;
    }
    if (!db->ckpt_thread) {
        g_mutex_init(&db->ckpt_lock);
        g_cond_init(&db->ckpt_cond);
        sqlite3_wal_hook(db->handle, database_wal_hook, db);
        db->ckpt_thread = g_thread_new("db-checkpoint", database_checkpointer, db);
    }
    return 0;
}

void database_free(database *db)
{
    if (!db)
        return;
    if (db->ckpt_thread) {
        g_mutex_lock(&db->ckpt_lock);
        db->ckpt_stop = true;
        g_cond_signal(&db->ckpt_cond);
        g_mutex_unlock(&db->ckpt_lock);
        g_thread_join(db->ckpt_thread);
        g_mutex_clear(&db->ckpt_lock);
        g_cond_clear(&db->ckpt_cond);
    }
    if (db->in_transaction)
        database_rollback(db);
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(db->stmt[i]);
    if (db->handle)
        sqlite3_close_v2(db->handle);
    g_free(db->path);
    g_free(db);
}

/* Run a prepared statement to completion and reset it; records the sticky error. */
static int database_step(database *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int r = database_errno(rc);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (r < 0 && db->in_transaction && db->sticky_error == 0)
        db->sticky_error = r;
    return r;
}

int database_load(database *db, int (*fn)(void *user_data, const database_row *row),
                  void *user_data, GError **error)
{
    int rc;
    int r = 0;
    if (!db->has_table)
        return 0; /* a new, empty file */
    if (!db->stmt[STMT_LOAD]) {
        rc = sqlite3_prepare_v2(db->handle, statement_sql[STMT_LOAD], -1, &db->stmt[STMT_LOAD],
                                NULL);
        if (rc != SQLITE_OK) {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                        "cannot read table 'tree': %s", sqlite3_errmsg(db->handle));
            return database_errno(rc) < 0 ? database_errno(rc) : -EIO;
        }
    }
    sqlite3_stmt *st = db->stmt[STMT_LOAD];

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        database_row row = {0};
        row.inode = (uint64_t)sqlite3_column_int64(st, 0);
        row.parent = (uint64_t)sqlite3_column_int64(st, 1);
        row.version = (uint64_t)sqlite3_column_int64(st, 2);
        /* writer and mtime are read as their low 32 bits, type as its low 8 (§9.3). */
        row.writer = (uint32_t)sqlite3_column_int64(st, 3);
        row.mtime = (uint32_t)sqlite3_column_int64(st, 4);
        row.type = (uint8_t)sqlite3_column_int64(st, 5);
        row.name = (const char *)sqlite3_column_text(st, 6);
        if (!row.name)
            row.name = "";
        row.data = sqlite3_column_blob(st, 7);
        int size = sqlite3_column_bytes(st, 7);
        row.size = size > 0 ? (uint32_t)size : 0;
        r = fn(user_data, &row);
        if (r != 0)
            break;
    }
    if (r == 0 && rc != SQLITE_DONE) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot read table 'tree': %s",
                    sqlite3_errmsg(db->handle));
        r = database_errno(rc);
        if (r == 0)
            r = -EIO;
    }
    sqlite3_reset(st);
    return r;
}

int database_begin(database *db)
{
    g_return_val_if_fail(!db->in_transaction, -EINVAL);
    int r = database_step(db, db->stmt[STMT_BEGIN]);
    if (r == 0) {
        db->in_transaction = true;
        db->sticky_error = 0;
    }
    return r;
}

int database_commit(database *db)
{
    g_return_val_if_fail(db->in_transaction, -EINVAL);
    if (db->sticky_error < 0) {
        int r = db->sticky_error;
        database_rollback(db);
        return r;
    }
    int rc = sqlite3_step(db->stmt[STMT_COMMIT]);
    sqlite3_reset(db->stmt[STMT_COMMIT]);
    int r = database_errno(rc);
    if (r < 0) {
        database_rollback(db);
        return r;
    }
    db->in_transaction = false;
    return 0;
}

void database_rollback(database *db)
{
    /* After some errors SQLite has already rolled back; ROLLBACK then fails harmlessly. */
    if (!sqlite3_get_autocommit(db->handle)) {
        sqlite3_step(db->stmt[STMT_ROLLBACK]);
        sqlite3_reset(db->stmt[STMT_ROLLBACK]);
    }
    db->in_transaction = false;
    db->sticky_error = 0;
}

bool database_in_transaction(database *db)
{
    return db->in_transaction;
}

int database_put(database *db, uint64_t inode, uint64_t parent, uint64_t version,
                 uint32_t writer, uint32_t mtime, uint8_t type, const char *name,
                 const void *data, uint32_t size)
{
    sqlite3_stmt *st = db->stmt[STMT_PUT];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)inode);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)parent);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)version);
    sqlite3_bind_int64(st, 4, writer);
    sqlite3_bind_int64(st, 5, mtime);
    sqlite3_bind_int64(st, 6, type);
    sqlite3_bind_text(st, 7, name, -1, SQLITE_STATIC);
    if (type == CFS_TYPE_REG && size > 0)
        sqlite3_bind_blob(st, 8, data, (int)size, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 8);
    return database_step(db, st);
}

int database_delete(database *db, uint64_t inode)
{
    sqlite3_stmt *st = db->stmt[STMT_DELETE];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)inode);
    return database_step(db, st);
}

int database_put_version(database *db, uint64_t version, uint32_t writer, uint32_t mtime,
                         uint8_t type)
{
    return database_put(db, 0, 0, version, writer, mtime, type, "__version__", NULL, 0);
}
