/*
 * wlog: the operation log, a redo log beside the database.
 *
 * Every applied operation is made durable by appending one record here (a memcpy into
 * a shared mapping, see wlog.c) instead of one SQLite transaction per operation: writing
 * a 1 MiB file in 4 KiB chunks then costs O(size), not O(size^2) (spec W4), and the
 * database work of many operations is grouped into one transaction (W26).  memdb merges
 * the changed rows into SQLite periodically and then truncates the log.  Records carry
 * the global version they produced; on open, the records that continue the database's
 * version are applied again, in order, with the same apply rules (which are
 * deterministic), and the rest is discarded.  Durability equals SQLite's WAL with
 * synchronous=NORMAL: a record survives a process crash (it is in the page cache once
 * wlog_append() returned), not necessarily a power loss.  Each record is checksummed
 * (CRC-32C).
 *
 * File: "<database>.wlog", mode 0600: a 4 KiB header (magic "PXWH", version, the tail
 * position, the ring size), then a ring of records (see wlog.c).  Little-endian records:
 *   0 magic u32 ("PXWL")  4 length u32 (record, header included)  8 version u64
 *   16 writer u32  20 mtime u32  24 type u32 (the DCDB subtype numbers)  28 offset u32
 *   32 size u32 (data bytes)  36 flags u32  40 pathlen u32  44 tolen u32 (with NULs)
 *   48 crc32c u32 (of bytes 0..47 and everything after the header)  52 reserved u32
 *   56 path, to, data
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define WLOG_HEADER 56
#define WLOG_FLAG_TRUNCATE 1u

/* Record types: the DCDB message subtypes of the same operations (spec §10.4). */
typedef enum {
    WLOG_OP_WRITE = 1,
    WLOG_OP_MKDIR = 2,
    WLOG_OP_DELETE = 3,
    WLOG_OP_RENAME = 4,
    WLOG_OP_CREATE = 5,
    WLOG_OP_MTIME = 6,
} wlog_op;

typedef struct wlog wlog;

typedef struct wlog_record {
    uint64_t version; /* global version after the operation */
    uint32_t writer;
    uint32_t mtime;   /* MTIME: the new mtime */
    wlog_op type;
    uint32_t offset;
    uint32_t flags;
    const char *path;
    const char *to; /* RENAME only */
    const void *data;
    uint32_t size;
} wlog_record;

/* Open (creating) the log of database @db_path.  NULL with @error on failure.  Call
 * wlog_replay() (which finds the end of the log) or wlog_truncate() before appending. */
wlog *wlog_open(const char *db_path, GError **error);
void wlog_free(wlog *w);

/* Append one record.  0 or -errno (the caller must then persist another way).  All
 * functions accept NULL (no log: appends fail with -ENOSPC, the rest does nothing). */
int wlog_append(wlog *w, const wlog_record *rec);
/* Bytes of records not yet merged. */
uint64_t wlog_size(wlog *w);
/* The position after the last record (an absolute byte count, for wlog_cut()). */
uint64_t wlog_head(wlog *w);
/* Drop every record before @pos (the database holds them now); a position at or before
 * the current tail changes nothing. */
void wlog_cut(wlog *w, uint64_t pos);
/* Drop every record.  0 or -errno. */
int wlog_truncate(wlog *w);

/*
 * Read the records from the start; @fn is called for each valid one in order and may
 * stop the scan by returning false (then that record and all after it are dropped).
 * Returns the number of records passed to @fn; a torn or corrupt tail ends the scan
 * (*ret_bad_bytes is then non-zero).  Afterwards appends continue at the end found.
 */
guint wlog_replay(wlog *w, bool (*fn)(void *user_data, const wlog_record *rec),
                  void *user_data, uint64_t *ret_bad_bytes);

/* CRC-32C (Castagnoli), exposed for tests. */
uint32_t wlog_crc32c(uint32_t crc, const void *data, size_t len);
