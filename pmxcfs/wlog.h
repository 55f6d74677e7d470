/*
 * wlog: the write log, a redo log for file data writes beside the database.
 *
 * A WRITE operation (data at an offset, or a truncate) is made durable by appending one
 * record here instead of rewriting the file's whole blob in SQLite: writing a 1 MiB file
 * in 4 KiB chunks then costs O(size), not O(size^2) (spec W4).  The database catches up
 * at the next SQLite transaction, which writes every file touched since the last one,
 * after which the log is truncated.  Records carry the global version they produced;
 * on open, the records that continue the database's version are replayed, in order,
 * and the rest is discarded.  Durability equals SQLite's WAL with synchronous=NORMAL:
 * a record survives a process crash (it is in the page cache once write() returned),
 * not necessarily a power loss.  Each record is checksummed (CRC-32C).
 *
 * File: "<database>.wlog", mode 0600, little-endian records:
 *   0 magic u32 ("PXWL")  4 length u32 (record, header included)  8 version u64
 *   16 writer u32  20 mtime u32  24 inode u64  32 offset u32  36 len u32
 *   40 new size u32  44 flags u32 (1 = truncate)  48 crc32c u32 (of bytes 0..47 + data)
 *   52 reserved u32  56 data[len]
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define WLOG_HEADER 56
#define WLOG_FLAG_TRUNCATE 1u

typedef struct wlog wlog;

typedef struct wlog_record {
    uint64_t version;
    uint32_t writer;
    uint32_t mtime;
    uint64_t inode;
    uint32_t offset;
    uint32_t len;
    uint32_t new_size;
    uint32_t flags;
    const uint8_t *data;
} wlog_record;

/* Open (creating) the log of database @db_path.  NULL with @error on failure. */
wlog *wlog_open(const char *db_path, GError **error);
void wlog_free(wlog *w);

/* Append one record.  0 or -errno (the caller must then persist another way). */
int wlog_append(wlog *w, const wlog_record *rec);
/* Bytes currently in the log. */
uint64_t wlog_size(wlog *w);
/* Empty the log (after the database caught up).  0 or -errno. */
int wlog_truncate(wlog *w);

/*
 * Read the records from the start; @fn is called for each valid one in order and may
 * stop the scan by returning false.  Returns the number of records passed to @fn; a
 * torn or corrupt tail ends the scan (*ret_bad_bytes gets its length).
 */
guint wlog_replay(wlog *w, bool (*fn)(void *user_data, const wlog_record *rec),
                  void *user_data, uint64_t *ret_bad_bytes);

/* CRC-32C (Castagnoli), exposed for tests. */
uint32_t wlog_crc32c(uint32_t crc, const void *data, size_t len);
