/*
 * memdb: the in-RAM file tree of pmxcfs, written through to SQLite.
 *
 * Owns the tree (entries keyed by inode, children keyed by name), the global version
 * (the root entry's version/writer/mtime), the VM list and the lock table.  Every
 * mutating operation takes the apply lock, validates completely, changes RAM under the
 * tree write lock and appends one record to the operation log (wlog.h); the changed rows
 * are merged into SQLite later (memdb-log.c).  If neither the log nor the database can
 * take an operation, RAM is reloaded from database + log, so RAM never stays ahead of
 * disk (spec §9.4, W1, W25).
 *
 * Invariants:
 *   - inode numbers are never reused: a new entry gets inode = the new global version;
 *   - every successful operation bumps the global version by exactly one and sets the
 *     root's writer and mtime to the operation's; failed operations change nothing;
 *   - directories have size 0 and no data; file data is at most CFS_MAX_FILE_SIZE
 *     (enforced at apply for writes; a loaded database may hold anything);
 *   - readers (getattr, read, readdir, index encoding) only take the tree read lock and
 *     never wait for the database.
 *
 * The apply functions implement the apply-time rules of spec §4.2, §6 and §7 exactly,
 * because in cluster mode every node evaluates them on delivery and must decide alike.
 * Sender-side checks (limits, name length, virtual names) live in ops.c.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pmxcfs/cfs-limits.h"

typedef struct memdb memdb;

/* A copy of an entry's fields, handed to readers. */
typedef struct memdb_attr {
    uint64_t inode;
    uint64_t parent;
    uint64_t version;
    uint32_t writer;
    uint32_t mtime;
    uint32_t size;
    uint8_t type; /* CFS_TYPE_DIR or CFS_TYPE_REG */
} memdb_attr;

/* One directory entry of a listing snapshot. */
typedef struct memdb_dirent {
    uint64_t inode;
    uint8_t type;
    char *name;
} memdb_dirent;

/* Guest types of the VM list (spec §6.1). */
typedef enum {
    VMTYPE_QEMU = 1,
    VMTYPE_OPENVZ = 2,
    VMTYPE_LXC = 3,
} vm_type;

/* One VM list record, as copied out by memdb_vmlist_snapshot(). */
typedef struct memdb_vm {
    uint32_t vmid;
    vm_type type;
    uint64_t version; /* process-local entry version (spec §6.3) */
    char *node;
} memdb_vm;

/* What changed, reported after each applied operation (spec §2.2, §4.1, §10.16). */
typedef enum {
    MEMDB_CHANGE_CREATE, /* created by create or mkdir */
    MEMDB_CHANGE_WRITE,  /* data or size changed (write, truncate) */
    MEMDB_CHANGE_MTIME,  /* utimens */
    MEMDB_CHANGE_DELETE, /* removed (delete, or replaced by a rename) */
    MEMDB_CHANGE_RENAME_FROM,
    MEMDB_CHANGE_RENAME_TO,
    MEMDB_CHANGE_RELOAD, /* the whole tree was replaced (load, reload, resync) */
} memdb_change_kind;

typedef struct memdb_change {
    memdb_change_kind kind;
    const char *path;   /* NULL for MEMDB_CHANGE_RELOAD */
    uint64_t inode;     /* the entry concerned */
    uint64_t parent;    /* its parent directory's inode (before a delete) */
    const char *name;   /* its name in that directory */
} memdb_change;

typedef struct memdb_options {
    /* Lock expiry in seconds (spec §7); 0 means CFS_LOCK_TIMEOUT. */
    uint32_t lock_timeout;
    /* Local clock for lock first-seen times, in seconds; NULL = monotonic clock. */
    uint64_t (*now)(void *user_data);
    void *now_data;
    /* Called after every applied change, with the apply lock held and the tree lock
     * released.  Must not call back into memdb mutators. */
    void (*on_change)(void *user_data, const memdb_change *change);
    void *change_data;
    /* Merge the write log into SQLite this often (ms) while files are dirty; 0 = only
     * at the next SQLite transaction, at 16 MiB of log and at memdb_free(). */
    unsigned flush_interval_ms;
} memdb_options;

/*
 * Open (or create) the database at @db_path and load the tree.  Validation failures of
 * the stored rows, and SQLite errors, fill @error with a one-line description (each
 * offending row is also logged).  Writes nothing to a database that fails to load.
 * @ret_created is set to true when the database file did not exist before (may be NULL).
 */
memdb *memdb_open(const char *db_path, const memdb_options *options, bool *ret_created,
                  GError **error);
/* Close the database and free everything; NULL-safe. */
void memdb_free(memdb *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(memdb, memdb_free)

/*
 * Apply operations.  Paths are relative ("a/b"), a leading '/' and empty components
 * are ignored.  @writer is the node id (0 in local mode), @mtime the operation time.
 * Each returns 0 (memdb_write: the number of bytes written) or a negative errno, with
 * precedence exactly as spec §4.2.  -EIO: neither the operation log nor the database
 * could take the operation (RAM has been restored from database + log).
 */
int memdb_create(memdb *m, const char *path, uint32_t writer, uint32_t mtime);
int memdb_mkdir(memdb *m, const char *path, uint32_t writer, uint32_t mtime);
/* Write @len bytes at @offset; with @truncate the new size is exactly offset + len. */
int memdb_write(memdb *m, const char *path, uint64_t offset, const void *data, size_t len,
                bool truncate, uint32_t writer, uint32_t mtime);
int memdb_delete(memdb *m, const char *path, uint32_t writer, uint32_t mtime);
int memdb_rename(memdb *m, const char *from, const char *to, uint32_t writer, uint32_t mtime);
/* Set the modification time (utimens); lock directories follow the rules of spec §7. */
int memdb_mtime(memdb *m, const char *path, uint32_t writer, uint32_t mtime);

/*
 * Group several apply calls into one database transaction (spec W26).  Between begin
 * and commit, apply calls return their results as usual but do not commit.  Commit
 * returns 0 or -EIO; after -EIO RAM was reloaded from database + log, which undid the
 * operations of the batch that the log could not take.  Not nestable.
 */
void memdb_batch_begin(memdb *m);
int memdb_batch_commit(memdb *m);

/* Merge the write log into the database now (0 or -EIO). */
int memdb_flush(memdb *m);

/*
 * Replace RAM with the database's content (after a failed commit, or on request).
 * Lock ages of unchanged locks are kept; the VM list is rebuilt.  0 or -errno with
 * @error set (RAM unchanged then).
 */
int memdb_reload(memdb *m, GError **error);

/* Readers: copy attributes out under the read lock.  -ENOENT if absent. */
int memdb_getattr(memdb *m, uint64_t inode, memdb_attr *ret_attr);
int memdb_lookup(memdb *m, uint64_t parent, const char *name, memdb_attr *ret_attr);
int memdb_lookup_path(memdb *m, const char *path, memdb_attr *ret_attr);
/* Read up to @len bytes at @offset into @buf; returns the count or -errno
 * (-ENOENT missing, -EISDIR directory). */
ssize_t memdb_read(memdb *m, uint64_t inode, void *buf, size_t len, uint64_t offset);
/* The whole content of the file at @path (-ENOENT if missing or a directory). */
int memdb_read_path(memdb *m, const char *path, GBytes **ret_data);
/* A snapshot of a directory's entries (memdb_dirent, with their names owned by the
 * array).  -ENOENT missing, -ENOTDIR not a directory. */
int memdb_list(memdb *m, uint64_t inode, GArray **ret_entries);
/* The path of @inode ("" for the root), or NULL if it does not exist. */
char *memdb_path(memdb *m, uint64_t inode);
/* Every inode of the tree (uint64_t), root included, in no particular order. */
GArray *memdb_inodes(memdb *m);
/* Totals for statfs: data bytes of all files and the number of entries (root included). */
void memdb_usage(memdb *m, uint64_t *ret_bytes, uint64_t *ret_entries);
/* The global version, and the root's writer and mtime. */
void memdb_version(memdb *m, uint64_t *ret_version, uint32_t *ret_writer, uint32_t *ret_mtime);

/* A full copy of one entry (for an UPDATE message): attributes, name, data (files). */
int memdb_entry_copy(memdb *m, uint64_t inode, memdb_attr *ret_attr, char **ret_name,
                     GBytes **ret_data);

/* One entry received from the leader during a resync (spec §10.5). */
typedef struct memdb_update {
    memdb_attr attr;
    char *name;
    GBytes *data; /* files only, may be NULL for size 0 */
} memdb_update;
void memdb_update_free(memdb_update *u);

/* What a resync commit changed, for the log (W22). */
typedef struct memdb_sync_stats {
    guint removed;     /* local entries absent from the leader's index */
    guint overwritten; /* local entries replaced by a different version */
    guint added;       /* entries new to this node */
    bool local_changes_lost; /* a replaced entry was not older than the leader's copy */
    double build_ms;         /* building and verifying the new tree in RAM */
    double database_ms;      /* the database transaction */
} memdb_sync_stats;

/*
 * Commit a resync (spec §9.6): the new tree is the old tree minus entries absent from
 * @leader_index, plus @updates.  Its index must equal @leader_index byte for byte;
 * otherwise nothing changes and -EINVAL is returned with @error set ("new index does
 * not match master index").  On success RAM and database hold the leader's state, the
 * VM list and lock table are rebuilt (lock ages kept) and a RELOAD change is reported.
 */
int memdb_sync_commit(memdb *m, GBytes *leader_index, GPtrArray *updates,
                      memdb_sync_stats *ret_stats, GError **error);

/* The encoded index (spec §8.2), the replication state. */
GBytes *memdb_encode_index(memdb *m);
/* The whole-tree checksum (spec §8.3). */
void memdb_compute_checksum(memdb *m, uint8_t ret_checksum[32]);
/* The per-entry digest input is hashed here; exposed for tests and for the lock table. */
void memdb_entry_digest(const memdb_attr *attr, const char *name, const void *data,
                        uint8_t ret_digest[32]);

/* The VM list: its version and a copy of all records (memdb_vm, freed with the array). */
uint64_t memdb_vmlist_version(memdb *m);
GArray *memdb_vmlist_snapshot(memdb *m, uint64_t *ret_version);
/* The guest config path of @vmid ("nodes/<node>/<kind>/<vmid>.conf"), or NULL. */
char *memdb_vm_config_path(memdb *m, uint32_t vmid);

/* One guest config of a memdb_vm_configs() snapshot. */
typedef struct memdb_vm_config {
    uint32_t vmid;
    GBytes *data;
} memdb_vm_config;

/*
 * A consistent snapshot of guest configs (IPC guest properties, spec §12.4, W24): the
 * config of @vmid, or of every guest in the VM list when @vmid is 0, copied under one
 * read lock.  -ENOENT if @vmid is not in the VM list.  Guests whose config entry is
 * missing are left out.  The array frees the data.
 */
int memdb_vm_configs(memdb *m, uint32_t vmid, GArray **ret_configs);

/*
 * Locks (spec §7).  memdb_lock_checksum() fills the checksum of the lock directory at
 * @path (-ENOENT if it is not a lock directory).  memdb_lock_expired() evaluates expiry
 * for the presented checksum, updating the first-seen record as the spec says.
 */
int memdb_lock_checksum(memdb *m, const char *path, uint8_t ret_checksum[32]);
bool memdb_lock_expired(memdb *m, const char *path, const uint8_t checksum[32]);
/* Number of lock records (for tests and .debug output). */
guint memdb_lock_count(memdb *m);

/* Path helpers shared with ops.c and the status layer. */
/* True for "", ".", ".." (refused with EACCES, spec §4.1). */
bool memdb_name_is_bad(const char *name);
/* Parse a guest config path (spec §6.1); ret_node is a newly allocated string. */
bool memdb_parse_vm_path(const char *path, uint32_t *ret_vmid, vm_type *ret_type,
                         char **ret_node);
/* True if @path is a private path (priv, priv/..., nodes/<x>/priv, nodes/<x>/priv/...). */
bool memdb_path_is_private(const char *path);
/* "qemu", "openvz" or "lxc". */
const char *memdb_vm_type_name(vm_type type);
