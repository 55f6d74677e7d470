/*
 * memdb-private: the internals shared by the files of the memdb module (memdb.c,
 * memdb-log.c, memdb-sync.c, memdb-tables.c).  Nothing outside pmxcfs/memdb*.c
 * includes this header; the module's contract is memdb.h.
 */
#pragma once

#include <glib.h>

#include "pmxcfs/database.h"
#include "pmxcfs/memdb.h"
#include "pmxcfs/sha256.h"
#include "pmxcfs/wire.h"
#include "pmxcfs/wlog.h"

#define G_LOG_DOMAIN_MEMDB "database"


typedef struct memdb_entry memdb_entry;
struct memdb_entry {
    uint64_t inode;
    uint64_t parent;
    uint64_t version;
    uint32_t writer;
    uint32_t mtime;
    uint32_t size;
    uint32_t capacity; /* allocated bytes of data (files) */
    uint8_t type;
    char *name;
    union {
        GHashTable *children; /* directories: name -> entry, created on first child */
        uint8_t *data;        /* files */
    };
};

typedef struct lock_record {
    uint8_t checksum[32];
    uint64_t ltime;
} lock_record;

typedef struct vm_record {
    uint32_t vmid;
    vm_type type;
    uint64_t version;      /* process-local entry version */
    uint64_t tree_version; /* version of the config entry: decides duplicates (W14) */
    char *node;
} vm_record;

struct memdb {
    GRecMutex apply_lock;
    GRWLock tree_lock;

    GHashTable *index; /* uint64 inode -> memdb_entry (owned) */
    memdb_entry *root;
    uint64_t total_bytes;

    database *db;
    char *db_path;
    bool in_batch;
    bool batch_merge; /* the operation log failed during the batch: merge at its end */
    GRecMutex merge_lock; /* every use of the SQLite connection (see memdb-log.c) */
    bool merge_failed;    /* pending rows are only in the log: reload before merging */

    /* write log (wlog.h): files whose data is newer in RAM+log than in SQLite */
    wlog *wlog;
    GHashTable *dirty;   /* memdb_entry *: changed since the last merge */
    GHashTable *deleted; /* uint64 inode: removed since the last merge */
    bool replaying;      /* applying the operation log: do not log again */
    bool wlog_stopped;
    GThread *flusher;
    GMutex flusher_lock;
    GCond flusher_cond;
    bool flusher_stop;

    GHashTable *vmlist; /* vmid -> vm_record (owned) */
    uint64_t vmlist_version;
    uint64_t vm_counter;

    GHashTable *locks; /* path -> lock_record (owned) */

    memdb_options opts;
};

memdb_entry *mdb_entry_new(uint64_t inode, uint64_t parent, uint64_t version, uint32_t writer, uint32_t mtime, uint8_t type, const char *name);
void mdb_entry_free(memdb_entry *e);
void mdb_entry_attr(const memdb_entry *e, memdb_attr *ret);
memdb_entry *mdb_entry_child(const memdb_entry *dir, const char *name);
void mdb_entry_attach(memdb_entry *dir, memdb_entry *e);
memdb_entry *mdb_get(memdb *m, uint64_t inode);
char *mdb_entry_path(memdb *m, const memdb_entry *e);
bool mdb_entry_is_lock_dir(memdb *m, const memdb_entry *e);
bool mdb_name_is_ldh(const char *s, size_t len);
const char *mdb_vm_kind_dir(vm_type type);
bool mdb_vm_conf_name_parse(const char *s, size_t len, uint32_t *ret_vmid);
void mdb_entry_checksum(const memdb_entry *e, uint8_t ret[32]);
void mdb_notify(memdb *m, memdb_change_kind kind, const char *path, const memdb_entry *e, uint64_t parent, const char *name);
uint64_t mdb_now(memdb *m);
void mdb_vmlist_register_path(memdb *m, const char *path, uint64_t tree_version);
void mdb_vmlist_remove_path(memdb *m, const char *path);
bool mdb_vmlist_conflicts(memdb *m, const char *path);
void mdb_vmlist_rebuild(memdb *m, bool bump);
void mdb_vm_record_free(gpointer p);
void mdb_lock_record_set(memdb *m, const char *path, const memdb_entry *e);
/* Rebuild the lock table from the tree, keeping the first-seen time of every lock whose
 * checksum equals its record in @previous (NULL: the current table). */
void mdb_locks_rebuild(memdb *m, GHashTable *previous);
int mdb_persist_entry(memdb *m, const memdb_entry *e);
void mdb_wlog_replay_all(memdb *m);
int mdb_txn_ensure(memdb *m);
int mdb_merge(memdb *m);
bool mdb_merge_pending(memdb *m);
int mdb_persist_op(memdb *m, wlog_record *rec, int result);
void mdb_mark_dirty(memdb *m, memdb_entry *e);
void mdb_mark_deleted(memdb *m, memdb_entry *e);
gpointer mdb_flusher_main(gpointer data);
uint64_t mdb_root_bump(memdb *m, uint32_t writer, uint32_t mtime);
memdb_entry *mdb_lookup_path(memdb *m, const char *path);
