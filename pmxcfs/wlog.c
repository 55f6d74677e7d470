/*
 * wlog: the operation log (see wlog.h for the format).
 *
 * The file has a fixed size and is mapped shared into memory: an append is a memcpy
 * into the page cache, with no system call, and survives a crash of the process.  After
 * each record an 8-byte zero terminator marks the end; a record torn by a crash fails
 * its CRC.  Truncating resets the write position to 0 (records left behind from before
 * carry versions that are already merged and are skipped on replay).  The log is read
 * back only at open.
 */
#include "pmxcfs/wlog.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pmxcfs/wire.h"

#define WLOG_MAGIC 0x4c575850u /* "PXWL" */

/* Size of the mapped file: a merge is due long before (memdb merges at 8 MiB), and the
 * largest record (a 1 MiB write) always fits into an empty log.  The space is allocated
 * once, so that writing into the mapping can never fail for lack of disk space (which
 * would kill the process with SIGBUS). */
#define WLOG_CAPACITY (16u << 20)
#define WLOG_TERMINATOR 8

struct wlog {
    int fd;
    char *path;
    uint8_t *map;
    uint64_t size; /* write position */
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
    int e = 0;
    w->fd = open(w->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    struct stat st;
    if (w->fd < 0 || fstat(w->fd, &st) < 0)
        e = errno;
    else if ((st.st_size != WLOG_CAPACITY && ftruncate(w->fd, WLOG_CAPACITY) < 0) ||
             (errno = posix_fallocate(w->fd, 0, WLOG_CAPACITY)) != 0)
        e = errno;
    if (!e) {
        w->map = mmap(NULL, WLOG_CAPACITY, PROT_READ | PROT_WRITE, MAP_SHARED, w->fd, 0);
        if (w->map == MAP_FAILED) {
            e = errno;
            w->map = NULL;
        }
    }
    if (e) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e),
                    "cannot open operation log '%s': %s", w->path, g_strerror(e));
        wlog_free(w);
        return NULL;
    }
    /* the write position is found by wlog_replay(); until then the log is "full" */
    w->size = 0;
    return w;
}

void wlog_free(wlog *w)
{
    if (!w)
        return;
    if (w->map)
        munmap(w->map, WLOG_CAPACITY);
    if (w->fd >= 0)
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
    if (!w)
        return -ENOSPC;
    uint32_t pathlen = rec->path ? (uint32_t)strlen(rec->path) + 1 : 0;
    uint32_t tolen = rec->to ? (uint32_t)strlen(rec->to) + 1 : 0;
    uint32_t size = rec->type == WLOG_OP_WRITE ? rec->size : 0;
    uint64_t total = (uint64_t)WLOG_HEADER + pathlen + tolen + size;
    if (w->size + total + WLOG_TERMINATOR > WLOG_CAPACITY)
        return -ENOSPC;
    uint8_t *p = w->map + w->size;
    /* terminator first, then the body, then the header: a crash at any point leaves
     * either the old end or a record that fails its checks */
    memset(p + total, 0, WLOG_TERMINATOR);
    if (pathlen)
        memcpy(p + WLOG_HEADER, rec->path, pathlen);
    if (tolen)
        memcpy(p + WLOG_HEADER + pathlen, rec->to, tolen);
    if (size)
        memcpy(p + WLOG_HEADER + pathlen + tolen, rec->data, size);
    header_encode(p, rec, pathlen, tolen);
    w->size += total;
    return 0;
}

uint64_t wlog_size(wlog *w)
{
    return w ? w->size : 0;
}

int wlog_truncate(wlog *w)
{
    if (!w)
        return 0;
    memset(w->map, 0, WLOG_TERMINATOR);
    w->size = 0;
    return 0;
}

guint wlog_replay(wlog *w, bool (*fn)(void *user_data, const wlog_record *rec),
                  void *user_data, uint64_t *ret_bad_bytes)
{
    if (ret_bad_bytes)
        *ret_bad_bytes = 0;
    if (!w)
        return 0;
    const uint8_t *buf = w->map;
    uint64_t size = WLOG_CAPACITY - WLOG_TERMINATOR;
    guint count = 0;
    uint64_t pos = 0;
    if (ret_bad_bytes)
        *ret_bad_bytes = 0;
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
        uint64_t start = pos;
        pos += length;
        count++;
        if (!fn(user_data, &rec)) {
            /* new records overwrite the rejected one and everything after it */
            w->size = start;
            memset(w->map + start, 0, WLOG_TERMINATOR);
            return count;
        }
    }
    /* the end: a terminator (all zero), or a torn record, which new records replace */
    w->size = pos;
    memset(w->map + pos, 0, WLOG_TERMINATOR);
    if (ret_bad_bytes && pos + 4 <= size && wire_get_u32(buf + pos) != 0)
        *ret_bad_bytes = 1;
    return count;
}
