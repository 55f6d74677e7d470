/*
 * test-wlog: the operation log ring (pmxcfs/wlog.c): order, cut, wrap-around, full log,
 * reopen, torn records.
 */
#include <errno.h>
#include <string.h>

#include "pmxcfs/wlog.h"
#include "tests/unit/check-main.h"
#include "tests/unit/test-util.h"

static char *dir;
static char *db;

static void setup(void)
{
    dir = test_tmpdir();
    db = g_build_filename(dir, "config.db", NULL);
}

static void teardown(void)
{
    test_rmtree(dir);
    g_clear_pointer(&dir, g_free);
    g_clear_pointer(&db, g_free);
}

static wlog *open_log(void)
{
    g_autoptr(GError) err = NULL;
    wlog *w = wlog_open(db, &err);
    ck_assert_msg(w, "%s", err ? err->message : "");
    return w;
}

static int append(wlog *w, uint64_t version, size_t len)
{
    static uint8_t data[4096];
    memset(data, (int)(version & 0xff), len);
    g_autofree char *path = g_strdup_printf("f%" G_GUINT64_FORMAT, version);
    wlog_record rec = {.version = version, .writer = 1, .mtime = 2, .type = WLOG_OP_WRITE,
                       .path = path, .data = data, .size = (uint32_t)len};
    return wlog_append(w, &rec);
}

typedef struct seen {
    GArray *versions;
    bool ok;
} seen;

static bool collect(void *user_data, const wlog_record *rec)
{
    seen *s = user_data;
    g_autofree char *path = g_strdup_printf("f%" G_GUINT64_FORMAT, rec->version);
    if (strcmp(rec->path, path) != 0 || rec->type != WLOG_OP_WRITE ||
        ((const uint8_t *)rec->data)[0] != (uint8_t)(rec->version & 0xff))
        s->ok = false;
    g_array_append_val(s->versions, rec->version);
    return true;
}

/* Replay and check the versions are exactly first..last in order. */
static void expect_range(wlog *w, uint64_t first, uint64_t last)
{
    seen s = {.versions = g_array_new(FALSE, FALSE, sizeof(uint64_t)), .ok = true};
    uint64_t bad = 0;
    wlog_replay(w, collect, &s, &bad);
    ck_assert(s.ok);
    ck_assert_uint_eq(bad, 0);
    ck_assert_uint_eq(s.versions->len, last >= first ? last - first + 1 : 0);
    for (guint i = 0; i < s.versions->len; i++)
        ck_assert_uint_eq(g_array_index(s.versions, uint64_t, i), first + i);
    g_array_free(s.versions, TRUE);
}

START_TEST(test_append_replay_cut_wrap)
{
    wlog *w = open_log();
    wlog_truncate(w);
    uint64_t v = 0;
    uint64_t half = 0;
    /* fill until full */
    while (append(w, v + 1, 3000) == 0) {
        v++;
        if (v == 2000)
            half = wlog_head(w);
    }
    ck_assert_uint_gt(v, 4000);
    ck_assert_int_eq(append(w, v + 1, 3000), -ENOSPC);
    expect_range(w, 1, v);
    /* drop the first 2000, then append across the end of the ring */
    wlog_cut(w, half);
    uint64_t before = v;
    for (int i = 0; i < 1500; i++)
        ck_assert_int_eq(append(w, ++v, 3000), 0);
    ck_assert_uint_gt(v, before);
    expect_range(w, 2001, v);
    /* the same after closing and opening again */
    wlog_free(w);
    w = open_log();
    expect_range(w, 2001, v);
    /* appends continue at the end found by the replay */
    ck_assert_int_eq(append(w, v + 1, 100), 0);
    expect_range(w, 2001, v + 1);
    wlog_truncate(w);
    ck_assert_uint_eq(wlog_size(w), 0);
    expect_range(w, 1, 0);
    wlog_free(w);
}
END_TEST

START_TEST(test_torn_record_stops_replay)
{
    wlog *w = open_log();
    wlog_truncate(w);
    for (uint64_t v = 1; v <= 10; v++)
        ck_assert_int_eq(append(w, v, 500), 0);
    wlog_free(w);
    /* flip a byte in the data of the sixth record (ring after a 4 KiB header) */
    g_autofree char *path = g_strconcat(db, ".wlog", NULL);
    g_autofree char *content = NULL;
    gsize len = 0;
    ck_assert(g_file_get_contents(path, &content, &len, NULL));
    size_t reclen = 56 + 3 + 500; /* header, "fN\0", data */
    content[4096 + 5 * reclen + 100] ^= 0x55;
    ck_assert(g_file_set_contents(path, content, (gssize)len, NULL));
    w = open_log();
    seen s = {.versions = g_array_new(FALSE, FALSE, sizeof(uint64_t)), .ok = true};
    uint64_t bad = 0;
    wlog_replay(w, collect, &s, &bad);
    ck_assert_uint_eq(s.versions->len, 5);
    ck_assert_uint_ne(bad, 0);
    g_array_free(s.versions, TRUE);
    /* new records replace the torn one */
    ck_assert_int_eq(append(w, 6, 500), 0);
    wlog_free(w);
    w = open_log();
    expect_range(w, 1, 6);
    wlog_free(w);
}
END_TEST

START_TEST(test_null_log)
{
    wlog_record rec = {.version = 1, .type = WLOG_OP_MKDIR, .path = "x"};
    ck_assert_int_eq(wlog_append(NULL, &rec), -ENOSPC);
    ck_assert_uint_eq(wlog_size(NULL), 0);
    ck_assert_int_eq(wlog_truncate(NULL), 0);
    ck_assert_uint_eq(wlog_replay(NULL, collect, NULL, NULL), 0);
}
END_TEST

START_TEST(test_crc32c)
{
    ck_assert_uint_eq(wlog_crc32c(0, "123456789", 9), 0xe3069283);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("wlog");
    TCase *tc = tcase_create("wlog");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_append_replay_cut_wrap);
    tcase_add_test(tc, test_torn_record_stops_replay);
    tcase_add_test(tc, test_null_log);
    tcase_add_test(tc, test_crc32c);
    suite_add_tcase(s, tc);
    return s;
}
