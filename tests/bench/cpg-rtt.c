/*
 * cpg-rtt: the raw CPG round trip, the floor under every replicated pmxcfs operation:
 * multicast a message with agreed ordering and wait for its own delivery, N times.
 *
 *   cpg-rtt [N] [SIZE]     prints "cpg-rtt <N> p50_us <x> p99_us <y> mean_us <z> per_s <r>"
 *
 *   cpg-rtt listen         join the group and receive until killed: a member on every
 *                          node makes corosync deliver each message to every node, as
 *                          for pmxcfs
 *
 * Joins its own group (cpg_rtt_bench), so it runs beside pmxcfs without touching it.
 * Exits 1 when corosync fails it or an event does not come within WAIT_US.
 */
#include <corosync/cpg.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long to wait for the join and for each message's delivery. */
#define WAIT_US 10e6

static int joined;
static uint64_t delivered;

static void deliver(cpg_handle_t h, const struct cpg_name *g, uint32_t nodeid, uint32_t pid,
                    void *msg, size_t len)
{
    (void)h;
    (void)g;
    (void)nodeid;
    (void)msg;
    (void)len;
    if (pid == (uint32_t)getpid())
        delivered++;
}

static void confchg(cpg_handle_t h, const struct cpg_name *g, const struct cpg_address *m,
                    size_t nm, const struct cpg_address *l, size_t nl,
                    const struct cpg_address *j, size_t nj)
{
    (void)h;
    (void)g;
    (void)l;
    (void)nl;
    (void)j;
    (void)nj;
    for (size_t i = 0; i < nm; i++)
        if (m[i].pid == (uint32_t)getpid())
            joined = 1;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char *what, cs_error_t err)
{
    fprintf(stderr, "cpg-rtt: %s (corosync error %d)\n", what, (int)err);
    exit(1);
}

/* Wait up to 1 s for CPG events and dispatch them. */
static void dispatch(cpg_handle_t h, struct pollfd *p)
{
    poll(p, 1, 1000);
    cs_error_t r = cpg_dispatch(h, CS_DISPATCH_ALL);
    if (r != CS_OK)
        die("dispatch failed", r);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    bool listen_only = argc > 1 && strcmp(argv[1], "listen") == 0;
    int n = argc > 1 && !listen_only ? atoi(argv[1]) : 2000;
    size_t size = argc > 2 ? (size_t)atol(argv[2]) : 100;
    cpg_handle_t h;
    cpg_model_v1_data_t md = {.model = CPG_MODEL_V1, .cpg_deliver_fn = deliver,
                              .cpg_confchg_fn = confchg};
    cs_error_t r = cpg_model_initialize(&h, CPG_MODEL_V1, (cpg_model_data_t *)&md, NULL);
    if (r != CS_OK)
        die("cannot connect to corosync", r);
    struct cpg_name name = {.length = 14};
    memcpy(name.value, "cpg_rtt_bench", 14);
    if ((r = cpg_join(h, &name)) != CS_OK)
        die("cannot join", r);
    int fd;
    if ((r = cpg_fd_get(h, &fd)) != CS_OK)
        die("no CPG fd", r);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    double deadline = now_us() + WAIT_US;
    while (!joined) {
        if (now_us() > deadline)
            die("own join not seen in time", CS_ERR_TIMEOUT);
        dispatch(h, &p);
    }
    if (listen_only) {
        printf("listening\n");
        fflush(stdout);
        for (;;)
            dispatch(h, &p);
    }
    char *buf = calloc(1, size);
    double *lat = calloc((size_t)n, sizeof(double));
    double start = now_us();
    for (int i = 0; i < n; i++) {
        struct iovec iov = {.iov_base = buf, .iov_len = size};
        uint64_t want = delivered + 1;
        double t = now_us();
        while ((r = cpg_mcast_joined(h, CPG_TYPE_AGREED, &iov, 1)) == CS_ERR_TRY_AGAIN)
            usleep(100);
        if (r != CS_OK)
            die("send failed", r);
        while (delivered < want) {
            if (now_us() - t > WAIT_US)
                die("own message not delivered in time", CS_ERR_TIMEOUT);
            dispatch(h, &p);
        }
        lat[i] = now_us() - t;
    }
    double elapsed = now_us() - start;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += lat[i];
    qsort(lat, (size_t)n, sizeof(double), cmp);
    printf("cpg-rtt %d p50_us %.0f p99_us %.0f mean_us %.0f per_s %.0f\n", n, lat[n / 2],
           lat[(n * 99) / 100], sum / n, n / elapsed * 1e6);
    cpg_leave(h, &name);
    cpg_finalize(h);
    return 0;
}
