/*
 * test-database: loading databases written by the reference (fixtures/config.db with
 * manifest.json and index.json), the loader's validation rules (spec §9.5), and the
 * promise that a database that fails to load is never written.
 */
#include <errno.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pmxcfs/memdb.h"
#include "tests/unit/check-main.h"
#include "tests/unit/test-util.h"

/* The reference's CREATE TABLE statement, byte for byte (spec §9.2). */
#define REFERENCE_SCHEMA                                                                 \
    "CREATE TABLE tree (  inode INTEGER PRIMARY KEY NOT NULL,  parent INTEGER NOT NULL " \
    "CHECK(typeof(parent)=='integer'),  version INTEGER NOT NULL "                       \
    "CHECK(typeof(version)=='integer'),  writer INTEGER NOT NULL "                       \
    "CHECK(typeof(writer)=='integer'),  mtime INTEGER NOT NULL "                         \
    "CHECK(typeof(mtime)=='integer'),  type INTEGER NOT NULL "                           \
    "CHECK(typeof(type)=='integer'),  name TEXT NOT NULL,  data BLOB)"

static char *tmpdir;

static void setup(void)
{
    tmpdir = test_tmpdir();
}

static void teardown(void)
{
    test_rmtree(tmpdir);
    g_clear_pointer(&tmpdir, g_free);
}

/* A private copy of the fixture database (opening WAL files next to it writes). */
static char *fixture_copy(void)
{
    g_autofree char *src = test_fixture_path("config.db");
    char *dst = g_build_filename(tmpdir, "config.db", NULL);
    ck_assert_int_eq(test_copy_file(src, dst), 0);
    return dst;
}

START_TEST(test_fixture_sha_unchanged)
{
    g_autoptr(JsonNode) manifest = test_fixture_json("manifest.json");
    g_autofree char *path = test_fixture_path("config.db");
    g_autofree char *sha = test_file_sha256(path);
    ck_assert_str_eq(sha, json_object_get_string_member(json_node_get_object(manifest),
                                                        "database_sha256"));
}
END_TEST

START_TEST(test_fixture_tree_matches_manifest)
{
    g_autoptr(JsonNode) manifest = test_fixture_json("manifest.json");
    JsonObject *mo = json_node_get_object(manifest);
    g_autofree char *db = fixture_copy();
    g_autoptr(GError) err = NULL;
    g_autoptr(memdb) m = memdb_open(db, NULL, NULL, &err);
    ck_assert_msg(m != NULL, "%s", err ? err->message : "");

    JsonObject *gv = json_object_get_object_member(mo, "global_version");
    uint64_t version;
    uint32_t writer, mtime;
    memdb_version(m, &version, &writer, &mtime);
    ck_assert_uint_eq(version, json_object_get_int_member(gv, "version"));
    ck_assert_uint_eq(writer, json_object_get_int_member(gv, "writer"));
    ck_assert_uint_eq(mtime, json_object_get_int_member(gv, "mtime"));

    JsonArray *rows = json_object_get_array_member(mo, "rows");
    guint files = 0;
    for (guint i = 0; i < json_array_get_length(rows); i++) {
        JsonObject *r = json_array_get_object_element(rows, i);
        if (strcmp(json_object_get_string_member(r, "kind"), "version-row") == 0)
            continue;
        const char *path = json_object_get_string_member(r, "path");
        memdb_attr a;
        ck_assert_msg(memdb_lookup_path(m, path, &a) == 0, "'%s' not found", path);
        ck_assert_uint_eq(a.inode, json_object_get_int_member(r, "inode"));
        ck_assert_uint_eq(a.parent, json_object_get_int_member(r, "parent"));
        ck_assert_uint_eq(a.version, json_object_get_int_member(r, "version"));
        ck_assert_uint_eq(a.writer, json_object_get_int_member(r, "writer"));
        ck_assert_uint_eq(a.mtime, json_object_get_int_member(r, "mtime"));
        ck_assert_uint_eq(a.type, json_object_get_int_member(r, "type"));
        g_autofree char *got_path = memdb_path(m, a.inode);
        ck_assert_str_eq(got_path, path);
        if (a.type == CFS_TYPE_REG) {
            files++;
            g_autoptr(GBytes) data = NULL;
            ck_assert_int_eq(memdb_read_path(m, path, &data), 0);
            gsize len;
            const void *p = g_bytes_get_data(data, &len);
            JsonNode *size = json_object_get_member(r, "size");
            ck_assert_uint_eq(len, JSON_NODE_HOLDS_NULL(size) ? 0 : json_node_get_int(size));
            if (len) {
                g_autofree char *sha = g_compute_checksum_for_data(G_CHECKSUM_SHA256, p, len);
                ck_assert_str_eq(sha, json_object_get_string_member(r, "sha256"));
            }
        } else {
            ck_assert_uint_eq(a.size, 0);
        }
    }
    ck_assert_uint_gt(files, 5);
    uint64_t bytes, entries;
    memdb_usage(m, &bytes, &entries);
    ck_assert_uint_eq(entries, json_object_get_int_member(mo, "entry_count_excluding_version_row") + 1);

    static const char *const absent[] = {"to-be-deleted.txt", "x.tmp.123",
                                         "user.cfg.tmp.4242",
                                         "nodes/node1/qemu-server/101.conf"};
    for (size_t i = 0; i < G_N_ELEMENTS(absent); i++) {
        memdb_attr a;
        ck_assert_int_eq(memdb_lookup_path(m, absent[i], &a), -ENOENT);
    }

    /* the VM list and the lock table */
    g_autoptr(GArray) vms = memdb_vmlist_snapshot(m, NULL);
    ck_assert_uint_eq(vms->len, 3);
    g_autofree char *p100 = memdb_vm_config_path(m, 100);
    g_autofree char *p101 = memdb_vm_config_path(m, 101);
    g_autofree char *p200 = memdb_vm_config_path(m, 200);
    ck_assert_str_eq(p100, "nodes/node1/qemu-server/100.conf");
    ck_assert_str_eq(p101, "nodes/node2/qemu-server/101.conf");
    ck_assert_str_eq(p200, "nodes/node2/lxc/200.conf");
    ck_assert_uint_eq(memdb_lock_count(m), 1);
}
END_TEST

START_TEST(test_fixture_index_and_checksum)
{
    g_autoptr(JsonNode) index = test_fixture_json("index.json");
    JsonObject *io = json_node_get_object(index);
    g_autofree char *db = fixture_copy();
    g_autoptr(GError) err = NULL;
    g_autoptr(memdb) m = memdb_open(db, NULL, NULL, &err);
    ck_assert_msg(m != NULL, "%s", err ? err->message : "");

    g_autoptr(GBytes) idx = memdb_encode_index(m);
    gsize len;
    const uint8_t *b = g_bytes_get_data(idx, &len);
    g_autofree char *header = test_hex(b, 32);
    ck_assert_str_eq(header, json_object_get_string_member(io, "header_hex"));
    JsonArray *entries = json_object_get_array_member(io, "entries");
    for (guint i = 0; i < json_array_get_length(entries); i++) {
        JsonObject *e = json_array_get_object_element(entries, i);
        g_autofree char *digest = test_hex(b + 32 + 40 * i + 8, 32);
        ck_assert_msg(strcmp(digest, json_object_get_string_member(e, "digest")) == 0,
                      "digest of '%s' differs", json_object_get_string_member(e, "path"));
    }
    g_autofree char *hex = test_hex(b, len);
    ck_assert_str_eq(hex, json_object_get_string_member(io, "index_hex"));
    g_autofree char *sha = g_compute_checksum_for_data(G_CHECKSUM_SHA256, b, len);
    ck_assert_str_eq(sha, json_object_get_string_member(io, "index_sha256"));

    uint8_t csum[32];
    memdb_compute_checksum(m, csum);
    g_autofree char *chex = test_hex(csum, 32);
    ck_assert_str_eq(chex, json_object_get_string_member(io, "memdb_compute_checksum"));
}
END_TEST

START_TEST(test_fixture_continue_writing)
{
    /* Our writes continue the reference's version and inode scheme */
    g_autofree char *db = fixture_copy();
    g_autoptr(GError) err = NULL;
    memdb *m = memdb_open(db, NULL, NULL, &err);
    ck_assert(m != NULL);
    ck_assert_int_eq(memdb_create(m, "new.cfg", 0, 5), 0);
    memdb_attr a;
    ck_assert_int_eq(memdb_lookup_path(m, "new.cfg", &a), 0);
    ck_assert_uint_eq(a.inode, 49);
    ck_assert_int_eq(memdb_create(m, "nodes/node1/qemu-server/101.conf", 0, 5), -EEXIST);
    memdb_free(m);

    /* and the file stays a plain reference-format database */
    sqlite3 *h = NULL;
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(h,
                                        "SELECT version, type, name FROM tree WHERE inode = 0",
                                        -1, &st, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(st, 0), 49);
    ck_assert_int_eq(sqlite3_column_int(st, 1), 8);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 2), "__version__");
    sqlite3_finalize(st);
    ck_assert_int_eq(sqlite3_prepare_v2(h, "SELECT count(*) FROM sqlite_schema", -1, &st, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    sqlite3_close(h);
}
END_TEST

/* Create a reference-schema database with the given extra SQL, then try to load it. */
static void expect_load_failure(const char *sql, const char *message)
{
    g_autofree char *db = g_build_filename(tmpdir, "bad.db", NULL);
    unlink(db);
    sqlite3 *h = NULL;
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(
        h,
        REFERENCE_SCHEMA ";"
        "INSERT INTO tree VALUES (0, 0, 20, 0, 1, 8, '__version__', NULL);",
        NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s", msg);
    rc = sqlite3_exec(h, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg);
    sqlite3_close(h);

    g_autofree char *before = test_file_sha256(db);
    g_autoptr(GError) err = NULL;
    memdb *m = memdb_open(db, NULL, NULL, &err);
    ck_assert_msg(m == NULL, "loaded a bad database: %s", sql);
    ck_assert_msg(err && strstr(err->message, message), "expected '%s', got '%s'", message,
                  err ? err->message : "(none)");
    g_autofree char *after = test_file_sha256(db);
    ck_assert_str_eq(before, after);
}

START_TEST(test_load_validation)
{
    expect_load_failure("INSERT INTO tree VALUES (2, 0, 2, 0, 1, 8, '', NULL)",
                        "inode has no name");
    expect_load_failure("INSERT INTO tree VALUES (2, 0, 2, 0, 1, 4, 'd', x'00')",
                        "directory inode contains data");
    expect_load_failure("INSERT INTO tree VALUES (2, 0, 2, 0, 1, 7, 'x', NULL)",
                        "inode has unknown type");
    expect_load_failure("UPDATE tree SET name = 'root' WHERE inode = 0",
                        "root inode has unexpected name");
    expect_load_failure("INSERT INTO tree VALUES (2, 0, 2, 0, 1, 8, 'f', x'41');"
                        "INSERT INTO tree VALUES (3, 2, 3, 0, 1, 8, 'g', NULL)",
                        "parent is not a directory");
    expect_load_failure("INSERT INTO tree VALUES (2, 0, 2, 0, 1, 8, 'f', NULL);"
                        "INSERT INTO tree VALUES (3, 0, 3, 0, 1, 8, 'f', NULL)",
                        "found entry with duplicate name");
    expect_load_failure("INSERT INTO tree VALUES (2, 9, 2, 0, 1, 8, 'f', NULL)",
                        "missing directory inode");
    expect_load_failure("INSERT INTO tree VALUES (2, 3, 2, 0, 1, 4, 'a', NULL);"
                        "INSERT INTO tree VALUES (3, 2, 3, 0, 1, 4, 'b', NULL)",
                        "parent cycle");
}
END_TEST

START_TEST(test_load_accepts_reference_variants)
{
    /* directory with an empty blob, file with NULL data, version row of type 4,
     * child before parent */
    g_autofree char *db = g_build_filename(tmpdir, "ok.db", NULL);
    sqlite3 *h = NULL;
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_exec(h,
                     REFERENCE_SCHEMA ";"
                     "INSERT INTO tree VALUES (0, 0, 9, 4294967298, 1, 4, '__version__', NULL);"
                     "INSERT INTO tree VALUES (2, 5, 9, 0, 1, 8, 'child', NULL);"
                     "INSERT INTO tree VALUES (5, 0, 5, 0, 1, 4, 'dir', x'');",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(h);
    g_autoptr(GError) err = NULL;
    g_autoptr(memdb) m = memdb_open(db, NULL, NULL, &err);
    ck_assert_msg(m != NULL, "%s", err ? err->message : "");
    memdb_attr a;
    ck_assert_int_eq(memdb_lookup_path(m, "dir/child", &a), 0);
    ck_assert_uint_eq(a.size, 0);
    uint32_t writer;
    memdb_version(m, NULL, &writer, NULL);
    ck_assert_uint_eq(writer, 2); /* low 32 bits */
}
END_TEST

START_TEST(test_corrupt_files_untouched)
{
    g_autofree char *db = g_build_filename(tmpdir, "garbage.db", NULL);
    g_autofree char *junk = g_strnfill(8192, 'x');
    ck_assert(g_file_set_contents(db, junk, -1, NULL));
    g_autofree char *before = test_file_sha256(db);
    g_autoptr(GError) err = NULL;
    ck_assert(memdb_open(db, NULL, NULL, &err) == NULL);
    ck_assert(err != NULL);
    g_autofree char *after = test_file_sha256(db);
    ck_assert_str_eq(before, after);

    /* a truncated copy of the fixture */
    g_autofree char *src = test_fixture_path("config.db");
    g_autofree char *content = NULL;
    gsize len;
    ck_assert(g_file_get_contents(src, &content, &len, NULL));
    g_autofree char *trunc = g_build_filename(tmpdir, "trunc.db", NULL);
    ck_assert(g_file_set_contents(trunc, content, (gssize)(len / 3), NULL));
    g_autofree char *tb = test_file_sha256(trunc);
    g_clear_error(&err);
    ck_assert(memdb_open(trunc, NULL, NULL, &err) == NULL);
    ck_assert(err != NULL);
    g_autofree char *ta = test_file_sha256(trunc);
    ck_assert_str_eq(tb, ta);
}
END_TEST

START_TEST(test_duplicate_vmids_load)
{
    /* W14: duplicates load; the copy with the higher version wins */
    g_autofree char *db = g_build_filename(tmpdir, "dup.db", NULL);
    {
        g_autoptr(GError) err = NULL;
        memdb *m = memdb_open(db, NULL, NULL, &err);
        ck_assert(m != NULL);
        ck_assert_int_eq(memdb_mkdir(m, "nodes", 0, 1), 0);
        ck_assert_int_eq(memdb_mkdir(m, "nodes/a", 0, 1), 0);
        ck_assert_int_eq(memdb_mkdir(m, "nodes/b", 0, 1), 0);
        ck_assert_int_eq(memdb_mkdir(m, "nodes/a/qemu-server", 0, 1), 0);
        ck_assert_int_eq(memdb_mkdir(m, "nodes/b/lxc", 0, 1), 0);
        ck_assert_int_eq(memdb_create(m, "nodes/a/qemu-server/100.conf", 0, 1), 0);
        ck_assert_int_eq(memdb_create(m, "nodes/b/lxc/101.conf", 0, 1), 0);
        memdb_free(m);
    }
    sqlite3 *h = NULL;
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(h, "UPDATE tree SET name = '100.conf' WHERE name = '101.conf'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    g_autoptr(GError) err = NULL;
    g_autoptr(memdb) m = memdb_open(db, NULL, NULL, &err);
    ck_assert_msg(m != NULL, "%s", err ? err->message : "");
    g_autofree char *p = memdb_vm_config_path(m, 100);
    ck_assert_str_eq(p, "nodes/b/lxc/100.conf");
    /* checks work against the winner */
    ck_assert_int_eq(memdb_mkdir(m, "nodes/c", 0, 1), 0);
    ck_assert_int_eq(memdb_mkdir(m, "nodes/c/lxc", 0, 1), 0);
    ck_assert_int_eq(memdb_create(m, "nodes/c/lxc/100.conf", 0, 1), -EEXIST);
}
END_TEST

START_TEST(test_new_database)
{
    g_autofree char *db = g_build_filename(tmpdir, "new.db", NULL);
    g_autoptr(GError) err = NULL;
    bool created = false;
    g_autoptr(memdb) m = memdb_open(db, NULL, &created, &err);
    ck_assert(m != NULL);
    ck_assert(created);
    uint64_t v;
    memdb_version(m, &v, NULL, NULL);
    ck_assert_uint_eq(v, 1);
    struct stat st;
    ck_assert_int_eq(stat(db, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("database");
    TCase *tc = tcase_create("database");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_fixture_sha_unchanged);
    tcase_add_test(tc, test_fixture_tree_matches_manifest);
    tcase_add_test(tc, test_fixture_index_and_checksum);
    tcase_add_test(tc, test_fixture_continue_writing);
    tcase_add_test(tc, test_load_validation);
    tcase_add_test(tc, test_load_accepts_reference_variants);
    tcase_add_test(tc, test_corrupt_files_untouched);
    tcase_add_test(tc, test_duplicate_vmids_load);
    tcase_add_test(tc, test_new_database);
    suite_add_tcase(s, tc);
    return s;
}
