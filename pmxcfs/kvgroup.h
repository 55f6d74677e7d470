/*
 * kvgroup: the status layer as an application of the CPG group `pve_kvstore_v1`
 * (protocol 0, spec §10.1, §10.6, §10.13, §11).
 *
 * Owns the group's dfsm and connects it to cfs_status: NORMAL messages (UPDATE, LOG) are
 * delivered to cfs_status_deliver(), the state is the sorted cluster log ring, state
 * processing marks every member synced (there is never an UPDATE phase), merges the
 * rings and re-broadcasts the local key/value table, reaching SYNCED broadcasts
 * `nodeip`, and every membership change sets the online flags.  It installs itself as
 * the status layer's transport.  The cluster thread drives the dfsm (cfs_cluster).
 */
#pragma once

#include "pmxcfs/dfsm.h"
#include "pmxcfs/status.h"

typedef struct kvgroup kvgroup;

/* Create the group application and install the transport in @status (borrowed). */
kvgroup *kvgroup_new(cfs_status *status);
/* Remove the transport and free; the dfsm must be finalised (cluster stopped). */
void kvgroup_free(kvgroup *k);
/* The dfsm to register with the cluster thread (cfs_cluster_add_group()). */
dfsm *kvgroup_dfsm(kvgroup *k);
