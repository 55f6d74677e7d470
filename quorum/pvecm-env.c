/*
 * pvecm-env: node-side helpers of the pvecm CLI.
 *
 * Child processes run with GSubprocess (no shell), so arguments are never re-parsed.
 * Locks follow the reference clients exactly (flock with a timeout for the local lock,
 * mkdir/utime(0,0) loop for the cluster lock) so that our pvecm and the reference tools
 * exclude each other.  Files in /etc/pve are replaced by writing `<name>.new` and
 * renaming it, which pmxcfs applies atomically on every node.
 */
#include "quorum/pvecm-env.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <ifaddrs.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <utime.h>

#include <corosync/cmap.h>

#include "lib/atomic-file.h"
#include "lib/net.h"
#include "quorum/cluster-conf.h"

#define G_LOG_DOMAIN_PVECM "pvecm"

static char *env_or(const char *name, const char *def)
{
    const char *v = g_getenv(name);
    return g_strdup(v && *v ? v : def);
}

pvecm_env *pvecm_env_new(void)
{
    pvecm_env *env = g_new0(pvecm_env, 1);
    env->pve_dir = env_or("PVECM_PVE_DIR", "/etc/pve");
    env->corosync_dir = env_or("PVECM_COROSYNC_DIR", "/etc/corosync");
    env->db_dir = env_or("PVECM_DB_DIR", "/var/lib/pve-cluster");
    env->lock_file = env_or("PVECM_LOCK_FILE", "/var/lock/pvecm.lock");
    env->service_ctl = env_or("PVE_SERVICE_CTL", "systemctl");
    env->local_lock_fd = -1;
    const char *nn = g_getenv("PVECM_NODENAME");
    if (nn && *nn) {
        env->nodename = g_strdup(nn);
    } else {
        struct utsname u;
        if (uname(&u) == 0) {
            char *dot = strchr(u.nodename, '.');
            if (dot)
                *dot = '\0';
            env->nodename = g_strdup(u.nodename);
        } else {
            env->nodename = g_strdup("localhost");
        }
    }
    return env;
}

void pvecm_env_free(pvecm_env *env)
{
    if (!env)
        return;
    pvecm_lock_local_release(env);
    g_free(env->pve_dir);
    g_free(env->corosync_dir);
    g_free(env->db_dir);
    g_free(env->lock_file);
    g_free(env->service_ctl);
    g_free(env->nodename);
    g_free(env);
}

char *pvecm_pve_path(const pvecm_env *env, const char *rel)
{
    return g_build_filename(env->pve_dir, rel, NULL);
}

char *pvecm_corosync_path(const pvecm_env *env, const char *name)
{
    return g_build_filename(env->corosync_dir, name, NULL);
}

/* ------------------------------------------------------------------ processes */

int pvecm_run(const char *const *argv, const char *input, char **ret_stdout, char **ret_stderr,
              GError **error)
{
    GSubprocessFlags flags = G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE;
    if (input)
        flags |= G_SUBPROCESS_FLAGS_STDIN_PIPE;
    g_autoptr(GError) err = NULL;
    g_autoptr(GSubprocess) p = g_subprocess_newv(argv, flags, &err);
    if (!p) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "unable to run '%s': %s", argv[0],
                    err->message);
        return -1;
    }
    g_autofree char *out = NULL, *errout = NULL;
    if (!g_subprocess_communicate_utf8(p, input, NULL, &out, &errout, &err)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "'%s' failed: %s", argv[0], err->message);
        return -1;
    }
    if (!g_subprocess_get_if_exited(p)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "'%s' was killed by signal %d", argv[0],
                    g_subprocess_get_term_sig(p));
        return -1;
    }
    if (ret_stdout)
        *ret_stdout = g_steal_pointer(&out);
    if (ret_stderr)
        *ret_stderr = g_steal_pointer(&errout);
    return g_subprocess_get_exit_status(p);
}

bool pvecm_service(const pvecm_env *env, const char *action, const char *unit, GError **error)
{
    const char *argv[] = {env->service_ctl, action, unit, NULL};
    g_autofree char *out = NULL, *err = NULL;
    int rc = pvecm_run(argv, NULL, &out, &err, error);
    if (rc < 0)
        return false;
    if (rc != 0) {
        g_autofree char *msg = g_strstrip(g_strconcat(out ? out : "", err ? err : "", NULL));
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "'%s %s %s' failed (exit %d)%s%s",
                    env->service_ctl, action, unit, rc, *msg ? ": " : "", msg);
        return false;
    }
    return true;
}

bool pvecm_service_active(const pvecm_env *env, const char *unit)
{
    const char *argv[] = {env->service_ctl, "is-active", unit, NULL};
    return pvecm_run(argv, NULL, NULL, NULL, NULL) == 0;
}

/* ------------------------------------------------------------------ /etc/pve state */

bool pvecm_pve_mounted(const pvecm_env *env)
{
    g_autofree char *mounts = NULL;
    if (!g_file_get_contents("/proc/self/mounts", &mounts, NULL, NULL))
        return false;
    g_auto(GStrv) lines = g_strsplit(mounts, "\n", -1);
    for (unsigned i = 0; lines[i]; i++) {
        g_auto(GStrv) f = g_strsplit(lines[i], " ", 4);
        if (g_strv_length(f) >= 3 && strcmp(f[1], env->pve_dir) == 0 &&
            g_str_has_prefix(f[2], "fuse"))
            return true;
    }
    return false;
}

bool pvecm_pve_quorate(const pvecm_env *env)
{
    g_autofree char *local = pvecm_pve_path(env, "local");
    struct stat st;
    return lstat(local, &st) == 0 && (st.st_mode & S_IWUSR);
}

bool pvecm_pve_check_writable(const pvecm_env *env, GError **error)
{
    if (!pvecm_pve_mounted(env)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_MOUNTED,
                    "%s is not mounted - is pve-cluster (pmxcfs) running?", env->pve_dir);
        return false;
    }
    if (!pvecm_pve_quorate(env)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                    "cluster not ready - no quorum?");
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ locks */

bool pvecm_lock_local(pvecm_env *env, int timeout_s, GError **error)
{
    if (env->local_lock_fd >= 0)
        return true;
    g_autofree char *dir = g_path_get_dirname(env->lock_file);
    g_mkdir_with_parents(dir, 0755);
    int fd = open(env->lock_file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "can't open lock file '%s': %s", env->lock_file, g_strerror(errno));
        return false;
    }
    int64_t deadline = g_get_monotonic_time() + (int64_t)timeout_s * G_USEC_PER_SEC;
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "can't lock file '%s': %s",
                        env->lock_file, g_strerror(errno));
            close(fd);
            return false;
        }
        if (g_get_monotonic_time() >= deadline) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "can't lock file '%s' - got timeout (another pvecm command is running)",
                        env->lock_file);
            close(fd);
            return false;
        }
        g_usleep(100 * 1000);
    }
    env->local_lock_fd = fd;
    return true;
}

void pvecm_lock_local_release(pvecm_env *env)
{
    if (env->local_lock_fd >= 0) {
        close(env->local_lock_fd);
        env->local_lock_fd = -1;
    }
}

bool pvecm_lock_cluster(const pvecm_env *env, const char *name, int timeout_s, bool *ret_waited,
                        GError **error)
{
    g_autofree char *lockdir = pvecm_pve_path(env, "priv/lock");
    g_autofree char *path = g_build_filename(lockdir, name, NULL);
    if (ret_waited)
        *ret_waited = false;
    if (mkdir(lockdir, 0700) < 0 && errno != EEXIST) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "can't create lock directory '%s': %s%s", lockdir, g_strerror(errno),
                    errno == EACCES ? " (no quorum?)" : "");
        return false;
    }
    int64_t deadline = g_get_monotonic_time() + (int64_t)timeout_s * G_USEC_PER_SEC;
    for (;;) {
        if (mkdir(path, 0700) == 0)
            return true;
        int e = errno;
        if (e != EEXIST && e != EACCES) {
            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
                        "can't acquire cluster lock '%s': %s", name, g_strerror(e));
            return false;
        }
        if (ret_waited)
            *ret_waited = true;
        /* An unlock request: pmxcfs removes the lock if its holder let it expire. */
        struct utimbuf zero = {0, 0};
        if (e == EEXIST)
            (void)utime(path, &zero);
        int64_t left = deadline - g_get_monotonic_time();
        if (left <= 0) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "can't acquire cluster lock '%s': %s", name,
                        e == EACCES ? "no quorum!" : "got lock request timeout");
            return false;
        }
        /* min(remaining seconds, 10) x 100 ms, like the Perl client */
        int64_t secs = left / G_USEC_PER_SEC;
        int64_t step = MAX(MIN(secs, 10), 1) * 100 * 1000;
        g_usleep((gulong)MIN(step, left));
    }
}

void pvecm_lock_cluster_release(const pvecm_env *env, const char *name)
{
    g_autofree char *rel = g_build_filename("priv/lock", name, NULL);
    g_autofree char *path = pvecm_pve_path(env, rel);
    if (rmdir(path) < 0 && errno != ENOENT)
        g_log(G_LOG_DOMAIN_PVECM, G_LOG_LEVEL_WARNING, "unable to release cluster lock '%s': %s",
              name, g_strerror(errno));
}

/* ------------------------------------------------------------------ corosync.conf */

bool pvecm_conf_exists(const pvecm_env *env)
{
    g_autofree char *path = pvecm_pve_path(env, "corosync.conf");
    return g_file_test(path, G_FILE_TEST_IS_REGULAR);
}

static void conf_missing_error(GError **error, const char *path)
{
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                "Error: Corosync config '%s' does not exist - is this node part of a cluster?",
                path);
}

bool pvecm_conf_check_exists(const pvecm_env *env, GError **error)
{
    if (pvecm_conf_exists(env))
        return true;
    g_autofree char *path = pvecm_pve_path(env, "corosync.conf");
    conf_missing_error(error, path);
    return false;
}

corosync_conf_item *pvecm_conf_read(const pvecm_env *env, bool validate, GError **error)
{
    g_autofree char *path = pvecm_pve_path(env, "corosync.conf");
    g_autofree char *text = NULL;
    gsize len = 0;
    g_autoptr(GError) err = NULL;
    if (!g_file_get_contents(path, &text, &len, &err)) {
        if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            conf_missing_error(error, path);
        else
            g_set_error(error, G_FILE_ERROR, err->code, "unable to read '%s': %s", path,
                        err->message);
        return NULL;
    }
    g_autoptr(corosync_conf_item) root = corosync_conf_parse(text, len, &err);
    if (!root) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "unable to parse '%s': %s", path,
                    err->message);
        return NULL;
    }
    if (validate && !cluster_conf_validate(root, &err)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "invalid '%s': %s", path,
                    err->message);
        return NULL;
    }
    return g_steal_pointer(&root);
}

bool pvecm_conf_write(const pvecm_env *env, corosync_conf_item *root, GError **error)
{
    cluster_conf_version_bump(root);
    g_autofree char *text = corosync_conf_write(root);
    g_autofree char *path = pvecm_pve_path(env, "corosync.conf");
    g_autofree char *tmp = pvecm_pve_path(env, "corosync.conf.new");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        int e = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), "unable to write '%s': %s%s", tmp,
                    g_strerror(e), e == EACCES ? " (no quorum?)" : "");
        return false;
    }
    int w = write_full(fd, text, strlen(text));
    bool ok = w == 0;
    int e = -w;
    if (ok && fsync(fd) < 0 && errno != EINVAL && errno != ENOSYS) {
        ok = false;
        e = errno;
    }
    if (close(fd) < 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok && rename(tmp, path) < 0) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), "unable to write '%s': %s", path,
                    g_strerror(e));
        return false;
    }
    return true;
}

/* mkdir @path unless it exists; a new directory is recorded in @created (may be NULL). */
static bool dir_create(const char *path, GPtrArray *created, GError **error)
{
    if (mkdir(path, 0755) == 0) {
        if (created)
            g_ptr_array_add(created, g_strdup(path));
        return true;
    }
    if (errno == EEXIST)
        return true;
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                "unable to create directory '%s': %s", path, g_strerror(errno));
    return false;
}

bool pvecm_node_dirs_create(const pvecm_env *env, const char *node, GPtrArray *created,
                            GError **error)
{
    static const char *const sub[] = {"", "/priv", "/lxc", "/qemu-server", "/openvz"};
    g_autofree char *nodes = pvecm_pve_path(env, "nodes");
    g_autofree char *priv = pvecm_pve_path(env, "priv");
    if (!dir_create(nodes, created, error) || !dir_create(priv, created, error))
        return false;
    for (unsigned i = 0; i < G_N_ELEMENTS(sub); i++) {
        g_autofree char *d = g_strdup_printf("%s/%s%s", nodes, node, sub[i]);
        if (!dir_create(d, created, error))
            return false;
    }
    return true;
}

void pvecm_cluster_log(const char *priority, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *ctl = g_find_program_in_path("pmxcfs-ctl");
    if (!ctl) {
        g_log(G_LOG_DOMAIN_PVECM, G_LOG_LEVEL_DEBUG,
              "pmxcfs-ctl is not installed, cluster log entry skipped: %s", msg);
        return;
    }
    const char *argv[] = {ctl, "log", "-p", priority, "-t", "pvecm", msg, NULL};
    g_autofree char *err = NULL;
    g_autoptr(GError) e = NULL;
    int rc = pvecm_run(argv, NULL, NULL, &err, &e);
    if (rc != 0)
        g_log(G_LOG_DOMAIN_PVECM, G_LOG_LEVEL_WARNING, "unable to write cluster log: %s, ignoring",
              rc < 0 ? e->message : g_strstrip(err));
}

/* ------------------------------------------------------------------ addresses */

/* Textual address of @sa (numeric); false for families we do not handle. */
bool pvecm_address_is_local(const char *addr, GError **error)
{
    g_autofree char *ip = g_hostname_is_ip_address(addr) ? g_strdup(addr) : net_resolve_address(addr);
    if (!ip) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "cannot resolve '%s'", addr);
        return false;
    }
    g_autoptr(GInetAddress) want = g_inet_address_new_from_string(ip);
    struct ifaddrs *ifs = NULL;
    if (!want || getifaddrs(&ifs) < 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot check local addresses: %s",
                    g_strerror(errno));
        return false;
    }
    bool found = false;
    for (struct ifaddrs *i = ifs; i && !found; i = i->ifa_next) {
        char buf[INET6_ADDRSTRLEN];
        if (!i->ifa_addr || !net_sockaddr_text(i->ifa_addr, buf, sizeof(buf)))
            continue;
        g_autoptr(GInetAddress) have = g_inet_address_new_from_string(buf);
        found = have && g_inet_address_equal(have, want);
    }
    freeifaddrs(ifs);
    if (!found)
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    "cannot use IP '%s', not found on local node!", ip);
    return found;
}

bool pvecm_corosync_running(void)
{
    cmap_handle_t h = 0;
    if (cmap_initialize(&h) != CS_OK)
        return false;
    cmap_finalize(h);
    return true;
}

bool pvecm_file_write(const char *path, const void *data, size_t len, unsigned mode, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(path);
    if (g_mkdir_with_parents(dir, 0755) < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "unable to create directory '%s': %s", dir, g_strerror(errno));
        return false;
    }
    int r = atomic_file_write(path, data, len, (mode_t)mode, 0, 0);
    if (r < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r), "unable to write '%s': %s", path,
                    g_strerror(-r));
        return false;
    }
    return true;
}
