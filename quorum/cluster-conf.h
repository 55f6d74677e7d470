/*
 * cluster-conf: what a Proxmox VE cluster keeps in corosync.conf (spec cluster.md):
 * the cluster name, config_version, the links of totem and the node list.
 *
 * Works on the syntax tree of corosync-conf and never touches files.  Invariants kept by
 * every change made here: node ids are unique and non-zero, node names are unique, no
 * address is used by two nodes, every node has an address for every configured link.
 * Functions that can be refused for a human reason fill a GError (CLUSTER_CONF_ERROR)
 * whose message is the one pvecm prints; they change nothing when they fail.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "quorum/corosync-conf.h"

/* knet links 0..7 (corosync's KNET_MAX_LINK is 8; the reference allows link0..link7). */
#define CLUSTER_CONF_MAX_LINKS 8
/* Cluster names: letters, digits and '-', at most 15 characters (spec cluster.md). */
#define CLUSTER_CONF_NAME_MAX 15
/* Node names are host name labels: at most 63 characters (RFC 1035). */
#define CLUSTER_CONF_NODENAME_MAX 63
/* knet_link_priority range (corosync.conf(5)). */
#define CLUSTER_CONF_PRIORITY_MAX 255

#define CLUSTER_CONF_ERROR (cluster_conf_error_quark())
GQuark cluster_conf_error_quark(void);

typedef enum {
    CLUSTER_CONF_ERROR_INVALID,   /* malformed value or configuration */
    CLUSTER_CONF_ERROR_EXISTS,    /* name, id or address already in use */
    CLUSTER_CONF_ERROR_NOT_FOUND, /* unknown node */
} cluster_conf_error;

/* One --linkN argument: "[address=]<addr>[,priority=<0-255>]". */
typedef struct cluster_conf_link {
    char *address; /* NULL: link not given */
    int priority;  /* -1: not given */
} cluster_conf_link;

/* A node of the node list; strings are borrowed from the tree. */
typedef struct cluster_conf_node {
    const char *name;                         /* name, or ring0_addr when the entry has no name */
    uint32_t nodeid;                          /* 0 when missing or invalid */
    uint32_t votes;                           /* quorum_votes, default 1 */
    const char *addr[CLUSTER_CONF_MAX_LINKS]; /* ringN_addr or NULL */
    corosync_conf_item *section;
} cluster_conf_node;

/* Check a cluster name (letters, digits, '-', 1..15 characters). */
bool cluster_conf_name_check(const char *name, GError **error);
/* Check a node name (a host name label). */
bool cluster_conf_nodename_check(const char *name, GError **error);

/*
 * Parse a link argument into @ret (address copied; free with cluster_conf_link_clear()).
 * The address must be an IP address or a host name.
 */
bool cluster_conf_link_parse(const char *spec, cluster_conf_link *ret, GError **error);
void cluster_conf_link_clear(cluster_conf_link *link);

/*
 * A new configuration in the layout `pvecm create` writes: totem (version 2, secauth on,
 * cluster_name, config_version 0, ip_version ipv4-6, link_mode passive, one interface
 * per given link with its knet_link_priority), one node (@nodename, @nodeid, @votes and a
 * ringN_addr per given link), votequorum, logging to syslog.  @links has
 * CLUSTER_CONF_MAX_LINKS entries; at least link 0 or another link must be given.
 */
corosync_conf_item *cluster_conf_new(const char *cluster_name, const char *nodename,
                                     uint32_t nodeid, uint32_t votes,
                                     const cluster_conf_link *links);

/* totem.config_version, or 0 when missing or not a number. */
uint64_t cluster_conf_version(const corosync_conf_item *root);
/* Increment totem.config_version (the reference's atomic writer does this). */
void cluster_conf_version_bump(corosync_conf_item *root);
/* totem.cluster_name or NULL. */
const char *cluster_conf_cluster_name(const corosync_conf_item *root);

/*
 * The configured link numbers: @ret_links[i] is true for every totem interface
 * (linknumber, or the legacy ringnumber, default 0).  Without any interface section only
 * link 0 is configured.  Returns the number of links.
 */
unsigned cluster_conf_links(const corosync_conf_item *root, bool *ret_links);

/* The node list in file order: a new GArray of cluster_conf_node. */
GArray *cluster_conf_nodes(const corosync_conf_item *root);

/* The node named @name, or with an address equal to @name; NULL if none. */
const cluster_conf_node *cluster_conf_node_find(const GArray *nodes, const char *name);

/*
 * Validate a configuration read from disk: totem with cluster_name and a numeric
 * config_version, a non-empty node list, valid unique node ids, unique names, unique
 * addresses, an address for every configured link.  The message names the problem.
 */
bool cluster_conf_validate(const corosync_conf_item *root, GError **error);

/*
 * Add node @name (what `pvecm addnode` does to the tree).  @nodeid 0 picks the lowest
 * free id starting at 1; @votes 0 means the default 1 (or, with @force re-adding a known
 * node, its current votes).  @links must give exactly the configured links.  An existing
 * node of that name is refused unless @force is set and @nodeid/@votes match it, in
 * which case its entry is replaced.  The new node id is stored in @ret_nodeid.
 */
bool cluster_conf_node_add(corosync_conf_item *root, const char *name, uint32_t nodeid,
                           uint32_t votes, const cluster_conf_link *links, bool force,
                           uint32_t *ret_nodeid, GError **error);

/*
 * Remove the node named @name (or with address @name); its name and id are stored in
 * @ret_name (new string) and @ret_nodeid.  CLUSTER_CONF_ERROR_NOT_FOUND if unknown.
 */
bool cluster_conf_node_remove(corosync_conf_item *root, const char *name, char **ret_name,
                              uint32_t *ret_nodeid, GError **error);
