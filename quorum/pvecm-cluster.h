/*
 * pvecm-cluster: the configuration changes `pvecm create`, `pvecm addnode` and
 * `pvecm delnode` (spec cluster.md), and `pvecm keygen`.
 *
 * Every change of corosync.conf runs under the local lock /var/lock/pvecm.lock and, when
 * the node list has more than one node, under the cluster lock
 * priv/lock/file-corosync_conf; the file is read again after the locks are held, so two
 * concurrent changes (for example two joins through different members) are serialised
 * and never pick the same node id.  All checks run before the first write, so a refused
 * change leaves everything as it was.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "quorum/cluster-conf.h"
#include "quorum/pvecm-env.h"

/* How long `pvecm addnode` waits for a member that is momentarily without quorum (for
 * example while the previous join is still starting up). */
#define PVECM_ADDNODE_QUORUM_WAIT_S 15
/* How long `pvecm create` waits for the new one-node cluster to be quorate. */
#define PVECM_CREATE_QUORUM_WAIT_S 30

/* Options shared by create, add and addnode. */
typedef struct pvecm_node_opts {
    cluster_conf_link links[CLUSTER_CONF_MAX_LINKS]; /* --link0 .. --link7 */
    uint32_t nodeid;                                 /* 0: not given */
    uint32_t votes;                                  /* 0: not given */
    bool force;
    bool json; /* addnode --output-format json */
} pvecm_node_opts;

void pvecm_node_opts_clear(pvecm_node_opts *o);

/*
 * Copy the CLUSTER_CONF_MAX_LINKS entries of @links to @ret_links (the copies borrow the
 * strings).  When no link is given, link 0 becomes the first non-loopback address @name
 * resolves to, owned by *@ret_fallback (else NULL).  False if no link is given and @name
 * does not resolve.
 */
bool pvecm_links_default(const cluster_conf_link *links, const char *name,
                         cluster_conf_link *ret_links, char **ret_fallback);

/*
 * Wait until <pve_dir>/local is writable (pmxcfs quorate) for at most @timeout_s
 * seconds; true when it is.
 */
bool pvecm_wait_pve_quorate(const pvecm_env *env, int timeout_s);

/* The commands; each returns the process exit status and prints its own messages. */
int pvecm_create_run(pvecm_env *env, const char *clustername, const pvecm_node_opts *o);
int pvecm_addnode_run(pvecm_env *env, const char *node, const pvecm_node_opts *o);
int pvecm_delnode_run(pvecm_env *env, const char *node);
int pvecm_keygen_run(pvecm_env *env, const char *filename);
