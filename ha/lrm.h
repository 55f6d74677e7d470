/*
 * lrm: the local resource manager daemon logic (ha.md §3.2, §5): executes the
 * master's requests for the services on its node, holds the node's agent lock and
 * watchdog while it has active services, and reports results in lrm_status.
 *
 * One ha_lrm per node.  ha_lrm_do_one_iteration() runs one round and returns false
 * when the daemon should exit.  Guest operations run as workers; with
 * get_max_workers() == 0 (the simulator) they run inline.
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

/*
 * Execute one resource agent command (ha.md §5.4) for @sid with the requested
 * @state; @target/@timeout may be NULL.  Returns the exit code, or -1 when the
 * command could not run (the error is logged).  Exposed for unit tests.
 */
int ha_lrm_exec_resource_agent(ha_env *env, const char *sid, const ha_resource *cd,
                               const char *state, const char *target, const char *timeout);
