/*
 * test-clog: the cluster log (spec §11.5): FNV-1a vectors, entry layout and
 * validation, message conversion, the ring (append, wrap-around, reading rules),
 * deduplication, the sorted state, merging of several rings and the JSON dump.
 */
#include <errno.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "pmxcfs/clog.h"
#include "tests/unit/check-main.h"

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void set32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static GBytes *pack(uint32_t time, uint32_t uid, const char *node, const char *msg)
{
    GBytes *e = NULL;
    ck_assert_int_eq(clog_entry_pack(time, uid, 100, 6, node, "root@pam", "tag", msg, &e), 0);
    return e;
}

static int insert(clog *cl, GBytes *e)
{
    gsize len;
    const void *data = g_bytes_get_data(e, &len);
    return clog_insert(cl, data, len);
}

static int insert_new(clog *cl, uint32_t time, uint32_t uid, const char *node, const char *msg)
{
    g_autoptr(GBytes) e = pack(time, uid, node, msg);
    return insert(cl, e);
}

static char *dump(clog *cl, const char *user, uint32_t max)
{
    GString *s = g_string_new(NULL);
    clog_dump_json(cl, s, user, max);
    return g_string_free(s, FALSE);
}

/* Parse a dump and return its "data" array (the parser must accept it). */
static JsonArray *dump_entries(JsonParser *p, const char *json)
{
    g_autoptr(GError) err = NULL;
    ck_assert_msg(json_parser_load_from_data(p, json, -1, &err), "invalid JSON: %s\n%s",
                  err ? err->message : "", json);
    return json_object_get_array_member(json_node_get_object(json_parser_get_root(p)), "data");
}

/* ---------------------------------------------------------------------------------- */

START_TEST(test_fnv_vectors)
{
    ck_assert_uint_eq(clog_fnv1a_str("root@pam"), UINT64_C(0x0bf69a5dbf95bb61));
    ck_assert_uint_eq(clog_fnv1a_str("pmxa"), UINT64_C(0xb6de36428cdca5d3));
    ck_assert_uint_eq(clog_fnv1a_str(""), UINT64_C(0xaf63bd4c8601b7df));
    ck_assert_uint_eq(clog_fnv1a("", 0), UINT64_C(0xcbf29ce484222325));
}
END_TEST

START_TEST(test_entry_layout)
{
    GBytes *e = NULL;
    ck_assert_int_eq(
        clog_entry_pack(1700000100, 7, 1234, 5, "pmxa", "root@pam", "cluster", "hello log", &e), 0);
    gsize len;
    const uint8_t *b = g_bytes_get_data(e, &len);
    /* 48 + "pmxa\0" 5 + "root@pam\0" 9 + "cluster\0" 8 + "hello log\0" 10 */
    ck_assert_uint_eq(len, 80);
    ck_assert_uint_eq(le32(b + 0), 0);
    ck_assert_uint_eq(le32(b + 4), 0);
    ck_assert_uint_eq(le32(b + 8), 7);
    ck_assert_uint_eq(le32(b + 12), 1700000100);
    ck_assert_uint_eq(le64(b + 16), UINT64_C(0xb6de36428cdca5d3));
    ck_assert_uint_eq(le64(b + 24), UINT64_C(0x0bf69a5dbf95bb61));
    ck_assert_uint_eq(le32(b + 32), 1234);
    ck_assert_uint_eq(b[36], 5);
    ck_assert_uint_eq(b[37], 5);
    ck_assert_uint_eq(b[38], 9);
    ck_assert_uint_eq(b[39], 8);
    ck_assert_uint_eq(le32(b + 40), 10);
    ck_assert_int_eq(memcmp(b + 44, "pmxa\0root@pam\0cluster\0hello log\0\0\0\0\0", 36), 0);

    clog_entry_info info;
    ck_assert_int_eq(clog_entry_parse(b, len, &info), 0);
    ck_assert_str_eq(info.node, "pmxa");
    ck_assert_str_eq(info.ident, "root@pam");
    ck_assert_str_eq(info.tag, "cluster");
    ck_assert_str_eq(info.msg, "hello log");
    ck_assert_uint_eq(info.uid, 7);
    ck_assert_uint_eq(info.priority, 5);
    ck_assert_uint_eq(info.size, 80);
    g_bytes_unref(e);

    ck_assert_int_eq(clog_entry_pack(1, 1, 1, 8, "n", "i", "t", "m", &e), -EINVAL);
}
END_TEST

START_TEST(test_entry_validation)
{
    g_autoptr(GBytes) e = pack(1, 1, "pmxa", "message");
    gsize len;
    const uint8_t *orig = g_bytes_get_data(e, &len);
    g_autofree uint8_t *b = g_malloc0(len + 8);
    memcpy(b, orig, len);

    ck_assert_int_eq(clog_entry_parse(b, len, NULL), 0);
    ck_assert_int_eq(clog_entry_parse(b, 47, NULL), -EINVAL);      /* below the minimum */
    ck_assert_int_eq(clog_entry_parse(b, len - 1, NULL), -EINVAL); /* shorter than nominal */
    ck_assert_int_eq(clog_entry_parse(b, len + 8, NULL), -EINVAL); /* longer than nominal */
    b[44 + 4] = 'x';                                               /* the node's NUL */
    ck_assert_int_eq(clog_entry_parse(b, len, NULL), -EINVAL);
    b[44 + 4] = 0;
    b[len - 5] = 'x'; /* the message's NUL */
    ck_assert_int_eq(clog_entry_parse(b, len, NULL), -EINVAL);
    b[len - 5] = 0;
    b[39] = 0; /* a zero tag length cannot end in NUL */
    ck_assert_int_eq(clog_entry_parse(b, len, NULL), -EINVAL);
    b[39] = 4;
    ck_assert_int_eq(clog_entry_parse(b, len, NULL), 0);
    set32(b + 40, 0xfffffff0u); /* msg_len overflow must not wrap */
    ck_assert_int_eq(clog_entry_parse(b, len, NULL), -EINVAL);

    /* a 4097-byte entry is never valid */
    g_autofree uint8_t *big = g_malloc0(4097);
    big[37] = big[38] = big[39] = 1;
    set32(big + 40, 4097 - 48 - 3);
    ck_assert_int_eq(clog_entry_parse(big, 4097, NULL), -EINVAL);
    set32(big + 40, 4096 - 48 - 3);
    ck_assert_int_eq(clog_entry_parse(big, 4096, NULL), 0);
}
END_TEST

START_TEST(test_message_conversion)
{
    g_autofree char *a = clog_message_convert("say \"hi\"\nnow\t\x7f", 4000);
    ck_assert_str_eq(a, "say \\\"hi\\\"#010now#009#127");
    g_autofree char *b = clog_message_convert("C:\\dir", 4000);
    ck_assert_str_eq(b, "C:\\\\dir");
    /* é is U+00E9, € U+20AC, the emoji is above U+FFFF and dropped */
    g_autofree char *c = clog_message_convert("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80!", 4000);
    ck_assert_str_eq(c, "caf\\u00e9 \\u20ac !");
    /* invalid UTF-8: per byte */
    g_autofree char *d = clog_message_convert("a\xff\"\n\\b", 4000);
    ck_assert_str_eq(d, "a?\\\"#010\\\\b");
    /* conversion stops 7 bytes before the space */
    g_autofree char *e = clog_message_convert("0123456789abcdef", 12);
    ck_assert_str_eq(e, "01234");

    /* a huge message is cut so that the entry stays within 4096 bytes */
    g_autofree char *huge = g_strnfill(10000, '"');
    g_autoptr(GBytes) entry = NULL;
    ck_assert_int_eq(clog_entry_pack(1, 1, 1, 3, "n", "i", "t", huge, &entry), 0);
    ck_assert_uint_le(g_bytes_get_size(entry), CFS_CLOG_MAX_ENTRY_SIZE);
    ck_assert_uint_ge(g_bytes_get_size(entry), CFS_CLOG_MAX_ENTRY_SIZE - 16);
    clog_entry_info info;
    ck_assert_int_eq(
        clog_entry_parse(g_bytes_get_data(entry, NULL), g_bytes_get_size(entry), &info), 0);
    ck_assert_int_eq(strlen(info.msg) % 2, 0); /* never half an escape */
}
END_TEST

START_TEST(test_field_truncation)
{
    g_autofree char *longname = g_strnfill(300, 'n');
    g_autoptr(GBytes) e = NULL;
    ck_assert_int_eq(clog_entry_pack(1, 1, 1, 3, longname, longname, longname, "m", &e), 0);
    clog_entry_info info;
    ck_assert_int_eq(clog_entry_parse(g_bytes_get_data(e, NULL), g_bytes_get_size(e), &info), 0);
    ck_assert_uint_eq(strlen(info.node), 254);
    ck_assert_uint_eq(strlen(info.ident), 254);
    ck_assert_uint_eq(strlen(info.tag), 254);
    g_autofree char *n254 = g_strnfill(254, 'n');
    ck_assert_uint_eq(info.node_digest, clog_fnv1a_str(n254));
}
END_TEST

START_TEST(test_ring_layout)
{
    g_autoptr(clog) cl = clog_new(CFS_CLOG_RING_SIZE);
    g_autoptr(GBytes) e1 = pack(100, 1, "pmxa", "first"); /* 48+5+9+4+6 = 72 */
    g_autoptr(GBytes) e2 = pack(101, 2, "pmxa", "second!");
    ck_assert_int_eq(insert(cl, e1), 0);
    ck_assert_int_eq(insert(cl, e2), 0);
    g_autoptr(GBytes) state = clog_state_get(cl);
    gsize len;
    const uint8_t *r = g_bytes_get_data(state, &len);
    ck_assert_uint_eq(len, CFS_CLOG_RING_SIZE);
    ck_assert_uint_eq(le32(r), CFS_CLOG_RING_SIZE);
    ck_assert_uint_eq(le32(r + 4), 8 + 72);   /* cpos: the second entry */
    ck_assert_uint_eq(le32(r + 8), 0);        /* first: prev none */
    ck_assert_uint_eq(le32(r + 12), 80);      /* first: next = 8 + 72 */
    ck_assert_uint_eq(le32(r + 80), 8);       /* second: prev = first */
    ck_assert_uint_eq(le32(r + 84), 80 + 80); /* 74 bytes aligned to 80 */
    ck_assert_uint_eq(le32(r + 80 + 8), 2);
    ck_assert_uint_eq(clog_count(cl), 2);
    ck_assert_int_eq(clog_state_validate(r, len), 0);
    ck_assert_int_eq(clog_state_validate(r, 8), -EINVAL);
    ck_assert_int_eq(clog_state_validate(r, len - 1), -EINVAL);
}
END_TEST

START_TEST(test_ring_wraparound)
{
    /* a small ring: 8 + 4 x 4096 bytes */
    uint32_t size = 8 + 4 * 4096;
    g_autoptr(clog) cl = clog_new(size);
    g_autofree char *msg = g_strnfill(1000, 'x'); /* entries of about 1072 bytes */
    for (uint32_t i = 1; i <= 200; i++)
        ck_assert_int_eq(insert_new(cl, 1000 + i, i, "pmxa", msg), 0);
    guint n = clog_count(cl);
    /* 16 KiB of ~1 KiB entries, minus the unreadable window after cpos */
    ck_assert_uint_ge(n, 10);
    ck_assert_uint_le(n, 15);
    /* the readable entries are exactly the newest n, newest first */
    g_autofree char *json = dump(cl, NULL, 1000);
    g_autoptr(JsonParser) p = json_parser_new();
    JsonArray *a = dump_entries(p, json);
    ck_assert_uint_eq(json_array_get_length(a), n);
    for (guint i = 0; i < n; i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        ck_assert_int_eq(json_object_get_int_member(o, "uid"), 200 - i);
    }
}
END_TEST

START_TEST(test_ring_wrap_unsorted)
{
    /* without the sorted rewrite: entries of mixed sizes, read back after many wraps */
    uint32_t size = 8 + 3 * 4096;
    g_autoptr(clog) cl = clog_new(size);
    for (uint32_t i = 1; i <= 500; i++) {
        g_autofree char *msg = g_strnfill(1 + (i * 37) % 2500, 'a' + i % 26);
        ck_assert_int_eq(insert_new(cl, 5000 + i, i, "n1", msg), 0);
        guint n = clog_count(cl);
        ck_assert_uint_ge(n, 1);
        g_autofree char *json = dump(cl, NULL, 1000);
        g_autoptr(JsonParser) p = json_parser_new();
        JsonArray *a = dump_entries(p, json);
        ck_assert_uint_eq(json_array_get_length(a), n);
        for (guint k = 0; k < n; k++) {
            JsonObject *o = json_array_get_object_element(a, k);
            ck_assert_int_eq(json_object_get_int_member(o, "uid"), i - k);
            ck_assert_uint_eq(strlen(json_object_get_string_member(o, "msg")),
                              1 + ((i - k) * 37) % 2500);
        }
    }
}
END_TEST

START_TEST(test_dedup)
{
    g_autoptr(clog) cl = clog_new(CFS_CLOG_RING_SIZE);
    g_autoptr(GBytes) e = pack(100, 5, "pmxa", "m");
    ck_assert_int_eq(insert(cl, e), 0);
    ck_assert_int_eq(insert(cl, e), -EEXIST);                       /* replay */
    ck_assert_int_eq(insert_new(cl, 100, 4, "pmxa", "m"), -EEXIST); /* same time, lower uid */
    ck_assert_int_eq(insert_new(cl, 99, 9, "pmxa", "m"), -EEXIST);  /* older */
    ck_assert_int_eq(insert_new(cl, 100, 6, "pmxa", "m"), 0);       /* same time, higher uid */
    ck_assert_int_eq(insert_new(cl, 100, 5, "pmxb", "m"), 0);       /* other node */
    ck_assert_int_eq(insert_new(cl, 101, 1, "pmxa", "m"), 0);       /* restarted daemon */
    ck_assert_uint_eq(clog_count(cl), 4);

    /* clog_add numbers entries 1, 2, ... */
    g_autoptr(clog) c2 = clog_new(CFS_CLOG_RING_SIZE);
    g_autoptr(GBytes) a = NULL;
    ck_assert_int_eq(clog_add(c2, 10, 1, 6, "n", "root", "cluster", "one", &a), 0);
    ck_assert_int_eq(clog_add(c2, 10, 1, 6, "n", "root", "cluster", "two", NULL), 0);
    ck_assert_int_eq(clog_add(c2, 10, 1, 9, "n", "root", "cluster", "bad", NULL), -EINVAL);
    clog_entry_info info;
    ck_assert_int_eq(clog_entry_parse(g_bytes_get_data(a, NULL), g_bytes_get_size(a), &info), 0);
    ck_assert_uint_eq(info.uid, 1);
    ck_assert_int_eq(insert(c2, a), -EEXIST);
    ck_assert_uint_eq(clog_count(c2), 2);
}
END_TEST

START_TEST(test_sorted_state)
{
    g_autoptr(clog) cl = clog_new(CFS_CLOG_RING_SIZE);
    /* arrival order differs from time order */
    ck_assert_int_eq(insert_new(cl, 300, 1, "pmxb", "b300"), 0);
    ck_assert_int_eq(insert_new(cl, 100, 1, "pmxa", "a100"), 0);
    ck_assert_int_eq(insert_new(cl, 200, 2, "pmxa", "a200"), 0);
    ck_assert_int_eq(insert_new(cl, 200, 1, "pmxc", "c200"), 0);
    g_autoptr(GBytes) state = clog_state_get(cl);
    /* newest first after the rewrite: 300, then the two 200s by node digest, then 100 */
    g_autofree char *json = dump(cl, NULL, 0);
    g_autoptr(JsonParser) p = json_parser_new();
    JsonArray *a = dump_entries(p, json);
    ck_assert_uint_eq(json_array_get_length(a), 4);
    const char *expect_first = "b300";
    ck_assert_str_eq(json_object_get_string_member(json_array_get_object_element(a, 0), "msg"),
                     expect_first);
    /* pmxa vs pmxc at time 200: ascending digest means the larger digest is newer */
    bool a_first = clog_fnv1a_str("pmxa") > clog_fnv1a_str("pmxc");
    ck_assert_str_eq(json_object_get_string_member(json_array_get_object_element(a, 1), "msg"),
                     a_first ? "a200" : "c200");
    ck_assert_str_eq(json_object_get_string_member(json_array_get_object_element(a, 3), "msg"),
                     "a100");
    /* the state is the ring itself, laid out from offset 8 */
    const uint8_t *r = g_bytes_get_data(state, NULL);
    ck_assert_uint_eq(le32(r + 8 + 12), 100);
    ck_assert_uint_eq(le32(r + 8), 0);
}
END_TEST

START_TEST(test_merge)
{
    g_autoptr(clog) a = clog_new(CFS_CLOG_RING_SIZE);
    g_autoptr(clog) b = clog_new(CFS_CLOG_RING_SIZE);
    g_autoptr(clog) local = clog_new(CFS_CLOG_RING_SIZE);
    /* a shared entry, entries only on a, only on b, only local */
    g_autoptr(GBytes) shared = pack(150, 2, "pmxa", "shared");
    ck_assert_int_eq(insert_new(a, 100, 1, "pmxa", "a-old"), 0);
    ck_assert_int_eq(insert(a, shared), 0);
    ck_assert_int_eq(insert(b, shared), 0);
    ck_assert_int_eq(insert_new(a, 300, 3, "pmxa", "a-new"), 0);
    ck_assert_int_eq(insert_new(b, 200, 1, "pmxb", "b-mid"), 0);
    ck_assert_int_eq(insert_new(local, 250, 1, "pmxc", "local"), 0);

    GBytes *states[3];
    states[0] = clog_state_get(a);
    states[1] = g_bytes_new_static("garbage", 7); /* the local slot: replaced */
    states[2] = clog_state_get(b);
    clog_merge(local, states, 3, 1);

    g_autofree char *json = dump(local, NULL, 100);
    g_autoptr(JsonParser) p = json_parser_new();
    JsonArray *arr = dump_entries(p, json);
    ck_assert_uint_eq(json_array_get_length(arr), 5);
    const char *order[] = {"a-new", "local", "b-mid", "shared", "a-old"};
    for (guint i = 0; i < 5; i++)
        ck_assert_str_eq(
            json_object_get_string_member(json_array_get_object_element(arr, i), "msg"), order[i]);
    /* the dedup table was replaced by the merge's: replays are dropped */
    ck_assert_int_eq(insert(local, shared), -EEXIST);
    ck_assert_int_eq(insert_new(local, 300, 3, "pmxa", "a-new"), -EEXIST);
    ck_assert_int_eq(insert_new(local, 300, 4, "pmxa", "a-newer"), 0);

    /* an invalid state (wrong size field) is ignored */
    g_autofree uint8_t *bad = g_malloc0(64);
    set32(bad, 65);
    GBytes *states2[2] = {g_bytes_new_static(bad, 64), NULL};
    guint before = clog_count(local);
    clog_merge(local, states2, 2, 1);
    ck_assert_uint_eq(clog_count(local), before);
    for (int i = 0; i < 3; i++)
        g_bytes_unref(states[i]);
    g_bytes_unref(states2[0]);
}
END_TEST

START_TEST(test_merge_limit)
{
    /* two full rings: the merge keeps the newest entries that fit */
    uint32_t size = 8 + 4 * 4096;
    g_autoptr(clog) a = clog_new(size);
    g_autoptr(clog) b = clog_new(size);
    g_autofree char *msg = g_strnfill(900, 'm');
    for (uint32_t i = 1; i <= 40; i++) {
        ck_assert_int_eq(insert_new(a, 1000 + 2 * i, i, "pmxa", msg), 0);
        ck_assert_int_eq(insert_new(b, 1001 + 2 * i, i, "pmxb", msg), 0);
    }
    GBytes *states[2] = {NULL, clog_state_get(b)};
    clog_merge(a, states, 2, 0);
    g_autofree char *json = dump(a, NULL, 1000);
    g_autoptr(JsonParser) p = json_parser_new();
    JsonArray *arr = dump_entries(p, json);
    guint n = json_array_get_length(arr);
    /* (size - 8 - 4096) / ~976 bytes per entry, plus the one crossing the limit */
    ck_assert_uint_ge(n, 12);
    ck_assert_uint_le(n, 14);
    int64_t last = G_MAXINT64;
    for (guint i = 0; i < n; i++) {
        int64_t t = json_object_get_int_member(json_array_get_object_element(arr, i), "time");
        ck_assert_int_eq(t, 1081 - (int64_t)i); /* the newest, interleaved, no gaps */
        ck_assert_int_lt(t, last);
        last = t;
    }
    g_bytes_unref(states[1]);
}
END_TEST

START_TEST(test_merge_garbage_ring)
{
    /* a ring full of random bytes with a valid header must not crash or loop */
    uint32_t size = 8 + 4 * 4096;
    g_autoptr(clog) cl = clog_new(size);
    ck_assert_int_eq(insert_new(cl, 10, 1, "n", "mine"), 0);
    GRand *rand = g_rand_new_with_seed(42);
    for (int round = 0; round < 50; round++) {
        g_autofree uint8_t *ring = g_malloc(size);
        for (uint32_t i = 0; i < size; i++)
            ring[i] = (uint8_t)g_rand_int(rand);
        set32(ring, size);
        set32(ring + 4, 8 + g_rand_int_range(rand, 0, (gint32)size));
        GBytes *states[2] = {NULL, g_bytes_new_static(ring, size)};
        clog_merge(cl, states, 2, 0);
        g_bytes_unref(states[1]);
    }
    g_rand_free(rand);
    g_autofree char *json = dump(cl, NULL, 1000);
    g_autoptr(JsonParser) p = json_parser_new();
    JsonArray *arr = dump_entries(p, json);
    ck_assert_uint_ge(json_array_get_length(arr), 1);
}
END_TEST

START_TEST(test_dump_format)
{
    g_autoptr(clog) cl = clog_new(CFS_CLOG_RING_SIZE);
    g_autofree char *empty = dump(cl, NULL, 0);
    ck_assert_str_eq(empty, "{\n\"data\": [\n]\n}\n");

    GBytes *e1 = NULL, *e2 = NULL;
    ck_assert_int_eq(
        clog_entry_pack(1700000000, 1, 1234, 6, "pmxa", "root@pam", "cluster", "hello log", &e1),
        0);
    ck_assert_int_eq(
        clog_entry_pack(1700000100, 2, 99, 3, "pmxa", "admin@pve", "task", "second", &e2), 0);
    ck_assert_int_eq(insert(cl, e1), 0);
    ck_assert_int_eq(insert(cl, e2), 0);
    g_autofree char *all = dump(cl, NULL, 0);
    ck_assert_str_eq(all, "{\n\"data\": [\n"
                          "{\"uid\": 2, \"time\": 1700000100, \"pri\": 3, \"tag\": \"task\", "
                          "\"pid\": 99, \"node\": \"pmxa\", \"user\": \"admin@pve\", "
                          "\"msg\": \"second\"},\n"
                          "{\"uid\": 1, \"time\": 1700000000, \"pri\": 6, \"tag\": \"cluster\", "
                          "\"pid\": 1234, \"node\": \"pmxa\", \"user\": \"root@pam\", "
                          "\"msg\": \"hello log\"}\n"
                          "]\n}\n");
    g_autofree char *filtered = dump(cl, "root@pam", 0);
    ck_assert_ptr_nonnull(strstr(filtered, "hello log"));
    ck_assert_ptr_null(strstr(filtered, "second"));
    g_autofree char *one = dump(cl, NULL, 1);
    ck_assert_ptr_nonnull(strstr(one, "second"));
    ck_assert_ptr_null(strstr(one, "hello log"));
    g_autofree char *none = dump(cl, "nobody@pam", 0);
    ck_assert_str_eq(none, "{\n\"data\": [\n]\n}\n");
    g_bytes_unref(e1);
    g_bytes_unref(e2);
}
END_TEST

START_TEST(test_dump_escaping)
{
    g_autoptr(clog) cl = clog_new(CFS_CLOG_RING_SIZE);
    /* quotes, backslashes and control characters in node, ident and tag (W21) */
    GBytes *e = NULL;
    ck_assert_int_eq(clog_entry_pack(5, 1, 1, 6, "no\"de", "us\\er", "t\tag",
                                     "back\\slash \"q\" \xc3\xa9\n", &e),
                     0);
    ck_assert_int_eq(insert(cl, e), 0);
    g_bytes_unref(e);

    /* a message as a reference node stores it: backslashes verbatim */
    e = pack(6, 1, "ref", "x");
    gsize len;
    const uint8_t *orig = g_bytes_get_data(e, &len);
    const char *raw = "C:\\dir \\\" \\\\ \\u00e9 \\x";
    size_t rlen = strlen(raw) + 1;
    size_t nlen = len - 2 + rlen;
    g_autofree uint8_t *b = g_malloc0(nlen);
    memcpy(b, orig, len - 4 - 2);
    memcpy(b + len - 4 - 2, raw, rlen);
    set32(b + 40, (uint32_t)rlen);
    ck_assert_int_eq(clog_insert(cl, b, nlen), 0);
    g_bytes_unref(e);

    g_autofree char *json = dump(cl, NULL, 0);
    g_autoptr(JsonParser) p = json_parser_new();
    JsonArray *a = dump_entries(p, json);
    JsonObject *ref = json_array_get_object_element(a, 0);
    ck_assert_str_eq(json_object_get_string_member(ref, "msg"), "C:\\dir \" \\ \xc3\xa9 \\x");
    JsonObject *ours = json_array_get_object_element(a, 1);
    ck_assert_str_eq(json_object_get_string_member(ours, "node"), "no\"de");
    ck_assert_str_eq(json_object_get_string_member(ours, "user"), "us\\er");
    ck_assert_str_eq(json_object_get_string_member(ours, "tag"), "t\tag");
    ck_assert_str_eq(json_object_get_string_member(ours, "msg"), "back\\slash \"q\" \xc3\xa9#010");
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("clog");
    TCase *tc = tcase_create("entries");
    tcase_add_test(tc, test_fnv_vectors);
    tcase_add_test(tc, test_entry_layout);
    tcase_add_test(tc, test_entry_validation);
    tcase_add_test(tc, test_message_conversion);
    tcase_add_test(tc, test_field_truncation);
    suite_add_tcase(s, tc);

    tc = tcase_create("ring");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ring_layout);
    tcase_add_test(tc, test_ring_wraparound);
    tcase_add_test(tc, test_ring_wrap_unsorted);
    tcase_add_test(tc, test_dedup);
    tcase_add_test(tc, test_sorted_state);
    suite_add_tcase(s, tc);

    tc = tcase_create("merge");
    tcase_add_test(tc, test_merge);
    tcase_add_test(tc, test_merge_limit);
    tcase_add_test(tc, test_merge_garbage_ring);
    suite_add_tcase(s, tc);

    tc = tcase_create("dump");
    tcase_add_test(tc, test_dump_format);
    tcase_add_test(tc, test_dump_escaping);
    suite_add_tcase(s, tc);
    return s;
}
