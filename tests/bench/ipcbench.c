/*
 * ipcbench: the measuring side of tests/bench/ipc-bench (pmxcfs IPC and status files).
 *
 *   ipcbench echo SERVICE                 a minimal libqb server that answers every
 *                                          request with an empty success: the baseline
 *                                          cost of a libqb round trip
 *   ipcbench rtt SERVICE REQ CLIENTS SECS round trips per second of request REQ
 *                                          (echo, get-config:PATH, get-status:KEY) from
 *                                          CLIENTS processes, each with its own
 *                                          connection; prints "<req/s>"
 *   ipcbench stat PATH SECS               stat() calls per second on PATH; prints "<n/s>"
 */
#include <errno.h>
#include <qb/qbipcs.h>
#include <qb/qbloop.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pmxcfs/ipc-client.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------------------------- */
/* echo server (libqb's own loop) */

static qb_loop_t *loop;

static int32_t echo_poll_add(enum qb_loop_priority p, int32_t fd, int32_t events, void *data,
                             qb_ipcs_dispatch_fn_t fn)
{
    return qb_loop_poll_add(loop, p, fd, events, data, fn);
}

static int32_t echo_poll_mod(enum qb_loop_priority p, int32_t fd, int32_t events, void *data,
                             qb_ipcs_dispatch_fn_t fn)
{
    return qb_loop_poll_mod(loop, p, fd, events, data, fn);
}

static int32_t echo_poll_del(int32_t fd)
{
    return qb_loop_poll_del(loop, fd);
}

static int32_t echo_job_add(enum qb_loop_priority p, void *data, qb_loop_job_dispatch_fn fn)
{
    return qb_loop_job_add(loop, p, data, fn);
}

static int32_t echo_accept(qb_ipcs_connection_t *c, uid_t uid, gid_t gid)
{
    (void)c;
    (void)uid;
    (void)gid;
    return 0;
}

static int32_t echo_message(qb_ipcs_connection_t *c, void *data, size_t size)
{
    (void)size;
    struct qb_ipc_response_header r = {0};
    r.id = ((struct qb_ipc_request_header *)data)->id;
    r.size = sizeof(r);
    r.error = 0;
    if (qb_ipcs_response_send(c, &r, sizeof(r)) < 0)
        qb_ipcs_disconnect(c);
    return 0;
}

static int run_echo(const char *service)
{
    loop = qb_loop_create();
    struct qb_ipcs_service_handlers h = {.connection_accept = echo_accept,
                                         .msg_process = echo_message};
    struct qb_ipcs_poll_handlers ph = {.job_add = echo_job_add,
                                       .dispatch_add = echo_poll_add,
                                       .dispatch_mod = echo_poll_mod,
                                       .dispatch_del = echo_poll_del};
    qb_ipcs_service_t *s = qb_ipcs_create(service, 0, QB_IPC_SHM, &h);
    if (!s)
        return 1;
    qb_ipcs_poll_handlers_set(s, &ph);
    int r = qb_ipcs_run(s);
    if (r < 0) {
        fprintf(stderr, "ipcbench: echo server: %s\n", strerror(-r));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    qb_loop_run(loop);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* clients */

/*
 * One client process: connect, say so on @ready_fd (then close it), wait for the go
 * byte on @go_fd, loop until the deadline, report the count on @out_fd.
 */
static void client_loop(const char *service, const char *req, double secs, int ready_fd, int go_fd,
                        int out_fd)
{
    cfs_client *c = NULL;
    int r = cfs_client_connect(service, 0, 10000, &c);
    if (r < 0) {
        fprintf(stderr, "ipcbench: connect %s: %s\n", service, strerror(-r));
        _exit(1);
    }
    int32_t id = CFS_IPC_GET_FS_VERSION; /* echo: the echo server answers anything */
    const char *arg = strchr(req, ':');
    arg = arg ? arg + 1 : "";
    if (strncmp(req, "get-config:", 11) == 0)
        id = CFS_IPC_GET_CONFIG;
    else if (strncmp(req, "get-status:", 11) == 0)
        id = CFS_IPC_GET_STATUS;
    else if (strcmp(req, "echo") != 0) {
        fprintf(stderr, "ipcbench: unknown request '%s'\n", req);
        _exit(1);
    }
    if (write(ready_fd, "r", 1) != 1)
        _exit(1);
    close(ready_fd);
    char go;
    if (read(go_fd, &go, 1) != 1)
        _exit(1);
    unsigned long n = 0;
    double end = now() + secs;
    while (now() < end) {
        for (int k = 0; k < 64; k++) {
            g_autoptr(GBytes) data = NULL;
            if (id == CFS_IPC_GET_CONFIG)
                r = cfs_client_get_config(c, arg, &data);
            else if (id == CFS_IPC_GET_STATUS)
                r = cfs_client_get_status(c, arg, NULL, &data);
            else
                r = cfs_client_get_simple(c, id, &data);
            if (r < 0) {
                fprintf(stderr, "ipcbench: request %s: %s\n", req, strerror(-r));
                _exit(1);
            }
            n++;
        }
    }
    if (write(out_fd, &n, sizeof(n)) != sizeof(n))
        _exit(1);
    cfs_client_free(c);
    _exit(0);
}

static int run_rtt(const char *service, const char *req, int clients, double secs)
{
    int ready[2], go[2], out[2];
    if (pipe(ready) < 0 || pipe(go) < 0 || pipe(out) < 0)
        return 1;
    for (int i = 0; i < clients; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            close(ready[0]);
            close(go[1]);
            close(out[0]);
            client_loop(service, req, secs, ready[1], go[0], out[1]);
        }
    }
    close(ready[1]);
    close(go[0]);
    close(out[1]);
    /* The clock starts once every client is connected; end of file on the ready pipe
     * means every client either said so or died.  (Clients still waiting for the go
     * byte see end of file when this process exits.) */
    int connected = 0;
    char byte;
    while (connected < clients && read(ready[0], &byte, 1) == 1)
        connected++;
    if (connected < clients) {
        fprintf(stderr, "ipcbench: %d of %d clients could not connect\n", clients - connected,
                clients);
        return 1;
    }
    double t = now();
    for (int i = 0; i < clients; i++)
        if (write(go[1], "g", 1) != 1)
            return 1;
    unsigned long total = 0, n;
    int got = 0;
    while (read(out[0], &n, sizeof(n)) == sizeof(n)) {
        total += n;
        got++;
    }
    double elapsed = now() - t;
    int failed = 0;
    for (int i = 0; i < clients; i++) {
        int st;
        if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed++;
    }
    if (failed || got != clients) {
        fprintf(stderr, "ipcbench: %d of %d clients failed\n", failed, clients);
        return 1;
    }
    printf("%.0f\n", (double)total / elapsed);
    return 0;
}

static int run_stat(const char *path, double secs)
{
    struct stat st;
    unsigned long n = 0;
    double t = now(), end = t + secs;
    while (now() < end) {
        for (int k = 0; k < 256; k++) {
            if (stat(path, &st) < 0) {
                fprintf(stderr, "ipcbench: stat %s: %s\n", path, strerror(errno));
                return 1;
            }
            n++;
        }
    }
    printf("%.0f\n", (double)n / (now() - t));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "echo") == 0)
        return run_echo(argv[2]);
    if (argc == 6 && strcmp(argv[1], "rtt") == 0)
        return run_rtt(argv[2], argv[3], atoi(argv[4]), atof(argv[5]));
    if (argc == 4 && strcmp(argv[1], "stat") == 0)
        return run_stat(argv[2], atof(argv[3]));
    fprintf(stderr, "usage: ipcbench echo SERVICE | rtt SERVICE REQ CLIENTS SECS | "
                    "stat PATH SECS\n");
    return 2;
}
