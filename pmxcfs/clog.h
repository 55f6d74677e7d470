/*
 * clog: the cluster log (spec §11.5).
 *
 * Owns one ring of log entries in the reference's byte layout (it is the STATE payload
 * of the kvstore group and is merged byte for byte with reference nodes), the
 * per-node deduplication table, the process-local uid counter, the FNV-1a digests,
 * the conversion of messages to JSON-safe ASCII and the JSON dump.
 *
 * Invariants:
 *   - the ring buffer always has the wire layout: u32 size, u32 cpos, entries; every
 *     entry in it was validated before it was copied in;
 *   - entries are stored 8-byte aligned, each with prev = the previous newest entry;
 *   - an entry is inserted only if its (time, uid) is newer than the newest one seen
 *     from its node (by node digest), so replays and merges never duplicate entries.
 *
 * Everything coming from the network (LOG payloads, rings of other nodes) is parsed
 * with bounds checks and rejected with -EINVAL; nothing is ever cast to a struct.
 * Not thread-safe: the owner (status) serialises access.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pmxcfs/cfs-limits.h"

typedef struct clog clog;

/* A decoded entry; the strings point into the entry's bytes. */
typedef struct clog_entry_info {
    uint32_t uid;
    uint32_t time;
    uint64_t node_digest;
    uint64_t ident_digest;
    uint32_t pid;
    uint8_t priority;
    const char *node;
    const char *ident;
    const char *tag;
    const char *msg;
    uint32_t size; /* nominal size: 48 + the four string lengths */
} clog_entry_info;

/* FNV-1a 64 over @len bytes (basis 0xcbf29ce484222325, prime 0x100000001b3). */
uint64_t clog_fnv1a(const void *data, size_t len);
/* FNV-1a 64 of a string including its terminating NUL, as the entries use it. */
uint64_t clog_fnv1a_str(const char *s);

/*
 * The stored form of a message (spec §11.5): JSON-safe ASCII, with `\` escaped as
 * `\\` (W21).  @space is the room for the message including its NUL in the entry;
 * conversion stops 7 bytes before it.  Returns a new string.
 */
char *clog_message_convert(const char *msg, size_t space);

/*
 * Build an entry: node, ident and tag are truncated to 254 bytes, the message is
 * converted and cut to fit a 4096-byte entry.  prev/next are 0.  Returns 0 with the
 * entry in @ret_entry (its length is the nominal size), or -EINVAL if @priority > 7.
 */
int clog_entry_pack(uint32_t time, uint32_t uid, uint32_t pid, uint8_t priority, const char *node,
                    const char *ident, const char *tag, const char *msg, GBytes **ret_entry);

/*
 * Validate a received entry (a kvstore LOG payload): at least 48 bytes, exactly its
 * nominal size (at most 4096), each string NUL-terminated at its declared length.
 * Returns 0 and fills @ret_info (may be NULL), or -EINVAL.
 */
int clog_entry_parse(const void *data, size_t len, clog_entry_info *ret_info);

/* An empty log whose ring has @ring_size bytes (CFS_CLOG_RING_SIZE; tests use less;
 * at least CFS_CLOG_RING_HEADER + 2 * CFS_CLOG_MAX_ENTRY_SIZE). */
clog *clog_new(uint32_t ring_size);
void clog_free(clog *cl);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(clog, clog_free)

/*
 * Insert a copy of a validated entry, with deduplication.  Returns 0 when inserted,
 * -EEXIST when it is not newer than what was seen from its node ("ignore insert of
 * duplicate cluster log"), -EINVAL when it does not parse.
 */
int clog_insert(clog *cl, const void *entry, size_t len);

/*
 * Create an entry with the next uid of this process and insert it.  On success (0) the
 * entry is returned in @ret_entry (may be NULL) for broadcasting; -EINVAL for a bad
 * priority, -EEXIST if deduplication dropped it.
 */
int clog_add(clog *cl, uint32_t time, uint32_t pid, uint8_t priority, const char *node,
             const char *ident, const char *tag, const char *msg, GBytes **ret_entry);

/* The ring rewritten in ascending (time, node digest, uid) order: the STATE payload. */
GBytes *clog_state_get(clog *cl);
/* A received state is usable if it is longer than 8 bytes and as long as its size
 * field says: 0 or -EINVAL. */
int clog_state_validate(const void *data, size_t len);

/*
 * Merge the rings of all members (spec §11.5), in member order.  @states[@local_index]
 * is replaced by the current local ring; NULL or invalid states are ignored.  The
 * merged ring and dedup table replace the local ones.
 */
void clog_merge(clog *cl, GBytes *const *states, size_t n, size_t local_index);

/*
 * Append the JSON dump (spec §2.6) to @out: newest first, at most @max entries (0 =
 * CFS_CLOG_DEFAULT_DUMP), only entries whose ident is @user when @user is non-empty.
 */
void clog_dump_json(clog *cl, GString *out, const char *user, uint32_t max);

/* Number of entries readable from the ring (tests, statistics). */
guint clog_count(clog *cl);

/* Append @s as the body of a JSON string (no quotes): `"`, `\` and control characters
 * escaped, bytes of invalid UTF-8 as `?`.  Shared with the status layer. */
void clog_json_escape(GString *out, const char *s);
