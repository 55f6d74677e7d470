/*
 * lrm: the local resource manager daemon logic (ha.md §3.2, §5): executes the
 * master's requests for the services on its node, holds the node's agent lock and
 * watchdog while it has active services, and reports results in lrm_status.
 *
 * One ha_lrm per node.  ha_lrm_do_one_iteration() runs one round and returns false
 * when the daemon should exit.  Guest operations are queued as jobs and run inline,
 * to completion, within the round (the simulator's max_workers of 0); forked
 * workers are not implemented and get_max_workers() is not consulted.
 */
#pragma once

#include "ha/env.h"

typedef struct ha_lrm ha_lrm;

/* Logs "status change startup => wait_for_agent_lock". */
ha_lrm *ha_lrm_new(ha_env *env);
void ha_lrm_free(ha_lrm *lrm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ha_lrm, ha_lrm_free)

bool ha_lrm_do_one_iteration(ha_lrm *lrm);
void ha_lrm_shutdown_request(ha_lrm *lrm);
const char *ha_lrm_state(const ha_lrm *lrm);
const char *ha_lrm_mode(const ha_lrm *lrm);
