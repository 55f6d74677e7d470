/*
 * authkey: key generation.
 *
 * The key is stored with atomic_file_create(): link() of a synced temporary file fails
 * with EEXIST instead of replacing a key that appeared meanwhile, which rename() would
 * silently do.
 */
#include "quorum/authkey.h"

#include "lib/atomic-file.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

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

int authkey_generate(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        return -EEXIST;
    unsigned char key[AUTHKEY_SIZE];
    int r = fill_random(key, sizeof(key));
    if (r == 0)
        r = atomic_file_create(path, key, sizeof(key), 0400, 0, 0);
    explicit_bzero(key, sizeof(key));
    return r;
}
