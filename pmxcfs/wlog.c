/*
 * wlog: append-only redo log of file data writes (see wlog.h for the format).
 *
 * Appends are single writev() calls on an O_APPEND descriptor, so a record is either
 * completely in the page cache or (after a crash in the middle of the call, which only
 * a power loss can cause) detectably torn.  The log is read back only at open.
 */
#include "pmxcfs/wlog.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pmxcfs/wire.h"

#define WLOG_MAGIC 0x4c575850u /* "PXWL" */

struct wlog {
    int fd;
    char *path;
    uint64_t size;
};

uint32_t wlog_crc32c(uint32_t crc, const void *data, size_t len)
{
    static uint32_t table[256];
    static gsize init;
    if (g_once_init_enter(&init)) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
            table[i] = c;
        }
        g_once_init_leave(&init, 1);
    }
    const uint8_t *p = data;
    crc = ~crc;
    while (len--)
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

wlog *wlog_open(const char *db_path, GError **error)
{
    wlog *w = g_new0(wlog, 1);
    w->path = g_strconcat(db_path, ".wlog", NULL);
    w->fd = open(w->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (w->fd < 0) {
        int e = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e),
                    "cannot open write log '%s': %s", w->path, g_strerror(e));
        g_free(w->path);
        g_free(w);
        return NULL;
    }
    struct stat st;
    w->size = fstat(w->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    return w;
}

void wlog_free(wlog *w)
{
    if (!w)
        return;
    close(w->fd);
    g_free(w->path);
    g_free(w);
}

static void header_encode(uint8_t *h, const wlog_record *rec, uint32_t pathlen,
                          uint32_t tolen)
{
    uint32_t size = rec->type == WLOG_OP_WRITE ? rec->size : 0;
    wire_put_u32(h, WLOG_MAGIC);
    wire_put_u32(h + 4, WLOG_HEADER + pathlen + tolen + size);
    wire_put_u64(h + 8, rec->version);
    wire_put_u32(h + 16, rec->writer);
    wire_put_u32(h + 20, rec->mtime);
    wire_put_u32(h + 24, rec->type);
    wire_put_u32(h + 28, rec->offset);
    wire_put_u32(h + 32, size);
    wire_put_u32(h + 36, rec->flags);
    wire_put_u32(h + 40, pathlen);
    wire_put_u32(h + 44, tolen);
    uint32_t crc = wlog_crc32c(0, h, 48);
    crc = wlog_crc32c(crc, rec->path, pathlen);
    crc = wlog_crc32c(crc, rec->to, tolen);
    crc = wlog_crc32c(crc, rec->data, size);
    wire_put_u32(h + 48, crc);
    wire_put_u32(h + 52, 0);
}

int wlog_append(wlog *w, const wlog_record *rec)
{
    uint8_t h[WLOG_HEADER];
    uint32_t pathlen = rec->path ? (uint32_t)strlen(rec->path) + 1 : 0;
    uint32_t tolen = rec->to ? (uint32_t)strlen(rec->to) + 1 : 0;
    uint32_t size = rec->type == WLOG_OP_WRITE ? rec->size : 0;
    header_encode(h, rec, pathlen, tolen);
    struct iovec iov[4] = {
        {.iov_base = h, .iov_len = sizeof(h)},
        {.iov_base = (void *)rec->path, .iov_len = pathlen},
        {.iov_base = (void *)rec->to, .iov_len = tolen},
        {.iov_base = (void *)rec->data, .iov_len = size},
    };
    size_t total = sizeof(h) + pathlen + tolen + size;
    ssize_t n;
    do {
        n = writev(w->fd, iov, 4);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if ((size_t)n != total) {
        /* a short append leaves a torn record: cut it off again */
        if (ftruncate(w->fd, (off_t)w->size) < 0)
            return -EIO;
        return -ENOSPC;
    }
    w->size += total;
    return 0;
}

uint64_t wlog_size(wlog *w)
{
    return w->size;
}

int wlog_truncate(wlog *w)
{
    if (w->size == 0)
        return 0;
    if (ftruncate(w->fd, 0) < 0)
        return -errno;
    w->size = 0;
    return 0;
}

guint wlog_replay(wlog *w, bool (*fn)(void *user_data, const wlog_record *rec),
                  void *user_data, uint64_t *ret_bad_bytes)
{
    g_autofree uint8_t *buf = NULL;
    uint64_t size = w->size;
    guint count = 0;
    uint64_t pos = 0;
    if (ret_bad_bytes)
        *ret_bad_bytes = 0;
    if (size == 0)
        return 0;
    buf = g_malloc(size);
    ssize_t n = pread(w->fd, buf, size, 0);
    if (n < 0 || (uint64_t)n != size) {
        if (ret_bad_bytes)
            *ret_bad_bytes = size;
        return 0;
    }
    while (pos + WLOG_HEADER <= size) {
        const uint8_t *h = buf + pos;
        uint64_t length = wire_get_u32(h + 4);
        uint64_t dsize = wire_get_u32(h + 32);
        uint64_t pathlen = wire_get_u32(h + 40);
        uint64_t tolen = wire_get_u32(h + 44);
        if (wire_get_u32(h) != WLOG_MAGIC || length != WLOG_HEADER + pathlen + tolen + dsize ||
            pos + length > size)
            break;
        uint32_t crc = wlog_crc32c(0, h, 48);
        crc = wlog_crc32c(crc, h + WLOG_HEADER, length - WLOG_HEADER);
        if (crc != wire_get_u32(h + 48))
            break;
        const char *path = (const char *)h + WLOG_HEADER;
        const char *to = path + pathlen;
        if (pathlen == 0 || path[pathlen - 1] != '\0' || (tolen && to[tolen - 1] != '\0'))
            break;
        wlog_record rec = {
            .version = wire_get_u64(h + 8),
            .writer = wire_get_u32(h + 16),
            .mtime = wire_get_u32(h + 20),
            .type = (wlog_op)wire_get_u32(h + 24),
            .offset = wire_get_u32(h + 28),
            .size = (uint32_t)dsize,
            .flags = wire_get_u32(h + 36),
            .path = path,
            .to = tolen ? to : NULL,
            .data = to + tolen,
        };
        pos += length;
        count++;
        if (!fn(user_data, &rec))
            return count;
    }
    if (ret_bad_bytes)
        *ret_bad_bytes = size - pos;
    return count;
}
