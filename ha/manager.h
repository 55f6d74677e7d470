/*
 * manager: the master's decision logic (ha.md §6): one `manage` round reads the
 * membership, LRM states, configuration, rules and CRM commands, runs the service
 * state machine and the fencing step, and writes manager_status.
 *
 * A manager instance exists only while its CRM is master.  It starts from the
 * previous manager_status (node_status, service_status, node_request, disarm) and
 * rebuilds everything else.  It owns the service records; every state change goes
 * through one function that wipes the record, assigns a fresh uid, updates the
 * usage accounting and logs the change.
 */
#pragma once

#include "ha/env.h"

typedef struct ha_manager ha_manager;

/* Create a manager on @env; reads the previous manager status (errors -> empty). */
ha_manager *ha_manager_new(ha_env *env);
void ha_manager_free(ha_manager *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ha_manager, ha_manager_free)

/* One master round.  Returns 0, or -errno with @error ("got unexpected error"). */
int ha_manager_manage(ha_manager *m, GError **error);

/* Whether the stack is fully disarmed (disarm.state == disarmed). */
bool ha_manager_fully_disarmed(const ha_manager *m);
