/*
 * atomic-file: temp + fsync + rename (or link, to never replace) + directory fsync.
 *
 * The temporary name is "<path>.tmp.<pid>.<n>" so concurrent writers in one process
 * (threads) and in different processes never share a temporary file.
 */
#include "lib/atomic-file.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int write_full(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Temporary file, fsync, then rename() over @path (@replace) or link() to it. */
static int atomic_file_put(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
                           gid_t gid, bool replace)
{
    static gint counter;
    g_autofree char *tmp =
        g_strdup_printf("%s.tmp.%d.%d", path, (int)getpid(), g_atomic_int_add(&counter, 1));
    g_autofree char *dir = g_path_get_dirname(path);
    int r = 0;

    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    r = write_full(fd, data, len);
    if (r == 0 && fchmod(fd, mode) < 0)
        r = -errno;
    if (r == 0 && (uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) < 0)
        r = -errno;
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && (replace ? rename(tmp, path) : link(tmp, path)) < 0)
        r = -errno;
    if (r < 0 || !replace)
        unlink(tmp);
    if (r < 0)
        return r;

    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    if (fsync(dfd) < 0)
        r = -errno;
    close(dfd);
    return r;
}

int atomic_file_write(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
                      gid_t gid)
{
    return atomic_file_put(path, data, len, mode, uid, gid, true);
}

int atomic_file_create(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
                       gid_t gid)
{
    return atomic_file_put(path, data, len, mode, uid, gid, false);
}
