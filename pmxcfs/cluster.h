/*
 * cluster: the cluster-mode service thread of pmxcfs.
 *
 * Owns a GMainContext running in its own thread, the quorum connection, the CPG groups
 * registered with it (the DCDB group, and the status group added by the status layer),
 * their fd watches, reconnection with a 1 s back-off when corosync is missing or
 * restarts (W18), the hourly verification timer and corosync.conf propagation.
 * Quorum changes update the status flag and invalidate the kernel's attribute cache
 * (the mode bits carry the quorum indication, spec §3).
 */
#pragma once

#include <glib.h>

#include "pmxcfs/cfs-fuse.h"
#include "pmxcfs/dcdb.h"
#include "pmxcfs/dfsm.h"
#include "pmxcfs/memdb.h"
#include "pmxcfs/status.h"

typedef struct cfs_cluster cfs_cluster;

typedef struct cfs_cluster_config {
    memdb *memdb;                  /* borrowed */
    cfs_status *status;            /* borrowed */
    const char *corosync_conf;     /* host path, /etc/corosync/corosync.conf */
    unsigned verify_interval;      /* seconds; 0 = 3600 (spec §10.14) */
} cfs_cluster_config;

cfs_cluster *cfs_cluster_new(const cfs_cluster_config *config);
void cfs_cluster_free(cfs_cluster *c);

/* The submission backend for cfs_ops (the DCDB group). */
const cfs_ops_cluster *cfs_cluster_ops(cfs_cluster *c);
/* Kernel cache invalidation for delivered changes and quorum changes (may be NULL). */
void cfs_cluster_set_fuse(cfs_cluster *c, cfs_fuse *f);
/* Forward a memdb change (called from the memdb change hook). */
void cfs_cluster_on_change(cfs_cluster *c, const memdb_change *change);
/* Register another CPG group (before cfs_cluster_start); the cluster thread initialises,
 * dispatches and reconnects it.  Borrowed. */
void cfs_cluster_add_group(cfs_cluster *c, dfsm *d);
/* The service thread's main context, for other components' timers. */
GMainContext *cfs_cluster_context(cfs_cluster *c);

/* Start the thread: connect quorum and groups, propagate corosync.conf (with reload). */
int cfs_cluster_start(cfs_cluster *c);
/* Leave the groups, disconnect, stop the thread. */
void cfs_cluster_stop(cfs_cluster *c);
