/*
 * cs-membership: a snapshot of corosync's membership and votequorum state, read through
 * the votequorum and cmap libraries (what `corosync-quorumtool` shows), and the one
 * votequorum change pvecm makes (expected votes).
 *
 * A snapshot is taken with short-lived connections and owns plain copies of everything,
 * so it stays valid after corosync changes or goes away.  Not thread-safe (the library
 * connections are per call).
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* How long a snapshot waits for votequorum's current-state notification. */
#define CS_MEMBERSHIP_TIMEOUT_MS 5000

typedef struct cs_member {
    uint32_t nodeid;
    uint32_t votes;
    char *name; /* nodelist name, else ring0_addr, else NULL */
    char *addr; /* the node's first address (lowest ringN_addr), or NULL; corosync-quorumtool
                   -i shows only this one */
} cs_member;

typedef struct cs_membership {
    char *quorum_provider;   /* cmap quorum.provider */
    char *cluster_name;      /* cmap totem.cluster_name, or NULL */
    uint64_t config_version; /* cmap totem.config_version */
    uint32_t local_nodeid;
    uint32_t ring_nodeid; /* ring id: representative node and sequence */
    uint64_t ring_seq;
    bool quorate;
    uint32_t expected_votes;
    uint32_t highest_expected;
    uint32_t total_votes;
    uint32_t quorum;
    uint32_t flags;  /* VOTEQUORUM_INFO_* */
    GArray *members; /* of cs_member, sorted by node id */
} cs_membership;

/*
 * Take a snapshot.  0 and *@ret_snapshot set, or -errno: -ENOTCONN when corosync does not
 * run (cmap or votequorum cannot be initialised), -ETIMEDOUT when votequorum did not
 * report its state in time, other -errno from corosync.
 */
int cs_membership_query(cs_membership **ret_snapshot);
void cs_membership_free(cs_membership *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(cs_membership, cs_membership_free)

/*
 * Ask votequorum to set the expected votes to @expected.  0 or -errno (-EINVAL: corosync
 * refused the value, -ENOTCONN: corosync does not run).
 */
int cs_membership_set_expected(uint32_t expected);

/*
 * totem.config_version as corosync runs it (cmap), in @ret_version.  0 or -errno.
 */
int cs_membership_config_version(uint64_t *ret_version);
