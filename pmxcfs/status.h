/*
 * status: process-wide status of the daemon that is not stored in the tree.
 *
 * Owns the start time, the local node name and address, the quorum flag, the
 * cluster-info version, the per-path version counters of the 43 observed files
 * (spec §2.2), and the generation of the JSON virtual files `.version`, `.members`,
 * `.vmlist`, `.clusterlog` and `.rrd` (spec §2.3-2.7).  All counters are RAM-only and
 * process-local.  Thread-safe: FUSE threads read while the replication thread writes.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "pmxcfs/memdb.h"

typedef struct cfs_status cfs_status;

/* @m is borrowed (for the VM list); it must outlive the status object. */
cfs_status *cfs_status_new(const char *nodename, memdb *m);
void cfs_status_free(cfs_status *st);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(cfs_status, cfs_status_free)

const char *cfs_status_nodename(cfs_status *st);
uint32_t cfs_status_starttime(cfs_status *st);

/* Quorum flag (forced on in local mode, spec §11.4). */
void cfs_status_set_quorate(cfs_status *st, bool quorate);
bool cfs_status_is_quorate(cfs_status *st);

/* Count a change of @path if it is one of the observed files (spec §2.2). */
void cfs_status_path_changed(cfs_status *st, const char *path);
/* Increment every observed counter (database open, resync commit). */
void cfs_status_bump_all(cfs_status *st);
/* Current counter of an observed path, 0 if the path is not observed. */
uint32_t cfs_status_path_version(cfs_status *st, const char *path);

/* The virtual files' content, freshly generated (caller frees). */
char *cfs_status_version_json(cfs_status *st);
char *cfs_status_members_json(cfs_status *st);
char *cfs_status_vmlist_json(cfs_status *st);
char *cfs_status_clusterlog_json(cfs_status *st);
char *cfs_status_rrd_dump(cfs_status *st);
