/*
 * sim/hardware: the simulator's virtual hardware (ha.md §9): nodes with power,
 * network and cfs flags, the in-memory "config FS" (status files, service config,
 * rules, groups, command queue), cluster locks, watchdog handles, the running map
 * of every node, the discrete clock and the run loop.
 *
 * One sim_hw per run; nothing is global.  Files live in memory as their serialised
 * text (so every daemon read parses what the writer produced, like on a real config
 * FS) and are written to <testdir>/status/ at the end.  Times are in ms; one clock
 * tick is timing.sim_unit_ms (1 s in the default profile).
 */
#pragma once

#include "ha/crm.h"
#include "ha/env.h"
#include "ha/lrm.h"

#include <json-glib/json-glib.h>
#include <stdio.h>

typedef struct sim_hw sim_hw;
typedef struct sim_node sim_node;

/* The env backend of one daemon kind ("crm" or "lrm") on one node. */
typedef struct {
    ha_env env;
    sim_hw *hw;
    sim_node *node;
    const char *log_id;
    gint64 clock;      /* ms */
    gint64 loop_delay; /* ms slept in this iteration */
} sim_env;

typedef struct {
    char *node;
    char *state; /* NULL: missing (reads as disabled) */
    char *max_restart, *max_relocate, *failback; /* raw, NULL = default */
    char *group;
    char *comment;
    char *lock;
} sim_service;

struct sim_node {
    char *name;
    bool power, network;
    bool cfs_rw, cfs_update;
    char *shutdown; /* NULL, "reboot", "shutdown" */
    char *version;
    double maxcpu;
    guint64 maxmem;
    bool has_maxcpu, has_maxmem;
    sim_env crm_env, lrm_env;
    ha_crm *crm;
    ha_lrm *lrm;
    bool crm_stop_pending;
    bool lrm_restart_pending;
    GHashTable *running; /* sid -> GINT (0/1) */
    char *lrm_status;    /* JSON text, NULL = never written */
};

typedef struct {
    char *holder;
    gint64 time;
} sim_lock;

typedef struct {
    char *node;
    gint64 update_time;
} sim_watchdog;

struct sim_hw {
    char *testdir;
    char *statusdir;
    ha_timing timing;
    bool quiet;
    gint64 H; /* hardware clock, ms */
    GPtrArray *nodes; /* sim_node*, sorted by name */
    JsonNode *cmdlist;
    char *manager_status; /* JSON text or NULL */
    GHashTable *services; /* sid -> sim_service* */
    char *rules_text;     /* NULL = absent */
    char *groups_text;    /* NULL = absent */
    char *datacenter_text;
    ha_dc_settings dc;
    GHashTable *static_stats;  /* sid -> ha_stats* */
    GHashTable *dynamic_stats; /* sid -> ha_stats* */
    GString *crm_commands;
    GHashTable *locks;     /* name -> sim_lock* */
    GHashTable *watchdogs; /* id -> sim_watchdog* */
    guint watchdog_counter;
    guint64 uid_counter;
    GHashTable *fa_start_tries;   /* name -> GINT */
    GHashTable *fa_migrate_tries; /* name -> GINT */
    FILE *logf;
    char *abort_msg;
};

/*
 * Load a scenario directory (recreating <dir>/status).  -EINVAL with @error on bad
 * input; nothing is run then.
 */
int sim_hw_load(const char *testdir, const ha_timing *timing, bool quiet, sim_hw **ret,
                GError **error);
void sim_hw_free(sim_hw *hw);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sim_hw, sim_hw_free)

/* Run the simulation; returns 0 when it ended normally, -ECANCELED when aborted. */
int sim_hw_run(sim_hw *hw);

/* Write every status file to <dir>/status/. */
int sim_hw_write_status(sim_hw *hw, GError **error);

/* internal API shared by the sim modules */
void sim_hw_log(sim_hw *hw, const char *level, const char *source, gint64 t, const char *msg);
sim_node *sim_hw_node(sim_hw *hw, const char *name);
void sim_hw_node_info(sim_hw *hw, GPtrArray **ret, bool *ret_quorate);
bool sim_hw_node_quorate(sim_hw *hw, sim_node *node);
void sim_env_init(sim_env *se, sim_hw *hw, sim_node *node, const char *log_id);
const ha_agent *sim_agent_lookup(const char *type);
