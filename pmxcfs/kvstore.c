/*
 * kvstore: per-node key/value tables, the RRD table and the UPDATE payload.
 *
 * Values are immutable GBytes so readers (IPC GET_STATUS) take a reference and never
 * copy under the owner's lock.  The RRD dump is cached as GBytes and rebuilt when it is
 * older than 2 s or a value was set since; expiry happens while dumping, like the
 * reference, so an idle table costs nothing.
 */
#include "pmxcfs/kvstore.h"

#include <errno.h>
#include <string.h>

#include "pmxcfs/clog.h"

typedef struct kv_value {
    GBytes *value;
    uint64_t version;
} kv_value;

struct kvstore_table {
    GHashTable *entries; /* key -> kv_value */
};

static void kv_value_free(gpointer p)
{
    kv_value *v = p;
    g_bytes_unref(v->value);
    g_free(v);
}

kvstore_table *kvstore_table_new(void)
{
    kvstore_table *t = g_new0(kvstore_table, 1);
    t->entries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, kv_value_free);
    return t;
}

void kvstore_table_free(kvstore_table *t)
{
    if (!t)
        return;
    g_hash_table_destroy(t->entries);
    g_free(t);
}

void kvstore_table_set(kvstore_table *t, const char *key, const void *value, size_t len)
{
    if (len == 0) {
        g_hash_table_remove(t->entries, key);
        return;
    }
    kv_value *v = g_hash_table_lookup(t->entries, key);
    if (v) {
        g_bytes_unref(v->value);
        v->value = g_bytes_new(value, len);
        v->version++;
        return;
    }
    v = g_new0(kv_value, 1);
    v->value = g_bytes_new(value, len);
    g_hash_table_insert(t->entries, g_strdup(key), v);
}

int kvstore_table_get(kvstore_table *t, const char *key, GBytes **ret_value)
{
    kv_value *v = g_hash_table_lookup(t->entries, key);
    if (!v)
        return -ENOENT;
    *ret_value = g_bytes_ref(v->value);
    return 0;
}

int64_t kvstore_table_version(kvstore_table *t, const char *key)
{
    kv_value *v = g_hash_table_lookup(t->entries, key);
    return v ? (int64_t)v->version : -ENOENT;
}

guint kvstore_table_size(kvstore_table *t)
{
    return g_hash_table_size(t->entries);
}

static gint str_cmp(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of a hash table, sorted; the strings belong to the table. */
static GPtrArray *sorted_keys(GHashTable *h)
{
    GPtrArray *keys = g_ptr_array_sized_new(g_hash_table_size(h));
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, h);
    while (g_hash_table_iter_next(&it, &key, NULL))
        g_ptr_array_add(keys, key);
    g_ptr_array_sort(keys, str_cmp);
    return keys;
}

void kvstore_table_append_versions(kvstore_table *t, GString *out)
{
    g_autoptr(GPtrArray) keys = sorted_keys(t->entries);
    for (guint i = 0; i < keys->len; i++) {
        const char *key = keys->pdata[i];
        kv_value *v = g_hash_table_lookup(t->entries, key);
        if (i)
            g_string_append(out, ",\n");
        g_string_append_c(out, '"');
        clog_json_escape(out, key);
        g_string_append_printf(out, "\": %" G_GUINT64_FORMAT, v->version);
    }
}

void kvstore_table_foreach(kvstore_table *t, kvstore_table_fn fn, void *user_data)
{
    g_autoptr(GPtrArray) keys = sorted_keys(t->entries);
    for (guint i = 0; i < keys->len; i++) {
        kv_value *v = g_hash_table_lookup(t->entries, keys->pdata[i]);
        fn(keys->pdata[i], v->value, user_data);
    }
}

/* ---------------------------------------------------------------------------------- */
/* RRD */

#define USEC_PER_SEC G_GINT64_CONSTANT(1000000)

typedef struct rrd_value {
    char *value;
    int64_t time;
} rrd_value;

struct kvstore_rrd {
    GHashTable *entries; /* key -> rrd_value */
    GBytes *dump;        /* cached dump, NULL if invalid */
    int64_t dump_time;
};

static void rrd_value_free(gpointer p)
{
    rrd_value *v = p;
    g_free(v->value);
    g_free(v);
}

kvstore_rrd *kvstore_rrd_new(void)
{
    kvstore_rrd *r = g_new0(kvstore_rrd, 1);
    r->entries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, rrd_value_free);
    return r;
}

void kvstore_rrd_free(kvstore_rrd *r)
{
    if (!r)
        return;
    g_hash_table_destroy(r->entries);
    if (r->dump)
        g_bytes_unref(r->dump);
    g_free(r);
}

int kvstore_rrd_set(kvstore_rrd *r, const char *key, const void *value, size_t len, int64_t now)
{
    if (len == 0 || len >= CFS_MAX_RRD_VALUE || ((const char *)value)[len - 1] != '\0')
        return -EINVAL;
    rrd_value *v = g_new0(rrd_value, 1);
    v->value = g_strdup(value);
    v->time = now;
    g_hash_table_replace(r->entries, g_strdup(key), v);
    g_clear_pointer(&r->dump, g_bytes_unref);
    return 0;
}

GBytes *kvstore_rrd_dump(kvstore_rrd *r, int64_t now)
{
    if (r->dump && now - r->dump_time < CFS_RRD_DUMP_CACHE_SECONDS * USEC_PER_SEC &&
        now >= r->dump_time)
        return g_bytes_ref(r->dump);

    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, r->entries);
    while (g_hash_table_iter_next(&it, NULL, &value))
        if (now - ((rrd_value *)value)->time > CFS_RRD_EXPIRE_SECONDS * USEC_PER_SEC)
            g_hash_table_iter_remove(&it);

    g_autoptr(GPtrArray) keys = sorted_keys(r->entries);
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < keys->len; i++) {
        rrd_value *v = g_hash_table_lookup(r->entries, keys->pdata[i]);
        g_string_append_printf(s, "%s:%s\n", (const char *)keys->pdata[i], v->value);
    }
    if (r->dump)
        g_bytes_unref(r->dump);
    r->dump = g_string_free_to_bytes(s);
    r->dump_time = now;
    return g_bytes_ref(r->dump);
}

guint kvstore_rrd_size(kvstore_rrd *r)
{
    return g_hash_table_size(r->entries);
}

/* ---------------------------------------------------------------------------------- */
/* UPDATE payload */

int kvstore_update_encode(const char *key, const void *value, size_t len, GBytes **ret_payload)
{
    size_t klen = strlen(key);
    if (klen >= CFS_STATUS_KEY_FIELD)
        return -ENAMETOOLONG;
    uint8_t *p = g_malloc0(CFS_STATUS_KEY_FIELD + len);
    memcpy(p, key, klen);
    if (len)
        memcpy(p + CFS_STATUS_KEY_FIELD, value, len);
    *ret_payload = g_bytes_new_take(p, CFS_STATUS_KEY_FIELD + len);
    return 0;
}

int kvstore_update_decode(const void *payload, size_t len, const char **ret_key,
                          const void **ret_value, size_t *ret_len)
{
    if (len < CFS_STATUS_KEY_FIELD || !memchr(payload, '\0', CFS_STATUS_KEY_FIELD))
        return -EINVAL;
    *ret_key = payload;
    *ret_value = (const uint8_t *)payload + CFS_STATUS_KEY_FIELD;
    *ret_len = len - CFS_STATUS_KEY_FIELD;
    return 0;
}
