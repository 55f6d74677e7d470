/*
 * test-pvecm-join: the database backup of a join (quorum/pvecm-join.h): a gzip'ed
 * `sqlite3 .dump` of config.db in backup/config-<epoch>.sql.gz, at most 10 kept, other
 * files left alone.  (The join itself runs in the lab: tests/cluster/test_pvecm.py.)
 */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quorum/pvecm-join.h"
#include "tests/unit/check-main.h"
#include "tests/unit/test-util.h"

static char *tmpdir;

static void setup(void)
{
    tmpdir = test_tmpdir();
}

static void teardown(void)
{
    test_rmtree(tmpdir);
    g_free(tmpdir);
}

static void skip_without_sqlite3(void)
{
    g_autofree char *sqlite = g_find_program_in_path("sqlite3");
    if (!sqlite) {
        fprintf(stderr, "sqlite3 is not installed\n");
        exit(TEST_SKIP_EXIT);
    }
}

static pvecm_env *env_for_tmp(void)
{
    g_setenv("PVECM_DB_DIR", tmpdir, TRUE);
    return pvecm_env_new();
}

static void make_db(const char *path)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db,
                                  "PRAGMA journal_mode=WAL;"
                                  "CREATE TABLE tree (inode INTEGER PRIMARY KEY, name TEXT);"
                                  "INSERT INTO tree VALUES (1, 'marker-for-the-backup');",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
}

static char *gunzip_file(const char *path)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    ck_assert(g_file_get_contents(path, &data, &len, NULL));
    g_autoptr(GZlibDecompressor) z = g_zlib_decompressor_new(G_ZLIB_COMPRESSOR_FORMAT_GZIP);
    g_autoptr(GInputStream) mem = g_memory_input_stream_new_from_data(data, (gssize)len, NULL);
    g_autoptr(GInputStream) in = g_converter_input_stream_new(mem, G_CONVERTER(z));
    g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable();
    ck_assert(g_output_stream_splice(out, in, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, NULL) >=
              0);
    GMemoryOutputStream *m = G_MEMORY_OUTPUT_STREAM(out);
    return g_strndup(g_memory_output_stream_get_data(m), g_memory_output_stream_get_data_size(m));
}

START_TEST(test_backup_is_a_gzipped_dump)
{
    skip_without_sqlite3();
    g_autofree char *db = g_build_filename(tmpdir, "config.db", NULL);
    make_db(db);
    g_autoptr(pvecm_env) env = env_for_tmp();
    g_autofree char *path = NULL;
    g_autoptr(GError) err = NULL;
    ck_assert_msg(pvecm_db_backup(env, &path, &err), "%s", err ? err->message : "");
    ck_assert_ptr_nonnull(path);
    g_autofree char *base = g_path_get_basename(path);
    ck_assert(g_str_has_prefix(base, "config-") && g_str_has_suffix(base, ".sql.gz"));
    g_autofree char *sql = gunzip_file(path);
    ck_assert_ptr_nonnull(strstr(sql, "CREATE TABLE tree"));
    ck_assert_ptr_nonnull(strstr(sql, "marker-for-the-backup"));
    /* a second backup in the same second gets its own file */
    g_autofree char *path2 = NULL;
    ck_assert(pvecm_db_backup(env, &path2, NULL));
    ck_assert_str_ne(path, path2);
    ck_assert(g_file_test(path, G_FILE_TEST_EXISTS));
}
END_TEST

START_TEST(test_backup_keeps_ten)
{
    skip_without_sqlite3();
    g_autofree char *db = g_build_filename(tmpdir, "config.db", NULL);
    make_db(db);
    g_autofree char *dir = g_build_filename(tmpdir, "backup", NULL);
    g_mkdir(dir, 0700);
    for (int i = 1; i <= 12; i++) {
        g_autofree char *p = g_strdup_printf("%s/config-%d.sql.gz", dir, 1000 + i);
        ck_assert(g_file_set_contents(p, "old", -1, NULL));
    }
    const char *others[] = {"config-abc.sql.gz", "notes.txt", "config-1.sql"};
    for (unsigned i = 0; i < G_N_ELEMENTS(others); i++) {
        g_autofree char *p = g_build_filename(dir, others[i], NULL);
        ck_assert(g_file_set_contents(p, "keep", -1, NULL));
    }
    g_autoptr(pvecm_env) env = env_for_tmp();
    g_autofree char *path = NULL;
    ck_assert(pvecm_db_backup(env, &path, NULL));
    unsigned backups = 0, kept_others = 0;
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *n;
    while ((n = g_dir_read_name(d))) {
        bool other = false;
        for (unsigned i = 0; i < G_N_ELEMENTS(others); i++)
            other |= strcmp(n, others[i]) == 0;
        if (other)
            kept_others++;
        else
            backups++;
    }
    g_dir_close(d);
    ck_assert_uint_eq(backups, 10);
    ck_assert_uint_eq(kept_others, G_N_ELEMENTS(others));
    for (int i = 1; i <= 3; i++) {
        g_autofree char *p = g_strdup_printf("%s/config-%d.sql.gz", dir, 1000 + i);
        ck_assert_msg(!g_file_test(p, G_FILE_TEST_EXISTS), "%s was kept", p);
    }
    g_autofree char *p4 = g_strdup_printf("%s/config-%d.sql.gz", dir, 1004);
    ck_assert(g_file_test(p4, G_FILE_TEST_EXISTS));
    ck_assert(g_file_test(path, G_FILE_TEST_EXISTS));
}
END_TEST

START_TEST(test_backup_without_database)
{
    g_autoptr(pvecm_env) env = env_for_tmp();
    g_autofree char *path = g_strdup("unchanged");
    char *ret = path;
    ck_assert(pvecm_db_backup(env, &ret, NULL));
    ck_assert_ptr_null(ret);
    g_autofree char *dir = g_build_filename(tmpdir, "backup", NULL);
    ck_assert(!g_file_test(dir, G_FILE_TEST_EXISTS));
}
END_TEST

START_TEST(test_backup_of_a_broken_database_fails)
{
    skip_without_sqlite3();
    g_autofree char *db = g_build_filename(tmpdir, "config.db", NULL);
    ck_assert(
        g_file_set_contents(db, "this is not an SQLite database, not at all......", -1, NULL));
    g_autoptr(pvecm_env) env = env_for_tmp();
    g_autofree char *path = NULL;
    g_autoptr(GError) err = NULL;
    ck_assert(!pvecm_db_backup(env, &path, &err));
    ck_assert(g_str_has_prefix(err->message, "cannot backup old database"));
    ck_assert_ptr_null(path);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("pvecm-join");
    struct {
        const char *name;
        const TTest *fn;
    } cases[] = {
        {"gzipped_dump", test_backup_is_a_gzipped_dump},
        {"keeps_ten", test_backup_keeps_ten},
        {"no_database", test_backup_without_database},
        {"broken_database", test_backup_of_a_broken_database_fails},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, cases[i].fn);
        suite_add_tcase(s, tc);
    }
    return s;
}
