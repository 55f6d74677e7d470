/*
 * pvecm-status: `pvecm status`, `pvecm nodes` and `pvecm expected`.
 *
 * The quorum and membership parts are formatted exactly like corosync-quorumtool
 * (`-siH` for status, `-l` for nodes) from a cs_membership snapshot, so scripts written
 * for the reference keep working; the formatters are pure functions of the snapshot.
 */
#pragma once

#include <stdbool.h>
#include <time.h>

#include "quorum/cs-membership.h"
#include "quorum/pvecm-env.h"

/* Exit status of `pvecm status` when the node is not quorate (as corosync-quorumtool). */
#define PVECM_EXIT_NOT_QUORATE 2

/*
 * The "Quorum information", "Votequorum information" and "Membership information"
 * blocks of `corosync-quorumtool -s`, with node ids in hex when @hex and member
 * addresses instead of names when @ip; @now is printed as the date.  A new string.
 */
char *pvecm_status_format_quorum(const cs_membership *m, bool hex, bool ip, time_t now);
/* The membership block of `corosync-quorumtool -l` (leading blank line included). */
char *pvecm_status_format_members(const cs_membership *m, bool hex, bool ip);

/* The commands; each returns the process exit status and prints its own errors. */
int pvecm_status_run(pvecm_env *env);
int pvecm_nodes_run(pvecm_env *env);
int pvecm_expected_run(pvecm_env *env, const char *value);
