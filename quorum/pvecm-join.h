/*
 * pvecm-join: `pvecm add`, joining this standalone node to a cluster over SSH, and the
 * automatic roll-back of a join that did not finish.
 *
 * A join is a transaction on this node.  Its state lives in
 * <db_dir>/.pvecm-join/state (written before the first change, updated before every
 * phase); the old database is moved into that directory, never deleted, until the join
 * succeeded.  Removing the state file is the commit point.  A join that fails, or that
 * was killed at any point (the next pvecm command finds the state file while no other
 * pvecm holds the local lock), is rolled back: services stopped, the old database and
 * /etc/corosync restored, pmxcfs started again in local mode.  The member keeps the new
 * node in its configuration in that case; pvecm tries `pvecm delnode` there after a
 * failure it saw itself, and otherwise says what to run.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "quorum/pvecm-cluster.h"
#include "quorum/pvecm-env.h"

/* Directory of the join state below db_dir. */
#define PVECM_JOIN_DIR ".pvecm-join"
/* Backups kept in <db_dir>/backup (the reference keeps 10). */
#define PVECM_BACKUPS_KEPT 10
/* How long the joining node waits for quorum and for its /etc/pve to be synced. */
#define PVECM_JOIN_QUORUM_TIMEOUT_S 60
#define PVECM_JOIN_SYNC_TIMEOUT_S   30
/* SSH connect timeout towards the member. */
#define PVECM_SSH_CONNECT_TIMEOUT_S 10

/* `pvecm add <member>`; returns the exit status and prints its own messages. */
int pvecm_add_run(pvecm_env *env, const char *member, const pvecm_node_opts *o);

/*
 * Roll back an interrupted join if one is recorded and no other pvecm holds the local
 * lock (which this function then keeps).  Returns 0 when there was nothing to do or the
 * roll-back succeeded, 1 when it failed (the message says what to do; the state is kept
 * so that the next command retries).
 */
int pvecm_join_recover(pvecm_env *env);

/*
 * Back up <db_dir>/config.db with `sqlite3 .dump | gzip` into
 * <db_dir>/backup/config-<epoch>.sql.gz, keeping the newest PVECM_BACKUPS_KEPT.  The
 * path is stored in @ret_path (NULL when there is no database).
 */
bool pvecm_db_backup(const pvecm_env *env, char **ret_path, GError **error);
