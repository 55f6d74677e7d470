/*
 * wdmux-testclient: a configurable watchdog-mux client for the integration tests and
 * benchmarks, built on the client library (fence/wdmux-client.h).
 *
 * It opens N connections, prints "armed <n>" (stdout, line-buffered) once they are
 * open, feeds every connection each --interval ms (0: never), and after --duration ms
 * (0: until SIGTERM/SIGINT) ends them as --end says: disarm ('V' and close), abort
 * (close without 'V') or exit (just exit; the kernel closes the sockets).  Keepalive
 * failures are printed as "keepalive-failed <conn> <errno name>" and end the run with
 * status 3, so a test can see a rejected connection.  On exit it prints
 * "done keepalives=<n> max_interval_ms=<ms>", the longest gap between two feeding
 * rounds, which shows whether the client itself was starved.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fence/wdmux-client.h"

static const char usage[] =
    "usage: wdmux-testclient --socket PATH [--connections N] [--interval MS]\n"
    "                        [--duration MS] [--end disarm|abort|exit]\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static gint64 now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (gint64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_until_ms(gint64 when)
{
    struct timespec ts = {.tv_sec = when / 1000, .tv_nsec = (when % 1000) * 1000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop_requested)
        ;
}

int main(int argc, char **argv)
{
    const char *socket_path = NULL;
    const char *end = "disarm";
    long connections = 1, interval = 0, duration = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (!v) {
            fputs(usage, stderr);
            return 2;
        }
        if (strcmp(a, "--socket") == 0)
            socket_path = v;
        else if (strcmp(a, "--connections") == 0)
            connections = strtol(v, NULL, 10);
        else if (strcmp(a, "--interval") == 0)
            interval = strtol(v, NULL, 10);
        else if (strcmp(a, "--duration") == 0)
            duration = strtol(v, NULL, 10);
        else if (strcmp(a, "--end") == 0)
            end = v;
        else {
            fputs(usage, stderr);
            return 2;
        }
        i++;
    }
    if (!socket_path || connections < 1 || connections > 10000 || interval < 0 || duration < 0 ||
        (strcmp(end, "disarm") && strcmp(end, "abort") && strcmp(end, "exit"))) {
        fputs(usage, stderr);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    wdmux_client **c = g_new0(wdmux_client *, connections);
    for (long i = 0; i < connections; i++) {
        int r = wdmux_client_open(socket_path, &c[i]);
        if (r < 0) {
            printf("open-failed %ld %s\n", i, g_strerror(-r));
            return 1;
        }
    }
    printf("armed %ld\n", connections);

    int status = 0;
    guint64 keepalives = 0;
    gint64 start = now_ms(), last_round = start, max_interval = 0;
    gint64 next = start + interval;
    while (!stop_requested && (duration == 0 || now_ms() - start < duration)) {
        if (interval == 0) {
            gint64 left = duration ? duration - (now_ms() - start) : 1000;
            sleep_until_ms(now_ms() + MIN(left, 1000));
            continue;
        }
        sleep_until_ms(next);
        next += interval;
        gint64 t = now_ms();
        if (t - last_round > max_interval)
            max_interval = t - last_round;
        last_round = t;
        for (long i = 0; i < connections && !status; i++) {
            int r = wdmux_client_keepalive(c[i]);
            if (r < 0) {
                printf("keepalive-failed %ld %s\n", i,
                       r == -ECONNRESET ? "ECONNRESET"
                       : r == -EPIPE    ? "EPIPE"
                       : r == -EAGAIN   ? "EAGAIN"
                                        : g_strerror(-r));
                status = 3;
            }
            keepalives++;
        }
        if (status)
            break;
    }

    printf("done keepalives=%" G_GUINT64_FORMAT " max_interval_ms=%" G_GINT64_FORMAT "\n",
           keepalives, max_interval);
    if (strcmp(end, "exit") == 0)
        _exit(status);
    for (long i = 0; i < connections; i++) {
        if (strcmp(end, "abort") == 0) {
            wdmux_client_abort(c[i]);
        } else {
            int r = wdmux_client_disarm(c[i]);
            if (r < 0) {
                printf("disarm-failed %ld %s\n", i, g_strerror(-r));
                status = status ? status : 4;
            }
        }
    }
    g_free(c);
    return status;
}
