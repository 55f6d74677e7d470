/*
 * status: process-wide status of the daemon that is not stored in the tree (spec §11).
 *
 * Owns the start time, the local node name and address, the quorum flag, the
 * cluster information (cluster name, config version, node list with online flags and
 * per-node key/value tables), the cluster-info version, the node addresses (`nodeip`),
 * the local key/value table, the RRD table, the cluster log, the per-path version
 * counters of the 43 observed files (spec §2.2), and the generation of the virtual
 * files `.version`, `.members`, `.vmlist`, `.clusterlog` and `.rrd` (spec §2.3-2.7).
 *
 * It is also the kvstore application of the `pve_kvstore_v1` group: the cluster layer
 * gives it a transport (send) and calls the deliver / state / membership / synced
 * functions below; without a transport (local mode) nothing is broadcast.
 *
 * Everything is RAM-only and process-local.  Thread-safe: FUSE and IPC threads read
 * while the replication thread writes; no lock is held while sending.  The generated
 * `.version`, `.members` and `.vmlist` are cached and rebuilt only when their inputs
 * changed (W24), so a stat costs no generation.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "pmxcfs/memdb.h"

typedef struct cfs_status cfs_status;

/* One configured node, as read from cmap (spec §11.3). */
typedef struct cfs_status_node {
    const char *name;
    uint32_t nodeid;
    uint32_t votes;
} cfs_status_node;

/* How the status layer broadcasts kvstore messages (spec §10.6). */
typedef struct cfs_status_transport {
    /* Multicast one NORMAL message of the kvstore group without waiting; 0 or -errno. */
    int (*send)(void *user_data, uint16_t subtype, const void *payload, size_t len);
    void *user_data;
} cfs_status_transport;

/*
 * A new status object for the local node @nodename.  @m is borrowed (for the VM list);
 * it must outlive the status object.  The cluster log gets its "starting cluster log"
 * entry (spec §13.4).
 */
cfs_status *cfs_status_new(const char *nodename, memdb *m);
void cfs_status_free(cfs_status *st);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(cfs_status, cfs_status_free)

const char *cfs_status_nodename(cfs_status *st);

/* Quorum flag (forced on in local mode, spec §11.4). */
void cfs_status_set_quorate(cfs_status *st, bool quorate);
bool cfs_status_is_quorate(cfs_status *st);

/* Count a change of @path if it is one of the observed files (spec §2.2). */
void cfs_status_path_changed(cfs_status *st, const char *path);
/* Increment every observed counter (database open, resync commit). */
void cfs_status_bump_all(cfs_status *st);
/* Current counter of an observed path, 0 if the path is not observed. */
uint32_t cfs_status_path_version(cfs_status *st, const char *path);

/* ---------------------------------------------------------------------------------- */
/* cluster information (called by the cluster layer) */

/* The address resolved at start-up (spec §13.2): the default `nodeip` (may be NULL). */
void cfs_status_set_local_address(cfs_status *st, const char *address);

/*
 * Replace the cluster information (spec §11.3): cluster name, totem.config_version and
 * the node list.  Nodes without a name or with node id 0 are skipped, as are repeated
 * node ids.  Online flags and key/value tables of node ids that still exist are kept;
 * the others are dropped.  Increments the cluster-info version.
 */
void cfs_status_set_cluster_info(cfs_status *st, const char *cluster_name, uint64_t config_version,
                                 const cfs_status_node *nodes, size_t n_nodes);
/* Forget the cluster information (`.members` without the cluster part again). */
void cfs_status_clear_cluster_info(cfs_status *st);
uint64_t cfs_status_clinfo_version(cfs_status *st);

/*
 * The members of the kvstore group changed (spec §11.2): every configured node goes
 * offline, then each listed node id online; the cluster-info version is incremented.
 */
void cfs_status_set_members(cfs_status *st, const uint32_t *nodeids, size_t n);
/* Set one node's online flag; -ENOENT if the node id is not configured. */
int cfs_status_set_online(cfs_status *st, uint32_t nodeid, bool online);

/* ---------------------------------------------------------------------------------- */
/* key/value store (spec §11.1) */

/*
 * A local SET_STATUS: routes `rrd/<key>` to the RRD table, `nodeip` to the local
 * address, anything else to the local table (an empty value deletes), then broadcasts
 * it.  -EFBIG if the value is longer than CFS_MAX_STATUS_VALUE, -EINVAL for an empty
 * key, -ENAMETOOLONG for a key of 256 bytes or more.
 */
int cfs_status_set(cfs_status *st, const char *key, const void *value, size_t len);
/*
 * A GET_STATUS: the raw value of @key in the table of @nodename (NULL or "" = the local
 * node).  -ENOENT if the node or the key is unknown; RRD values and `nodeip` are not
 * readable this way.
 */
int cfs_status_get(cfs_status *st, const char *nodename, const char *key, GBytes **ret_value);

/* ---------------------------------------------------------------------------------- */
/* cluster log (spec §11.5) */

/*
 * Create a log entry from the local node (time = now) and broadcast it.  0, -EINVAL
 * for a priority above 7, -EEXIST if deduplication dropped it (clock went backwards).
 */
int cfs_status_log(cfs_status *st, uint8_t priority, const char *ident, const char *tag,
                   uint32_t pid, const char *msg);
/* The cluster log as JSON: newest first, at most @max entries (0 = 50), only entries of
 * ident @user when @user is non-empty. */
GBytes *cfs_status_clusterlog_json(cfs_status *st, const char *user, uint32_t max);

/* ---------------------------------------------------------------------------------- */
/* the kvstore group application (spec §10.6, §10.13) */

/* Install (or with NULL remove) the transport.  The struct is copied. */
void cfs_status_set_transport(cfs_status *st, const cfs_status_transport *transport);

/*
 * A NORMAL message of the kvstore group was delivered from @nodeid.  Messages of the
 * local process (@from_self) are ignored; malformed UPDATE/LOG payloads, UPDATEs from
 * unconfigured node ids and unknown subtypes are logged and ignored.  Always 0: nothing
 * in this group makes a node leave.
 */
int cfs_status_deliver(cfs_status *st, uint32_t nodeid, bool from_self, uint16_t subtype,
                       const void *payload, size_t len);
/* The local state for a state exchange: the sorted cluster log ring. */
GBytes *cfs_status_get_state(cfs_status *st);
/*
 * All states arrived (member order; @states[@local_index] is ours): merge the cluster
 * logs, then re-broadcast every entry of the local key/value table.
 */
void cfs_status_process_states(cfs_status *st, GBytes *const *states, size_t n, size_t local_index);
/* The group reached SYNCED: broadcast `nodeip` (stored or resolved address + NUL). */
void cfs_status_synced(cfs_status *st);

/* ---------------------------------------------------------------------------------- */
/* virtual files (spec §2.3-2.7); each returns a new reference */

GBytes *cfs_status_version_json(cfs_status *st);
GBytes *cfs_status_members_json(cfs_status *st);
GBytes *cfs_status_vmlist_json(cfs_status *st);
/* `.clusterlog`: the 50 newest entries. */
GBytes *cfs_status_clusterlog_file(cfs_status *st);
/* `.rrd` (no trailing NUL; GET_RRD_DUMP appends it). */
GBytes *cfs_status_rrd_dump(cfs_status *st);
