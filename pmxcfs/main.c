/*
 * main: the pmxcfs daemon: command line, start-up checks, daemonisation, mount,
 * and orderly shutdown (spec §13).
 *
 * Start-up order is chosen so that every failure that can be detected early (bad
 * arguments, missing www-data group, second instance, busy mount point, unreadable or
 * corrupt database) ends with one clear error line and a non-zero exit before anything
 * was written.  Without -f the process forks at once; the parent waits for the child to
 * report readiness (or its error text) over a pipe, writes the pid file and exits, so a
 * Type=forking unit sees a mounted file system when the start job completes.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "lib/atomic-file.h"
#include "lib/log.h"
#include "lib/net.h"
#include "pmxcfs/cfs-fuse.h"
#include "pmxcfs/cluster.h"
#include "pmxcfs/confdb.h"
#include "pmxcfs/ipc.h"
#include "pmxcfs/kvgroup.h"
#include "pmxcfs/memdb.h"
#include "pmxcfs/ops.h"
#include "pmxcfs/status.h"

#define G_LOG_DOMAIN_MAIN "main"

#define DEFAULT_MOUNTPOINT "/etc/pve"
#define DEFAULT_DATABASE "/var/lib/pve-cluster/config.db"
#define DEFAULT_RUNDIR "/run/pve-cluster"
#define DEFAULT_PIDFILE "/var/run/pve-cluster.pid"
#define DEFAULT_COROSYNC_CONF "/etc/corosync/corosync.conf"
#define LOCKFILE_NAME ".pmxcfs.lockfile"
#define RESTART_FLAG_NAME "cfs-restart-flag"
/* Single instance: try the lock 11 times, 1 s apart (spec §13.3). */
#define LOCK_TRIES 11

typedef struct options {
    gboolean debug;
    gboolean foreground;
    gboolean local;
    char *mountpoint;
    char *database;
    char *rundir;
    char *pidfile;
    char *ipc_service;
    char *nodename;
    char *corosync_conf;
    int lock_timeout;
    int verify_interval;
} options;

static options opt;
static int ready_fd = -1; /* write end of the readiness pipe (daemon mode) */

#define log_crit(...) g_log(G_LOG_DOMAIN_MAIN, G_LOG_LEVEL_CRITICAL, __VA_ARGS__)
#define log_warn(...) g_log(G_LOG_DOMAIN_MAIN, G_LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...) g_log(G_LOG_DOMAIN_MAIN, G_LOG_LEVEL_MESSAGE, __VA_ARGS__)

/* Report a fatal start-up error: to the log and, in daemon mode, to the waiting parent. */
G_GNUC_PRINTF(1, 2) static void startup_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (ready_fd >= 0) {
        g_autofree char *line = g_strdup_printf("E%s\n", msg);
        if (write(ready_fd, line, strlen(line)) < 0)
            log_crit("%s", msg);
    } else {
        log_crit("%s", msg);
    }
}

static bool parse_args(int *argc, char ***argv)
{
    GOptionEntry entries[] = {
        {"debug", 'd', 0, G_OPTION_ARG_NONE, &opt.debug, "Turn on debug messages", NULL},
        {"foreground", 'f', 0, G_OPTION_ARG_NONE, &opt.foreground,
         "Do not daemonize server, log to stderr", NULL},
        {"local", 'l', 0, G_OPTION_ARG_NONE, &opt.local,
         "Force local mode (ignore corosync.conf, force quorum)", NULL},
        {"mountpoint", 0, 0, G_OPTION_ARG_FILENAME, &opt.mountpoint,
         "Mount point (default " DEFAULT_MOUNTPOINT ")", "DIR"},
        {"database", 0, 0, G_OPTION_ARG_FILENAME, &opt.database,
         "Database file (default " DEFAULT_DATABASE ")", "FILE"},
        {"rundir", 0, 0, G_OPTION_ARG_FILENAME, &opt.rundir,
         "Runtime directory (default " DEFAULT_RUNDIR ")", "DIR"},
        {"pidfile", 0, 0, G_OPTION_ARG_FILENAME, &opt.pidfile,
         "Pid file (default " DEFAULT_PIDFILE ")", "FILE"},
        {"ipc-service", 0, 0, G_OPTION_ARG_STRING, &opt.ipc_service,
         "IPC service name (default pve2)", "NAME"},
        {"nodename", 0, 0, G_OPTION_ARG_STRING, &opt.nodename,
         "Node name (default: the host name up to the first dot)", "NAME"},
        {"corosync-conf", 0, 0, G_OPTION_ARG_FILENAME, &opt.corosync_conf,
         "Host corosync configuration (default " DEFAULT_COROSYNC_CONF ")", "FILE"},
        {"lock-timeout", 0, 0, G_OPTION_ARG_INT, &opt.lock_timeout,
         "Lock expiry in seconds (default 120)", "SECONDS"},
        {"verify-interval", 0, 0, G_OPTION_ARG_INT, &opt.verify_interval,
         "Cluster data verification interval in seconds (default 3600)", "SECONDS"},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
    g_option_context_set_summary(ctx,
                                 "pmxcfs: the Proxmox VE cluster configuration file system.\n"
                                 "Serves the configuration database at the mount point, "
                                 "replicated over corosync\nwhen the database holds a "
                                 "corosync.conf, otherwise in local mode.");
    g_option_context_set_description(
        ctx, "The options without a short form are for tests and labs; the defaults are the\n"
             "production paths.  See pmxcfs(8).\n");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) err = NULL;
    if (!g_option_context_parse(ctx, argc, argv, &err)) {
        fprintf(stderr, "pmxcfs: %s\n", err->message);
        return false;
    }
    if (*argc > 1) {
        fprintf(stderr, "pmxcfs: unexpected argument '%s'\n", (*argv)[1]);
        return false;
    }
    if (!opt.mountpoint)
        opt.mountpoint = g_strdup(DEFAULT_MOUNTPOINT);
    if (!opt.database)
        opt.database = g_strdup(DEFAULT_DATABASE);
    if (!opt.rundir)
        opt.rundir = g_strdup(DEFAULT_RUNDIR);
    if (!opt.pidfile)
        opt.pidfile = g_strdup(DEFAULT_PIDFILE);
    if (!opt.corosync_conf)
        opt.corosync_conf = g_strdup(DEFAULT_COROSYNC_CONF);
    if (opt.verify_interval < 0) {
        fprintf(stderr, "pmxcfs: --verify-interval must be positive\n");
        return false;
    }
    if (opt.lock_timeout < 0 || opt.lock_timeout > 86400) {
        fprintf(stderr, "pmxcfs: --lock-timeout must be between 1 and 86400 seconds\n");
        return false;
    }
    return true;
}

/* The node name is the uname nodename cut at the first dot (spec §13.2). */
static char *get_nodename(void)
{
    if (opt.nodename)
        return g_strdup(opt.nodename);
    struct utsname u;
    if (uname(&u) < 0)
        return NULL;
    char *dot = strchr(u.nodename, '.');
    if (dot)
        *dot = '\0';
    return g_strdup(u.nodename);
}

static int mkdir_owned(const char *path, mode_t mode, gid_t gid)
{
    if (g_mkdir_with_parents(path, (int)mode) < 0)
        return -errno;
    if (gid != (gid_t)-1 && chown(path, 0, gid) < 0)
        return -errno;
    if (chmod(path, mode) < 0)
        return -errno;
    return 0;
}

/* Take the single-instance lock; returns the fd (kept open for the process lifetime). */
static int acquire_instance_lock(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, LOCKFILE_NAME, NULL);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        startup_fail("unable to create lock file '%s': %s", path, g_strerror(errno));
        return -1;
    }
    for (int i = 0; i < LOCK_TRIES; i++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        if (errno != EWOULDBLOCK) {
            startup_fail("unable to lock '%s': %s", path, g_strerror(errno));
            close(fd);
            return -1;
        }
        if (i + 1 < LOCK_TRIES)
            sleep(1);
    }
    startup_fail("unable to acquire pmxcfs lock '%s': another instance is running", path);
    close(fd);
    return -1;
}

/* Clean up a stale mount and make sure the mount point is usable (spec §13.5). */
static bool prepare_mountpoint(const char *dir)
{
    if (umount2(dir, MNT_FORCE) < 0 && errno != EINVAL && errno != ENOENT) {
        if (errno == EBUSY) {
            startup_fail("mount point '%s' is busy (a file system is mounted there and in use)",
                         dir);
            return false;
        }
        startup_fail("unable to unmount stale '%s': %s", dir, g_strerror(errno));
        return false;
    }
    if (g_mkdir_with_parents(dir, 0750) < 0) {
        startup_fail("unable to create mount point '%s': %s", dir, g_strerror(errno));
        return false;
    }
    return true;
}

/* Import the host corosync.conf into a new database (spec §13.4). */
static void import_corosync_conf(memdb *m)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    if (!g_file_get_contents(opt.corosync_conf, &data, &len, NULL))
        return;
    uint32_t now = (uint32_t)time(NULL);
    int r = memdb_create(m, "corosync.conf", 0, now);
    if (r == 0)
        r = memdb_write(m, "corosync.conf", 0, data, len, false, 0, now);
    if (r < 0)
        log_warn("unable to import '%s': %s, ignoring", opt.corosync_conf, g_strerror(-r));
    else
        log_info("imported '%s' into the new database", opt.corosync_conf);
}

static void write_restart_flag(gid_t gid, bool create)
{
    g_autofree char *path = g_build_filename(opt.rundir, RESTART_FLAG_NAME, NULL);
    if (!create) {
        unlink(path);
        return;
    }
    int r = atomic_file_write(path, "", 0, 0440, 0, gid);
    if (r < 0)
        log_warn("unable to create '%s': %s, ignoring", path, g_strerror(-r));
}

typedef struct daemon_ctx {
    cfs_status *status;
    cfs_cluster *cluster;
    kvgroup *kvgroup; /* cluster mode: the status group */
    confdb *confdb;   /* cluster mode: cluster information from cmap */
} daemon_ctx;

static void on_memdb_change(void *user_data, const memdb_change *change)
{
    daemon_ctx *d = user_data;
    if (change->kind == MEMDB_CHANGE_RELOAD)
        cfs_status_bump_all(d->status);
    else
        cfs_status_path_changed(d->status, change->path);
    /* in cluster mode changes arrive behind the kernel's back: drop its caches */
    cfs_cluster_on_change(d->cluster, change);
}

/* Parent side of daemonisation: wait for the child's verdict. */
static int parent_wait(int fd, pid_t child)
{
    g_autoptr(GString) msg = g_string_new(NULL);
    char buf[512];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
        if (n > 0)
            g_string_append_len(msg, buf, n);
        if (msg->len && msg->str[msg->len - 1] == '\n')
            break;
    }
    if (msg->len == 0 || msg->str[0] != 'R') {
        if (msg->len > 1) {
            g_strchomp(msg->str);
            fprintf(stderr, "pmxcfs: %s\n", msg->str + 1);
        } else {
            fprintf(stderr, "pmxcfs: the daemon exited during start-up\n");
        }
        return 1;
    }
    g_autofree char *pid = g_strdup_printf("%d\n", (int)child);
    int r = atomic_file_write(opt.pidfile, pid, strlen(pid), 0644, (uid_t)-1, (gid_t)-1);
    if (r < 0) {
        fprintf(stderr, "pmxcfs: unable to write pid file '%s': %s\n", opt.pidfile,
                g_strerror(-r));
        kill(child, SIGTERM);
        return 1;
    }
    return 0;
}

static void report_ready(void)
{
    if (ready_fd < 0)
        return;
    if (write(ready_fd, "R\n", 2) < 0)
        log_warn("unable to report readiness: %s", g_strerror(errno));
    close(ready_fd);
    ready_fd = -1;
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO)
            close(null);
    }
}

int main(int argc, char **argv)
{
    if (!parse_args(&argc, &argv))
        return 255;
    log_setup("pmxcfs", opt.foreground ? LOG_TARGET_STDERR_SYSLOG : LOG_TARGET_AUTO, opt.debug);

    if (!opt.foreground) {
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) < 0) {
            log_crit("pipe: %s", g_strerror(errno));
            return 1;
        }
        pid_t pid = fork();
        if (pid < 0) {
            log_crit("fork: %s", g_strerror(errno));
            return 1;
        }
        if (pid > 0) {
            close(pfd[1]);
            return parent_wait(pfd[0], pid);
        }
        close(pfd[0]);
        ready_fd = pfd[1];
        setsid();
        if (chdir("/") < 0)
            log_warn("chdir /: %s, ignoring", g_strerror(errno));
    }
    umask(027);

    g_autofree char *nodename = get_nodename();
    if (!nodename || !*nodename) {
        startup_fail("unable to get the local node name");
        return 1;
    }
    struct group *gr = getgrnam("www-data");
    if (!gr) {
        startup_fail("unable to get the www-data group id");
        return 1;
    }
    gid_t www_gid = gr->gr_gid;
    g_autofree char *address = net_resolve_address(nodename);

    g_autofree char *dbdir = g_path_get_dirname(opt.database);
    int r;
    if ((r = mkdir_owned(dbdir, 0750, (gid_t)-1)) < 0) {
        startup_fail("unable to create database directory '%s': %s", dbdir, g_strerror(-r));
        return 1;
    }
    if ((r = mkdir_owned(opt.rundir, 0750, www_gid)) < 0) {
        startup_fail("unable to create runtime directory '%s': %s", opt.rundir, g_strerror(-r));
        return 1;
    }
    int lock_fd = acquire_instance_lock(dbdir);
    if (lock_fd < 0)
        return 1;
    if (!prepare_mountpoint(opt.mountpoint))
        return 1;

    daemon_ctx ctx = {0};
    memdb_options mopts = {.on_change = on_memdb_change,
                           .change_data = &ctx,
                           .lock_timeout = (uint32_t)opt.lock_timeout,
                           .flush_interval_ms = 1000};
    g_autoptr(GError) err = NULL;
    bool created = false;
    memdb *m = memdb_open(opt.database, &mopts, &created, &err);
    if (!m) {
        startup_fail("unable to load database '%s': %s", opt.database, err->message);
        return 1;
    }
    ctx.status = cfs_status_new(nodename, m);
    cfs_status_set_local_address(ctx.status, address);
    cfs_status_bump_all(ctx.status);
    if (created && !opt.local)
        import_corosync_conf(m);

    memdb_attr a;
    bool cluster_mode = !opt.local && memdb_lookup_path(m, "corosync.conf", &a) == 0;
    if (!address && cluster_mode) {
        startup_fail("Unable to resolve node name '%s' to a non-loopback IP address - missing "
                     "entry in '/etc/hosts' or DNS?",
                     nodename);
        memdb_free(m);
        return 1;
    }
    if (!address)
        log_warn("Unable to resolve node name '%s' to a non-loopback IP address - missing "
                 "entry in '/etc/hosts' or DNS?, ignoring in local mode",
                 nodename);
    else
        log_info("resolved node name '%s' to '%s' for default node IP address", nodename,
                 address);

    if (cluster_mode) {
        cfs_cluster_config ccfg = {
            .memdb = m,
            .status = ctx.status,
            .corosync_conf = opt.corosync_conf,
            .verify_interval = (unsigned)opt.verify_interval,
        };
        ctx.cluster = cfs_cluster_new(&ccfg);
        cfs_status_set_quorate(ctx.status, false);
    } else {
        cfs_status_set_quorate(ctx.status, true);
        log_info("local mode: forcing quorum");
    }

    cfs_ops *ops = cfs_ops_new(m, ctx.status, ctx.cluster ? cfs_cluster_ops(ctx.cluster) : NULL);
    cfs_fuse_config fcfg = {
        .mountpoint = opt.mountpoint,
        .www_data_gid = www_gid,
        .memdb = m,
        .status = ctx.status,
        .ops = ops,
    };
    cfs_fuse *fuse = cfs_fuse_new(&fcfg, &err);
    if (!fuse) {
        startup_fail("%s", err->message);
        cfs_ops_free(ops);
        cfs_cluster_free(ctx.cluster);
        cfs_status_free(ctx.status);
        memdb_free(m);
        return 1;
    }
    cfs_ipc_config icfg = {
        .service = opt.ipc_service,
        .www_data_gid = www_gid,
        .memdb = m,
        .status = ctx.status,
    };
    cfs_ipc *ipc = cfs_ipc_start(&icfg, &err);
    if (!ipc) {
        startup_fail("%s (is another pmxcfs running in this network namespace?)", err->message);
        cfs_fuse_free(fuse);
        cfs_ops_free(ops);
        cfs_cluster_free(ctx.cluster);
        cfs_status_free(ctx.status);
        memdb_free(m);
        return 1;
    }
    if (ctx.cluster) {
        ctx.kvgroup = kvgroup_new(ctx.status);
        cfs_cluster_add_group(ctx.cluster, kvgroup_dfsm(ctx.kvgroup));
        ctx.confdb = confdb_new(ctx.status, cfs_cluster_context(ctx.cluster));
        cfs_cluster_set_fuse(ctx.cluster, fuse);
        cfs_cluster_start(ctx.cluster);
    }

    struct sigaction sa = {.sa_handler = SIG_IGN};
    sigaction(SIGPIPE, &sa, NULL);
    /* the IPC server runs: clients may stop waiting for us (spec §12.5, §13.6) */
    write_restart_flag(www_gid, false);
    if (opt.foreground) {
        g_autofree char *pid = g_strdup_printf("%d\n", (int)getpid());
        r = atomic_file_write(opt.pidfile, pid, strlen(pid), 0644, (uid_t)-1, (gid_t)-1);
        if (r < 0)
            log_warn("unable to write pid file '%s': %s, ignoring", opt.pidfile, g_strerror(-r));
    }
    log_info("mounted '%s' (node '%s', database '%s')", opt.mountpoint, nodename, opt.database);
    report_ready();

    int status = cfs_fuse_run(fuse);

    write_restart_flag(www_gid, true);
    cfs_ipc_stop(ipc);
    /* The cluster thread still reports to FUSE (quorum loss invalidates caches) until
     * it has stopped: stop it before the session goes away. */
    if (ctx.cluster)
        cfs_cluster_stop(ctx.cluster);
    cfs_fuse_free(fuse);
    if (ctx.cluster) {
        confdb_free(ctx.confdb);
        kvgroup_free(ctx.kvgroup);
        cfs_cluster_free(ctx.cluster);
        ctx.cluster = NULL;
    }
    cfs_ops_free(ops);
    memdb_free(m);
    cfs_status_free(ctx.status);
    unlink(opt.pidfile);
    close(lock_fd);
    log_info("exit proxmox configuration filesystem (%d)", status);
    return status == 0 ? 0 : 1;
}
