/*
 * watchdog-emu: the lab's emulated watchdog device (fence.md 4.5).
 *
 * Serves a FIFO as a watchdog device for one lab node's watchdog-mux
 * (--device FIFO --emulated) and, when nobody feeds it in time, runs the node's fence
 * action, normally SIGKILL to the init of the node's pid namespace, which ends every
 * process of that node.  It runs outside the node (in the host pid namespace), so a
 * killed or crashed mux still leads to a "reset", as with a real device.
 *
 * The FIFO is created under a temporary name, opened for reading and only then renamed
 * into place, so whoever sees the path can open it for writing at once.  After a writer
 * closes, the read end is reopened through /proc/self/fd (new descriptor first), which
 * clears the FIFO's hang-up state without a moment in which no reader exists.
 *
 * The target of kill-pidns is held as a pidfd taken at startup: signals go through it,
 * so a recycled pid is never hit, and when the target exits on its own (the lab
 * powered the node off) the emulator exits too.  It never opens any real watchdog.
 */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fence/wdmux-config.h"
#include "lib/log.h"
#include "tests/lab/wdemu.h"

#define G_LOG_DOMAIN_EMU "watchdog-emu"

#define EMU_EXIT_OK      0
#define EMU_EXIT_FAILURE 1
#define EMU_EXIT_USAGE   2

/* fence.md 4.5: an exec action gets at most 30 s. */
#define EMU_EXEC_TIMEOUT_MS 30000
/* How long to wait for a SIGKILLed node init to be gone before saying so. */
#define EMU_KILL_WAIT_MS 5000

typedef struct {
    const char *fifo;
    const char *node;
    const char *action_spec;
    wdemu_action *action;
    int fifo_fd;
    int epfd;
    int timer_fd;
    int signal_fd;
    int target_fd; /* pidfd of the kill-pidns target, or -1 */
    wdemu w;
} emu;

#define emu_log(level, ...) \
    g_log_structured(G_LOG_DOMAIN_EMU, level, "WDEMU_NODE", emu_node, "MESSAGE", __VA_ARGS__)

static const char *emu_node = "";

static gint64 emu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (gint64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void emu_stats(const emu *e)
{
    emu_log(G_LOG_LEVEL_MESSAGE,
            "keepalive statistics: %" G_GUINT64_FORMAT " keepalives, max gap %" G_GINT64_FORMAT
            " ms, state %s",
            e->w.keepalives, e->w.max_gap_ms, wdemu_state_name(e->w.state));
}

static void emu_remove_fifo(const emu *e)
{
    struct stat st;
    /* Only our own FIFO: the path may have been replaced by a newer emulator. */
    struct stat mine;
    if (fstat(e->fifo_fd, &mine) == 0 && lstat(e->fifo, &st) == 0 && S_ISFIFO(st.st_mode) &&
        st.st_ino == mine.st_ino && st.st_dev == mine.st_dev)
        unlink(e->fifo);
}

/* Wait up to @timeout_ms for @pidfd to become readable (the process exited). */
static bool emu_wait_pidfd(int pidfd, int timeout_ms)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    gint64 end = emu_now_ms() + timeout_ms;
    for (;;) {
        gint64 left = end - emu_now_ms();
        if (left < 0)
            left = 0;
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return true;
        if (n == 0 || errno != EINTR)
            return false;
    }
}

static int emu_run_exec(emu *e)
{
    pid_t pid = fork();
    if (pid < 0) {
        emu_log(G_LOG_LEVEL_CRITICAL, "fence action: fork failed: %s", g_strerror(errno));
        return EMU_EXIT_FAILURE;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setenv("WATCHDOG_NODE", e->node, 1);
        execl("/bin/sh", "sh", "-c", e->action->command, (char *)NULL);
        _exit(127);
    }
    int pidfd = pidfd_open(pid, 0);
    bool done = pidfd < 0 || emu_wait_pidfd(pidfd, EMU_EXEC_TIMEOUT_MS);
    if (!done) {
        emu_log(G_LOG_LEVEL_CRITICAL, "fence action did not finish within %d ms, killing it",
                EMU_EXEC_TIMEOUT_MS);
        kill(pid, SIGKILL);
    }
    if (pidfd >= 0)
        close(pidfd);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status)) {
        emu_log(G_LOG_LEVEL_MESSAGE, "fence action exited with status %d", WEXITSTATUS(status));
        return done && WEXITSTATUS(status) == 0 ? EMU_EXIT_OK : EMU_EXIT_FAILURE;
    }
    emu_log(G_LOG_LEVEL_CRITICAL, "fence action killed by signal %d", WTERMSIG(status));
    return EMU_EXIT_FAILURE;
}

static int emu_fire(emu *e, gint64 now_ms)
{
    emu_log(G_LOG_LEVEL_CRITICAL,
            "emulated watchdog expired on node '%s' - executing fence action '%s'", e->node,
            e->action_spec);
    emu_log(G_LOG_LEVEL_MESSAGE, "fired %" G_GINT64_FORMAT " ms after the deadline, state %s",
            now_ms - e->w.deadline_ms, wdemu_state_name(e->w.state));
    emu_stats(e);

    switch (e->action->kind) {
    case WDEMU_ACTION_LOG_ONLY:
        return EMU_EXIT_OK;
    case WDEMU_ACTION_EXEC:
        return emu_run_exec(e);
    case WDEMU_ACTION_KILL_PIDNS:
        if (pidfd_send_signal(e->target_fd, SIGKILL, NULL, 0) < 0) {
            if (errno == ESRCH) {
                emu_log(G_LOG_LEVEL_MESSAGE, "fence target (PID %d) already gone",
                        (int)e->action->pid);
                return EMU_EXIT_OK;
            }
            emu_log(G_LOG_LEVEL_CRITICAL, "fence action: SIGKILL to PID %d failed: %s",
                    (int)e->action->pid, g_strerror(errno));
            return EMU_EXIT_FAILURE;
        }
        if (!emu_wait_pidfd(e->target_fd, EMU_KILL_WAIT_MS)) {
            emu_log(G_LOG_LEVEL_CRITICAL, "fence target (PID %d) still alive %d ms after SIGKILL",
                    (int)e->action->pid, EMU_KILL_WAIT_MS);
            return EMU_EXIT_FAILURE;
        }
        emu_log(G_LOG_LEVEL_MESSAGE, "fence target (PID %d) killed: node '%s' is down",
                (int)e->action->pid, e->node);
        return EMU_EXIT_OK;
    }
    return EMU_EXIT_FAILURE;
}

static int emu_epoll_add(emu *e, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* The writer went away: open a fresh read end first, then drop the hung-up one. */
static int emu_reopen_fifo(emu *e)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", e->fifo_fd);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = emu_epoll_add(e, fd);
    if (r < 0) {
        close(fd);
        return r;
    }
    epoll_ctl(e->epfd, EPOLL_CTL_DEL, e->fifo_fd, NULL);
    close(e->fifo_fd);
    e->fifo_fd = fd;
    return 0;
}

/* Returns -1 to continue, else an exit status. */
static int emu_fifo_ready(emu *e)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(e->fifo_fd, buf, sizeof(buf));
        gint64 now = emu_now_ms();
        /* Bytes that arrive after the deadline are too late, as on real hardware. */
        if (wdemu_expired(&e->w, now))
            return emu_fire(e, now);
        if (n > 0) {
            wdemu_state before = wdemu_feed(&e->w, buf, (size_t)n, now);
            if (before == WDEMU_STOPPED)
                emu_log(G_LOG_LEVEL_MESSAGE, "watchdog started (timeout %" G_GINT64_FORMAT " ms)",
                        e->w.timeout_ms);
            else if (before == WDEMU_ORPHANED)
                emu_log(G_LOG_LEVEL_MESSAGE, "watchdog fed again by a new writer");
            continue;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return -1;
            emu_log(G_LOG_LEVEL_CRITICAL, "read '%s': %s", e->fifo, g_strerror(errno));
            return EMU_EXIT_FAILURE;
        }
        /* end of file: the writer closed */
        if (wdemu_eof(&e->w, now) == WDEMU_STOPPED) {
            emu_log(G_LOG_LEVEL_MESSAGE, "magic close: watchdog stopped");
            emu_stats(e);
        } else {
            emu_log(G_LOG_LEVEL_WARNING,
                    "writer closed without magic 'V' - watchdog still running, expires in "
                    "%" G_GINT64_FORMAT " ms",
                    e->w.timeout_ms);
        }
        int r = emu_reopen_fifo(e);
        if (r < 0) {
            emu_log(G_LOG_LEVEL_CRITICAL, "reopen '%s': %s", e->fifo, g_strerror(-r));
            return EMU_EXIT_FAILURE;
        }
        return -1;
    }
}

static void emu_arm_timer(emu *e)
{
    struct itimerspec its = {0};
    if (e->w.state != WDEMU_STOPPED) {
        /* +1 ms: the timer must not fire just before now >= deadline holds. */
        gint64 at = e->w.deadline_ms + 1;
        its.it_value.tv_sec = at / 1000;
        its.it_value.tv_nsec = (at % 1000) * 1000000;
    }
    timerfd_settime(e->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static int emu_loop(emu *e)
{
    for (;;) {
        emu_arm_timer(e);
        struct epoll_event events[8];
        int n = epoll_wait(e->epfd, events, G_N_ELEMENTS(events), -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            emu_log(G_LOG_LEVEL_CRITICAL, "epoll_wait: %s", g_strerror(errno));
            return EMU_EXIT_FAILURE;
        }
        gint64 now = emu_now_ms();
        if (wdemu_expired(&e->w, now))
            return emu_fire(e, now);

        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == e->fifo_fd) {
                int r = emu_fifo_ready(e);
                if (r >= 0)
                    return r;
            } else if (fd == e->timer_fd) {
                uint64_t exp;
                if (read(e->timer_fd, &exp, sizeof(exp)) < 0 && errno != EAGAIN)
                    emu_log(G_LOG_LEVEL_WARNING, "timerfd read: %s", g_strerror(errno));
            } else if (fd == e->target_fd) {
                emu_log(G_LOG_LEVEL_MESSAGE,
                        "fence target (PID %d) exited on its own - watchdog-emu exits",
                        (int)e->action->pid);
                emu_stats(e);
                return EMU_EXIT_OK;
            } else if (fd == e->signal_fd) {
                struct signalfd_siginfo si;
                while (read(e->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                    if (si.ssi_signo == SIGUSR1) {
                        emu_stats(e);
                    } else if (si.ssi_signo == SIGHUP) {
                        emu_log(G_LOG_LEVEL_MESSAGE, "got SIGHUP - ignored");
                    } else {
                        emu_log(G_LOG_LEVEL_MESSAGE, "terminated by signal %u (watchdog %s)",
                                si.ssi_signo, wdemu_state_name(e->w.state));
                        emu_stats(e);
                        return EMU_EXIT_OK;
                    }
                }
            }
        }
        now = emu_now_ms();
        if (wdemu_expired(&e->w, now))
            return emu_fire(e, now);
    }
}

/* Create the FIFO under a temporary name, open its read end, rename it into place. */
static int emu_fifo_create(emu *e)
{
    struct stat st;
    if (lstat(e->fifo, &st) == 0 && !S_ISFIFO(st.st_mode)) {
        emu_log(G_LOG_LEVEL_CRITICAL, "'%s' exists and is not a FIFO, refusing to replace it",
                e->fifo);
        return -EEXIST;
    }
    g_autofree char *tmp = g_strdup_printf("%s.tmp-%d", e->fifo, (int)getpid());
    unlink(tmp);
    if (mkfifo(tmp, 0600) < 0) {
        int r = -errno;
        emu_log(G_LOG_LEVEL_CRITICAL, "mkfifo '%s': %s", tmp, g_strerror(-r));
        return r;
    }
    e->fifo_fd = open(tmp, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (e->fifo_fd < 0 || rename(tmp, e->fifo) < 0) {
        int r = -errno;
        emu_log(G_LOG_LEVEL_CRITICAL, "create FIFO '%s': %s", e->fifo, g_strerror(-r));
        unlink(tmp);
        return r;
    }
    return 0;
}

static char *opt_fifo;
static char *opt_timeout;
static char *opt_node;
static char *opt_action;
static char *opt_log;

static GOptionEntry emu_entries[] = {
    {"fifo", 0, 0, G_OPTION_ARG_FILENAME, &opt_fifo, "FIFO to create and serve (required)", "PATH"},
    {"timeout", 0, 0, G_OPTION_ARG_STRING, &opt_timeout,
     "Watchdog timeout in seconds, may be fractional (required)", "SECONDS"},
    {"node", 0, 0, G_OPTION_ARG_STRING, &opt_node, "Lab node name (required)", "NAME"},
    {"action", 0, 0, G_OPTION_ARG_STRING, &opt_action,
     "Fence action: kill-pidns:<pid>, exec:<command> or log-only (required)", "SPEC"},
    {"log", 0, 0, G_OPTION_ARG_FILENAME, &opt_log, "Append log lines to FILE instead of stderr",
     "FILE"},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const char emu_description[] =
    "Emulated watchdog device for lab nodes (fence.md 4.5).  Every byte written to the FIFO\n"
    "is a keepalive; 'V' followed by close stops the watchdog; a close without 'V' keeps\n"
    "it running.  When the timeout passes without a keepalive, the fence action runs and\n"
    "watchdog-emu exits.  It also exits (status 0) when the kill-pidns target exits on its\n"
    "own, and on SIGTERM/SIGINT.  SIGUSR1 logs keepalive statistics.\n"
    "Exit status: 0 fired and acted / target gone / terminated, 1 error or failed action,\n"
    "2 usage.  See watchdog-emu(1).";

int main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    g_autoptr(GOptionContext) ctx = g_option_context_new("- emulated watchdog for lab nodes");
    g_option_context_add_main_entries(ctx, emu_entries, NULL);
    g_option_context_set_description(ctx, emu_description);
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "watchdog-emu: %s (see --help)\n", error->message);
        return EMU_EXIT_USAGE;
    }
    if (argc > 1 || !opt_fifo || !opt_timeout || !opt_node || !opt_action) {
        fprintf(stderr, "watchdog-emu: --fifo, --timeout, --node and --action are required "
                        "(see --help)\n");
        return EMU_EXIT_USAGE;
    }

    emu e = {.fifo = opt_fifo,
             .node = opt_node,
             .action_spec = opt_action,
             .fifo_fd = -1,
             .epfd = -1,
             .timer_fd = -1,
             .signal_fd = -1,
             .target_fd = -1};
    emu_node = opt_node;
    gint64 timeout_ms = 0;
    if (wdmux_seconds_parse(opt_timeout, &timeout_ms) < 0) {
        fprintf(stderr,
                "watchdog-emu: invalid --timeout '%s': expected seconds (0.001 to "
                "3600)\n",
                opt_timeout);
        return EMU_EXIT_USAGE;
    }
    g_autoptr(wdemu_action) action = NULL;
    if (!wdemu_action_parse(opt_action, &action, &error)) {
        fprintf(stderr, "watchdog-emu: %s\n", error->message);
        return EMU_EXIT_USAGE;
    }
    e.action = action;
    if (opt_log) {
        int fd = open(opt_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) {
            fprintf(stderr, "watchdog-emu: cannot open log '%s': %s\n", opt_log, g_strerror(errno));
            return EMU_EXIT_FAILURE;
        }
        close(fd);
    }
    setvbuf(stderr, NULL, _IOLBF, 0);
    log_setup("watchdog-emu", LOG_TARGET_STDERR, false);
    wdemu_init(&e.w, timeout_ms);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGUSR1);
    sigprocmask(SIG_BLOCK, &mask, NULL);

    if (e.action->kind == WDEMU_ACTION_KILL_PIDNS) {
        e.target_fd = pidfd_open(e.action->pid, 0);
        if (e.target_fd < 0) {
            emu_log(G_LOG_LEVEL_CRITICAL, "fence target PID %d: %s", (int)e.action->pid,
                    g_strerror(errno));
            return EMU_EXIT_FAILURE;
        }
    }
    e.epfd = epoll_create1(EPOLL_CLOEXEC);
    e.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    e.signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (e.epfd < 0 || e.timer_fd < 0 || e.signal_fd < 0) {
        emu_log(G_LOG_LEVEL_CRITICAL, "setup: %s", g_strerror(errno));
        return EMU_EXIT_FAILURE;
    }
    if (emu_fifo_create(&e) < 0)
        return EMU_EXIT_FAILURE;
    int fds[] = {e.fifo_fd, e.timer_fd, e.signal_fd, e.target_fd};
    for (size_t i = 0; i < G_N_ELEMENTS(fds); i++)
        if (fds[i] >= 0 && emu_epoll_add(&e, fds[i]) < 0) {
            emu_log(G_LOG_LEVEL_CRITICAL, "epoll_ctl: %s", g_strerror(errno));
            emu_remove_fifo(&e);
            return EMU_EXIT_FAILURE;
        }

    emu_log(G_LOG_LEVEL_MESSAGE,
            "emulated watchdog for node '%s' ready on '%s' (timeout %" G_GINT64_FORMAT
            " ms, action '%s')",
            e.node, e.fifo, timeout_ms, e.action_spec);
    int status = emu_loop(&e);
    emu_remove_fifo(&e);
    return status;
}
