/*
 * crm: the cluster resource manager daemon logic (ha.md §3.1): master election
 * through `ha_manager_lock`, the CRM state machine and the master's watchdog.
 *
 * One ha_crm per node.  ha_crm_do_one_iteration() runs one round (loop hooks,
 * cluster_state_update, transitions, work) and returns false when the daemon should
 * exit.  While master it owns an ha_manager.
 */
#pragma once

#include "ha/env.h"

typedef struct ha_crm ha_crm;

/* Logs "status change startup => wait_for_quorum". */
ha_crm *ha_crm_new(ha_env *env);
void ha_crm_free(ha_crm *crm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ha_crm, ha_crm_free)

bool ha_crm_do_one_iteration(ha_crm *crm);
void ha_crm_shutdown_request(ha_crm *crm);
const char *ha_crm_state(const ha_crm *crm);
