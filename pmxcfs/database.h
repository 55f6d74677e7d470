/*
 * database: the SQLite store behind memdb (spec §9).
 *
 * Owns the sqlite3 handle and its prepared statements.  The schema is exactly the
 * reference's single `tree` table; row 0 (`__version__`) carries the global version.
 * It knows nothing about the tree's rules: memdb decides, this module stores.  All
 * functions return 0 or a negative errno (SQLite codes are converted in one place);
 * a failed step inside a transaction makes the transaction's commit fail (sticky
 * error), and database_rollback() clears it.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct database database;

/* One stored row, as read by database_load(). */
typedef struct database_row {
    uint64_t inode;
    uint64_t parent;
    uint64_t version;
    uint32_t writer;
    uint32_t mtime;
    uint8_t type;
    const char *name;  /* valid during the callback only */
    const void *data;  /* NULL when the column is NULL */
    uint32_t size;     /* length of data */
} database_row;

/*
 * Open @path (created empty when missing) and check that an existing `tree` table is
 * the reference's.  A file that is not a valid SQLite database, or holds a different
 * table, fails with a message in @error.  Writes nothing: call database_load(), then
 * database_prepare_writes() once the content was accepted.
 */
database *database_open(const char *path, bool *ret_created, GError **error);
/* Switch to WAL mode with synchronous=NORMAL, create the table if missing, prepare the
 * write statements and set the file mode to 0600.  0 or -errno with @error set. */
int database_prepare_writes(database *db, GError **error);
void database_free(database *db);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(database, database_free)

/* Call @fn for every row (the version row included), in rowid order.  A non-zero
 * return from @fn stops the scan and is returned.  SQLite failures fill @error. */
int database_load(database *db, int (*fn)(void *user_data, const database_row *row),
                  void *user_data, GError **error);

/* Transactions: one per merge of the operation log (memdb-log.c) or resync commit. */
int database_begin(database *db);
int database_commit(database *db);
void database_rollback(database *db);
bool database_in_transaction(database *db);

/* Write a full row (REPLACE), including @data for files (NULL/0 for directories). */
int database_put(database *db, uint64_t inode, uint64_t parent, uint64_t version,
                 uint32_t writer, uint32_t mtime, uint8_t type, const char *name,
                 const void *data, uint32_t size);
int database_delete(database *db, uint64_t inode);
/* Write the `__version__` row (inode 0) with the given type (8 normally, spec §9.3). */
int database_put_version(database *db, uint64_t version, uint32_t writer, uint32_t mtime,
                         uint8_t type);
