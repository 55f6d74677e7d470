/*
 * confdb: the cluster information read from corosync's cmap (spec §11.3).
 *
 * Owns one cmap connection with its change tracking (prefix `nodelist.node.` and key
 * `totem.config_version`).  At connect and after every tracked change it reads the
 * cluster name, config version and node list and hands them to the status layer
 * (cfs_status_set_cluster_info()), which increments the cluster-info version.  Runs
 * entirely on the GMainContext it is given (the cluster thread's): connection, fd
 * watch, coalesced re-reads and a 1 s reconnect back-off when corosync is missing.
 */
#pragma once

#include <glib.h>

#include "pmxcfs/status.h"

typedef struct confdb confdb;

/* Attach to @ctx; the first connection attempt runs there as soon as it iterates. */
confdb *confdb_new(cfs_status *status, GMainContext *ctx);
/* Disconnect and free; call only when @ctx is no longer iterated (or from its thread). */
void confdb_free(confdb *c);

/*
 * The node list from the cmap keys below `nodelist.node.` (@keys: full key name ->
 * value as a string): `<n>.nodeid`, `<n>.name`, `<n>.ring0_addr`, `<n>.quorum_votes`.
 * The name is `name`, or `ring0_addr` without it; entries without a name or a valid
 * node id are skipped (spec §11.3).  Returns an array of cfs_status_node sorted by node
 * id, whose names the array frees.  Exposed for tests.
 */
GArray *confdb_parse_nodelist(GHashTable *keys);
