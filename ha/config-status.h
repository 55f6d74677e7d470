/*
 * config-status: the JSON status files of the HA stack (ha.md §7.5, §7.7):
 * `manager_status` (written by the master) and `lrm_status` (per node).
 *
 * Owns the in-memory records (service records, node states, LRM results) and their
 * JSON parsers and writers.  Writers emit compact JSON with sorted keys, so equal
 * records give equal bytes.  Parsers accept absent or empty input as an empty object
 * and reject malformed JSON or wrongly typed members with a clear GError, leaving the
 * caller's data untouched.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>

/* CRM service states (ha.md §6.1). */
typedef enum {
    HA_SS_NONE = 0, /* record without a state */
    HA_SS_STOPPED,
    HA_SS_REQUEST_STOP,
    HA_SS_REQUEST_START,
    HA_SS_REQUEST_START_BALANCE,
    HA_SS_STARTED,
    HA_SS_FENCE,
    HA_SS_RECOVERY,
    HA_SS_MIGRATE,
    HA_SS_RELOCATE,
    HA_SS_FREEZE,
    HA_SS_ERROR,
} ha_svc_state;

/* Node states kept by the master (ha.md §4).  UNKNOWN is 0: a missing entry reads so. */
typedef enum {
    HA_NODE_UNKNOWN = 0,
    HA_NODE_ONLINE,
    HA_NODE_MAINTENANCE,
    HA_NODE_FENCE,
    HA_NODE_GONE,
} ha_node_state;

const char *ha_svc_state_name(ha_svc_state s);
/* -EINVAL for an unknown name. */
int ha_svc_state_from_name(const char *name, ha_svc_state *ret);
const char *ha_node_state_name(ha_node_state s);
int ha_node_state_from_name(const char *name, ha_node_state *ret);

/* One `service_status` record (ha.md §6.2).  NULL strings mean "absent". */
typedef struct {
    ha_svc_state state;
    char *node;
    char *uid;
    char *target;
    bool has_target;      /* `target` present (possibly null: a reference quirk) */
    bool running;
    GPtrArray *failed_nodes; /* of char*, NULL when absent */
    char *maintenance_node;
    char *timeout;        /* stop timeout as given, NULL when absent */
    char *cmd;            /* pending command: "migrate", "relocate", "stop"; NULL when none */
    char *cmd_arg;        /* its argument (node or timeout) */
} ha_service_state;

ha_service_state *ha_service_state_new(void);
void ha_service_state_free(ha_service_state *sd);
ha_service_state *ha_service_state_copy(const ha_service_state *sd);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ha_service_state, ha_service_state_free)
/* "a, b" of failed_nodes (empty string when none). */
char *ha_service_state_failed_nodes_text(const ha_service_state *sd);

typedef struct {
    char *master_node;
    gint64 timestamp;
    bool has_timestamp;
    GHashTable *node_status;    /* node -> GINT_TO_POINTER(ha_node_state) */
    GHashTable *service_status; /* sid -> ha_service_state* */
    GHashTable *node_request;   /* node -> GINT_TO_POINTER(maintenance 0/1); NULL = absent */
    char *disarm_mode;          /* NULL = not disarmed */
    char *disarm_state;
    GHashTable *node_last_online; /* node -> gint64* seconds (I-2); NULL = absent */
} ha_manager_status;

ha_manager_status *ha_manager_status_new(void);
void ha_manager_status_free(ha_manager_status *ms);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ha_manager_status, ha_manager_status_free)

/* Parse @text (NULL or empty -> empty status).  -EINVAL with @error on bad input. */
int ha_manager_status_parse(const char *text, ha_manager_status **ret, GError **error);
/* Compact JSON, sorted keys, newly allocated. */
char *ha_manager_status_to_json(const ha_manager_status *ms);

/* Node state helpers (missing -> UNKNOWN). */
ha_node_state ha_manager_status_node_state(const ha_manager_status *ms, const char *node);

/*
 * The "active service count" of @node (ha.md §3.2): records of @service_status
 * (sid -> ha_service_state*) whose node or target is @node, in any state but none,
 * stopped, freeze, error and request_start.
 */
int ha_service_status_active_count(GHashTable *service_status, const char *node);

typedef struct {
    char *sid;
    char *state;
    int exit_code;
} ha_lrm_result;

typedef struct {
    char *state;     /* NULL when absent */
    char *mode;      /* NULL when absent */
    gint64 timestamp;
    bool has_timestamp;
    GHashTable *results; /* uid -> ha_lrm_result* */
    char *watchdog;      /* I-7 "active"/"closed", NULL when absent */
} ha_lrm_status;

ha_lrm_status *ha_lrm_status_new(void);
void ha_lrm_status_free(ha_lrm_status *ls);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ha_lrm_status, ha_lrm_status_free)
int ha_lrm_status_parse(const char *text, ha_lrm_status **ret, GError **error);
char *ha_lrm_status_to_json(const ha_lrm_status *ls);
ha_lrm_result *ha_lrm_result_new(const char *sid, const char *state, int exit_code);
void ha_lrm_result_free(ha_lrm_result *r);

/* Sort an array of strings bytewise (in place). */
void ha_strv_sort(GPtrArray *a);

/* Sorted list of the keys of a string-keyed hash table (container only; keys borrowed). */
GPtrArray *ha_sorted_keys(GHashTable *table);

/* A JSON scalar as the text the reference's Perl would see (numbers in decimal, booleans
 * as 1/0); NULL for a missing node, null, an object or an array. */
char *ha_json_value_string(JsonNode *n);

#define HA_CONFIG_ERROR (ha_config_error_quark())
GQuark ha_config_error_quark(void);
