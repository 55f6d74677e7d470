/*
 * clog: the cluster log ring, its entries, deduplication, merge and JSON dump.
 *
 * The ring is kept in exactly the byte layout that travels as the kvstore STATE
 * (spec §11.5), so sending the state is a sorted copy and merging reads other nodes'
 * rings with the same reader as our own.  All multi-byte fields are little-endian and
 * accessed field by field.  Reading a ring follows the reference's rules (start at
 * cpos, follow prev, skip the window after cpos that a wrap may have half overwritten,
 * stop when prev points into the reused range) with two additions that only ever
 * refuse garbage: every entry is validated before use, and a walk that would cross
 * from the old generation (offsets above cpos) back into the new one stops.
 * Comparisons of times, digests and uids are unsigned (W10).
 */
#include "pmxcfs/clog.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pmxcfs/wire.h"

/* Entry field offsets (spec §11.5). */
#define E_PREV         0
#define E_NEXT         4
#define E_UID          8
#define E_TIME         12
#define E_NODE_DIGEST  16
#define E_IDENT_DIGEST 24
#define E_PID          32
#define E_PRIORITY     36
#define E_NODE_LEN     37
#define E_IDENT_LEN    38
#define E_TAG_LEN      39
#define E_MSG_LEN      40

#define FNV_BASIS UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)

typedef struct dedup_record {
    uint32_t time;
    uint32_t uid;
} dedup_record;

struct clog {
    uint8_t *ring; /* ring_size bytes, wire layout */
    uint32_t ring_size;
    GHashTable *dedup; /* uint64 node digest -> dedup_record */
    uint32_t next_uid;
};

static uint32_t align8(uint32_t v)
{
    return (v + 7u) & ~7u;
}

/* ---------------------------------------------------------------------------------- */
/* digests and text */

uint64_t clog_fnv1a(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = FNV_BASIS;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

uint64_t clog_fnv1a_str(const char *s)
{
    return clog_fnv1a(s, strlen(s) + 1);
}

char *clog_message_convert(const char *msg, size_t space)
{
    GString *out = g_string_sized_new(MIN(strlen(msg) + 16, space));
    size_t limit = space > 7 ? space - 7 : 0;
    if (g_utf8_validate(msg, -1, NULL)) {
        for (const char *p = msg; *p && out->len < limit; p = g_utf8_next_char(p)) {
            gunichar c = g_utf8_get_char(p);
            if (c == '"')
                g_string_append(out, "\\\"");
            else if (c == '\\')
                g_string_append(out, "\\\\");
            else if (c < 32 || c == 127)
                g_string_append_printf(out, "#%03u", (unsigned)c);
            else if (c < 127)
                g_string_append_c(out, (char)c);
            else if (c <= 0xffff)
                g_string_append_printf(out, "\\u%04x", (unsigned)c);
            /* characters above U+FFFF are dropped */
        }
    } else {
        for (const unsigned char *p = (const unsigned char *)msg; *p && out->len < limit; p++) {
            if (*p == '"')
                g_string_append(out, "\\\"");
            else if (*p == '\\')
                g_string_append(out, "\\\\");
            else if (*p < 32)
                g_string_append_printf(out, "#0%02u", (unsigned)*p);
            else if (*p < 127)
                g_string_append_c(out, (char)*p);
            else
                g_string_append_c(out, '?');
        }
    }
    return g_string_free(out, FALSE);
}

void clog_json_escape(GString *out, const char *s)
{
    bool utf8 = g_utf8_validate(s, -1, NULL);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"')
            g_string_append(out, "\\\"");
        else if (*p == '\\')
            g_string_append(out, "\\\\");
        else if (*p < 32 || *p == 127)
            g_string_append_printf(out, "\\u%04x", (unsigned)*p);
        else if (*p < 128 || utf8)
            g_string_append_c(out, (char)*p);
        else
            g_string_append_c(out, '?');
    }
}

/*
 * A stored message as a JSON string body.  Ours are already JSON-safe; a reference
 * node stores backslashes verbatim (W21), so a backslash that does not start \", \\ or
 * \uXXXX is doubled, and anything else that would break the JSON is escaped.
 */
static void json_escape_message(GString *out, const char *s)
{
    bool utf8 = g_utf8_validate(s, -1, NULL);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\') {
            if (p[1] == '"' || p[1] == '\\') {
                g_string_append_len(out, (const char *)p, 2);
                p++;
            } else if (p[1] == 'u' && g_ascii_isxdigit(p[2]) && g_ascii_isxdigit(p[3]) &&
                       g_ascii_isxdigit(p[4]) && g_ascii_isxdigit(p[5])) {
                g_string_append_len(out, (const char *)p, 6);
                p += 5;
            } else {
                g_string_append(out, "\\\\");
            }
        } else if (*p == '"') {
            g_string_append(out, "\\\"");
        } else if (*p < 32 || *p == 127) {
            g_string_append_printf(out, "\\u%04x", (unsigned)*p);
        } else if (*p < 128 || utf8) {
            g_string_append_c(out, (char)*p);
        } else {
            g_string_append_c(out, '?');
        }
    }
}

/* ---------------------------------------------------------------------------------- */
/* entries */

int clog_entry_parse(const void *data, size_t len, clog_entry_info *ret_info)
{
    const uint8_t *e = data;
    if (len < CFS_CLOG_ENTRY_HEADER || len > CFS_CLOG_MAX_ENTRY_SIZE)
        return -EINVAL;
    uint32_t node_len = e[E_NODE_LEN], ident_len = e[E_IDENT_LEN], tag_len = e[E_TAG_LEN];
    uint64_t msg_len = wire_get_u32(e + E_MSG_LEN);
    uint64_t nominal = CFS_CLOG_ENTRY_HEADER + (uint64_t)node_len + ident_len + tag_len + msg_len;
    if (nominal != len || node_len == 0 || ident_len == 0 || tag_len == 0 || msg_len == 0)
        return -EINVAL;
    const char *node = (const char *)e + CFS_CLOG_ENTRY_STRINGS;
    const char *ident = node + node_len;
    const char *tag = ident + ident_len;
    const char *msg = tag + tag_len;
    if (node[node_len - 1] || ident[ident_len - 1] || tag[tag_len - 1] || msg[msg_len - 1])
        return -EINVAL;
    if (ret_info) {
        *ret_info = (clog_entry_info){
            .uid = wire_get_u32(e + E_UID),
            .time = wire_get_u32(e + E_TIME),
            .node_digest = wire_get_u64(e + E_NODE_DIGEST),
            .ident_digest = wire_get_u64(e + E_IDENT_DIGEST),
            .pid = wire_get_u32(e + E_PID),
            .priority = e[E_PRIORITY],
            .node = node,
            .ident = ident,
            .tag = tag,
            .msg = msg,
            .size = (uint32_t)len,
        };
    }
    return 0;
}

int clog_entry_pack(uint32_t time, uint32_t uid, uint32_t pid, uint8_t priority, const char *node,
                    const char *ident, const char *tag, const char *msg, GBytes **ret_entry)
{
    if (priority > 7)
        return -EINVAL;
    size_t max = CFS_CLOG_MAX_FIELD - 1;
    size_t node_len = MIN(strlen(node), max) + 1;
    size_t ident_len = MIN(strlen(ident), max) + 1;
    size_t tag_len = MIN(strlen(tag), max) + 1;
    size_t space = CFS_CLOG_MAX_ENTRY_SIZE - CFS_CLOG_ENTRY_HEADER - node_len - ident_len - tag_len;
    g_autofree char *conv = clog_message_convert(msg, space);
    size_t msg_len = strlen(conv) + 1;
    size_t size = CFS_CLOG_ENTRY_HEADER + node_len + ident_len + tag_len + msg_len;
    g_assert(size <= CFS_CLOG_MAX_ENTRY_SIZE);

    uint8_t *e = g_malloc0(size);
    char *s = (char *)e + CFS_CLOG_ENTRY_STRINGS;
    memcpy(s, node, node_len - 1);
    uint64_t node_digest = clog_fnv1a(s, node_len);
    s += node_len;
    memcpy(s, ident, ident_len - 1);
    uint64_t ident_digest = clog_fnv1a(s, ident_len);
    s += ident_len;
    memcpy(s, tag, tag_len - 1);
    s += tag_len;
    memcpy(s, conv, msg_len);

    wire_put_u32(e + E_UID, uid);
    wire_put_u32(e + E_TIME, time);
    wire_put_u64(e + E_NODE_DIGEST, node_digest);
    wire_put_u64(e + E_IDENT_DIGEST, ident_digest);
    wire_put_u32(e + E_PID, pid);
    e[E_PRIORITY] = priority;
    e[E_NODE_LEN] = (uint8_t)node_len;
    e[E_IDENT_LEN] = (uint8_t)ident_len;
    e[E_TAG_LEN] = (uint8_t)tag_len;
    wire_put_u32(e + E_MSG_LEN, (uint32_t)msg_len);
    *ret_entry = g_bytes_new_take(e, size);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* ring reading */

typedef struct ring_iter {
    const uint8_t *ring;
    uint32_t size;
    uint32_t cpos;
    uint32_t pos; /* next entry to read, 0 = done */
    guint steps;
} ring_iter;

/* @ring must hold at least 8 bytes and its size field must equal its length. */
static void ring_iter_init(ring_iter *it, const uint8_t *ring)
{
    it->ring = ring;
    it->size = wire_get_u32(ring);
    it->cpos = wire_get_u32(ring + 4);
    it->pos = it->cpos;
    it->steps = 0;
}

/* The next entry, newest first; false when the walk ends. */
static bool ring_iter_next(ring_iter *it, const uint8_t **ret_entry, clog_entry_info *ret_info)
{
    uint32_t pos = it->pos;
    if (pos < CFS_CLOG_RING_HEADER)
        return false;
    /* the window after cpos may have been half overwritten by the newest entry */
    if (pos > it->cpos && (uint64_t)pos <= (uint64_t)it->cpos + CFS_CLOG_MAX_ENTRY_SIZE)
        return false;
    if (++it->steps > it->size / CFS_CLOG_ENTRY_HEADER + 1)
        return false;
    if ((uint64_t)pos + CFS_CLOG_ENTRY_HEADER > it->size)
        return false;
    const uint8_t *e = it->ring + pos;
    uint64_t nominal = CFS_CLOG_ENTRY_HEADER + (uint64_t)e[E_NODE_LEN] + e[E_IDENT_LEN] +
                       e[E_TAG_LEN] + wire_get_u32(e + E_MSG_LEN);
    if (nominal > CFS_CLOG_MAX_ENTRY_SIZE || pos + nominal > it->size)
        return false;
    if (clog_entry_parse(e, (size_t)nominal, ret_info) < 0)
        return false;

    uint32_t prev = wire_get_u32(e + E_PREV);
    if (prev == 0 || (prev > pos && prev <= it->cpos) || (pos > it->cpos && prev <= it->cpos))
        it->pos = 0; /* older entries were reused by newer ones */
    else
        it->pos = prev;
    *ret_entry = e;
    return true;
}

/* ---------------------------------------------------------------------------------- */
/* ring writing */

static void ring_init(uint8_t *ring, uint32_t size)
{
    memset(ring, 0, size);
    wire_put_u32(ring, size);
    wire_put_u32(ring + 4, 0);
}

/* Append a copy of a validated entry of @len bytes, overwriting the oldest ones. */
static void ring_append(uint8_t *ring, uint32_t size, const uint8_t *entry, uint32_t len)
{
    uint32_t real = align8(len);
    uint32_t cpos = wire_get_u32(ring + 4);
    uint32_t pos = CFS_CLOG_RING_HEADER;
    if (cpos) {
        pos = wire_get_u32(ring + cpos + E_NEXT);
        if ((uint64_t)pos + real >= size || pos < CFS_CLOG_RING_HEADER)
            pos = CFS_CLOG_RING_HEADER;
    }
    memcpy(ring + pos, entry, len);
    memset(ring + pos + len, 0, real - len);
    wire_put_u32(ring + pos + E_PREV, cpos);
    wire_put_u32(ring + pos + E_NEXT, pos + real);
    wire_put_u32(ring + 4, pos);
}

typedef struct sort_item {
    const uint8_t *entry;
    clog_entry_info info;
} sort_item;

static int key_cmp(const clog_entry_info *a, const clog_entry_info *b)
{
    if (a->time != b->time)
        return a->time < b->time ? -1 : 1;
    if (a->node_digest != b->node_digest)
        return a->node_digest < b->node_digest ? -1 : 1;
    if (a->uid != b->uid)
        return a->uid < b->uid ? -1 : 1;
    return 0;
}

static gint sort_item_cmp(gconstpointer a, gconstpointer b)
{
    return key_cmp(&((const sort_item *)a)->info, &((const sort_item *)b)->info);
}

/* A new ring of @size bytes holding @items in ascending key order (equal keys once). */
static uint8_t *ring_from_items(GArray *items, uint32_t size)
{
    g_array_sort(items, sort_item_cmp);
    uint8_t *ring = g_malloc(size);
    ring_init(ring, size);
    for (guint i = 0; i < items->len; i++) {
        sort_item *it = &g_array_index(items, sort_item, i);
        if (i > 0 && sort_item_cmp(it, &g_array_index(items, sort_item, i - 1)) == 0)
            continue;
        ring_append(ring, size, it->entry, it->info.size);
    }
    return ring;
}

/* ---------------------------------------------------------------------------------- */
/* the log */

clog *clog_new(uint32_t ring_size)
{
    g_return_val_if_fail(ring_size >= CFS_CLOG_RING_HEADER + 2 * CFS_CLOG_MAX_ENTRY_SIZE, NULL);
    clog *cl = g_new0(clog, 1);
    cl->ring_size = ring_size;
    cl->ring = g_malloc(ring_size);
    ring_init(cl->ring, ring_size);
    cl->dedup = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    return cl;
}

void clog_free(clog *cl)
{
    if (!cl)
        return;
    g_hash_table_destroy(cl->dedup);
    g_free(cl->ring);
    g_free(cl);
}

/* Record (time, uid) for the node if newer; false if not newer (a duplicate). */
static bool dedup_update(GHashTable *dedup, const clog_entry_info *info)
{
    dedup_record *r = g_hash_table_lookup(dedup, &info->node_digest);
    if (r) {
        if (info->time < r->time || (info->time == r->time && info->uid <= r->uid))
            return false;
        r->time = info->time;
        r->uid = info->uid;
        return true;
    }
    uint64_t *key = g_new(uint64_t, 1);
    *key = info->node_digest;
    r = g_new(dedup_record, 1);
    r->time = info->time;
    r->uid = info->uid;
    g_hash_table_insert(dedup, key, r);
    return true;
}

int clog_insert(clog *cl, const void *entry, size_t len)
{
    clog_entry_info info;
    if (clog_entry_parse(entry, len, &info) < 0)
        return -EINVAL;
    if (!dedup_update(cl->dedup, &info))
        return -EEXIST;
    ring_append(cl->ring, cl->ring_size, entry, (uint32_t)len);
    return 0;
}

int clog_add(clog *cl, uint32_t time, uint32_t pid, uint8_t priority, const char *node,
             const char *ident, const char *tag, const char *msg, GBytes **ret_entry)
{
    g_autoptr(GBytes) e = NULL;
    int r = clog_entry_pack(time, cl->next_uid + 1, pid, priority, node, ident, tag, msg, &e);
    if (r < 0)
        return r;
    cl->next_uid++;
    gsize len;
    const void *data = g_bytes_get_data(e, &len);
    r = clog_insert(cl, data, len);
    if (r < 0)
        return r;
    if (ret_entry)
        *ret_entry = g_steal_pointer(&e);
    return 0;
}

GBytes *clog_state_get(clog *cl)
{
    g_autoptr(GArray) items = g_array_new(FALSE, FALSE, sizeof(sort_item));
    ring_iter it;
    ring_iter_init(&it, cl->ring);
    sort_item item;
    while (ring_iter_next(&it, &item.entry, &item.info))
        g_array_append_val(items, item);
    uint8_t *sorted = ring_from_items(items, cl->ring_size);
    g_free(cl->ring);
    cl->ring = sorted;
    return g_bytes_new(cl->ring, cl->ring_size);
}

int clog_state_validate(const void *data, size_t len)
{
    if (!data || len <= CFS_CLOG_RING_HEADER || len > G_MAXUINT32)
        return -EINVAL;
    if (wire_get_u32(data) != len)
        return -EINVAL;
    return 0;
}

void clog_merge(clog *cl, GBytes *const *states, size_t n, size_t local_index)
{
    g_return_if_fail(local_index < n);
    g_autofree ring_iter *iters = g_new0(ring_iter, n ? n : 1);
    g_autofree const uint8_t **cur = g_new0(const uint8_t *, n ? n : 1);
    g_autofree clog_entry_info *cur_info = g_new0(clog_entry_info, n ? n : 1);

    for (size_t i = 0; i < n; i++) {
        const uint8_t *ring = NULL;
        if (i == local_index) {
            ring = cl->ring;
        } else if (states[i]) {
            gsize len;
            const void *data = g_bytes_get_data(states[i], &len);
            if (clog_state_validate(data, len) == 0)
                ring = data;
        }
        if (!ring)
            continue;
        ring_iter_init(&iters[i], ring);
        if (!ring_iter_next(&iters[i], &cur[i], &cur_info[i]))
            cur[i] = NULL;
    }

    g_autoptr(GArray) taken = g_array_new(FALSE, FALSE, sizeof(sort_item));
    g_autoptr(GHashTable) seen =
        g_hash_table_new_full(g_bytes_hash, g_bytes_equal, (GDestroyNotify)g_bytes_unref, NULL);
    GHashTable *dedup = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    uint64_t total = 0;
    uint64_t limit = (uint64_t)cl->ring_size - CFS_CLOG_RING_HEADER - CFS_CLOG_MAX_ENTRY_SIZE;

    for (;;) {
        ssize_t best = -1;
        for (size_t i = 0; i < n; i++)
            if (cur[i] && (best < 0 || cur_info[i].time > cur_info[best].time))
                best = (ssize_t)i;
        if (best < 0)
            break;
        clog_entry_info *info = &cur_info[best];
        uint8_t key[16];
        wire_put_u32(key, info->time);
        wire_put_u64(key + 4, info->node_digest);
        wire_put_u32(key + 12, info->uid);
        g_autoptr(GBytes) kb = g_bytes_new(key, sizeof(key));
        if (!g_hash_table_contains(seen, kb)) {
            g_hash_table_add(seen, g_bytes_ref(kb));
            sort_item item = {.entry = cur[best], .info = *info};
            g_array_append_val(taken, item);
            dedup_update(dedup, info);
            total += align8(info->size);
            if (total >= limit)
                break;
        }
        if (!ring_iter_next(&iters[best], &cur[best], &cur_info[best]))
            cur[best] = NULL;
    }

    /* the entries point into the old rings: build the new one before freeing */
    uint8_t *merged = ring_from_items(taken, cl->ring_size);
    g_free(cl->ring);
    cl->ring = merged;
    g_hash_table_destroy(cl->dedup);
    cl->dedup = dedup;
}

void clog_dump_json(clog *cl, GString *out, const char *user, uint32_t max)
{
    if (max == 0)
        max = CFS_CLOG_DEFAULT_DUMP;
    bool filter = user && *user;
    uint64_t user_digest = filter ? clog_fnv1a_str(user) : 0;

    g_string_append(out, "{\n\"data\": [\n");
    ring_iter it;
    ring_iter_init(&it, cl->ring);
    const uint8_t *e;
    clog_entry_info info;
    uint32_t count = 0;
    while (count < max && ring_iter_next(&it, &e, &info)) {
        if (filter && info.ident_digest != user_digest)
            continue;
        if (count++)
            g_string_append(out, ",\n");
        g_string_append_printf(out, "{\"uid\": %u, \"time\": %u, \"pri\": %u, \"tag\": \"",
                               info.uid, info.time, (unsigned)info.priority);
        clog_json_escape(out, info.tag);
        g_string_append_printf(out, "\", \"pid\": %u, \"node\": \"", info.pid);
        clog_json_escape(out, info.node);
        g_string_append(out, "\", \"user\": \"");
        clog_json_escape(out, info.ident);
        g_string_append(out, "\", \"msg\": \"");
        json_escape_message(out, info.msg);
        g_string_append(out, "\"}");
    }
    if (count)
        g_string_append_c(out, '\n');
    g_string_append(out, "]\n}\n");
}

guint clog_count(clog *cl)
{
    ring_iter it;
    ring_iter_init(&it, cl->ring);
    const uint8_t *e;
    clog_entry_info info;
    guint n = 0;
    while (ring_iter_next(&it, &e, &info))
        n++;
    return n;
}
