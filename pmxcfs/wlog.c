/*
 * wlog: the operation log (see wlog.h for the record format).
 *
 * The file is a 4 KiB header followed by a ring of WLOG_CAPACITY bytes, mapped shared
 * into memory: an append is a memcpy into the page cache, with no system call, and it
 * survives a crash of the process.  Positions are absolute byte counts; a position p
 * lives at ring offset p % WLOG_CAPACITY.  Records never straddle the end of the ring: a
 * WRAP marker sends the reader to the start.  After each record an 8-byte zero
 * terminator marks the end; a record torn by a crash fails its CRC.  The header holds
 * the tail (the oldest record not yet merged into the database); merging moves the tail
 * with one aligned 8-byte store, so records are never moved or rewritten.  The space is
 * allocated once, so writing into the mapping cannot fail for lack of disk space (which
 * would kill the process with SIGBUS).
 */
#include "pmxcfs/wlog.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pmxcfs/wire.h"

#define WLOG_MAGIC 0x4c575850u      /* "PXWL": a record */
#define WLOG_WRAP_MAGIC 0x52575850u /* "PXWR": continue at the start of the ring */
#define WLOG_FILE_MAGIC 0x48575850u /* "PXWH": the file header */
#define WLOG_FILE_VERSION 1
#define WLOG_FILE_HEADER 4096
/* The ring: memdb merges about once a second, and at once when an append does not fit;
 * the largest record (a 1 MiB write) always fits into an empty ring. */
#define WLOG_CAPACITY (16u << 20)
#define WLOG_TERMINATOR 8

struct wlog {
    int fd;
    char *path;
    uint8_t *map;  /* header + ring */
    uint8_t *ring; /* map + WLOG_FILE_HEADER */
    uint64_t head; /* where the next record goes (changed by appenders only) */
    uint64_t tail; /* the oldest record not merged: moved by wlog_cut(), which may run
                      in another thread than the appender, so it is accessed atomically */
};

static uint64_t tail_get(const wlog *w)
{
    return __atomic_load_n(&w->tail, __ATOMIC_ACQUIRE);
}

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

static uint64_t ring_offset(uint64_t pos)
{
    return pos % WLOG_CAPACITY;
}

static void header_store_tail(wlog *w, uint64_t tail)
{
    __atomic_store_n(&w->tail, tail, __ATOMIC_RELEASE);
    /* one aligned 8-byte store: a crash sees the old or the new tail */
    __atomic_store_n((uint64_t *)(void *)(w->map + 8), GUINT64_TO_LE(tail), __ATOMIC_RELEASE);
}

static void header_init(wlog *w)
{
    memset(w->map, 0, WLOG_FILE_HEADER);
    wire_put_u32(w->map, WLOG_FILE_MAGIC);
    wire_put_u32(w->map + 4, WLOG_FILE_VERSION);
    wire_put_u64(w->map + 16, WLOG_CAPACITY);
    w->head = 0;
    header_store_tail(w, 0);
    memset(w->ring, 0, WLOG_TERMINATOR);
}

wlog *wlog_open(const char *db_path, GError **error)
{
    wlog *w = g_new0(wlog, 1);
    w->path = g_strconcat(db_path, ".wlog", NULL);
    const off_t size = (off_t)WLOG_FILE_HEADER + WLOG_CAPACITY;
    int e = 0;
    w->fd = open(w->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    struct stat st;
    if (w->fd < 0 || fstat(w->fd, &st) < 0)
        e = errno;
    else if ((st.st_size != size && ftruncate(w->fd, size) < 0) ||
             (errno = posix_fallocate(w->fd, 0, size)) != 0)
        e = errno;
    if (!e) {
        w->map = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, w->fd, 0);
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
    w->ring = w->map + WLOG_FILE_HEADER;
    if (wire_get_u32(w->map) != WLOG_FILE_MAGIC || wire_get_u32(w->map + 4) != WLOG_FILE_VERSION ||
        wire_get_u64(w->map + 16) != WLOG_CAPACITY)
        header_init(w); /* new, or not ours: start empty */
    w->tail = w->head = wire_get_u64(w->map + 8);
    return w;
}

void wlog_free(wlog *w)
{
    if (!w)
        return;
    if (w->map)
        munmap(w->map, (size_t)WLOG_FILE_HEADER + WLOG_CAPACITY);
    if (w->fd >= 0)
        close(w->fd);
    g_free(w->path);
    g_free(w);
}

static void header_encode(uint8_t *h, const wlog_record *rec, uint32_t pathlen,
                          uint32_t tolen)
{
    uint32_t size = rec->type == WLOG_OP_WRITE ? rec->size : 0;
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
    uint32_t crc = wlog_crc32c(0, h + 4, 44);
    crc = wlog_crc32c(crc, h + WLOG_HEADER, pathlen + tolen + size);
    wire_put_u32(h + 48, crc);
    wire_put_u32(h + 52, 0);
    /* the magic last: until then the reader sees the terminator */
    wire_put_u32(h, WLOG_MAGIC);
}

int wlog_append(wlog *w, const wlog_record *rec)
{
    if (!w)
        return -ENOSPC;
    uint32_t pathlen = rec->path ? (uint32_t)strlen(rec->path) + 1 : 0;
    uint32_t tolen = rec->to ? (uint32_t)strlen(rec->to) + 1 : 0;
    uint32_t size = rec->type == WLOG_OP_WRITE ? rec->size : 0;
    uint64_t need = (uint64_t)WLOG_HEADER + pathlen + tolen + size + WLOG_TERMINATOR;
    uint64_t head = w->head;
    uint64_t skip = 0;
    if (ring_offset(head) + need > WLOG_CAPACITY)
        skip = WLOG_CAPACITY - ring_offset(head); /* wrap to the start */
    if (head - tail_get(w) + skip + need > WLOG_CAPACITY)
        return -ENOSPC;
    uint8_t *p = w->ring + ring_offset(head + skip);
    /* terminator first, then the body, then the header: a crash at any point leaves
     * either the old end or a record that fails its checks */
    memset(p + need - WLOG_TERMINATOR, 0, WLOG_TERMINATOR);
    if (pathlen)
        memcpy(p + WLOG_HEADER, rec->path, pathlen);
    if (tolen)
        memcpy(p + WLOG_HEADER + pathlen, rec->to, tolen);
    if (size)
        memcpy(p + WLOG_HEADER + pathlen + tolen, rec->data, size);
    wire_put_u32(p, 0);
    header_encode(p, rec, pathlen, tolen);
    if (skip)
        wire_put_u32(w->ring + ring_offset(head), WLOG_WRAP_MAGIC);
    w->head = head + skip + need - WLOG_TERMINATOR;
    return 0;
}

uint64_t wlog_size(wlog *w)
{
    return w ? w->head - tail_get(w) : 0;
}

uint64_t wlog_head(wlog *w)
{
    return w ? w->head : 0;
}

void wlog_cut(wlog *w, uint64_t pos)
{
    /* callers serialise cuts (memdb's merge lock); head only grows meanwhile */
    if (!w || pos <= tail_get(w))
        return;
    header_store_tail(w, pos);
}

int wlog_truncate(wlog *w)
{
    wlog_cut(w, w ? w->head : 0);
    return 0;
}

guint wlog_replay(wlog *w, bool (*fn)(void *user_data, const wlog_record *rec),
                  void *user_data, uint64_t *ret_bad_bytes)
{
    if (ret_bad_bytes)
        *ret_bad_bytes = 0;
    if (!w)
        return 0;
    guint count = 0;
    uint64_t tail = tail_get(w);
    uint64_t pos = tail;
    while (pos - tail < WLOG_CAPACITY) {
        uint64_t off = ring_offset(pos);
        if (WLOG_CAPACITY - off < WLOG_TERMINATOR)
            break;
        const uint8_t *h = w->ring + off;
        uint32_t magic = wire_get_u32(h);
        if (magic == WLOG_WRAP_MAGIC) {
            pos += WLOG_CAPACITY - off;
            continue;
        }
        if (magic != WLOG_MAGIC || WLOG_CAPACITY - off < WLOG_HEADER + WLOG_TERMINATOR) {
            if (magic != 0 && ret_bad_bytes)
                *ret_bad_bytes = 1;
            break;
        }
        uint64_t length = wire_get_u32(h + 4);
        uint64_t dsize = wire_get_u32(h + 32);
        uint64_t pathlen = wire_get_u32(h + 40);
        uint64_t tolen = wire_get_u32(h + 44);
        const char *path = (const char *)h + WLOG_HEADER;
        const char *to = path + pathlen;
        if (length != WLOG_HEADER + pathlen + tolen + dsize ||
            off + length + WLOG_TERMINATOR > WLOG_CAPACITY ||
            wlog_crc32c(wlog_crc32c(0, h + 4, 44), h + WLOG_HEADER, length - WLOG_HEADER) !=
                wire_get_u32(h + 48) ||
            pathlen == 0 || path[pathlen - 1] != '\0' || (tolen && to[tolen - 1] != '\0')) {
            if (ret_bad_bytes)
                *ret_bad_bytes = 1;
            break;
        }
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
        count++;
        if (!fn(user_data, &rec))
            break; /* this record and everything after it are dropped */
        pos += length;
    }
    /* appends continue here, overwriting whatever was not accepted */
    w->head = pos;
    memset(w->ring + ring_offset(pos), 0,
           MIN(WLOG_TERMINATOR, WLOG_CAPACITY - ring_offset(pos)));
    return count;
}
