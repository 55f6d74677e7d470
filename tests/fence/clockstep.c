/*
 * clockstep: an LD_PRELOAD shim that steps the wall clock of one process, to prove that
 * watchdog-mux decides on the monotonic clock only (fence.md 2.8 defect 2, 4.9).
 *
 * CLOCKSTEP="<after_ms>:<offset_s>[,<after_ms>:<offset_s>...]" applies each offset (in
 * seconds, signed, cumulative) to CLOCK_REALTIME, gettimeofday() and time() once
 * <after_ms> milliseconds of monotonic time have passed since the first clock call.
 * Each step is announced once on stderr ("clockstep: wall clock stepped by <s> s"), so
 * a test can check that the shim was active.  Monotonic clocks pass through unchanged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CLOCKSTEP_MAX 8

static struct {
    long long after_ms;
    long long offset_s;
    int announced;
} steps[CLOCKSTEP_MAX];
static int n_steps = -1;
static long long start_ms = -1;

static int real_clock_gettime(clockid_t id, struct timespec *ts)
{
    return (int)syscall(SYS_clock_gettime, id, ts);
}

static void clockstep_load(void)
{
    n_steps = 0;
    const char *spec = getenv("CLOCKSTEP");
    while (spec && *spec && n_steps < CLOCKSTEP_MAX) {
        char *end = NULL;
        long long after = strtoll(spec, &end, 10);
        if (!end || *end != ':')
            break;
        long long offset = strtoll(end + 1, &end, 10);
        steps[n_steps].after_ms = after;
        steps[n_steps].offset_s = offset;
        n_steps++;
        if (*end != ',')
            break;
        spec = end + 1;
    }
}

static long long clockstep_offset_s(void)
{
    struct timespec mono;
    if (n_steps < 0)
        clockstep_load();
    real_clock_gettime(CLOCK_MONOTONIC, &mono);
    long long now = (long long)mono.tv_sec * 1000 + mono.tv_nsec / 1000000;
    if (start_ms < 0)
        start_ms = now;

    long long offset = 0;
    for (int i = 0; i < n_steps; i++) {
        if (now - start_ms < steps[i].after_ms)
            continue;
        offset += steps[i].offset_s;
        if (!steps[i].announced) {
            char msg[96];
            int len = snprintf(msg, sizeof(msg), "clockstep: wall clock stepped by %+lld s\n",
                               steps[i].offset_s);
            steps[i].announced = 1;
            if (write(STDERR_FILENO, msg, (size_t)len) < 0) {
                /* the announcement is best effort */
            }
        }
    }
    return offset;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    int r = real_clock_gettime(id, ts);
    if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        ts->tv_sec += clockstep_offset_s();
    return r;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    struct timespec ts;
    (void)tz;
    if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
        return -1;
    {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return 0;
}

time_t time(time_t *t)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (t)
        *t = ts.tv_sec;
    return ts.tv_sec;
}
