/*
 * pvecm-env: what the pvecm commands need from the node they run on: paths, services,
 * child processes, the local and the cluster lock, the replicated corosync.conf in
 * /etc/pve, local addresses, and the cluster log.
 *
 * pvecm never links pmxcfs code: it talks to pmxcfs through files below /etc/pve (locks
 * are directories in priv/lock, pmxcfs spec §7; quorum shows in the write bit of
 * /etc/pve/local, spec §3) and through `pmxcfs-ctl` for the cluster log.  Services are
 * controlled with the program in $PVE_SERVICE_CTL (default systemctl).
 *
 * All functions that can fail for a reason the operator must read take a GError and
 * return false (or NULL); the message is complete and printed as is.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "quorum/corosync-conf.h"

/* Acquire timeouts of the local and the cluster lock (the reference uses 10 s each). */
#define PVECM_LOCK_TIMEOUT_S 10
/* Name of the cluster lock that protects corosync.conf (pmxcfs spec §7). */
#define PVECM_CONF_LOCK "file-corosync_conf"
/*
 * Cluster lock "pvecm-join-<node>", held from `pvecm addnode --output-format json` until
 * the joining node is in the cluster (it removes the lock through its own /etc/pve), so
 * that joins run one after the other: a node that starts corosync with a node list that
 * lacks another joining node would make the membership fail for everybody.  Of several
 * such locks the oldest (lowest inode, i.e. first in pmxcfs's total order) wins.  A join
 * that dies leaves its lock to `pvecm delnode <node>` or to pmxcfs's lock expiry (120 s).
 */
#define PVECM_JOIN_LOCK_PREFIX "pvecm-join-"
/* How long addnode waits for a running join: longer than the lock expiry of 120 s. */
#define PVECM_JOIN_LOCK_TIMEOUT_S 150

typedef struct pvecm_env {
    char *pve_dir;      /* /etc/pve ($PVECM_PVE_DIR) */
    char *corosync_dir; /* /etc/corosync ($PVECM_COROSYNC_DIR) */
    char *db_dir;       /* /var/lib/pve-cluster ($PVECM_DB_DIR) */
    char *lock_file;    /* /var/lock/pvecm.lock ($PVECM_LOCK_FILE) */
    char *service_ctl;  /* $PVE_SERVICE_CTL or systemctl */
    char *nodename;     /* host name up to the first dot ($PVECM_NODENAME) */
    int local_lock_fd;  /* -1 unless the local lock is held */
} pvecm_env;

/* The environment of this process (paths may be overridden for tests, see pvecm(1)). */
pvecm_env *pvecm_env_new(void);
void pvecm_env_free(pvecm_env *env);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(pvecm_env, pvecm_env_free)

/* Path helpers: new strings. */
char *pvecm_pve_path(const pvecm_env *env, const char *rel);
char *pvecm_corosync_path(const pvecm_env *env, const char *name);

/*
 * Run @argv (searching PATH), feeding @input (may be NULL) to its stdin.  Its stdout is
 * stored in @ret_stdout and stderr in @ret_stderr when those are not NULL.  Returns the
 * exit status (0..255), or -1 with @error set when it could not run or died by a signal.
 */
int pvecm_run(const char *const *argv, const char *input, char **ret_stdout, char **ret_stderr,
              GError **error);

/* `$PVE_SERVICE_CTL @action @unit`; false with the tool's output in @error on failure. */
bool pvecm_service(const pvecm_env *env, const char *action, const char *unit, GError **error);
/* Whether `$PVE_SERVICE_CTL is-active @unit` succeeds. */
bool pvecm_service_active(const pvecm_env *env, const char *unit);

/* Whether pmxcfs is mounted on pve_dir (a fuse mount in /proc/self/mounts). */
bool pvecm_pve_mounted(const pvecm_env *env);
/* Whether pmxcfs has quorum (owner write bit of <pve_dir>/local, pmxcfs spec §3). */
bool pvecm_pve_quorate(const pvecm_env *env);
/*
 * Check that /etc/pve is mounted and writable (pmxcfs quorate); the error says which
 * is missing ("cluster not ready - no quorum?" like the reference).
 */
bool pvecm_pve_check_writable(const pvecm_env *env, GError **error);

/*
 * Take the local lock (flock on lock_file), waiting up to @timeout_s seconds (0: try
 * once).  Held until pvecm_lock_local_release() or process exit.
 */
bool pvecm_lock_local(pvecm_env *env, int timeout_s, GError **error);
void pvecm_lock_local_release(pvecm_env *env);

/*
 * Take the cluster lock <pve_dir>/priv/lock/@name like the PVE tools: mkdir, and on
 * EEXIST an unlock request (utime 0, which frees an expired lock) and a retry, for up to
 * @timeout_s seconds; EACCES (no quorum) is retried too.  @ret_waited (may be NULL)
 * tells whether the first attempt failed.
 */
bool pvecm_lock_cluster(const pvecm_env *env, const char *name, int timeout_s, bool *ret_waited,
                        GError **error);
void pvecm_lock_cluster_release(const pvecm_env *env, const char *name);

/*
 * Read and parse <pve_dir>/corosync.conf.  With @validate the cluster-level checks of
 * cluster_conf_validate() are applied too.  Returns the tree (free with
 * corosync_conf_item_free) or NULL with @error set.
 */
corosync_conf_item *pvecm_conf_read(const pvecm_env *env, bool validate, GError **error);
/*
 * Increment config_version of @root and write it to <pve_dir>/corosync.conf atomically
 * (corosync.conf.new, then rename; pmxcfs propagates it and triggers the reload).  On
 * failure the old file is untouched and no corosync.conf.new is left.
 */
bool pvecm_conf_write(const pvecm_env *env, corosync_conf_item *root, GError **error);
/* Whether <pve_dir>/corosync.conf exists. */
bool pvecm_conf_exists(const pvecm_env *env);
/*
 * Check that <pve_dir>/corosync.conf exists; the error is the reference's "Error: Corosync
 * config '<path>' does not exist - is this node part of a cluster?".
 */
bool pvecm_conf_check_exists(const pvecm_env *env, GError **error);

/*
 * Create <pve_dir>/nodes/@node/{priv,lxc,qemu-server,openvz} and <pve_dir>/priv.  Every
 * directory this call created is appended to @created (may be NULL) in creation order,
 * so that a caller can remove them again (in reverse order).
 */
bool pvecm_node_dirs_create(const pvecm_env *env, const char *node, GPtrArray *created,
                            GError **error);

/* Add a cluster log entry through `pmxcfs-ctl log` if it is on PATH (else a debug note). */
void pvecm_cluster_log(const char *priority, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/*
 * Whether @addr (an IP address or a host name, resolved) is configured on a local
 * interface.  The error says why not.
 */
bool pvecm_address_is_local(const char *addr, GError **error);

/* Whether corosync answers on this node (its cmap service can be initialised). */
bool pvecm_corosync_running(void);

/* Write @data atomically with @mode, owned by root; false with @error on failure. */
bool pvecm_file_write(const char *path, const void *data, size_t len, unsigned mode,
                      GError **error);
