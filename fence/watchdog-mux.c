/*
 * watchdog-mux: the node's watchdog multiplexer daemon (fence.md 2 and 4).
 *
 * Startup in the order of fence.md 2.2/4.4: configuration (defaults, environment
 * file, environment, options), refuse while the active marker exists, load the module
 * if the kernel device is missing, open and check the device, set up the socket and the
 * loop, optionally detach, tell systemd we are ready, run.  Every failure before the
 * device is open exits 1 with no side effect; a failure after the open but before any
 * client could connect stops the device cleanly and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fence/wdmux-config.h"
#include "fence/wdmux-defs.h"
#include "fence/wdmux-device.h"
#include "fence/wdmux-log.h"
#include "fence/wdmux-server.h"
#include "lib/log.h"

#ifndef WDMUX_VERSION
#define WDMUX_VERSION "unknown"
#endif

#define MUX_EXIT_FAILURE 1
#define MUX_EXIT_USAGE   2

/* Command-line options, applied after the environment file and the environment. */
typedef struct {
    const char *key; /* wdmux_config key */
    char *value;
} mux_option;

enum {
    OPT_DEVICE,
    OPT_DEVICE_TIMEOUT,
    OPT_CLIENT_TIMEOUT,
    OPT_WARN_BEFORE,
    OPT_TICK,
    OPT_SOCKET,
    OPT_MARKER,
    OPT_STATUS,
    OPT_MAX_CLIENTS,
    OPT_ALLOW_UID,
    OPT_NODE,
    OPT_COUNT,
};

static mux_option mux_options[OPT_COUNT] = {
    [OPT_DEVICE] = {"WATCHDOG_MUX_DEVICE", NULL},
    [OPT_DEVICE_TIMEOUT] = {"WATCHDOG_MUX_DEVICE_TIMEOUT", NULL},
    [OPT_CLIENT_TIMEOUT] = {"WATCHDOG_MUX_CLIENT_TIMEOUT", NULL},
    [OPT_WARN_BEFORE] = {"WATCHDOG_MUX_WARN_BEFORE", NULL},
    [OPT_TICK] = {"WATCHDOG_MUX_TICK_MS", NULL},
    [OPT_SOCKET] = {"WATCHDOG_MUX_SOCKET", NULL},
    [OPT_MARKER] = {"WATCHDOG_MUX_MARKER", NULL},
    [OPT_STATUS] = {"WATCHDOG_MUX_STATUS", NULL},
    [OPT_MAX_CLIENTS] = {"WATCHDOG_MUX_MAX_CLIENTS", NULL},
    [OPT_ALLOW_UID] = {"WATCHDOG_MUX_ALLOW_UIDS", NULL},
    [OPT_NODE] = {"WATCHDOG_MUX_NODE", NULL},
};

static gboolean opt_emulated;
static gboolean opt_foreground;
static gboolean opt_no_journal_sync;
static gboolean opt_version;
static char *opt_env_file;

#define MUX_STRING_OPTION(long_name, idx, desc, arg)                             \
    {                                                                            \
        long_name, 0, 0, G_OPTION_ARG_STRING, &mux_options[idx].value, desc, arg \
    }

static GOptionEntry mux_entries[] = {
    MUX_STRING_OPTION("device", OPT_DEVICE, "Watchdog device (default /dev/watchdog)", "PATH"),
    {"emulated", 0, 0, G_OPTION_ARG_NONE, &opt_emulated,
     "The device is a FIFO served by watchdog-emu (lab): no module, no ioctls", NULL},
    MUX_STRING_OPTION("device-timeout", OPT_DEVICE_TIMEOUT, "Device timeout (default 10)", "S"),
    MUX_STRING_OPTION("client-timeout", OPT_CLIENT_TIMEOUT, "Client timeout (default 60)", "S"),
    MUX_STRING_OPTION("warn-before", OPT_WARN_BEFORE,
                      "Warn this long before a client expires (default 10)", "S"),
    MUX_STRING_OPTION("tick", OPT_TICK, "Supervision and keepalive period (default 1000)", "MS"),
    MUX_STRING_OPTION("socket", OPT_SOCKET, "Client socket (default " WDMUX_SOCKET_PATH ")",
                      "PATH"),
    MUX_STRING_OPTION("marker", OPT_MARKER,
                      "Active marker directory (default " WDMUX_MARKER_PATH ")", "PATH"),
    MUX_STRING_OPTION("status-file", OPT_STATUS, "Status file (default " WDMUX_STATUS_PATH ")",
                      "PATH"),
    MUX_STRING_OPTION("max-clients", OPT_MAX_CLIENTS, "Connection limit (default 100)", "N"),
    MUX_STRING_OPTION("allow-uid", OPT_ALLOW_UID, "Peer uids allowed to connect (default 0)",
                      "UID[,UID...]"),
    MUX_STRING_OPTION("node", OPT_NODE, "Node name for logs (default: the host name)", "NAME"),
    {"foreground", 'f', 0, G_OPTION_ARG_NONE, &opt_foreground, "Do not daemonise", NULL},
    {"env-file", 0, 0, G_OPTION_ARG_FILENAME, &opt_env_file,
     "Environment file (default " WDMUX_ENV_FILE ")", "PATH"},
    {"no-journal-sync", 0, 0, G_OPTION_ARG_NONE, &opt_no_journal_sync,
     "Do not run journalctl --sync on warnings and fencing", NULL},
    {"version", 0, 0, G_OPTION_ARG_NONE, &opt_version, "Print the version and exit", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const char mux_description[] =
    "Multiplexes the node's watchdog device among local clients (the HA daemons).\n"
    "A client connected to the socket is armed; any byte it writes is a keepalive;\n"
    "'V' as its last byte before closing disarms it.  If an armed client stays silent\n"
    "longer than the client timeout, or disconnects without 'V', the mux stops feeding\n"
    "the device and the node resets one device timeout later.\n"
    "\n"
    "Settings come from built-in defaults, then " WDMUX_ENV_FILE ",\n"
    "then the environment (WATCHDOG_MUX_*, WATCHDOG_MODULE), then these options.\n"
    "See watchdog-mux(8).";

static void mux_options_free(void)
{
    for (int i = 0; i < OPT_COUNT; i++)
        g_clear_pointer(&mux_options[i].value, g_free);
    g_clear_pointer(&opt_env_file, g_free);
}

static wdmux_config *mux_config_load(GError **error)
{
    g_autoptr(wdmux_config) cfg = wdmux_config_new();
    g_auto(GStrv) env = g_get_environ();

    if (!wdmux_config_load_env_file(cfg, opt_env_file ? opt_env_file : WDMUX_ENV_FILE, error) ||
        !wdmux_config_load_environ(cfg, env, error))
        return NULL;
    for (int i = 0; i < OPT_COUNT; i++)
        if (mux_options[i].value &&
            !wdmux_config_set(cfg, mux_options[i].key, mux_options[i].value, error))
            return NULL;
    if (opt_emulated)
        cfg->emulated = true;
    if (opt_no_journal_sync)
        cfg->journal_sync = false;
    if (!wdmux_config_finish(cfg, error))
        return NULL;
    return g_steal_pointer(&cfg);
}

static void mux_load_module(const wdmux_config *cfg, bool module_configured)
{
    if (module_configured)
        wdmux_log(G_LOG_LEVEL_MESSAGE, 0, "Loading watchdog module '%s'", cfg->module);
    const char *argv[] = {"modprobe", "-q", cfg->module, NULL};
    /* The result is not checked (reference behaviour): the open below reports it. */
    g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL,
                 NULL);
}

/* sd_notify(READY=1) without libsystemd: one datagram to $NOTIFY_SOCKET. */
static void mux_notify_ready(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
        return;
    size_t len = strlen(path);
    memcpy(sa.sun_path, path, len);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';

    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    g_autofree char *msg = g_strdup_printf("READY=1\nMAINPID=%d", (int)getpid());
    if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
        wdmux_log(G_LOG_LEVEL_WARNING, 0, "sd_notify failed: %s, ignoring", g_strerror(errno));
    close(fd);
}

/*
 * Detach before any descriptor is set up (a signalfd only wakes epoll for the process
 * that created it).  The parent waits for the child's verdict on a pipe and exits with
 * it: 0 once the child is serving, the child's failure status (or 1 if it died) else.
 * Returns the write end of the pipe in the child, or a negative errno.
 */
static int mux_detach(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int r = -errno;
        close(p[0]);
        close(p[1]);
        return r;
    }
    if (pid > 0) {
        close(p[1]);
        unsigned char status = MUX_EXIT_FAILURE;
        ssize_t n;
        while ((n = read(p[0], &status, 1)) < 0 && errno == EINTR)
            ;
        _exit(n == 1 ? status : MUX_EXIT_FAILURE);
    }
    close(p[0]);
    setsid();
    if (chdir("/") < 0)
        return -errno;
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        close(devnull);
    }
    return p[1];
}

/* Tell the waiting parent (if any) how startup ended. */
static void mux_detach_done(int fd, unsigned char status)
{
    if (fd < 0)
        return;
    ssize_t n = write(fd, &status, 1);
    (void)n; /* the parent exits 1 on EOF anyway */
    close(fd);
}

int main(int argc, char **argv)
{
    setlocale(LC_ALL, "");

    g_autoptr(GOptionContext) ctx = g_option_context_new("- watchdog multiplexer");
    g_option_context_add_main_entries(ctx, mux_entries, NULL);
    g_option_context_set_description(ctx, mux_description);
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "watchdog-mux: %s (see --help)\n", error->message);
        return MUX_EXIT_USAGE;
    }
    if (argc > 1) {
        fprintf(stderr, "watchdog-mux: unexpected argument '%s' (see --help)\n", argv[1]);
        return MUX_EXIT_USAGE;
    }
    if (opt_version) {
        printf("watchdog-mux %s\n", WDMUX_VERSION);
        return EXIT_SUCCESS;
    }

    log_setup("watchdog-mux", LOG_TARGET_AUTO, false);
    g_autoptr(wdmux_config) cfg = mux_config_load(&error);
    mux_options_free();
    if (!cfg) {
        wdmux_log(G_LOG_LEVEL_CRITICAL, 0, "configuration: %s", error->message);
        return MUX_EXIT_FAILURE;
    }
    wdmux_log_set_context(cfg->node, cfg->emulated ? "emulated" : "device");

    int ready_fd = -1;
    if (!opt_foreground) {
        ready_fd = mux_detach();
        if (ready_fd < 0) {
            wdmux_log(G_LOG_LEVEL_CRITICAL, 0, "detach: %s", g_strerror(-ready_fd));
            return MUX_EXIT_FAILURE;
        }
    }

    /* From the device open on, a default-action signal would close the device
     * uncleanly; these three are handled through the loop's signalfd instead. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct stat st;
    if (lstat(cfg->marker_path, &st) == 0) {
        wdmux_log(G_LOG_LEVEL_CRITICAL, 0, "watchdog active - unable to restart watchdog-mux");
        return MUX_EXIT_FAILURE;
    }

    if (cfg->emulated) {
        wdmux_log(G_LOG_LEVEL_WARNING, 0,
                  "EMULATED WATCHDOG DEVICE '%s': no hardware watchdog in use", cfg->device);
    } else if (wdmux_device_path_is_kernel(cfg->device) && access(cfg->device, F_OK) < 0 &&
               errno == ENOENT) {
        mux_load_module(cfg, getenv("WATCHDOG_MODULE") != NULL);
    }

    g_autoptr(wdmux_device) device = NULL;
    if (!wdmux_device_open(cfg->device, cfg->emulated, cfg->device_timeout_ms, &device, &error)) {
        wdmux_log(G_LOG_LEVEL_CRITICAL, 0, "%s", error->message);
        return MUX_EXIT_FAILURE;
    }
    if (!cfg->emulated) {
        wdmux_log(G_LOG_LEVEL_MESSAGE, 0, "Watchdog driver '%s', version %x", device->identity,
                  device->firmware_version);
        if (!device->magic_close)
            wdmux_log(G_LOG_LEVEL_WARNING, 0,
                      "watchdog driver '%s' has no magic close; relying on nowayout",
                      device->identity);
        if (!device->timeout_settable || device->timeout_ms != cfg->device_timeout_ms)
            wdmux_log(G_LOG_LEVEL_WARNING, 0,
                      "device timeout is %" G_GINT64_FORMAT " ms (requested %" G_GINT64_FORMAT
                      " ms)",
                      device->timeout_ms, cfg->device_timeout_ms);
    }
    /* The tick must fit the device timeout the driver actually uses. */
    cfg->effective_tick_ms =
        wdmux_tick_clamp(cfg->tick_ms, cfg->client_timeout_ms, device->timeout_ms);
    wdmux_log(G_LOG_LEVEL_MESSAGE, 0,
              "effective timeouts: client %" G_GINT64_FORMAT " ms, warning %" G_GINT64_FORMAT
              " ms, tick %" G_GINT64_FORMAT " ms, device %" G_GINT64_FORMAT " ms",
              cfg->client_timeout_ms, cfg->effective_warn_before_ms, cfg->effective_tick_ms,
              device->timeout_ms);

    g_autoptr(wdmux_server) server = NULL;
    if (!wdmux_server_new(cfg, device, &server, &error)) {
        wdmux_log(G_LOG_LEVEL_CRITICAL, 0, "%s", error->message);
        wdmux_device_close_clean(g_steal_pointer(&device)); /* nothing was armed */
        return MUX_EXIT_FAILURE;
    }
    mux_detach_done(ready_fd, EXIT_SUCCESS);
    mux_notify_ready();

    g_steal_pointer(&device); /* the server owns it from here */
    return wdmux_server_run(server);
}
