/*
 * env: the environment interface of the HA core (ha.md §1.4).
 *
 * The CRM, LRM and manager never touch the outside world: every file, lock, clock,
 * watchdog, membership query and guest operation goes through this vtable.  Two
 * backends implement it: the simulator (ha/sim/env-sim.c) and the real one over
 * /etc/pve (a later issue).  Time is in milliseconds from get_time(); the persisted
 * timestamps are seconds.  Functions that can fail with a message for the operator
 * fill a GError; the message texts are the reference's (e.g. "cfs connection refused
 * - not mounted?").  The core keeps no global state: everything lives in the objects
 * created on an env.
 */
#pragma once

#include "ha/config-datacenter.h"
#include "ha/config-resources.h"
#include "ha/config-rules.h"
#include "ha/config-status.h"
#include "ha/timing.h"

#include <glib.h>
#include <stdbool.h>

typedef struct ha_env ha_env;

typedef enum {
    HA_LOG_DEBUG,
    HA_LOG_INFO,
    HA_LOG_NOTICE,
    HA_LOG_WARNING,
    HA_LOG_ERR,
    HA_LOG_EMAIL,
} ha_log_level;

/* Resource agent exit codes (ha.md §5.5). */
enum {
    HA_SUCCESS = 0,
    HA_ERROR = 1,
    HA_ETRY_AGAIN = 2,
    HA_EWRONG_NODE = 3,
    HA_EUNKNOWN_SERVICE_TYPE = 4,
    HA_EUNKNOWN_COMMAND = 5,
    HA_EINVALID_PARAMETER = 6,
    HA_EUNKNOWN_SERVICE = 7,
    HA_IGNORED = 8,
};

/* Resource agent, one per service type (ha.md §1.4, §5.4). */
typedef struct {
    const char *type;
    bool (*verify_name)(const char *name);
    bool (*exists)(ha_env *env, const char *name);
    void (*start)(ha_env *env, const char *name);
    void (*shutdown)(ha_env *env, const char *name, const char *timeout);
    bool (*check_running)(ha_env *env, const char *name);
    /* true if the guest moved */
    bool (*migrate)(ha_env *env, const char *name, const char *target, bool online);
    /* remove the first lock of @locks the guest has; returns it (new string) or NULL */
    char *(*remove_locks)(ha_env *env, const char *name, const char *const *locks,
                          const char *node);
} ha_agent;

/* Per-node membership entry of get_node_info(). */
typedef struct {
    char *node;
    bool online;
} ha_node_info;

typedef struct {
    double maxcpu;
    guint64 maxmem;
    double cpu; /* dynamic: used cores */
    guint64 mem;
} ha_stats;

typedef struct {
    const char *(*nodename)(ha_env *env);

    /* status files */
    int (*read_manager_status)(ha_env *env, ha_manager_status **ret, GError **error);
    int (*write_manager_status)(ha_env *env, const ha_manager_status *ms, GError **error);
    int (*read_lrm_status)(ha_env *env, const char *node, ha_lrm_status **ret, GError **error);
    int (*write_lrm_status)(ha_env *env, const ha_lrm_status *ls, GError **error);

    void (*is_node_shutdown)(ha_env *env, bool *ret_shutdown, bool *ret_reboot);

    /* command queue */
    int (*queue_crm_command)(ha_env *env, const char *line, GError **error);
    bool (*any_pending_crm_command)(ha_env *env);
    int (*read_crm_commands)(ha_env *env, char **ret, GError **error);

    /* configuration: read_service_config returns the checked config (node set) */
    int (*read_service_config)(ha_env *env, ha_resources **ret, GError **error);
    int (*update_service_config)(ha_env *env, const char *sid, const char *key, const char *value,
                                 GError **error);
    int (*write_service_config)(ha_env *env, const ha_resources *rs, GError **error);
    int (*read_rules_config)(ha_env *env, ha_rules **ret, GError **error);
    int (*write_rules_config)(ha_env *env, const ha_rules *rs, GError **error);
    int (*read_group_config)(ha_env *env, ha_groups **ret, GError **error);
    int (*delete_group_config)(ha_env *env, GError **error);

    int (*steal_service)(ha_env *env, const char *sid, const char *from, const char *to,
                         GError **error);

    /* cluster: @ret gets ha_node_info* sorted by node */
    void (*get_node_info)(ha_env *env, GPtrArray **ret, bool *ret_quorate);
    bool (*quorate)(ha_env *env);
    bool (*cluster_state_update)(ha_env *env);

    void (*log)(ha_env *env, ha_log_level level, const char *msg);
    void (*send_notification)(ha_env *env, const char *prefix, const char *text);

    /* locks: get_* = acquire or renew */
    bool (*get_ha_manager_lock)(ha_env *env);
    bool (*release_ha_manager_lock)(ha_env *env);
    bool (*get_ha_agent_lock)(ha_env *env, const char *node);
    bool (*release_ha_agent_lock)(ha_env *env);

    /* time (ms) */
    gint64 (*get_time)(ha_env *env);
    void (*sleep)(ha_env *env, gint64 ms);
    void (*sleep_until)(ha_env *env, gint64 t_ms);
    void (*loop_start_hook)(ha_env *env);
    void (*loop_end_hook)(ha_env *env);

    /* watchdog: handles are opaque strings owned by the caller */
    int (*watchdog_open)(ha_env *env, char **ret_handle, GError **error);
    int (*watchdog_update)(ha_env *env, const char *handle, GError **error);
    int (*watchdog_close)(ha_env *env, const char *handle, GError **error);

    int (*get_max_workers)(ha_env *env);
    void (*get_datacenter_settings)(ha_env *env, ha_dc_settings *ret);

    /* scheduler data; FALSE when unknown */
    bool (*get_static_service_stats)(ha_env *env, const char *sid, ha_stats *ret);
    bool (*get_dynamic_service_stats)(ha_env *env, const char *sid, ha_stats *ret);
    bool (*get_static_node_stats)(ha_env *env, const char *node, ha_stats *ret);
    bool (*get_dynamic_node_stats)(ha_env *env, const char *node, ha_stats *ret);
    char *(*get_node_version)(ha_env *env, const char *node);

    const ha_agent *(*agent_lookup)(ha_env *env, const char *type);

    /* a fresh, unique command uid (ha.md §5.2) */
    char *(*new_uid)(ha_env *env, const char *state);
} ha_env_ops;

struct ha_env {
    const ha_env_ops *ops;
    void *backend;
    ha_timing timing;
    /* compatibility switches (ha.md §11): all false = reference behaviour */
    bool persist_last_online; /* I-2 */
};

/* printf-style logging through env->ops->log. */
void ha_env_log(ha_env *env, ha_log_level level, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* Acquire-or-renew attempts of one protected lock acquisition (ha.md §2.2). */
#define HA_LOCK_ATTEMPTS 6

/*
 * Protected acquisition (ha.md §2.2) of the manager lock (@agent_node NULL) or of the
 * agent lock of @agent_node: up to HA_LOCK_ATTEMPTS attempts, lock_retry_sleep_ms
 * apart, no new attempt once lock_retry_budget_ms have passed.  The caller feeds its
 * watchdog on success.
 */
bool ha_env_get_protected_lock(ha_env *env, const char *agent_node);

/*
 * Watchdog handles of the CRM and LRM: feed *@handle, or open a new one into it
 * when NULL; close *@handle (if any) and clear it.  Errors are logged, not returned:
 * the daemons go on, the watchdog decides.
 */
void ha_env_watchdog_feed(ha_env *env, char **handle);
void ha_env_watchdog_close(ha_env *env, char **handle);

void ha_node_info_free(ha_node_info *ni);

/* Convenience wrappers. */
static inline gint64 ha_env_time(ha_env *env)
{
    return env->ops->get_time(env);
}
static inline const char *ha_env_nodename(ha_env *env)
{
    return env->ops->nodename(env);
}
