/*
 * cfs-fuse: the libfuse3 low-level file system that serves /etc/pve.
 *
 * Owns the FUSE session and mount, the virtual entries of the root (spec §2.1),
 * attribute computation (modes, owner, quorum indication, spec §3) and the
 * translation of kernel requests into memdb reads and ops submissions.  FUSE inode
 * numbers are memdb inodes + 1 (the root is FUSE_ROOT_ID); virtual entries use a
 * reserved range.  Kernel cache invalidations are queued to a dedicated thread, so a
 * replication thread never blocks on the kernel while a FUSE request waits for it.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

#include "pmxcfs/memdb.h"
#include "pmxcfs/ops.h"
#include "pmxcfs/status.h"

typedef struct cfs_fuse cfs_fuse;

typedef struct cfs_fuse_config {
    const char *mountpoint;
    gid_t www_data_gid;
    memdb *memdb;       /* borrowed */
    cfs_status *status; /* borrowed */
    cfs_ops *ops;       /* borrowed */
} cfs_fuse_config;

/*
 * Create the session and mount it at config->mountpoint (which must exist).  Returns
 * NULL with @error set when the mount fails.
 */
cfs_fuse *cfs_fuse_new(const cfs_fuse_config *config, GError **error);
/* Serve requests with a pool of threads until cfs_fuse_exit() or a signal. */
int cfs_fuse_run(cfs_fuse *f);
/* Make cfs_fuse_run() return (async-signal-safe). */
void cfs_fuse_exit(cfs_fuse *f);
/* Unmount and free; NULL-safe. */
void cfs_fuse_free(cfs_fuse *f);

/* Forget what the kernel cached about one entry / about every entry (quorum change,
 * resync).  Non-blocking: the work is done by the invalidation thread. */
void cfs_fuse_invalidate_entry(cfs_fuse *f, uint64_t parent_inode, const char *name,
                               uint64_t inode);
void cfs_fuse_invalidate_all(cfs_fuse *f);

/* The memdb change hook for cluster mode: queue invalidations for a change. */
void cfs_fuse_on_change(cfs_fuse *f, const memdb_change *change);
