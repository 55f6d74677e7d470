/*
 * test-kvstore: per-node key/value tables (versions, deletes, `.version` entries), the
 * RRD table (validation, expiry after 300 s, the 2 s dump cache) and the UPDATE payload
 * of spec §10.6.
 */
#include <errno.h>
#include <string.h>

#include "pmxcfs/kvstore.h"
#include "tests/unit/check-main.h"

#define SEC G_GINT64_CONSTANT(1000000)

static char *bytes_str(GBytes *b)
{
    gsize len;
    const char *d = g_bytes_get_data(b, &len);
    return g_strndup(d ? d : "", len);
}

static char *versions(kvstore_table *t)
{
    GString *s = g_string_new(NULL);
    kvstore_table_append_versions(t, s);
    return g_string_free(s, FALSE);
}

START_TEST(test_table_versions)
{
    g_autoptr(kvstore_table) t = kvstore_table_new();
    ck_assert_int_eq(kvstore_table_version(t, "a"), -ENOENT);
    kvstore_table_set(t, "a", "1", 2);
    ck_assert_int_eq(kvstore_table_version(t, "a"), 0);
    kvstore_table_set(t, "a", "22", 3);
    kvstore_table_set(t, "a", "333", 4);
    ck_assert_int_eq(kvstore_table_version(t, "a"), 2);
    kvstore_table_set(t, "b", "x", 1);
    g_autofree char *v = versions(t);
    ck_assert_str_eq(v, "\"a\": 2,\n\"b\": 0");

    g_autoptr(GBytes) val = NULL;
    ck_assert_int_eq(kvstore_table_get(t, "a", &val), 0);
    ck_assert_uint_eq(g_bytes_get_size(val), 4);
    ck_assert_int_eq(memcmp(g_bytes_get_data(val, NULL), "333", 4), 0);

    /* an empty value deletes; a re-added key starts at version 0 again */
    kvstore_table_set(t, "a", "", 0);
    GBytes *none = NULL;
    ck_assert_int_eq(kvstore_table_get(t, "a", &none), -ENOENT);
    ck_assert_ptr_null(none);
    kvstore_table_set(t, "a", "n", 1);
    ck_assert_int_eq(kvstore_table_version(t, "a"), 0);
    ck_assert_uint_eq(kvstore_table_size(t), 2);

    /* keys are escaped in the .version output */
    kvstore_table_set(t, "q\"k", "v", 1);
    g_autofree char *v2 = versions(t);
    ck_assert_ptr_nonnull(strstr(v2, "\"q\\\"k\": 0"));

    g_autoptr(kvstore_table) empty = kvstore_table_new();
    g_autofree char *ve = versions(empty);
    ck_assert_str_eq(ve, "");
}
END_TEST

static void collect(const char *key, GBytes *value, void *user_data)
{
    g_string_append_printf(user_data, "%s=%.*s;", key, (int)g_bytes_get_size(value),
                           (const char *)g_bytes_get_data(value, NULL));
}

START_TEST(test_table_foreach)
{
    g_autoptr(kvstore_table) t = kvstore_table_new();
    kvstore_table_set(t, "kv/b", "2", 1);
    kvstore_table_set(t, "kv/a", "1", 1);
    kvstore_table_set(t, "tasklist", "[]", 2);
    g_autoptr(GString) s = g_string_new(NULL);
    kvstore_table_foreach(t, collect, s);
    ck_assert_str_eq(s->str, "kv/a=1;kv/b=2;tasklist=[];");
}
END_TEST

START_TEST(test_rrd)
{
    g_autoptr(kvstore_rrd) r = kvstore_rrd_new();
    int64_t t0 = 1000 * SEC;
    ck_assert_int_eq(kvstore_rrd_set(r, "pve2-node/n1", "1:2:3", 6, t0), 0);
    ck_assert_int_eq(kvstore_rrd_set(r, "pve2-vm/100", "4:5", 4, t0), 0);
    /* not NUL-terminated, empty, too long: ignored */
    ck_assert_int_eq(kvstore_rrd_set(r, "bad", "abc", 3, t0), -EINVAL);
    ck_assert_int_eq(kvstore_rrd_set(r, "bad", "", 0, t0), -EINVAL);
    g_autofree char *big = g_strnfill(CFS_MAX_RRD_VALUE - 1, '1');
    ck_assert_int_eq(kvstore_rrd_set(r, "bad", big, CFS_MAX_RRD_VALUE, t0), -EINVAL);
    g_autofree char *fits = g_strnfill(CFS_MAX_RRD_VALUE - 2, '1');
    ck_assert_int_eq(kvstore_rrd_set(r, "fits", fits, CFS_MAX_RRD_VALUE - 1, t0), 0);
    kvstore_rrd_set(r, "fits", "7\0", 2, t0);

    g_autoptr(GBytes) d1 = kvstore_rrd_dump(r, t0);
    g_autofree char *s1 = bytes_str(d1);
    ck_assert_str_eq(s1, "fits:7\npve2-node/n1:1:2:3\npve2-vm/100:4:5\n");

    /* reused for 2 s unless something was set */
    g_autoptr(GBytes) d2 = kvstore_rrd_dump(r, t0 + SEC);
    ck_assert_ptr_eq(d1, d2);
    ck_assert_int_eq(kvstore_rrd_set(r, "pve2-vm/100", "9:9", 4, t0 + SEC), 0);
    g_autoptr(GBytes) d3 = kvstore_rrd_dump(r, t0 + SEC);
    g_autofree char *s3 = bytes_str(d3);
    ck_assert_ptr_nonnull(strstr(s3, "pve2-vm/100:9:9\n"));

    /* 300 s later the old values expire, the newer one stays */
    g_autoptr(GBytes) d4 = kvstore_rrd_dump(r, t0 + 300 * SEC + SEC / 2);
    g_autofree char *s4 = bytes_str(d4);
    ck_assert_str_eq(s4, "pve2-vm/100:9:9\n");
    ck_assert_uint_eq(kvstore_rrd_size(r), 1);
    g_autoptr(GBytes) d5 = kvstore_rrd_dump(r, t0 + 303 * SEC);
    ck_assert_uint_eq(g_bytes_get_size(d5), 0);
}
END_TEST

START_TEST(test_update_payload)
{
    g_autoptr(GBytes) p = NULL;
    ck_assert_int_eq(kvstore_update_encode("kv/x", "val\0", 4, &p), 0);
    gsize len;
    const uint8_t *b = g_bytes_get_data(p, &len);
    ck_assert_uint_eq(len, 260);
    ck_assert_int_eq(memcmp(b, "kv/x\0\0\0\0", 8), 0);
    for (int i = 4; i < 256; i++)
        ck_assert_uint_eq(b[i], 0);
    ck_assert_int_eq(memcmp(b + 256, "val\0", 4), 0);

    const char *key;
    const void *value;
    size_t vlen;
    ck_assert_int_eq(kvstore_update_decode(b, len, &key, &value, &vlen), 0);
    ck_assert_str_eq(key, "kv/x");
    ck_assert_uint_eq(vlen, 4);
    ck_assert_int_eq(kvstore_update_decode(b, 255, &key, &value, &vlen), -EINVAL);
    ck_assert_int_eq(kvstore_update_decode(b, 256, &key, &value, &vlen), 0);
    ck_assert_uint_eq(vlen, 0);

    uint8_t full[300];
    memset(full, 'k', sizeof(full));
    ck_assert_int_eq(kvstore_update_decode(full, sizeof(full), &key, &value, &vlen), -EINVAL);
    full[255] = 0;
    ck_assert_int_eq(kvstore_update_decode(full, sizeof(full), &key, &value, &vlen), 0);
    ck_assert_uint_eq(strlen(key), 255);

    g_autofree char *k255 = g_strnfill(255, 'k');
    g_autofree char *k256 = g_strnfill(256, 'k');
    GBytes *q = NULL;
    ck_assert_int_eq(kvstore_update_encode(k255, "", 0, &q), 0);
    ck_assert_uint_eq(g_bytes_get_size(q), 256);
    g_bytes_unref(q);
    q = NULL;
    ck_assert_int_eq(kvstore_update_encode(k256, "", 0, &q), -ENAMETOOLONG);
    ck_assert_ptr_null(q);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("kvstore");
    TCase *tc = tcase_create("kvstore");
    tcase_add_test(tc, test_table_versions);
    tcase_add_test(tc, test_table_foreach);
    tcase_add_test(tc, test_rrd);
    tcase_add_test(tc, test_update_payload);
    suite_add_tcase(s, tc);
    return s;
}
