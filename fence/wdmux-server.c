/*
 * wdmux-server: accept clients, read their bytes, supervise them on a monotonic timer
 * and feed the device (fence.md 4.3).
 *
 * The reference fed the device only when an epoll wait timed out with no event, so a
 * busy socket starved the keepalive and reset healthy nodes (fence.md 2.8).  Here a
 * timerfd on CLOCK_MONOTONIC drives supervision and keepalive; it is read (without
 * blocking) before every batch of events, so it runs at most one batch late, and a
 * batch is short because each client gets a bounded number of reads per event.
 *
 * Errors that the reference turned into a node reset (accept failures, a full table,
 * a read error) are logged and survived; only expiry, an unclean disconnect or a
 * device that cannot be fed disable updates.  Epoll data carries the slot index and
 * the descriptor, so an event for a slot that was freed and reused in the same batch
 * is recognised and dropped.
 */
#include "fence/wdmux-server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fence/wdmux-defs.h"
#include "fence/wdmux-log.h"
#include "fence/wdmux-status.h"
#include "fence/wdmux-table.h"
#include "lib/atomic-file.h"

/* Slot value of the epoll data of the daemon's own descriptors. */
#define SERVER_SLOT_NONE UINT32_MAX

struct wdmux_server {
    const wdmux_config *cfg;
    wdmux_device *device;
    wdmux_table *table;
    GArray *events; /* of wdmux_event, reused every tick */
    int epfd;
    int listen_fd;
    int signal_fd;
    int timer_fd;
    bool socket_created;
    bool accept_paused;
    bool terminate;
    bool status_dirty;
    bool status_failed; /* the last status write failed (logged once) */
    gint64 last_tick_ms;
    gint64 last_keepalive_ms;
    gint64 last_status_ms;
};

static gint64 server_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (gint64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t server_epoll_data(uint32_t slot, int fd)
{
    return ((uint64_t)slot << 32) | (uint32_t)fd;
}

static int server_epoll_add(wdmux_server *s, int fd, uint32_t slot, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.u64 = server_epoll_data(slot, fd)};
    return epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

void wdmux_journal_sync(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return;
    if (pid == 0) {
        /* The intermediate child exits at once, so the grandchild is never our zombie. */
        if (fork() == 0) {
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, NULL);
            int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
            if (devnull >= 0) {
                dup2(devnull, STDIN_FILENO);
                dup2(devnull, STDOUT_FILENO);
            }
            execl(WDMUX_JOURNAL_SYNC_CMD, WDMUX_JOURNAL_SYNC_CMD, "--sync", (char *)NULL);
            _exit(127);
        }
        _exit(0);
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

static void server_journal_sync(wdmux_server *s)
{
    if (s->cfg->journal_sync)
        wdmux_journal_sync();
}

static bool server_uid_allowed(const wdmux_server *s, uid_t uid)
{
    for (guint i = 0; i < s->cfg->allow_uids->len; i++)
        if (g_array_index(s->cfg->allow_uids, uid_t, i) == uid)
            return true;
    return false;
}

static void server_updates_disabled(wdmux_server *s, gint64 now_ms)
{
    gint64 left = s->device->timeout_ms - (now_ms - s->last_keepalive_ms);
    wdmux_log(G_LOG_LEVEL_CRITICAL, 0,
              "watchdog updates disabled - node will be reset in %" G_GINT64_FORMAT " ms",
              MAX(left, 0));
    server_journal_sync(s);
    s->status_dirty = true;
}

static void server_write_status(wdmux_server *s, gint64 now_ms)
{
    g_autoptr(wdmux_status) st = wdmux_status_new();
    st->backend = g_strdup(s->cfg->emulated ? "emulated" : "device");
    st->node = g_strdup(s->cfg->node);
    st->device = g_strdup(s->device->path);
    st->identity = g_strdup(s->device->identity);
    st->magic_close = s->device->magic_close;
    st->device_timeout_ms = s->device->timeout_ms;
    st->client_timeout_ms = s->cfg->client_timeout_ms;
    st->warn_before_ms = s->cfg->effective_warn_before_ms;
    st->tick_ms = s->cfg->effective_tick_ms;
    st->updates_enabled = wdmux_table_updates_enabled(s->table);
    for (unsigned i = 0; i < wdmux_table_capacity(s->table); i++) {
        const wdmux_slot *slot = wdmux_table_get(s->table, i);
        if (slot->state == WDMUX_SLOT_FREE)
            continue;
        wdmux_status_client c = {
            .pid = slot->pid, .uid = slot->uid, .age_ms = wdmux_slot_age(slot, now_ms)};
        g_strlcpy(c.state, wdmux_slot_state_name(slot->state), sizeof(c.state));
        g_array_append_val(st->clients, c);
    }

    g_autofree char *text = wdmux_status_render(st);
    int r = atomic_file_write(s->cfg->status_path, text, strlen(text), 0644, (uid_t)-1, (gid_t)-1);
    if (r < 0 && !s->status_failed)
        wdmux_log(G_LOG_LEVEL_WARNING, 0, "failed to write status file '%s': %s, ignoring",
                  s->cfg->status_path, g_strerror(-r));
    s->status_failed = r < 0;
    s->last_status_ms = now_ms;
    s->status_dirty = false;
}

static void server_marker_create(wdmux_server *s)
{
    if (mkdir(s->cfg->marker_path, 0600) < 0 && errno != EEXIST)
        wdmux_log(G_LOG_LEVEL_WARNING, 0, "failed to create active marker '%s': %s, ignoring",
                  s->cfg->marker_path, g_strerror(errno));
}

static void server_marker_remove(wdmux_server *s)
{
    if (rmdir(s->cfg->marker_path) < 0 && errno != ENOENT)
        wdmux_log(G_LOG_LEVEL_WARNING, 0, "failed to remove active marker '%s': %s, ignoring",
                  s->cfg->marker_path, g_strerror(errno));
}

static void server_tick(wdmux_server *s, uint64_t expirations)
{
    gint64 now = server_now_ms();
    gint64 tick = s->cfg->effective_tick_ms;

    if (expirations > 1)
        wdmux_log(G_LOG_LEVEL_WARNING, 0, "watchdog-mux tick delayed by %" G_GINT64_FORMAT " ms",
                  MAX(now - s->last_tick_ms - tick, (gint64)(expirations - 1) * tick));
    s->last_tick_ms = now;

    /* 1. supervise every client */
    bool was_enabled = wdmux_table_updates_enabled(s->table);
    g_array_set_size(s->events, 0);
    wdmux_table_supervise(s->table, now, s->events);
    for (guint i = 0; i < s->events->len; i++) {
        const wdmux_event *ev = &g_array_index(s->events, wdmux_event, i);
        switch (ev->kind) {
        case WDMUX_EVENT_AVERTED:
            wdmux_log(G_LOG_LEVEL_MESSAGE, ev->pid,
                      "client (PID %d) watchdog was updated before expiring", (int)ev->pid);
            break;
        case WDMUX_EVENT_WARNED:
            wdmux_log(G_LOG_LEVEL_WARNING, ev->pid, "client (PID %d) watchdog is about to expire",
                      (int)ev->pid);
            server_journal_sync(s);
            break;
        case WDMUX_EVENT_EXPIRED:
            wdmux_log(G_LOG_LEVEL_CRITICAL, ev->pid,
                      "client (PID %d) watchdog expired - disable watchdog updates", (int)ev->pid);
            break;
        }
        s->status_dirty = true;
    }
    if (was_enabled && !wdmux_table_updates_enabled(s->table))
        server_updates_disabled(s, now);

    /* 2. feed the device */
    if (wdmux_table_updates_enabled(s->table)) {
        int r = wdmux_device_keepalive(s->device);
        if (r == 0) {
            s->last_keepalive_ms = now;
        } else {
            wdmux_log(G_LOG_LEVEL_CRITICAL, 0, "watchdog update failed: %s", g_strerror(-r));
            if (s->device->failures >= WDMUX_KEEPALIVE_MAX_FAILURES) {
                wdmux_log(G_LOG_LEVEL_CRITICAL, 0,
                          "watchdog device failed %u times in a row - disable watchdog updates",
                          s->device->failures);
                wdmux_table_disable_updates(s->table);
                server_updates_disabled(s, now);
            }
        }
    }

    /* 3. housekeeping: resume accepting, publish the status */
    if (s->accept_paused && server_epoll_add(s, s->listen_fd, SERVER_SLOT_NONE, EPOLLIN) == 0)
        s->accept_paused = false;
    if (s->status_dirty ||
        (wdmux_table_used(s->table) > 0 && now - s->last_status_ms >= WDMUX_STATUS_PERIOD_MS))
        server_write_status(s, now);
}

/* Run the tick if the timer expired; called before every batch of events. */
static void server_check_timer(wdmux_server *s)
{
    uint64_t expirations = 0;
    ssize_t n = read(s->timer_fd, &expirations, sizeof(expirations));
    if (n == (ssize_t)sizeof(expirations) && expirations > 0)
        server_tick(s, expirations);
}

static void server_reject(int fd, pid_t pid, uid_t uid, const char *why)
{
    if (why)
        wdmux_log(G_LOG_LEVEL_CRITICAL, pid, "rejected client (PID %d) - %s", (int)pid, why);
    else
        wdmux_log(G_LOG_LEVEL_WARNING, pid, "rejected client (PID %d, UID %u)", (int)pid,
                  (unsigned)uid);
    close(fd);
}

static void server_accept_one(wdmux_server *s, int fd)
{
    struct ucred cred = {.pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1};
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        wdmux_log(G_LOG_LEVEL_WARNING, 0, "SO_PEERCRED failed: %s", g_strerror(errno));

    if (!server_uid_allowed(s, cred.uid)) {
        server_reject(fd, cred.pid, cred.uid, NULL);
        return;
    }

    unsigned slot = 0;
    if (wdmux_table_add(s->table, fd, cred.pid, cred.uid, server_now_ms(), &slot) < 0) {
        server_reject(fd, cred.pid, cred.uid, "too many clients");
        return;
    }
    int r = server_epoll_add(s, fd, slot, EPOLLIN | EPOLLRDHUP);
    if (r < 0) {
        wdmux_table_remove(s->table, slot);
        server_reject(fd, cred.pid, cred.uid, g_strerror(-r));
        return;
    }
    server_marker_create(s);
    wdmux_log(G_LOG_LEVEL_MESSAGE, cred.pid, "added new client (PID %d) to watch", (int)cred.pid);
    s->status_dirty = true;
}

static void server_accept(wdmux_server *s)
{
    for (unsigned i = 0; i < WDMUX_READS_PER_EVENT; i++) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            server_accept_one(s, fd);
            continue;
        }
        switch (errno) {
        case EAGAIN:
            return;
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
            continue;
        default:
            /* EMFILE, ENFILE, ENOBUFS, ENOMEM...: the listening socket stays readable, so
             * stop watching it until the next tick instead of spinning. */
            wdmux_log(G_LOG_LEVEL_WARNING, 0, "accept failed: %s, retrying at the next tick",
                      g_strerror(errno));
            if (epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->listen_fd, NULL) == 0)
                s->accept_paused = true;
            return;
        }
    }
}

static void server_disconnect(wdmux_server *s, unsigned slot_index, bool error)
{
    const wdmux_slot *slot = wdmux_table_get(s->table, slot_index);
    pid_t pid = slot->pid;
    int fd = slot->fd;

    epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    wdmux_table_set_fd(s->table, slot_index, -1);

    bool was_enabled = wdmux_table_updates_enabled(s->table);
    if (wdmux_table_disconnect(s->table, slot_index, error) == WDMUX_DISCONNECT_CLEAN) {
        wdmux_log(G_LOG_LEVEL_MESSAGE, pid,
                  "client (PID %d) has disconnected cleanly. Removing it gracefully from the "
                  "watch",
                  (int)pid);
    } else {
        wdmux_log(G_LOG_LEVEL_CRITICAL, pid,
                  "client (PID %d) did not stop watchdog - disable watchdog updates", (int)pid);
        if (was_enabled)
            server_updates_disabled(s, server_now_ms());
    }
    if (wdmux_table_used(s->table) == 0) {
        wdmux_log(G_LOG_LEVEL_MESSAGE, 0,
                  "all watchdog client connections to the multiplexer "
                  "closed");
        server_marker_remove(s);
    }
    s->status_dirty = true;
}

static void server_client_read(wdmux_server *s, unsigned slot_index, int fd)
{
    const wdmux_slot *slot = wdmux_table_get(s->table, slot_index);
    /* The slot may have been freed (and even reused) earlier in this batch. */
    if (!slot || slot->fd != fd || slot->state == WDMUX_SLOT_FREE)
        return;

    char buf[WDMUX_READ_BUFFER];
    for (unsigned i = 0; i < WDMUX_READS_PER_EVENT; i++) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            wdmux_table_feed(s->table, slot_index, buf, (size_t)n, server_now_ms());
            continue;
        }
        if (n == 0) {
            server_disconnect(s, slot_index, false);
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            return;
        wdmux_log(G_LOG_LEVEL_WARNING, slot->pid, "client (PID %d) read error: %s", (int)slot->pid,
                  g_strerror(errno));
        server_disconnect(s, slot_index, true);
        return;
    }
}

static void server_signal(wdmux_server *s)
{
    struct signalfd_siginfo si;
    while (read(s->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
            wdmux_log(G_LOG_LEVEL_MESSAGE, 0, "got SIGHUP - ignored");
        } else {
            wdmux_log(G_LOG_LEVEL_MESSAGE, 0, "got terminate request");
            s->terminate = true;
        }
    }
}

static int server_exit(wdmux_server *s)
{
    wdmux_device *device = g_steal_pointer(&s->device);

    if (wdmux_table_used(s->table) > 0 || !wdmux_table_updates_enabled(s->table)) {
        wdmux_log(G_LOG_LEVEL_CRITICAL, 0, "exit watchdog-mux with active connections");
        server_journal_sync(s);
        wdmux_device_free(device); /* no magic close: the node resets */
    } else {
        wdmux_log(G_LOG_LEVEL_MESSAGE, 0, "clean exit");
        int r = wdmux_device_close_clean(device);
        if (r < 0)
            wdmux_log(G_LOG_LEVEL_WARNING, 0, "watchdog magic close failed: %s", g_strerror(-r));
    }
    if (unlink(s->cfg->status_path) < 0 && errno != ENOENT)
        wdmux_log(G_LOG_LEVEL_WARNING, 0, "failed to remove status file '%s': %s, ignoring",
                  s->cfg->status_path, g_strerror(errno));
    return 0;
}

int wdmux_server_run(wdmux_server *s)
{
    gint64 tick = s->cfg->effective_tick_ms;
    struct itimerspec its = {
        .it_interval = {.tv_sec = tick / 1000, .tv_nsec = (tick % 1000) * 1000000},
        .it_value = {.tv_sec = tick / 1000, .tv_nsec = (tick % 1000) * 1000000},
    };
    gint64 now = server_now_ms();
    s->last_tick_ms = now;
    s->last_keepalive_ms = now; /* wdmux_device_open() sent the first one */
    if (timerfd_settime(s->timer_fd, 0, &its, NULL) < 0) {
        wdmux_log(G_LOG_LEVEL_CRITICAL, 0, "timerfd_settime: %s", g_strerror(errno));
        /* Nothing was accepted yet, so nothing is armed: stop the device cleanly. */
        wdmux_device_close_clean(g_steal_pointer(&s->device));
        return 1;
    }
    server_write_status(s, now);

    struct epoll_event events[WDMUX_MAX_EVENTS];
    while (!s->terminate) {
        int n = epoll_wait(s->epfd, events, G_N_ELEMENTS(events), -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* Cannot happen with valid descriptors; without a loop nothing is supervised,
             * so leave with the device running, as the reference does. */
            wdmux_log(G_LOG_LEVEL_CRITICAL, 0, "epoll_pwait: %s", g_strerror(errno));
            wdmux_device_free(g_steal_pointer(&s->device));
            return 1;
        }
        server_check_timer(s);
        for (int i = 0; i < n; i++) {
            uint32_t slot = (uint32_t)(events[i].data.u64 >> 32);
            int fd = (int)(uint32_t)events[i].data.u64;
            if (fd == s->timer_fd)
                continue; /* handled by server_check_timer() */
            if (fd == s->listen_fd && slot == SERVER_SLOT_NONE)
                server_accept(s);
            else if (fd == s->signal_fd && slot == SERVER_SLOT_NONE)
                server_signal(s);
            else
                server_client_read(s, slot, fd);
        }
    }
    return server_exit(s);
}

static gboolean server_fail(GError **error, const char *step)
{
    int e = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s", step, g_strerror(e));
    return FALSE;
}

gboolean wdmux_server_new(const wdmux_config *cfg, wdmux_device *device, wdmux_server **ret_server,
                          GError **error)
{
    g_autoptr(wdmux_server) s = g_new0(wdmux_server, 1);
    s->cfg = cfg;
    s->epfd = s->listen_fd = s->signal_fd = s->timer_fd = -1;
    s->table = wdmux_table_new(cfg->max_clients, cfg->client_timeout_ms,
                               cfg->client_timeout_ms - cfg->effective_warn_before_ms);
    s->events = g_array_new(FALSE, FALSE, sizeof(wdmux_event));

    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    g_strlcpy(addr.sun_path, cfg->socket_path, sizeof(addr.sun_path));
    if (unlink(cfg->socket_path) < 0 && errno != ENOENT)
        return server_fail(error, "socket unlink");
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->listen_fd < 0)
        return server_fail(error, "socket create");
    mode_t old_umask = umask(0177);
    int r = bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr));
    int bind_errno = errno;
    umask(old_umask);
    if (r < 0) {
        errno = bind_errno;
        return server_fail(error, "socket bind");
    }
    s->socket_created = true;
    if (listen(s->listen_fd, WDMUX_LISTEN_BACKLOG) < 0)
        return server_fail(error, "socket listen");

    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0)
        return server_fail(error, "epoll_create");

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    s->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->signal_fd < 0)
        return server_fail(error, "signalfd");

    s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (s->timer_fd < 0)
        return server_fail(error, "timerfd_create");

    int fds[] = {s->listen_fd, s->signal_fd, s->timer_fd};
    for (size_t i = 0; i < G_N_ELEMENTS(fds); i++) {
        r = server_epoll_add(s, fds[i], SERVER_SLOT_NONE, EPOLLIN);
        if (r < 0) {
            errno = -r;
            return server_fail(error, "epoll_ctl");
        }
    }

    s->device = device;
    *ret_server = g_steal_pointer(&s);
    return TRUE;
}

void wdmux_server_free(wdmux_server *s)
{
    if (!s)
        return;
    /* Still holding the device here means run() never took it: the caller owns it. */
    s->device = NULL;
    for (unsigned i = 0; s->table && i < wdmux_table_capacity(s->table); i++) {
        const wdmux_slot *slot = wdmux_table_get(s->table, i);
        if (slot->fd >= 0)
            close(slot->fd);
    }
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->socket_created && unlink(s->cfg->socket_path) < 0 && errno != ENOENT)
        wdmux_log(G_LOG_LEVEL_WARNING, 0, "failed to remove socket '%s': %s, ignoring",
                  s->cfg->socket_path, g_strerror(errno));
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->signal_fd >= 0)
        close(s->signal_fd);
    if (s->timer_fd >= 0)
        close(s->timer_fd);
    wdmux_table_free(s->table);
    if (s->events)
        g_array_unref(s->events);
    g_free(s);
}
