/*
 * authkey: key generation.
 *
 * The key is written to a temporary file in the target directory, synced, and then
 * hard-linked to its name: link() fails with EEXIST instead of replacing a key that
 * appeared meanwhile, which rename() would silently do.
 */
#include "quorum/authkey.h"

#include "lib/atomic-file.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static int fill_random(unsigned char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom(buf + done, len - done, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done += (size_t)n;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

int authkey_generate(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        return -EEXIST;
    unsigned char key[AUTHKEY_SIZE];
    int r = fill_random(key, sizeof(key));
    if (r < 0)
        return r;
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *tmp = g_strdup_printf("%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
    if (fd < 0)
        return -errno;
    r = write_full(fd, key, sizeof(key));
    if (r == 0 && fchown(fd, 0, 0) < 0)
        r = -errno;
    if (r == 0 && fchmod(fd, 0400) < 0)
        r = -errno;
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && link(tmp, path) < 0)
        r = -errno;
    unlink(tmp);
    explicit_bzero(key, sizeof(key));
    if (r == 0)
        r = fsync_dir(dir);
    return r;
}
