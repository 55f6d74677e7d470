/*
 * kvstore: the data structures of the status key/value store (spec §11.1, §11.6) and
 * the payloads of its replication messages (spec §10.6).
 *
 * Owns two kinds of tables: a per-node key/value table (key -> value bytes + version,
 * where a new key has version 0 and every update adds one) and the RRD table (key ->
 * value string + receive time, dumped as `<key>:<value>` lines).  It knows nothing
 * about nodes, routing or transport: the status layer decides which table a key goes
 * to and who broadcasts it.  Not thread-safe: the owner serialises access.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pmxcfs/cfs-limits.h"

/* ---------------------------------------------------------------------------------- */
/* key/value table of one node */

typedef struct kvstore_table kvstore_table;

kvstore_table *kvstore_table_new(void);
void kvstore_table_free(kvstore_table *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kvstore_table, kvstore_table_free)

/* Store a copy of @len bytes under @key, or delete @key when @len is 0. */
void kvstore_table_set(kvstore_table *t, const char *key, const void *value, size_t len);
/* 0 with a new reference to the value, or -ENOENT. */
int kvstore_table_get(kvstore_table *t, const char *key, GBytes **ret_value);
/* Version of @key (0 for a new key, +1 per update), or -ENOENT. */
int64_t kvstore_table_version(kvstore_table *t, const char *key);
guint kvstore_table_size(kvstore_table *t);

/* Append the `.version` entries (spec §2.3): `"<key>": <version>` joined by ",\n",
 * keys sorted, JSON-escaped. */
void kvstore_table_append_versions(kvstore_table *t, GString *out);

/* Call @fn for every entry, keys sorted (re-broadcast after a state exchange). */
typedef void (*kvstore_table_fn)(const char *key, GBytes *value, void *user_data);
void kvstore_table_foreach(kvstore_table *t, kvstore_table_fn fn, void *user_data);

/* ---------------------------------------------------------------------------------- */
/* RRD table (spec §2.7, §11.6); times are microseconds of a monotonic clock */

typedef struct kvstore_rrd kvstore_rrd;

kvstore_rrd *kvstore_rrd_new(void);
void kvstore_rrd_free(kvstore_rrd *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kvstore_rrd, kvstore_rrd_free)

/*
 * Store the value received for `rrd/<key>` at @now.  The value must be NUL-terminated
 * and shorter than CFS_MAX_RRD_VALUE bytes, else -EINVAL (the caller ignores it).
 */
int kvstore_rrd_set(kvstore_rrd *r, const char *key, const void *value, size_t len, int64_t now);
/*
 * The dump: one `<key>:<value>\n` line per value younger than 300 s (older ones are
 * dropped now), keys sorted.  Reused for 2 s unless a value was set in between.
 * Returns a new reference; the text has no trailing NUL.
 */
GBytes *kvstore_rrd_dump(kvstore_rrd *r, int64_t now);
guint kvstore_rrd_size(kvstore_rrd *r);

/* ---------------------------------------------------------------------------------- */
/* message payloads (spec §10.6) */

/*
 * UPDATE: a 256-byte key field (NUL-terminated, zero-padded) followed by the value.
 * -ENAMETOOLONG if the key does not fit with its NUL.
 */
int kvstore_update_encode(const char *key, const void *value, size_t len, GBytes **ret_payload);
/*
 * Decode an UPDATE: -EINVAL if shorter than 256 bytes or without a NUL in the key
 * field.  The returned pointers point into @payload.
 */
int kvstore_update_decode(const void *payload, size_t len, const char **ret_key,
                          const void **ret_value, size_t *ret_len);
