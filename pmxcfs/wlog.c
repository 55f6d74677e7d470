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

static void header_encode(uint8_t *h, const wlog_record *rec)
{
    wire_put_u32(h, WLOG_MAGIC);
    wire_put_u32(h + 4, WLOG_HEADER + rec->len);
    wire_put_u64(h + 8, rec->version);
    wire_put_u32(h + 16, rec->writer);
    wire_put_u32(h + 20, rec->mtime);
    wire_put_u64(h + 24, rec->inode);
    wire_put_u32(h + 32, rec->offset);
    wire_put_u32(h + 36, rec->len);
    wire_put_u32(h + 40, rec->new_size);
    wire_put_u32(h + 44, rec->flags);
    uint32_t crc = wlog_crc32c(0, h, 48);
    crc = wlog_crc32c(crc, rec->data, rec->len);
    wire_put_u32(h + 48, crc);
    wire_put_u32(h + 52, 0);
}

int wlog_append(wlog *w, const wlog_record *rec)
{
    uint8_t h[WLOG_HEADER];
    header_encode(h, rec);
    struct iovec iov[2] = {
        {.iov_base = h, .iov_len = sizeof(h)},
        {.iov_base = (void *)rec->data, .iov_len = rec->len},
    };
    size_t total = sizeof(h) + rec->len;
    ssize_t n;
    do {
        n = writev(w->fd, iov, rec->len ? 2 : 1);
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
        uint32_t length = wire_get_u32(h + 4);
        uint32_t len = wire_get_u32(h + 36);
        if (wire_get_u32(h) != WLOG_MAGIC || length != WLOG_HEADER + (uint64_t)len ||
            pos + length > size)
            break;
        uint32_t crc = wlog_crc32c(0, h, 48);
        crc = wlog_crc32c(crc, h + WLOG_HEADER, len);
        if (crc != wire_get_u32(h + 48))
            break;
        wlog_record rec = {
            .version = wire_get_u64(h + 8),
            .writer = wire_get_u32(h + 16),
            .mtime = wire_get_u32(h + 20),
            .inode = wire_get_u64(h + 24),
            .offset = wire_get_u32(h + 32),
            .len = len,
            .new_size = wire_get_u32(h + 40),
            .flags = wire_get_u32(h + 44),
            .data = h + WLOG_HEADER,
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
