/*
 * fsbench: the file-system workload of pmxcfs spec §14, as a C program so that the
 * measurement is not dominated by an interpreter.
 *
 *   fsbench ops DIR N SIZE      one line per phase: "<phase> <ops/s>"
 *   fsbench chunk DIR CHUNK     write one 1 MiB file in CHUNK-byte write() calls,
 *                               prints "chunk <CHUNK> <ms>"
 *   fsbench bulk DIR N SIZE D   N files of SIZE bytes in D directories, open-write-close,
 *                               prints "bulk <files/s>"
 *   fsbench lat DIR N SIZE      N files written like PVE does, one latency per file:
 *                               prints "lat <files/s> p50_us <x> p99_us <y>"
 *
 * Phases: create+write+rename of new files (the PVE writer: O_EXCL temp file, one
 * write, rename), the same replacing existing files, O_TRUNC+write in place, read,
 * stat, mkdir+rmdir pairs, unlink.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *path)
{
    fprintf(stderr, "fsbench: %s '%s': %s\n", what, path, strerror(errno));
    exit(1);
}

static void write_all(int fd, const char *buf, size_t len, const char *path)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n <= 0)
            die("write", path);
        buf += n;
        len -= (size_t)n;
    }
}

static void pve_write(const char *dir, int i, const char *data, size_t size)
{
    char tmp[4096], dst[4096];
    snprintf(tmp, sizeof(tmp), "%s/f%d.cfg.tmp.%d", dir, i, (int)getpid());
    snprintf(dst, sizeof(dst), "%s/f%d.cfg", dir, i);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0640);
    if (fd < 0)
        die("open", tmp);
    write_all(fd, data, size, tmp);
    if (close(fd) < 0)
        die("close", tmp);
    if (rename(tmp, dst) < 0)
        die("rename", dst);
}

static void report(const char *phase, int n, double t)
{
    printf("%s %.0f\n", phase, n / t);
    fflush(stdout);
}

static int run_ops(const char *dir, int n, size_t size)
{
    char *data = malloc(size);
    char *rbuf = malloc(size + 4096);
    char path[4096];
    memset(data, 'x', size);

    double t = now();
    for (int i = 0; i < n; i++)
        pve_write(dir, i, data, size);
    report("create+write+rename", n, now() - t);

    t = now();
    for (int i = 0; i < n; i++)
        pve_write(dir, i, data, size);
    report("replace", n, now() - t);

    t = now();
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/f%d.cfg", dir, i);
        int fd = open(path, O_WRONLY | O_TRUNC);
        if (fd < 0)
            die("open", path);
        write_all(fd, data, size, path);
        close(fd);
    }
    report("truncate+write", n, now() - t);

    t = now();
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/f%d.cfg", dir, i);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            die("open", path);
        ssize_t got;
        while ((got = read(fd, rbuf, size + 4096)) > 0)
            ;
        close(fd);
    }
    report("read", n, now() - t);

    t = now();
    struct stat st;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/f%d.cfg", dir, i);
        if (stat(path, &st) < 0)
            die("stat", path);
    }
    report("stat", n, now() - t);

    t = now();
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/d%d", dir, i);
        if (mkdir(path, 0755) < 0)
            die("mkdir", path);
        if (rmdir(path) < 0)
            die("rmdir", path);
    }
    report("mkdir+rmdir", n, now() - t);

    t = now();
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/f%d.cfg", dir, i);
        if (unlink(path) < 0)
            die("unlink", path);
    }
    report("unlink", n, now() - t);
    free(data);
    free(rbuf);
    return 0;
}

static int run_chunk(const char *dir, size_t chunk)
{
    size_t total = 1 << 20;
    char *buf = malloc(total);
    memset(buf, 'c', total);
    char path[4096];
    snprintf(path, sizeof(path), "%s/chunk-%zu.bin", dir, chunk);
    double t = now();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (fd < 0)
        die("open", path);
    for (size_t off = 0; off < total; off += chunk)
        write_all(fd, buf + off, chunk < total - off ? chunk : total - off, path);
    close(fd);
    double ms = (now() - t) * 1000;
    unlink(path);
    printf("chunk %zu %.2f\n", chunk, ms);
    free(buf);
    return 0;
}

static int run_bulk(const char *dir, int n, size_t size, int dirs)
{
    char *data = malloc(size);
    memset(data, 'b', size);
    char path[4096];
    for (int d = 0; d < dirs; d++) {
        snprintf(path, sizeof(path), "%s/bulk%d", dir, d);
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            die("mkdir", path);
    }
    double t = now();
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/bulk%d/file%d.cfg", dir, i % dirs, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
        if (fd < 0)
            die("open", path);
        write_all(fd, data, size, path);
        close(fd);
    }
    report("bulk", n, now() - t);
    free(data);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int run_lat(const char *dir, int n, size_t size)
{
    char *data = malloc(size);
    memset(data, 'l', size);
    double *lat = calloc((size_t)n, sizeof(double));
    double t0 = now();
    for (int i = 0; i < n; i++) {
        double t = now();
        pve_write(dir, i, data, size);
        lat[i] = (now() - t) * 1e6;
    }
    double total = now() - t0;
    qsort(lat, (size_t)n, sizeof(double), cmp_double);
    printf("lat %.0f p50_us %.0f p99_us %.0f\n", n / total, lat[n / 2], lat[(n * 99) / 100]);
    free(lat);
    free(data);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "ops") == 0)
        return run_ops(argv[2], atoi(argv[3]), (size_t)atol(argv[4]));
    if (argc >= 4 && strcmp(argv[1], "chunk") == 0)
        return run_chunk(argv[2], (size_t)atol(argv[3]));
    if (argc >= 5 && strcmp(argv[1], "lat") == 0)
        return run_lat(argv[2], atoi(argv[3]), (size_t)atol(argv[4]));
    if (argc >= 6 && strcmp(argv[1], "bulk") == 0)
        return run_bulk(argv[2], atoi(argv[3]), (size_t)atol(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: fsbench ops DIR N SIZE | chunk DIR CHUNK | bulk DIR N SIZE DIRS | "
                    "lat DIR N SIZE\n");
    return 2;
}
