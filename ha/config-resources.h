/*
 * config-resources: HA resources (`resources.cfg`, ha.md §7.2) and the in-memory
 * "checked" service config the manager works with.
 *
 * A resource carries its requested state (normalised: `enabled` reads as
 * `started`), restart/relocate limits, failback, group, comment and the node the
 * guest lives on (filled in by the environment from the guest location).  The parser
 * reports unknown keys and bad values as warnings and skips only what is wrong.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

enum {
    HA_RES_HAS_STATE = 1 << 0,
    HA_RES_HAS_MAX_RESTART = 1 << 1,
    HA_RES_HAS_MAX_RELOCATE = 1 << 2,
    HA_RES_HAS_FAILBACK = 1 << 3,
    HA_RES_HAS_GROUP = 1 << 4,
    HA_RES_HAS_COMMENT = 1 << 5,
    HA_RES_HAS_AUTO_REBALANCE = 1 << 6,
};

typedef struct {
    char *sid;
    char *type;
    char *name;
    char *node;  /* guest location; NULL when the guest does not exist */
    char *state; /* started, stopped, disabled, ignored */
    int max_restart;
    int max_relocate;
    int failback;
    int auto_rebalance;
    char *group;
    char *comment;
    unsigned present; /* HA_RES_HAS_*: keys explicitly given */
} ha_resource;

typedef struct {
    GHashTable *by_sid; /* sid -> ha_resource* */
    GPtrArray *order;   /* sids in file order (borrowed from by_sid keys) */
    char *digest;
} ha_resources;

ha_resource *ha_resource_new(const char *sid);
ha_resource *ha_resource_copy(const ha_resource *r);
void ha_resource_free(ha_resource *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ha_resource, ha_resource_free)

ha_resources *ha_resources_new(void);
void ha_resources_free(ha_resources *rs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ha_resources, ha_resources_free)
/* Takes ownership of @r; replaces an existing entry with the same sid. */
void ha_resources_add(ha_resources *rs, ha_resource *r);
ha_resource *ha_resources_get(const ha_resources *rs, const char *sid);
void ha_resources_remove(ha_resources *rs, const char *sid);
ha_resources *ha_resources_copy(const ha_resources *rs);

/* Split "<type>:<name>"; -EINVAL unless it matches ^[a-z]+:\S+$. */
int ha_sid_parse(const char *sid, char **ret_type, char **ret_name);
/* VM/CT names: ^[1-9][0-9]+$ */
bool ha_guest_name_valid(const char *name);

/*
 * Parse resources.cfg text.  @warnings (may be NULL) receives "file:line: text"
 * strings for everything skipped.  Defaults (state started, limits 1, failback 1)
 * are filled in; `node` stays NULL.
 */
ha_resources *ha_resources_parse(const char *text, const char *filename, GPtrArray *warnings);
/* Write resources.cfg text: explicitly present keys only, sorted, comment first. */
char *ha_resources_write(const ha_resources *rs);
