/*
 * pvecm-join: the joining node's side of `pvecm add`.
 *
 * Order of a join (cluster.md, "Joining"): checks; local lock; database backup; state
 * file (phase "prepared"); `ssh <member> pvecm addnode <me> ... --output-format json`,
 * which returns the authkey and the new corosync.conf; phase "added"; phase "switching";
 * stop pmxcfs; move config.db aside (after a checkpoint, so that it is one file and one
 * rename); write /etc/corosync/{authkey,corosync.conf}; start corosync and pmxcfs (which
 * starts with an empty database, imports corosync.conf and syncs from the cluster); wait
 * for quorum and for /etc/pve to be synced; make sure corosync runs the cluster's current
 * config_version; commit (remove the state file), then drop the old database.
 *
 * Roll-back is driven by the state file and by what is on disk, and every step of it is
 * idempotent, so a roll-back that is itself interrupted simply runs again.
 *
 * PVECM_TEST_KILL_AT=<point> makes the join kill itself with SIGKILL at a named point
 * (addnode, stopped, moved, started), for the tests that prove the roll-back.
 */
#include "quorum/pvecm-join.h"

#include <errno.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/net.h"
#include "quorum/cluster-conf.h"
#include "quorum/cs-membership.h"
#include "quorum/cs-quorum.h"

typedef enum {
    PHASE_PREPARED = 1, /* nothing changed here; addnode may run on the member */
    PHASE_ADDED = 2,    /* the member added us; nothing changed here yet */
    PHASE_SWITCHING = 3 /* local changes may have started */
} join_phase;

static const char *const phase_names[] = {"", "prepared", "added", "switching"};

typedef struct join_state {
    char *node;
    char *member;
    join_phase phase;
    bool corosync_active;
    bool had_authkey;
    bool had_corosync_conf;
    guint64 nodeid;
} join_state;

static void join_state_clear(join_state *s)
{
    g_free(s->node);
    g_free(s->member);
}

static void test_kill_point(const char *point)
{
    const char *k = g_getenv("PVECM_TEST_KILL_AT");
    if (k && strcmp(k, point) == 0) {
        fflush(stdout);
        fflush(stderr);
        raise(SIGKILL);
    }
}

/* ------------------------------------------------------------------ paths */

static char *join_path(const pvecm_env *env, const char *name)
{
    return g_build_filename(env->db_dir, PVECM_JOIN_DIR, name, NULL);
}

static char *db_path(const pvecm_env *env, const char *suffix)
{
    return g_strdup_printf("%s/config.db%s", env->db_dir, suffix ? suffix : "");
}

/* ------------------------------------------------------------------ state file */

static bool state_write(const pvecm_env *env, const join_state *s, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_key_file_set_string(kf, "join", "node", s->node);
    g_key_file_set_string(kf, "join", "member", s->member);
    g_key_file_set_string(kf, "join", "phase", phase_names[s->phase]);
    g_key_file_set_boolean(kf, "join", "corosync_active", s->corosync_active);
    g_key_file_set_boolean(kf, "join", "had_authkey", s->had_authkey);
    g_key_file_set_boolean(kf, "join", "had_corosync_conf", s->had_corosync_conf);
    g_key_file_set_uint64(kf, "join", "nodeid", s->nodeid);
    gsize len = 0;
    g_autofree char *text = g_key_file_to_data(kf, &len, NULL);
    g_autofree char *dir = join_path(env, NULL);
    g_autofree char *path = join_path(env, "state");
    if (g_mkdir_with_parents(dir, 0700) < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "unable to create '%s': %s",
                    dir, g_strerror(errno));
        return false;
    }
    return pvecm_file_write(path, text, len, 0600, error);
}

/* Read the state file: 1 found, 0 none, -1 unreadable (message printed). */
static int state_read(const pvecm_env *env, join_state *ret)
{
    g_autofree char *path = join_path(env, "state");
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) err = NULL;
    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &err)) {
        if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return 0;
        fprintf(stderr, "unable to read join state '%s': %s\n", path, err->message);
        return -1;
    }
    memset(ret, 0, sizeof(*ret));
    ret->node = g_key_file_get_string(kf, "join", "node", NULL);
    ret->member = g_key_file_get_string(kf, "join", "member", NULL);
    g_autofree char *phase = g_key_file_get_string(kf, "join", "phase", NULL);
    ret->phase = PHASE_SWITCHING; /* unknown: assume the worst, undo everything */
    for (unsigned i = PHASE_PREPARED; i <= PHASE_SWITCHING; i++)
        if (phase && strcmp(phase, phase_names[i]) == 0)
            ret->phase = i;
    ret->corosync_active = g_key_file_get_boolean(kf, "join", "corosync_active", NULL);
    ret->had_authkey = g_key_file_get_boolean(kf, "join", "had_authkey", NULL);
    ret->had_corosync_conf = g_key_file_get_boolean(kf, "join", "had_corosync_conf", NULL);
    ret->nodeid = g_key_file_get_uint64(kf, "join", "nodeid", NULL);
    if (!ret->node)
        ret->node = g_strdup(env->nodename);
    if (!ret->member)
        ret->member = g_strdup("?");
    return 1;
}

/* Commit point / end of a roll-back: drop the state file, then everything else. */
static void state_remove(const pvecm_env *env)
{
    g_autofree char *state = join_path(env, "state");
    if (unlink(state) < 0 && errno != ENOENT)
        fprintf(stderr, "unable to remove '%s': %s\n", state, g_strerror(errno));
    g_autofree char *dir = join_path(env, NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        unlink(p);
    }
    rmdir(dir);
}

/* ------------------------------------------------------------------ backup */

static int backup_epoch_cmp(gconstpointer a, gconstpointer b)
{
    guint64 x = g_ascii_strtoull(*(char *const *)a + strlen("config-"), NULL, 10);
    guint64 y = g_ascii_strtoull(*(char *const *)b + strlen("config-"), NULL, 10);
    return x < y ? -1 : x > y;
}

static bool backup_name(const char *name)
{
    if (!g_str_has_prefix(name, "config-") || !g_str_has_suffix(name, ".sql.gz"))
        return false;
    const char *p = name + strlen("config-");
    const char *end = name + strlen(name) - strlen(".sql.gz");
    if (p == end)
        return false;
    for (; p < end; p++)
        if (!g_ascii_isdigit(*p))
            return false;
    return true;
}

static void backup_prune(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    if (!d)
        return;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    while ((name = g_dir_read_name(d)))
        if (backup_name(name))
            g_ptr_array_add(names, g_strdup(name));
    g_ptr_array_sort(names, backup_epoch_cmp);
    for (unsigned i = 0; i + PVECM_BACKUPS_KEPT < names->len; i++) {
        g_autofree char *p = g_build_filename(dir, names->pdata[i], NULL);
        if (unlink(p) < 0)
            fprintf(stderr, "unable to remove old backup '%s': %s\n", p, g_strerror(errno));
    }
}

bool pvecm_db_backup(const pvecm_env *env, char **ret_path, GError **error)
{
    g_autofree char *db = db_path(env, NULL);
    if (!g_file_test(db, G_FILE_TEST_EXISTS)) {
        *ret_path = NULL;
        return true;
    }
    g_autofree char *dir = g_build_filename(env->db_dir, "backup", NULL);
    if (g_mkdir_with_parents(dir, 0700) < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "cannot backup old database: unable to create '%s': %s", dir,
                    g_strerror(errno));
        return false;
    }
    const char *argv[] = {"sqlite3", "-readonly", db, ".dump", NULL};
    g_autoptr(GError) err = NULL;
    g_autoptr(GSubprocess) p = g_subprocess_newv(
        argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &err);
    g_autoptr(GBytes) out = NULL, errout = NULL;
    if (!p || !g_subprocess_communicate(p, NULL, NULL, &out, &errout, &err)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot backup old database: %s",
                    err->message);
        return false;
    }
    if (!g_subprocess_get_if_exited(p) || g_subprocess_get_exit_status(p) != 0) {
        g_autofree char *msg = g_strndup(g_bytes_get_data(errout, NULL), g_bytes_get_size(errout));
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "cannot backup old database: sqlite3 .dump failed: %s", g_strstrip(msg));
        return false;
    }
    /* sqlite3 exits 0 even when it could not read the database: a complete dump ends
       with COMMIT and has no error comment */
    gsize dump_len = g_bytes_get_size(out);
    const char *dump = g_bytes_get_data(out, NULL);
    static const char commit[] = "COMMIT;\n";
    if (dump_len < sizeof(commit) - 1 ||
        memcmp(dump + dump_len - (sizeof(commit) - 1), commit, sizeof(commit) - 1) != 0 ||
        g_strstr_len(dump, (gssize)dump_len, "/**** ERROR:")) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "cannot backup old database: sqlite3 could not dump '%s' completely (is it "
                    "a valid database?)",
                    db);
        return false;
    }
    /* gzip in memory: the database is bounded by pmxcfs's limits */
    g_autoptr(GZlibCompressor) z = g_zlib_compressor_new(G_ZLIB_COMPRESSOR_FORMAT_GZIP, -1);
    g_autoptr(GOutputStream) mem = g_memory_output_stream_new_resizable();
    g_autoptr(GOutputStream) gz = g_converter_output_stream_new(mem, G_CONVERTER(z));
    gsize written = 0;
    if (!g_output_stream_write_all(gz, g_bytes_get_data(out, NULL), g_bytes_get_size(out), &written,
                                   NULL, &err) ||
        !g_output_stream_close(gz, NULL, &err)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot backup old database: %s",
                    err->message);
        return false;
    }
    GMemoryOutputStream *m = G_MEMORY_OUTPUT_STREAM(mem);
    time_t epoch = time(NULL);
    g_autofree char *path = NULL;
    for (;; epoch++) {
        g_free(path);
        path = g_strdup_printf("%s/config-%lld.sql.gz", dir, (long long)epoch);
        if (!g_file_test(path, G_FILE_TEST_EXISTS))
            break;
    }
    if (!pvecm_file_write(path, g_memory_output_stream_get_data(m),
                          g_memory_output_stream_get_data_size(m), 0600, error))
        return false;
    backup_prune(dir);
    *ret_path = g_steal_pointer(&path);
    return true;
}

/* ------------------------------------------------------------------ database move */

/* Fold the WAL into config.db so that the database is a single file. */
static bool db_checkpoint(const char *db, GError **error)
{
    sqlite3 *h = NULL;
    int rc = sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE);", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "unable to checkpoint '%s': %s", db,
                    h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
        sqlite3_close(h);
        return false;
    }
    sqlite3_close(h);
    return true;
}

static bool db_move_aside(const pvecm_env *env, GError **error)
{
    g_autofree char *db = db_path(env, NULL);
    g_autofree char *wal = db_path(env, "-wal");
    g_autofree char *shm = db_path(env, "-shm");
    g_autofree char *aside = join_path(env, "config.db");
    if (!g_file_test(db, G_FILE_TEST_EXISTS))
        return true; /* nothing to keep (pmxcfs never ran here) */
    if (!db_checkpoint(db, error))
        return false;
    struct stat st;
    if (stat(wal, &st) == 0 && st.st_size > 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_BUSY,
                    "'%s' still has a write-ahead log after the checkpoint (is pmxcfs still "
                    "running?)",
                    db);
        return false;
    }
    unlink(wal);
    unlink(shm);
    if (rename(db, aside) < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "unable to move '%s' to '%s': %s", db, aside, g_strerror(errno));
        return false;
    }
    return true;
}

/* Put the old database back (idempotent); true if it is in place afterwards. */
static bool db_restore(const pvecm_env *env)
{
    g_autofree char *aside = join_path(env, "config.db");
    if (!g_file_test(aside, G_FILE_TEST_EXISTS))
        return true;
    static const char *const suffixes[] = {"-wal", "-shm", ""};
    for (unsigned i = 0; i < G_N_ELEMENTS(suffixes); i++) {
        g_autofree char *p = db_path(env, suffixes[i]);
        if (unlink(p) < 0 && errno != ENOENT) {
            fprintf(stderr, "unable to remove '%s': %s\n", p, g_strerror(errno));
            return false;
        }
    }
    g_autofree char *db = db_path(env, NULL);
    if (rename(aside, db) < 0) {
        fprintf(stderr, "unable to move '%s' back to '%s': %s\n", aside, db, g_strerror(errno));
        return false;
    }
    return true;
}

/* Put back a file of /etc/corosync: the saved copy, or remove ours. */
static bool corosync_file_restore(const pvecm_env *env, const char *name, bool had)
{
    g_autofree char *path = pvecm_corosync_path(env, name);
    g_autofree char *saved_name = g_strconcat(name, ".saved", NULL);
    g_autofree char *saved = join_path(env, saved_name);
    if (had && g_file_test(saved, G_FILE_TEST_EXISTS)) {
        if (rename(saved, path) < 0) {
            fprintf(stderr, "unable to restore '%s': %s\n", path, g_strerror(errno));
            return false;
        }
        return true;
    }
    if (!had && unlink(path) < 0 && errno != ENOENT) {
        fprintf(stderr, "unable to remove '%s': %s\n", path, g_strerror(errno));
        return false;
    }
    return true;
}

static bool corosync_file_save(const pvecm_env *env, const char *name, GError **error)
{
    g_autofree char *path = pvecm_corosync_path(env, name);
    g_autofree char *saved_name = g_strconcat(name, ".saved", NULL);
    g_autofree char *saved = join_path(env, saved_name);
    g_autofree char *data = NULL;
    gsize len = 0;
    if (g_file_test(saved, G_FILE_TEST_EXISTS))
        return true;
    if (!g_file_get_contents(path, &data, &len, error))
        return false;
    struct stat st;
    unsigned mode = stat(path, &st) == 0 ? (st.st_mode & 07777) : 0600;
    return pvecm_file_write(saved, data, len, mode, error);
}

/* ------------------------------------------------------------------ roll-back */

static void remote_note(const join_state *s)
{
    fprintf(stderr,
            "note: the cluster may still list node '%s' (added through '%s'); remove it on a "
            "cluster node with 'pvecm delnode %s' (if the cluster lost quorum because of this "
            "join, run 'pvecm expected <votes of the nodes that run>' there first), or join "
            "again with 'pvecm add %s --force'\n",
            s->node, s->member, s->node, s->member);
}

static bool ssh_run(const char *member, const char *remote_cmd, char **ret_out, char **ret_err,
                    int *ret_status, GError **error);

static void remote_delnode(const join_state *s)
{
    g_autofree char *qnode = g_shell_quote(s->node);
    g_autofree char *cmd = g_strdup_printf("pvecm delnode %s", qnode);
    g_autofree char *out = NULL, *err = NULL;
    int status = -1;
    g_autoptr(GError) e = NULL;
    fprintf(stderr, "removing node '%s' from the cluster again (on '%s')\n", s->node, s->member);
    if (ssh_run(s->member, cmd, &out, &err, &status, &e) && status == 0) {
        fprintf(stderr, "node '%s' removed from the cluster configuration\n", s->node);
        return;
    }
    fprintf(stderr, "unable to remove the node on '%s': %s\n", s->member,
            e     ? e->message
            : err ? g_strstrip(err)
                  : "");
    remote_note(s);
}

/*
 * Undo a join described by @s.  @active: the join that is failing right now (it may
 * clean up on the member); otherwise an interrupted join found later.
 */
static bool join_rollback(pvecm_env *env, const join_state *s, bool active)
{
    g_autoptr(GError) err = NULL;
    if (s->phase >= PHASE_SWITCHING) {
        if (!pvecm_service(env, "stop", "pve-cluster", &err)) {
            fprintf(stderr, "roll-back: unable to stop pve-cluster: %s\n", err->message);
            return false;
        }
        if (!s->corosync_active && !pvecm_service(env, "stop", "corosync", &err)) {
            fprintf(stderr, "roll-back: unable to stop corosync: %s\n", err->message);
            return false;
        }
        if (!corosync_file_restore(env, "authkey", s->had_authkey) ||
            !corosync_file_restore(env, "corosync.conf", s->had_corosync_conf) || !db_restore(env))
            return false;
        if (!pvecm_service(env, "start", "pve-cluster", &err)) {
            fprintf(stderr, "roll-back: unable to start pve-cluster: %s\n", err->message);
            return false;
        }
    }
    state_remove(env);
    fprintf(stderr, "roll-back done: this node is standalone again, as before the join\n");
    if (active && s->phase >= PHASE_ADDED)
        remote_delnode(s);
    else if (!active)
        remote_note(s);
    return true;
}

int pvecm_join_recover(pvecm_env *env)
{
    g_autofree char *path = join_path(env, "state");
    if (!g_file_test(path, G_FILE_TEST_EXISTS))
        return 0;
    if (!pvecm_lock_local(env, 0, NULL))
        return 0; /* a join (or another pvecm) is running: not ours to judge */
    join_state s;
    int r = state_read(env, &s);
    if (r <= 0)
        return r < 0 ? 1 : 0;
    fprintf(stderr,
            "found an interrupted join of node '%s' to the cluster of '%s' (phase %s), rolling "
            "it back\n",
            s.node, s.member, phase_names[s.phase]);
    bool ok = join_rollback(env, &s, false);
    join_state_clear(&s);
    if (!ok) {
        fprintf(stderr, "the roll-back did not complete; fix the cause above and run any pvecm "
                        "command again to retry it\n");
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ ssh */

static bool ssh_run(const char *member, const char *remote_cmd, char **ret_out, char **ret_err,
                    int *ret_status, GError **error)
{
    g_autofree char *timeout = g_strdup_printf("ConnectTimeout=%d", PVECM_SSH_CONNECT_TIMEOUT_S);
    g_autofree char *dest = g_strdup_printf("root@%s", member);
    const char *argv[] = {"ssh", "-o", "BatchMode=yes", "-o", timeout, "-o", "LogLevel=ERROR",
                          dest,  "--", remote_cmd,      NULL};
    int rc = pvecm_run(argv, NULL, ret_out, ret_err, error);
    if (rc < 0)
        return false;
    *ret_status = rc;
    return true;
}

/* ------------------------------------------------------------------ checks */

static void check_guests(const pvecm_env *env, GString *errors)
{
    g_autofree char *nodes = pvecm_pve_path(env, "nodes");
    g_autoptr(GDir) d = g_dir_open(nodes, 0, NULL);
    const char *node;
    unsigned count = 0;
    while (d && (node = g_dir_read_name(d))) {
        static const char *const kinds[] = {"qemu-server", "lxc"};
        for (unsigned k = 0; k < G_N_ELEMENTS(kinds); k++) {
            g_autofree char *dir = g_build_filename(nodes, node, kinds[k], NULL);
            g_autoptr(GDir) gd = g_dir_open(dir, 0, NULL);
            const char *f;
            while (gd && (f = g_dir_read_name(gd)))
                count += g_str_has_suffix(f, ".conf");
        }
    }
    if (count)
        g_string_append(errors, "* this host already contains virtual guests\n");
}

/* The reference's assert_joinable: collect every reason against joining. */
static bool assert_joinable(const pvecm_env *env, const cluster_conf_link *links, bool force)
{
    g_autoptr(GString) errors = g_string_new(NULL);
    g_autofree char *authkey = pvecm_corosync_path(env, "authkey");
    g_autofree char *pve_conf = pvecm_pve_path(env, "corosync.conf");
    if (g_file_test(authkey, G_FILE_TEST_EXISTS))
        g_string_append_printf(errors, "* authentication key '%s' already exists\n", authkey);
    if (g_file_test(pve_conf, G_FILE_TEST_EXISTS))
        g_string_append_printf(errors, "* cluster config '%s' already exists\n", pve_conf);
    check_guests(env, errors);
    if (pvecm_corosync_running())
        g_string_append(errors,
                        "* corosync is already running, is this node already in a cluster?!\n");
    for (unsigned i = 0; i < CLUSTER_CONF_MAX_LINKS; i++) {
        g_autoptr(GError) err = NULL;
        if (links[i].address && !pvecm_address_is_local(links[i].address, &err))
            g_string_append_printf(errors, "* link%u: %s\n", i, err->message);
    }
    if (!errors->len)
        return true;
    fprintf(stderr, "detected the following error(s):\n%s", errors->str);
    if (!force) {
        fprintf(stderr, "Check if node may join a cluster failed!\n");
        return false;
    }
    fprintf(stderr, "\nWARNING : detected error but forced to continue!\n\n");
    return true;
}

/* ------------------------------------------------------------------ waits */

static bool wait_corosync_quorate(int timeout_s)
{
    int64_t deadline = g_get_monotonic_time() + (int64_t)timeout_s * G_USEC_PER_SEC;
    cs_quorum *q = cs_quorum_new(NULL, NULL);
    bool ok = false;
    while (!ok) {
        int64_t left_ms = (deadline - g_get_monotonic_time()) / 1000;
        if (left_ms <= 0)
            break;
        if (!cs_quorum_connected(q) && cs_quorum_connect(q) < 0) {
            g_usleep(200 * 1000);
            continue;
        }
        if ((ok = cs_quorum_is_quorate(q)))
            break;
        struct pollfd pfd = {.fd = cs_quorum_fd(q), .events = POLLIN};
        if (poll(&pfd, 1, (int)MIN(left_ms, 1000)) > 0)
            cs_quorum_dispatch(q);
    }
    cs_quorum_free(q);
    return ok;
}

/* /etc/pve shows the cluster: our node directory arrived and pmxcfs is quorate. */
static bool wait_pve_synced(const pvecm_env *env, int timeout_s)
{
    g_autofree char *rel = g_build_filename("nodes", env->nodename, NULL);
    g_autofree char *nodedir = pvecm_pve_path(env, rel);
    int64_t deadline = g_get_monotonic_time() + (int64_t)timeout_s * G_USEC_PER_SEC;
    while (!(pvecm_pve_mounted(env) && g_file_test(nodedir, G_FILE_TEST_IS_DIR) &&
             pvecm_pve_quorate(env))) {
        if (g_get_monotonic_time() >= deadline)
            return false;
        g_usleep(100 * 1000);
    }
    return true;
}

/* config_version of a corosync.conf file, 0 if unreadable. */
static uint64_t file_conf_version(const char *path)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &text, &len, NULL))
        return 0;
    g_autoptr(corosync_conf_item) root = corosync_conf_parse(text, len, NULL);
    return root ? cluster_conf_version(root) : 0;
}

/*
 * A join that raced with another change may have started corosync with an older
 * config: pmxcfs installs the newer file after its sync (without a reload), so ask
 * corosync to reload once it is there.
 */
static void ensure_current_config(const pvecm_env *env)
{
    g_autofree char *pve_conf = pvecm_pve_path(env, "corosync.conf");
    g_autofree char *host_conf = pvecm_corosync_path(env, "corosync.conf");
    uint64_t cluster = file_conf_version(pve_conf), running = 0;
    if (cs_membership_config_version(&running) < 0 || cluster <= running)
        return;
    int64_t deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (file_conf_version(host_conf) < cluster && g_get_monotonic_time() < deadline)
        g_usleep(100 * 1000);
    const char *argv[] = {"corosync-cfgtool", "-R", NULL};
    g_autofree char *errout = NULL;
    g_autoptr(GError) err = NULL;
    int rc = pvecm_run(argv, NULL, NULL, &errout, &err);
    if (rc != 0)
        fprintf(stderr, "warning: unable to reload corosync with config version %llu: %s\n",
                (unsigned long long)cluster, rc < 0 ? err->message : g_strstrip(errout));
}

/* ------------------------------------------------------------------ the join */

typedef struct join_reply {
    uint32_t nodeid;
    char *join_lock; /* cluster lock to release once joined, or NULL */
    char *conf;
    guchar *authkey;
    gsize authkey_len;
} join_reply;

static void join_reply_clear(join_reply *r)
{
    g_free(r->conf);
    g_free(r->join_lock);
    if (r->authkey)
        memset(r->authkey, 0, r->authkey_len);
    g_free(r->authkey);
}

/* Parse and check addnode's JSON answer. */
static bool parse_reply(const char *node, const char *text, join_reply *ret, GError **error)
{
    g_autoptr(JsonParser) p = json_parser_new();
    g_autoptr(GError) err = NULL;
    /* empty input parses without error but has no root */
    if (!json_parser_load_from_data(p, text, -1, &err) || !json_parser_get_root(p) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "unexpected answer from 'pvecm addnode': %s",
                    err ? err->message : "not a JSON object");
        return false;
    }
    JsonObject *o = json_node_get_object(json_parser_get_root(p));
    const char *conf = json_object_get_string_member_with_default(o, "corosync_conf", NULL);
    const char *key =
        json_object_get_string_member_with_default(o, "corosync_authkey_base64", NULL);
    gint64 nodeid = json_object_get_int_member_with_default(o, "nodeid", 0);
    if (!conf || !key || nodeid <= 0 || nodeid > UINT32_MAX) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "incomplete answer from 'pvecm addnode' (needs corosync_conf, "
                    "corosync_authkey_base64 and nodeid)");
        return false;
    }
    g_autoptr(corosync_conf_item) root = corosync_conf_parse(conf, strlen(conf), &err);
    if (!root || !cluster_conf_validate(root, &err)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "the member sent an invalid corosync.conf: %s", err->message);
        return false;
    }
    g_autoptr(GArray) nodes = cluster_conf_nodes(root);
    const cluster_conf_node *me = cluster_conf_node_find(nodes, node);
    if (!me || me->nodeid != (uint32_t)nodeid) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "the member's corosync.conf does not list node '%s' with nodeid %lld", node,
                    (long long)nodeid);
        return false;
    }
    gsize keylen = 0;
    guchar *k = g_base64_decode(key, &keylen);
    if (keylen == 0) {
        g_free(k);
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "the member sent an empty authentication key");
        return false;
    }
    const char *lock = json_object_get_string_member_with_default(o, "join_lock", NULL);
    if (lock && (!*lock || strchr(lock, '/') || lock[0] == '.')) {
        g_free(k);
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "the member sent an invalid lock name '%s'", lock);
        return false;
    }
    ret->nodeid = (uint32_t)nodeid;
    ret->join_lock = g_strdup(lock);
    ret->conf = g_strdup(conf);
    ret->authkey = k;
    ret->authkey_len = keylen;
    return true;
}

static char *addnode_command(const char *node, const cluster_conf_link *links,
                             const pvecm_node_opts *o)
{
    g_autoptr(GString) cmd = g_string_new("pvecm addnode ");
    g_autofree char *qnode = g_shell_quote(node);
    g_string_append(cmd, qnode);
    for (unsigned i = 0; i < CLUSTER_CONF_MAX_LINKS; i++) {
        if (!links[i].address)
            continue;
        g_autofree char *spec =
            links[i].priority >= 0
                ? g_strdup_printf("address=%s,priority=%d", links[i].address, links[i].priority)
                : g_strdup(links[i].address);
        g_autofree char *q = g_shell_quote(spec);
        g_string_append_printf(cmd, " --link%u %s", i, q);
    }
    if (o->nodeid)
        g_string_append_printf(cmd, " --nodeid %u", o->nodeid);
    if (o->votes)
        g_string_append_printf(cmd, " --votes %u", o->votes);
    if (o->force)
        g_string_append(cmd, " --force");
    g_string_append(cmd, " --output-format json");
    return g_string_free(g_steal_pointer(&cmd), FALSE);
}

/* Steps after the member accepted us; false after printing why. */
static bool join_switch(pvecm_env *env, join_state *s, const join_reply *reply)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *authkey = pvecm_corosync_path(env, "authkey");
    g_autofree char *host_conf = pvecm_corosync_path(env, "corosync.conf");
    s->phase = PHASE_SWITCHING;
    if (!state_write(env, s, &err))
        goto fail;
    if ((s->had_authkey && !corosync_file_save(env, "authkey", &err)) ||
        (s->had_corosync_conf && !corosync_file_save(env, "corosync.conf", &err)))
        goto fail;
    printf("stopping pve-cluster service\n");
    fflush(stdout);
    if (!pvecm_service(env, "stop", "pve-cluster", &err))
        goto fail;
    test_kill_point("stopped");
    if (!db_move_aside(env, &err))
        goto fail;
    test_kill_point("moved");
    if (!pvecm_file_write(authkey, reply->authkey, reply->authkey_len, 0400, &err) ||
        !pvecm_file_write(host_conf, reply->conf, strlen(reply->conf), 0644, &err))
        goto fail;
    printf("starting corosync and pve-cluster services\n");
    fflush(stdout);
    if (!pvecm_service(env, s->corosync_active ? "restart" : "start", "corosync", &err) ||
        !pvecm_service(env, "start", "pve-cluster", &err))
        goto fail;
    test_kill_point("started");
    printf("waiting for quorum...");
    fflush(stdout);
    if (!wait_corosync_quorate(PVECM_JOIN_QUORUM_TIMEOUT_S)) {
        printf("\n");
        g_set_error(&err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                    "no quorum within %d s (can this node reach the cluster on UDP port "
                    "5405?)",
                    PVECM_JOIN_QUORUM_TIMEOUT_S);
        goto fail;
    }
    printf("OK\n");
    fflush(stdout);
    if (!wait_pve_synced(env, PVECM_JOIN_SYNC_TIMEOUT_S)) {
        g_set_error(&err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                    "pmxcfs did not sync with the cluster within %d s", PVECM_JOIN_SYNC_TIMEOUT_S);
        goto fail;
    }
    ensure_current_config(env);
    if (reply->join_lock)
        pvecm_lock_cluster_release(env, reply->join_lock);
    return true;
fail:
    fprintf(stderr, "join failed: %s\n", err ? err->message : "unknown error");
    return false;
}

int pvecm_add_run(pvecm_env *env, const char *member, const pvecm_node_opts *o)
{
    g_autoptr(GError) err = NULL;
    if (pvecm_join_recover(env) != 0)
        return 1;
    if (!cluster_conf_nodename_check(env->nodename, &err)) {
        fprintf(stderr, "this node's name is not usable in a cluster: %s\n", err->message);
        return 1;
    }
    g_autofree char *member_ip = !member || !*member                ? NULL
                                 : g_hostname_is_ip_address(member) ? g_strdup(member)
                                                                    : net_resolve_address(member);
    if (!member_ip) {
        fprintf(stderr, "unknown cluster member '%s': cannot resolve its name\n",
                member ? member : "");
        return 1;
    }
    if (pvecm_address_is_local(member_ip, NULL)) {
        fprintf(stderr, "'%s' is this node: give the name or address of a cluster member\n",
                member);
        return 1;
    }
    cluster_conf_link links[CLUSTER_CONF_MAX_LINKS];
    g_autofree char *local_ip = NULL;
    if (!pvecm_links_default(o->links, env->nodename, links, &local_ip)) {
        fprintf(stderr,
                "Unable to resolve node name '%s' to a non-loopback IP address - missing "
                "entry in '/etc/hosts' or DNS? (or pass --link0)\n",
                env->nodename);
        return 1;
    }
    if (local_ip)
        printf("No cluster network links passed explicitly, fallback to local node IP '%s'\n",
               local_ip);
    if (!pvecm_pve_mounted(env)) {
        fprintf(stderr, "%s is not mounted - is pve-cluster (pmxcfs) running?\n", env->pve_dir);
        return 1;
    }
    if (!assert_joinable(env, links, o->force))
        return 1;
    if (!pvecm_lock_local(env, PVECM_LOCK_TIMEOUT_S, &err)) {
        fprintf(stderr, "%s\n", err->message);
        return 1;
    }

    g_autofree char *backup = NULL;
    if (!pvecm_db_backup(env, &backup, &err)) {
        fprintf(stderr, "%s\n", err->message);
        return 1;
    }
    if (backup)
        printf("backup old database to '%s'\n", backup);

    g_autofree char *authkey = pvecm_corosync_path(env, "authkey");
    g_autofree char *host_conf = pvecm_corosync_path(env, "corosync.conf");
    join_state s = {
        .node = g_strdup(env->nodename),
        .member = g_strdup(member),
        .phase = PHASE_PREPARED,
        .corosync_active = pvecm_corosync_running(),
        .had_authkey = g_file_test(authkey, G_FILE_TEST_EXISTS),
        .had_corosync_conf = g_file_test(host_conf, G_FILE_TEST_EXISTS),
    };
    join_reply reply = {0};
    int rc = 1;
    g_autofree char *cmd = addnode_command(s.node, links, o);
    g_autofree char *out = NULL, *errout = NULL;
    int status = -1;
    if (!state_write(env, &s, &err)) {
        fprintf(stderr, "%s\n", err->message);
        state_remove(env);
        goto out;
    }

    printf("requesting addition of node '%s' on '%s' (over SSH)\n", s.node, member);
    fflush(stdout);
    if (!ssh_run(member, cmd, &out, &errout, &status, &err)) {
        fprintf(stderr, "%s\n", err->message);
        state_remove(env);
        goto out;
    }
    if (status != 0) {
        g_strstrip(errout);
        if (status == 255)
            fprintf(stderr, "unable to connect to '%s' over SSH (key authentication as root): %s\n",
                    member, *errout ? errout : "ssh failed");
        else if (status == 127)
            fprintf(stderr, "'%s' has no pvecm command: %s\n", member, errout);
        else
            fprintf(stderr, "adding this node on '%s' failed: %s\n", member,
                    *errout ? errout : "pvecm addnode failed");
        state_remove(env);
        goto out;
    }
    if (errout && *g_strstrip(errout))
        fprintf(stderr, "%s: %s\n", member, errout); /* e.g. it waited for another join */
    if (!parse_reply(s.node, out, &reply, &err)) {
        fprintf(stderr, "%s\n", err->message);
        s.phase = PHASE_ADDED;
        join_rollback(env, &s, true);
        goto out;
    }
    s.phase = PHASE_ADDED;
    s.nodeid = reply.nodeid;
    if (!state_write(env, &s, &err)) {
        fprintf(stderr, "%s\n", err->message);
        join_rollback(env, &s, true);
        goto out;
    }
    printf("node '%s' added with nodeid %u, switching to cluster mode\n", s.node, reply.nodeid);
    test_kill_point("addnode");
    if (!join_switch(env, &s, &reply)) {
        if (!join_rollback(env, &s, true))
            fprintf(stderr, "the roll-back did not complete; fix the cause above and run any "
                            "pvecm command again to retry it\n");
        goto out;
    }
    state_remove(env);
    printf("successfully added node '%s' to cluster.\n", s.node);
    rc = 0;
out:
    join_reply_clear(&reply);
    join_state_clear(&s);
    return rc;
}
