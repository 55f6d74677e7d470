/*
 * ops: the mutating file-system operations as submitted by a local caller (FUSE).
 *
 * Owns the sender-side checks of spec §4.2 and §5.1 (quorum, total size, entry count,
 * name length, delete type checks, UTIME_OMIT, unlock requests) and the dispatch of an
 * operation either to memdb directly (local mode: writer 0, local clock) or to the
 * cluster backend (cluster mode: one totally ordered message whose apply result is
 * returned).  Apply-time rules are memdb's; nothing here alters them.
 *
 * `cfs_op` is also the decoded form of a DCDB NORMAL message (spec §10.4): its type
 * values are the wire subtypes, and cfs_op_apply() is what every node runs on delivery.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "pmxcfs/memdb.h"
#include "pmxcfs/status.h"

/* DCDB message subtypes (spec §10.4). */
typedef enum {
    CFS_OP_WRITE = 1,
    CFS_OP_MKDIR = 2,
    CFS_OP_DELETE = 3,
    CFS_OP_RENAME = 4,
    CFS_OP_CREATE = 5,
    CFS_OP_MTIME = 6,
    CFS_OP_UNLOCK_REQUEST = 7,
    CFS_OP_UNLOCK = 8,
} cfs_op_type;

/* WRITE flag: truncate the file at offset + size. */
#define CFS_OP_FLAG_TRUNCATE 1u

typedef struct cfs_op {
    cfs_op_type type;
    const char *path;
    const char *to;      /* RENAME target */
    const void *data;    /* WRITE data */
    uint32_t size;       /* WRITE data length */
    uint32_t offset;     /* WRITE offset or truncate length; MTIME: the new mtime */
    uint32_t flags;      /* WRITE: CFS_OP_FLAG_TRUNCATE */
    uint8_t checksum[32]; /* UNLOCK_REQUEST / UNLOCK: the lock checksum */
} cfs_op;

/*
 * Apply @op to @m as sent by @writer at @mtime (the message header time).  Returns what
 * the writer gets back: bytes written, 0, or -errno.  UNLOCK deletes the lock directory
 * if its checksum still matches (result always 0); UNLOCK_REQUEST is not handled here
 * (it needs the membership: see the cluster backend) and returns 0.
 */
int cfs_op_apply(memdb *m, const cfs_op *op, uint32_t writer, uint32_t mtime);

/* The cluster side of submission; NULL in local mode. */
typedef struct cfs_ops_cluster {
    /* Send @op and wait for its apply result on this node. */
    int (*submit)(void *user_data, const cfs_op *op);
    /* Send @op without waiting (UNLOCK_REQUEST). */
    void (*send_async)(void *user_data, const cfs_op *op);
    void *user_data;
} cfs_ops_cluster;

typedef struct cfs_ops cfs_ops;

/* Borrowed: @m, @st and @cluster must outlive the ops object. */
cfs_ops *cfs_ops_new(memdb *m, cfs_status *st, const cfs_ops_cluster *cluster);
void cfs_ops_free(cfs_ops *o);

int cfs_ops_create(cfs_ops *o, const char *path);
int cfs_ops_mkdir(cfs_ops *o, const char *path);
int cfs_ops_write(cfs_ops *o, const char *path, uint64_t offset, const void *data, size_t len);
int cfs_ops_truncate(cfs_ops *o, const char *path, uint64_t size);
int cfs_ops_unlink(cfs_ops *o, const char *path);
int cfs_ops_rmdir(cfs_ops *o, const char *path);
int cfs_ops_rename(cfs_ops *o, const char *from, const char *to);
/* Set the mtime; mtime 0 on a lock directory is an unlock request (spec §7). */
int cfs_ops_utimens(cfs_ops *o, const char *path, uint32_t mtime);
