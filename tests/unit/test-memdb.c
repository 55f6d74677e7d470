/*
 * test-memdb: the in-RAM tree and its apply rules, against the reference oracle
 * (fixtures/oracle-100files.json) and the behavioural vectors of spec §8.4, §4.2, §6, §7.
 * Every test works on a fresh database in its own temporary directory.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sched.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pmxcfs/memdb.h"
#include "tests/unit/check-main.h"
#include "tests/unit/test-util.h"

typedef struct fixture {
    char *dir;
    char *db_path;
    memdb *m;
} fixture;

static fixture fx;
static uint64_t fake_now = 1000;

static uint64_t fake_clock(void *user_data)
{
    (void)user_data;
    return fake_now;
}

static memdb *open_db(void)
{
    g_autoptr(GError) err = NULL;
    memdb_options opts = {.now = fake_clock};
    memdb *m = memdb_open(fx.db_path, &opts, NULL, &err);
    ck_assert_msg(m != NULL, "memdb_open: %s", err ? err->message : "?");
    return m;
}

static void setup(void)
{
    fake_now = 1000;
    fx.dir = test_tmpdir();
    fx.db_path = g_build_filename(fx.dir, "config.db", NULL);
    fx.m = open_db();
}

static void teardown(void)
{
    memdb_free(fx.m);
    test_rmtree(fx.dir);
    g_free(fx.dir);
    g_free(fx.db_path);
    memset(&fx, 0, sizeof(fx));
}

static void reopen(void)
{
    memdb_free(fx.m);
    fx.m = open_db();
}

static uint64_t version_of(memdb *m)
{
    uint64_t v;
    memdb_version(m, &v, NULL, NULL);
    return v;
}

static char *read_all(memdb *m, const char *path)
{
    g_autoptr(GBytes) b = NULL;
    if (memdb_read_path(m, path, &b) < 0)
        return NULL;
    gsize len;
    const char *data = g_bytes_get_data(b, &len);
    return g_strndup(data, len);
}

#define W(m, path, str, off, trunc)                                                                \
    memdb_write(m, path, off, str, strlen(str), trunc, 0, 1234)

/* ---------------------------------------------------------------------------------- */

START_TEST(test_oracle_100files)
{
    g_autoptr(JsonNode) root = test_fixture_json("oracle-100files.json");
    JsonObject *o = json_node_get_object(root);
    static uint8_t zeros[32768];

    ck_assert_uint_eq(version_of(fx.m), 1);
    for (int i = 0; i < 100; i++) {
        g_autofree char *name = g_strdup_printf("testfile%d", i);
        ck_assert_int_eq(memdb_create(fx.m, name, 0, 1234), 0);
        ck_assert_int_eq(memdb_write(fx.m, name, 0, zeros, sizeof(zeros), false, 0, 1234),
                         (int)sizeof(zeros));
    }
    g_autoptr(GBytes) index = memdb_encode_index(fx.m);
    gsize len;
    const uint8_t *bytes = g_bytes_get_data(index, &len);
    ck_assert_uint_eq(len, json_object_get_int_member(o, "bytes"));
    g_autofree char *header = test_hex(bytes, 32);
    ck_assert_str_eq(header, json_object_get_string_member(o, "header_hex"));

    /* every entry digest, to find the first difference quickly */
    JsonArray *entries = json_object_get_array_member(o, "entries");
    ck_assert_uint_eq(json_array_get_length(entries), 101);
    for (guint i = 0; i < 101; i++) {
        JsonObject *e = json_array_get_object_element(entries, i);
        g_autofree char *inode = test_hex(bytes + 32 + 40 * i, 8);
        g_autofree char *digest = test_hex(bytes + 32 + 40 * i + 8, 32);
        ck_assert_msg(strcmp(digest, json_object_get_string_member(e, "digest")) == 0,
                      "entry %u (inode %" G_GINT64_FORMAT ") digest %s", i,
                      json_object_get_int_member(e, "inode"), digest);
    }
    g_autofree char *hex = test_hex(bytes, len);
    ck_assert_str_eq(hex, json_object_get_string_member(o, "index_hex"));
    g_autofree char *sha = g_compute_checksum_for_data(G_CHECKSUM_SHA256, bytes, len);
    ck_assert_str_eq(sha, "913fd95015af9d93f10dd51ba2a7bb11351bcfe040be21e95fcba834adc3ec10");

    uint8_t csum[32];
    memdb_compute_checksum(fx.m, csum);
    g_autofree char *csum_hex = test_hex(csum, 32);
    ck_assert_str_eq(csum_hex, json_object_get_string_member(o, "memdb_compute_checksum"));

    uint64_t used_bytes, used_entries;
    memdb_usage(fx.m, &used_bytes, &used_entries);
    ck_assert_uint_eq(used_entries, 101);
    ck_assert_uint_eq(used_bytes, 100 * 32768);

    /* the same index after a reload from SQLite */
    reopen();
    g_autoptr(GBytes) index2 = memdb_encode_index(fx.m);
    ck_assert(g_bytes_equal(index, index2));
}
END_TEST

START_TEST(test_digest_input_example)
{
    /* testfile0 of the oracle, field by field */
    memdb_attr a = {.inode = 2, .version = 3, .writer = 0, .mtime = 1234, .size = 32768,
                    .type = CFS_TYPE_REG, .parent = 0};
    static uint8_t zeros[32768];
    uint8_t d[32];
    memdb_entry_digest(&a, "testfile0", zeros, d);
    g_autofree char *hex = test_hex(d, 32);
    ck_assert_str_eq(hex, "fa90abf2b5a96dcbc11736c13ea2c7d961ef7bec55f5cffe7b20042ab1fe5f15");
}
END_TEST

START_TEST(test_mkdir_delete_vectors)
{
    ck_assert_int_eq(memdb_mkdir(fx.m, "dir1/sdir1", 0, 1234), -ENOENT);
    ck_assert_int_eq(memdb_delete(fx.m, "dir1", 0, 1234), -ENOENT);
    ck_assert_int_eq(memdb_mkdir(fx.m, "dir1", 0, 1234), 0);
    ck_assert_int_eq(memdb_mkdir(fx.m, "dir1", 0, 1234), -EEXIST);
    ck_assert_int_eq(memdb_mkdir(fx.m, "dir1/sdir1", 0, 1234), 0);
    ck_assert_int_eq(memdb_mkdir(fx.m, "dir1/sdir1", 0, 1234), -EEXIST);
    ck_assert_int_eq(memdb_delete(fx.m, "dir1", 0, 1234), -ENOTEMPTY);
    ck_assert_int_eq(memdb_delete(fx.m, "dir1/sdir1", 0, 1234), 0);
    ck_assert_int_eq(memdb_delete(fx.m, "dir1", 0, 1234), 0);
    ck_assert_int_eq(memdb_delete(fx.m, "", 0, 1234), -EACCES);
    /* 4 successful operations on a version-1 database */
    ck_assert_uint_eq(version_of(fx.m), 5);
}
END_TEST

START_TEST(test_write_vectors)
{
    char buf[2048];
    memset(buf, 'a', sizeof(buf));
    ck_assert_int_eq(memdb_mkdir(fx.m, "dir1", 0, 1234), 0);
    ck_assert_int_eq(memdb_write(fx.m, "dir1/f1", 0, buf, 1024, false, 0, 1234), -ENOENT);
    ck_assert_int_eq(memdb_create(fx.m, "dir1/f1", 0, 1234), 0);
    ck_assert_int_eq(memdb_write(fx.m, "dir1/f1", 0, buf, 1024, false, 0, 1234), 1024);
    memdb_attr a;
    ck_assert_int_eq(memdb_lookup_path(fx.m, "dir1/f1", &a), 0);
    ck_assert_uint_eq(a.size, 1024);
    char rbuf[2048];
    ck_assert_int_eq(memdb_read(fx.m, a.inode, rbuf, sizeof(rbuf), 0), 1024);
    ck_assert(memcmp(rbuf, buf, 1024) == 0);

    ck_assert_int_eq(W(fx.m, "dir1/f1", "0123456789", 0, true), 10);
    ck_assert_int_eq(W(fx.m, "dir1/f1", "X", 3, false), 1);
    ck_assert_int_eq(W(fx.m, "dir1/f1", "X", 6, false), 1);
    g_autofree char *content = read_all(fx.m, "dir1/f1");
    ck_assert_str_eq(content, "012X45X789");
    ck_assert_int_eq(memdb_delete(fx.m, "dir1/f1", 0, 1234), 0);
    ck_assert_int_eq(memdb_delete(fx.m, "dir1/f1", 0, 1234), -ENOENT);
}
END_TEST

START_TEST(test_write_errors_and_holes)
{
    ck_assert_int_eq(memdb_create(fx.m, "f", 0, 1), 0);
    ck_assert_int_eq(W(fx.m, "f", "Z", 100, false), 1);
    memdb_attr a;
    ck_assert_int_eq(memdb_lookup_path(fx.m, "f", &a), 0);
    ck_assert_uint_eq(a.size, 101);
    char buf[101];
    ck_assert_int_eq(memdb_read(fx.m, a.inode, buf, sizeof(buf), 0), 101);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(buf[i], 0);
    ck_assert_int_eq(buf[100], 'Z');
    /* offsets are checked in 64 bits: 4 GiB + 1 must not wrap to 1 (W20) */
    ck_assert_int_eq(memdb_write(fx.m, "f", (1ull << 32) + 1, "x", 1, false, 0, 1), -EFBIG);
    ck_assert_int_eq(memdb_write(fx.m, "f", CFS_MAX_FILE_SIZE, "x", 1, false, 0, 1), -EFBIG);
    ck_assert_int_eq(memdb_write(fx.m, "f", CFS_MAX_FILE_SIZE - 1, "x", 1, false, 0, 1), 1);
    /* truncate = write of length 0 with the flag */
    ck_assert_int_eq(memdb_write(fx.m, "f", CFS_MAX_FILE_SIZE + 1, NULL, 0, true, 0, 1), -EFBIG);
    ck_assert_int_eq(memdb_write(fx.m, "f", 10, NULL, 0, true, 0, 1), 0);
    ck_assert_int_eq(memdb_lookup_path(fx.m, "f", &a), 0);
    ck_assert_uint_eq(a.size, 10);
    ck_assert_int_eq(memdb_mkdir(fx.m, "d", 0, 1), 0);
    ck_assert_int_eq(W(fx.m, "d", "x", 0, false), -ENOTDIR);
    ck_assert_int_eq(W(fx.m, "f/x", "x", 0, false), -ENOTDIR);
    ck_assert_int_eq(W(fx.m, "missing/x", "x", 0, false), -ENOENT);
    ck_assert_int_eq(W(fx.m, "d/..", "x", 0, false), -EACCES);
    ck_assert_int_eq(memdb_create(fx.m, "d/.", 0, 1), -EACCES);
    ck_assert_int_eq(memdb_create(fx.m, "", 0, 1), -EACCES);
    ck_assert_int_eq(memdb_create(fx.m, "f/g", 0, 1), -ENOTDIR);
    ck_assert_int_eq(memdb_mkdir(fx.m, "f/g", 0, 1), -ENOTDIR);
    ck_assert_int_eq(memdb_create(fx.m, "f", 0, 1), -EEXIST);
    ck_assert_int_eq(memdb_mkdir(fx.m, "f", 0, 1), -EEXIST);
    ck_assert_int_eq(memdb_create(fx.m, "d", 0, 1), -EEXIST);
    /* failed operations change nothing */
    uint64_t v = version_of(fx.m);
    ck_assert_int_eq(memdb_create(fx.m, "d", 0, 1), -EEXIST);
    ck_assert_uint_eq(version_of(fx.m), v);
}
END_TEST

START_TEST(test_chunked_write_linear)
{
    /* 1 MiB in 4 KiB chunks: content right, and the tree keeps one growing buffer */
    static uint8_t chunk[4096];
    ck_assert_int_eq(memdb_create(fx.m, "big", 0, 1), 0);
    for (int i = 0; i < 256; i++) {
        memset(chunk, i, sizeof(chunk));
        ck_assert_int_eq(memdb_write(fx.m, "big", (uint64_t)i * 4096, chunk, 4096, false, 0, 1),
                         4096);
    }
    reopen();
    memdb_attr a;
    ck_assert_int_eq(memdb_lookup_path(fx.m, "big", &a), 0);
    ck_assert_uint_eq(a.size, CFS_MAX_FILE_SIZE);
    uint8_t b;
    for (int i = 0; i < 256; i++) {
        ck_assert_int_eq(memdb_read(fx.m, a.inode, &b, 1, (uint64_t)i * 4096 + 17), 1);
        ck_assert_int_eq(b, i);
    }
}
END_TEST

START_TEST(test_inode_and_version_scheme)
{
    memdb_attr a;
    ck_assert_int_eq(memdb_mkdir(fx.m, "nodes", 0, 5), 0);
    ck_assert_int_eq(memdb_lookup_path(fx.m, "nodes", &a), 0);
    ck_assert_uint_eq(a.inode, 2);
    ck_assert_uint_eq(a.version, 2);
    ck_assert_int_eq(memdb_create(fx.m, "x.tmp", 7, 6), 0);
    ck_assert_int_eq(W(fx.m, "x.tmp", "abc", 0, false), 3);
    ck_assert_int_eq(memdb_rename(fx.m, "x.tmp", "x.cfg", 9, 99), 0);
    ck_assert_int_eq(memdb_lookup_path(fx.m, "x.cfg", &a), 0);
    /* rename keeps the inode, takes a new version, the op's writer and mtime */
    ck_assert_uint_eq(a.inode, 3);
    ck_assert_uint_eq(a.version, 5);
    ck_assert_uint_eq(a.writer, 9);
    ck_assert_uint_eq(a.mtime, 99);
    uint32_t writer, mtime;
    uint64_t version;
    memdb_version(fx.m, &version, &writer, &mtime);
    ck_assert_uint_eq(version, 5);
    ck_assert_uint_eq(writer, 9);
    ck_assert_uint_eq(mtime, 99);
    ck_assert_int_eq(memdb_lookup_path(fx.m, "x.tmp", &a), -ENOENT);
    /* a deleted entry's inode is never reused */
    ck_assert_int_eq(memdb_delete(fx.m, "x.cfg", 0, 100), 0);
    ck_assert_int_eq(memdb_create(fx.m, "y", 0, 101), 0);
    ck_assert_int_eq(memdb_lookup_path(fx.m, "y", &a), 0);
    ck_assert_uint_eq(a.inode, 7);
}
END_TEST

START_TEST(test_rename_rules)
{
    ck_assert_int_eq(memdb_mkdir(fx.m, "d1", 0, 1), 0);
    ck_assert_int_eq(memdb_mkdir(fx.m, "d1/d2", 0, 1), 0);
    ck_assert_int_eq(memdb_mkdir(fx.m, "e", 0, 1), 0);
    ck_assert_int_eq(memdb_rename(fx.m, "missing", "x", 0, 1), -ENOENT);
    ck_assert_int_eq(memdb_rename(fx.m, "", "x", 0, 1), -EACCES);
    ck_assert_int_eq(memdb_rename(fx.m, "d1", "d3", 0, 1), -ENOTEMPTY);
    ck_assert_int_eq(memdb_rename(fx.m, "e", "nope/x", 0, 1), -ENOENT);
    ck_assert_int_eq(memdb_create(fx.m, "f", 0, 1), 0);
    ck_assert_int_eq(memdb_rename(fx.m, "e", "f/x", 0, 1), -ENOTDIR);
    ck_assert_int_eq(memdb_rename(fx.m, "e", "e/x", 0, 1), -EINVAL);

    /* W1: a non-empty directory onto an existing empty directory fails and changes
     * nothing, in RAM and on disk */
    uint64_t v = version_of(fx.m);
    ck_assert_int_eq(memdb_rename(fx.m, "d1", "e", 0, 1), -ENOTEMPTY);
    memdb_attr a;
    ck_assert_int_eq(memdb_lookup_path(fx.m, "e", &a), 0);
    ck_assert_uint_eq(version_of(fx.m), v);
    uint8_t before[32], after[32];
    memdb_compute_checksum(fx.m, before);
    reopen();
    memdb_compute_checksum(fx.m, after);
    ck_assert(memcmp(before, after, 32) == 0);

    /* an empty directory replaces an empty directory; a file replaces a file */
    ck_assert_int_eq(memdb_rename(fx.m, "d1/d2", "e", 0, 1), 0);
    ck_assert_int_eq(memdb_lookup_path(fx.m, "d1/d2", &a), -ENOENT);
    ck_assert_int_eq(memdb_create(fx.m, "g", 0, 1), 0);
    ck_assert_int_eq(W(fx.m, "g", "one", 0, false), 3);
    ck_assert_int_eq(W(fx.m, "f", "two", 0, false), 3);
    ck_assert_int_eq(memdb_rename(fx.m, "g", "f", 0, 1), 0);
    g_autofree char *c = read_all(fx.m, "f");
    ck_assert_str_eq(c, "one");
    uint64_t bytes, entries;
    memdb_usage(fx.m, &bytes, &entries);
    ck_assert_uint_eq(bytes, 3);
    /* renaming onto itself keeps the entry */
    ck_assert_int_eq(memdb_rename(fx.m, "f", "f", 0, 1), 0);
    ck_assert_int_eq(memdb_lookup_path(fx.m, "f", &a), 0);
}
END_TEST

START_TEST(test_rename_children_before_parents_reload)
{
    /* spec §8.4: children with smaller inodes than their parents survive a reopen */
    ck_assert_int_eq(memdb_mkdir(fx.m, "dir1", 0, 1234), 0);
    ck_assert_int_eq(memdb_create(fx.m, "dir1/file1", 0, 1234), 0);
    ck_assert_int_eq(memdb_create(fx.m, "dir1/file2", 0, 1234), 0);
    ck_assert_int_eq(memdb_mkdir(fx.m, "dir1/sd1", 0, 1234), 0);
    ck_assert_int_eq(memdb_mkdir(fx.m, "dir2", 0, 1234), 0);
    ck_assert_int_eq(memdb_rename(fx.m, "dir1/sd1", "dir2/sd1", 0, 1234), 0);
    ck_assert_int_eq(memdb_rename(fx.m, "dir1/file1", "dir2/sd1/file1", 0, 1234), 0);
    ck_assert_int_eq(memdb_rename(fx.m, "dir1/file2", "dir2/file2", 0, 1234), 0);
    reopen();
    ck_assert_int_eq(memdb_create(fx.m, "dir2/sd1/file1", 0, 1234), -EEXIST);
    ck_assert_int_eq(memdb_create(fx.m, "dir2/file2", 0, 1234), -EEXIST);
    ck_assert_int_eq(memdb_mkdir(fx.m, "dir2/sd1", 0, 1234), -EEXIST);
}
END_TEST

static void make_node_dirs(const char *node)
{
    g_autofree char *n = g_strdup_printf("nodes/%s", node);
    memdb_mkdir(fx.m, "nodes", 0, 1);
    ck_assert_int_eq(memdb_mkdir(fx.m, n, 0, 1), 0);
    static const char *const kinds[] = {"qemu-server", "lxc", "openvz", "priv"};
    for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++) {
        g_autofree char *p = g_strdup_printf("nodes/%s/%s", node, kinds[i]);
        ck_assert_int_eq(memdb_mkdir(fx.m, p, 0, 1), 0);
    }
}

static bool vm_is(uint32_t vmid, const char *node, vm_type type, uint64_t *ret_version)
{
    g_autoptr(GArray) list = memdb_vmlist_snapshot(fx.m, NULL);
    for (guint i = 0; i < list->len; i++) {
        memdb_vm *vm = &g_array_index(list, memdb_vm, i);
        if (vm->vmid == vmid) {
            if (ret_version)
                *ret_version = vm->version;
            return strcmp(vm->node, node) == 0 && vm->type == type;
        }
    }
    return false;
}

START_TEST(test_vmid_rules)
{
    make_node_dirs("n1");
    make_node_dirs("other");
    ck_assert_uint_eq(memdb_vmlist_version(fx.m), 0);
    ck_assert_int_eq(memdb_create(fx.m, "nodes/n1/qemu-server/100.conf", 0, 1), 0);
    ck_assert_int_eq(W(fx.m, "nodes/n1/qemu-server/100.conf", "name: a\n", 0, false), 8);
    uint64_t v;
    ck_assert(vm_is(100, "n1", VMTYPE_QEMU, &v));
    ck_assert_uint_eq(v, 2);
    ck_assert_uint_eq(memdb_vmlist_version(fx.m), 2);
    /* same VMID, other type or other node: EEXIST */
    ck_assert_int_eq(memdb_create(fx.m, "nodes/n1/lxc/100.conf", 0, 1), -EEXIST);
    ck_assert_int_eq(memdb_create(fx.m, "nodes/other/qemu-server/100.conf", 0, 1), -EEXIST);
    /* not guest configs */
    ck_assert_int_eq(memdb_create(fx.m, "nodes/n1/qemu-server/0100.conf", 0, 1), 0);
    ck_assert_int_eq(memdb_create(fx.m, "nodes/n1/qemu-server/100.conf.tmp", 0, 1), 0);
    ck_assert_int_eq(memdb_create(fx.m, "nodes/n1/qemu-server/99.conf", 0, 1), 0);
    ck_assert(vm_is(99, "n1", VMTYPE_QEMU, NULL));
    /* migration: same VMID to another node is allowed */
    ck_assert_int_eq(memdb_rename(fx.m, "nodes/n1/qemu-server/100.conf",
                                  "nodes/other/qemu-server/100.conf", 0, 1),
                     0);
    ck_assert(vm_is(100, "other", VMTYPE_QEMU, NULL));
    /* type change by rename of the same VMID */
    ck_assert_int_eq(memdb_rename(fx.m, "nodes/other/qemu-server/100.conf",
                                  "nodes/other/lxc/100.conf", 0, 1),
                     0);
    ck_assert(vm_is(100, "other", VMTYPE_LXC, NULL));
    /* a different VMID onto a registered one: EEXIST */
    ck_assert_int_eq(memdb_create(fx.m, "nodes/n1/qemu-server/102.conf", 0, 1), 0);
    ck_assert_int_eq(memdb_rename(fx.m, "nodes/n1/qemu-server/102.conf",
                                  "nodes/n1/qemu-server/100.conf", 0, 1),
                     -EEXIST);
    /* a temp file renamed over a config of the same node and type (how PVE writes) */
    ck_assert_int_eq(memdb_rename(fx.m, "nodes/n1/qemu-server/100.conf.tmp",
                                  "nodes/n1/qemu-server/102.conf", 0, 1),
                     0);
    ck_assert(vm_is(102, "n1", VMTYPE_QEMU, NULL));
    /* renaming 102 to 103 re-registers the guest */
    ck_assert_int_eq(memdb_rename(fx.m, "nodes/n1/qemu-server/102.conf",
                                  "nodes/n1/qemu-server/103.conf", 0, 1),
                     0);
    ck_assert(!vm_is(102, "n1", VMTYPE_QEMU, NULL));
    ck_assert(vm_is(103, "n1", VMTYPE_QEMU, NULL));
    ck_assert_int_eq(memdb_delete(fx.m, "nodes/n1/qemu-server/103.conf", 0, 1), 0);
    ck_assert(!vm_is(103, "n1", VMTYPE_QEMU, NULL));
    g_autofree char *p = memdb_vm_config_path(fx.m, 100);
    ck_assert_str_eq(p, "nodes/other/lxc/100.conf");
    /* invalid node names are not guest paths */
    ck_assert(!memdb_parse_vm_path("nodes/-x/qemu-server/100.conf", NULL, NULL, NULL));
    ck_assert(!memdb_parse_vm_path("nodes/a_b/qemu-server/100.conf", NULL, NULL, NULL));
    ck_assert(!memdb_parse_vm_path("nodes/a/qemu-server/4294967296.conf", NULL, NULL, NULL));
    ck_assert(memdb_parse_vm_path("/nodes//a/qemu-server/4294967295.conf", NULL, NULL, NULL));
}
END_TEST

START_TEST(test_vmlist_rebuild_on_open)
{
    make_node_dirs("n1");
    ck_assert_int_eq(memdb_create(fx.m, "nodes/n1/lxc/200.conf", 0, 1), 0);
    reopen();
    ck_assert(vm_is(200, "n1", VMTYPE_LXC, NULL));
    ck_assert_uint_eq(memdb_vmlist_version(fx.m), 0);
}
END_TEST

START_TEST(test_locks_local)
{
    ck_assert_int_eq(memdb_mkdir(fx.m, "priv", 0, 1), 0);
    ck_assert_int_eq(memdb_mkdir(fx.m, "priv/lock", 0, 1), 0);
    ck_assert_uint_eq(memdb_lock_count(fx.m), 0);
    ck_assert_int_eq(memdb_mkdir(fx.m, "priv/lock/test", 0, 1000), 0);
    ck_assert_int_eq(memdb_mkdir(fx.m, "priv/lock/test", 0, 1000), -EEXIST);
    ck_assert_uint_eq(memdb_lock_count(fx.m), 1);
    uint8_t csum[32];
    ck_assert_int_eq(memdb_lock_checksum(fx.m, "priv/lock/test", csum), 0);
    ck_assert_int_eq(memdb_lock_checksum(fx.m, "priv/lock", csum), -ENOENT);
    ck_assert(!memdb_lock_expired(fx.m, "priv/lock/test", csum));
    fake_now += 120;
    ck_assert(!memdb_lock_expired(fx.m, "priv/lock/test", csum));
    fake_now += 1;
    ck_assert(memdb_lock_expired(fx.m, "priv/lock/test", csum));
    /* mtime may only grow, and only the holder may refresh */
    ck_assert_int_eq(memdb_mtime(fx.m, "priv/lock/test", 0, 0), -EACCES);
    ck_assert_int_eq(memdb_mtime(fx.m, "priv/lock/test", 5, 2000), -EACCES);
    ck_assert_int_eq(memdb_mtime(fx.m, "priv/lock/test", 0, 2000), 0);
    /* a refresh changes the checksum: the old one restarts the clock */
    uint8_t csum2[32];
    ck_assert_int_eq(memdb_lock_checksum(fx.m, "priv/lock/test", csum2), 0);
    ck_assert(memcmp(csum, csum2, 32) != 0);
    ck_assert(!memdb_lock_expired(fx.m, "priv/lock/test", csum2));
    ck_assert_int_eq(memdb_rename(fx.m, "priv/lock/test", "priv/lock/test2", 0, 3000), -EACCES);
    ck_assert_int_eq(memdb_delete(fx.m, "priv/lock/test", 0, 3000), 0);
    ck_assert_uint_eq(memdb_lock_count(fx.m), 0);
}
END_TEST

START_TEST(test_lock_age_survives_reload)
{
    /* W6: a reload keeps the first-seen time of unchanged locks */
    ck_assert_int_eq(memdb_mkdir(fx.m, "priv", 0, 1), 0);
    ck_assert_int_eq(memdb_mkdir(fx.m, "priv/lock", 0, 1), 0);
    ck_assert_int_eq(memdb_mkdir(fx.m, "priv/lock/a", 0, 1), 0);
    uint8_t csum[32];
    ck_assert_int_eq(memdb_lock_checksum(fx.m, "priv/lock/a", csum), 0);
    fake_now += 100;
    g_autoptr(GError) err = NULL;
    ck_assert_int_eq(memdb_reload(fx.m, &err), 0);
    ck_assert_uint_eq(memdb_lock_count(fx.m), 1);
    fake_now += 20;
    ck_assert(!memdb_lock_expired(fx.m, "priv/lock/a", csum));
    fake_now += 1;
    ck_assert(memdb_lock_expired(fx.m, "priv/lock/a", csum));
}
END_TEST

START_TEST(test_batch)
{
    uint64_t v = version_of(fx.m);
    memdb_batch_begin(fx.m);
    ck_assert_int_eq(memdb_mkdir(fx.m, "a", 0, 1), 0);
    ck_assert_int_eq(memdb_create(fx.m, "a/f", 0, 1), 0);
    ck_assert_int_eq(W(fx.m, "a/f", "data", 0, false), 4);
    ck_assert_int_eq(memdb_create(fx.m, "a/f", 0, 1), -EEXIST);
    ck_assert_int_eq(memdb_batch_commit(fx.m), 0);
    ck_assert_uint_eq(version_of(fx.m), v + 3);
    reopen();
    g_autofree char *c = read_all(fx.m, "a/f");
    ck_assert_str_eq(c, "data");
}
END_TEST

START_TEST(test_full_disk_keeps_ram_equal_to_disk)
{
    /* W25: a failing SQLite transaction leaves RAM equal to the database.  Needs root
     * for a small private tmpfs. */
    if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0) {
        fprintf(stderr, "# skipped: needs root for a private tmpfs\n");
        return;
    }
    ck_assert_int_eq(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
    memdb_free(fx.m);
    fx.m = NULL;
    ck_assert_int_eq(mount("tmpfs", fx.dir, "tmpfs", 0, "size=400k"), 0);
    fx.m = open_db();
    static uint8_t buf[64 * 1024];
    memset(buf, 0x5a, sizeof(buf));
    int failed_at = -1;
    for (int i = 0; i < 40; i++) {
        g_autofree char *name = g_strdup_printf("f%d", i);
        int r = memdb_create(fx.m, name, 0, 1);
        if (r == 0)
            r = memdb_write(fx.m, name, 0, buf, sizeof(buf), false, 0, 1);
        if (r < 0) {
            ck_assert_int_eq(r, -EIO);
            failed_at = i;
            break;
        }
    }
    ck_assert_msg(failed_at >= 0, "the small tmpfs never filled up");
    uint8_t ram[32], disk[32];
    memdb_compute_checksum(fx.m, ram);
    /* the database is still usable for small operations once space is freed */
    reopen();
    memdb_compute_checksum(fx.m, disk);
    ck_assert(memcmp(ram, disk, 32) == 0);
    memdb_free(fx.m);
    fx.m = NULL;
    umount(fx.dir);
    fx.m = open_db();
}
END_TEST

/* Fill the file system of @dir until a write fails; returns the filler's path. */
static char *fill_disk(const char *dir)
{
    char *path = g_build_filename(dir, "filler", NULL);
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    static char block[4096];
    setvbuf(f, NULL, _IONBF, 0);
    while (fwrite(block, 1, sizeof(block), f) == sizeof(block))
        ;
    fclose(f);
    return path;
}

START_TEST(test_full_log_after_failed_merge)
{
    /* A background merge fails (disk full), space comes back, then the operation log
     * fills up: the operation that no longer fits into the log must not be reported as
     * applied and then lost by the reload that repairs the failed merge.  Needs root for
     * a private tmpfs. */
    if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0) {
        fprintf(stderr, "# skipped: needs root for a private tmpfs\n");
        return;
    }
    ck_assert_int_eq(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
    memdb_free(fx.m);
    fx.m = NULL;
    ck_assert_int_eq(mount("tmpfs", fx.dir, "tmpfs", 0, "size=48m"), 0);
    fx.m = open_db();
    ck_assert_int_eq(memdb_create(fx.m, "f", 0, 1), 0);
    g_autofree char *filler = fill_disk(fx.dir);
    ck_assert_int_eq(memdb_flush(fx.m), -EIO);
    unlink(filler);

    static uint8_t buf[CFS_MAX_FILE_SIZE];
    for (int i = 1; i <= 20; i++) {
        uint64_t v = version_of(fx.m);
        memset(buf, i, sizeof(buf));
        int r = memdb_write(fx.m, "f", 0, buf, sizeof(buf), true, 0, 1);
        memdb_attr a;
        ck_assert_int_eq(memdb_lookup_path(fx.m, "f", &a), 0);
        uint8_t first = 0;
        ck_assert_int_eq(memdb_read(fx.m, a.inode, &first, 1, 0), 1);
        if (r < 0) {
            /* failed operations change nothing */
            ck_assert_int_eq(r, -EIO);
            ck_assert_uint_eq(version_of(fx.m), v);
            ck_assert_int_ne(first, i);
        } else {
            ck_assert_int_eq(r, (int)sizeof(buf));
            ck_assert_uint_eq(version_of(fx.m), v + 1);
            ck_assert_int_eq(first, i);
        }
    }
    uint8_t ram[32], disk[32];
    memdb_compute_checksum(fx.m, ram);
    reopen();
    memdb_compute_checksum(fx.m, disk);
    ck_assert(memcmp(ram, disk, 32) == 0);
    memdb_free(fx.m);
    fx.m = NULL;
    umount(fx.dir);
    fx.m = open_db();
}
END_TEST

START_TEST(test_paths_helpers)
{
    ck_assert(memdb_path_is_private("priv"));
    ck_assert(memdb_path_is_private("priv/lock/x"));
    ck_assert(memdb_path_is_private("nodes/n1/priv"));
    ck_assert(memdb_path_is_private("nodes/n1/priv/a/b"));
    ck_assert(!memdb_path_is_private("nodes/n1"));
    ck_assert(!memdb_path_is_private("private"));
    ck_assert(!memdb_path_is_private("nodes/n1/privx"));
    ck_assert(memdb_name_is_bad(""));
    ck_assert(memdb_name_is_bad(".."));
    ck_assert(!memdb_name_is_bad("..."));
    ck_assert_int_eq(memdb_mkdir(fx.m, "a", 0, 1), 0);
    ck_assert_int_eq(memdb_mkdir(fx.m, "a/b", 0, 1), 0);
    memdb_attr a;
    ck_assert_int_eq(memdb_lookup_path(fx.m, "//a///b/", &a), 0);
    g_autofree char *p = memdb_path(fx.m, a.inode);
    ck_assert_str_eq(p, "a/b");
}
END_TEST


/* The leader's side of a resync: every entry of @leader whose (inode, digest) differs
 * from @follower's index. */
static GPtrArray *diff_updates(memdb *leader, memdb *follower)
{
    g_autoptr(GBytes) li = memdb_encode_index(leader);
    g_autoptr(GBytes) fi = memdb_encode_index(follower);
    gsize ll, fl;
    const uint8_t *lp = g_bytes_get_data(li, &ll);
    const uint8_t *fp = g_bytes_get_data(fi, &fl);
    GPtrArray *ups = g_ptr_array_new_with_free_func((GDestroyNotify)memdb_update_free);
    for (gsize i = 32; i < ll; i += 40) {
        bool same = false;
        for (gsize j = 32; j < fl; j += 40)
            if (memcmp(lp + i, fp + j, 40) == 0)
                same = true;
        if (same)
            continue;
        uint64_t inode = 0;
        memcpy(&inode, lp + i, 8); /* test runs on little-endian hosts */
        memdb_update *u = g_new0(memdb_update, 1);
        ck_assert_int_eq(memdb_entry_copy(leader, inode, &u->attr, &u->name, &u->data), 0);
        g_ptr_array_add(ups, u);
    }
    return ups;
}

START_TEST(test_sync_commit)
{
    /* follower: some content of its own, a lock, and a guest */
    ck_assert_int_eq(memdb_mkdir(fx.m, "priv", 0, 1), 0);
    ck_assert_int_eq(memdb_mkdir(fx.m, "priv/lock", 0, 1), 0);
    ck_assert_int_eq(memdb_mkdir(fx.m, "priv/lock/keep", 0, 1), 0);
    ck_assert_int_eq(memdb_create(fx.m, "mine.cfg", 0, 1), 0);
    uint8_t lock_csum[32];
    ck_assert_int_eq(memdb_lock_checksum(fx.m, "priv/lock/keep", lock_csum), 0);

    /* leader: a copy of the follower's database, then more changes */
    memdb_free(fx.m);
    g_autofree char *ldb = g_build_filename(fx.dir, "leader.db", NULL);
    ck_assert_int_eq(test_copy_file(fx.db_path, ldb), 0);
    g_autoptr(GError) err = NULL;
    memdb_options opts = {.now = fake_clock};
    g_autoptr(memdb) leader = memdb_open(ldb, &opts, NULL, &err);
    ck_assert(leader != NULL);
    fx.m = open_db();
    ck_assert_int_eq(memdb_mkdir(leader, "nodes", 7, 2), 0);
    ck_assert_int_eq(memdb_mkdir(leader, "nodes/n1", 7, 2), 0);
    ck_assert_int_eq(memdb_mkdir(leader, "nodes/n1/qemu-server", 7, 2), 0);
    ck_assert_int_eq(memdb_create(leader, "nodes/n1/qemu-server/100.conf", 7, 2), 0);
    ck_assert_int_eq(W(leader, "nodes/n1/qemu-server/100.conf", "name: x\n", 0, false), 8);
    ck_assert_int_eq(memdb_delete(leader, "mine.cfg", 7, 3), 0);
    /* follower diverges with a lower version */
    ck_assert_int_eq(memdb_create(fx.m, "lost.cfg", 0, 1), 0);

    g_autoptr(GPtrArray) ups = diff_updates(leader, fx.m);
    g_autoptr(GBytes) lindex = memdb_encode_index(leader);
    fake_now += 100;
    memdb_sync_stats stats;
    ck_assert_int_eq(memdb_sync_commit(fx.m, lindex, ups, &stats, &err), 0);
    /* mine.cfg was deleted by the leader; lost.cfg got the same inode number as the
     * leader's "nodes" directory, so it is overwritten: a divergent local change */
    ck_assert_uint_eq(stats.removed, 1);
    ck_assert_uint_ge(stats.overwritten, 1);
    ck_assert(stats.local_changes_lost);
    memdb_attr gone;
    ck_assert_int_eq(memdb_lookup_path(fx.m, "lost.cfg", &gone), -ENOENT);
    uint8_t a[32], b[32];
    memdb_compute_checksum(leader, a);
    memdb_compute_checksum(fx.m, b);
    ck_assert(memcmp(a, b, 32) == 0);
    g_autofree char *p100 = memdb_vm_config_path(fx.m, 100);
    ck_assert_str_eq(p100, "nodes/n1/qemu-server/100.conf");
    /* the lock kept its age across the resync (W6) */
    fake_now += 21;
    ck_assert(memdb_lock_expired(fx.m, "priv/lock/keep", lock_csum));
    /* and the database holds the same tree */
    reopen();
    memdb_compute_checksum(fx.m, b);
    ck_assert(memcmp(a, b, 32) == 0);
}
END_TEST

START_TEST(test_sync_commit_mismatch_changes_nothing)
{
    ck_assert_int_eq(memdb_create(fx.m, "a", 0, 1), 0);
    uint8_t before[32], after[32];
    memdb_compute_checksum(fx.m, before);
    /* a leader index that claims an entry nobody sent */
    g_autoptr(GBytes) own = memdb_encode_index(fx.m);
    gsize len;
    const uint8_t *p = g_bytes_get_data(own, &len);
    g_autofree uint8_t *bad = g_memdup2(p, len);
    bad[32 + 40 + 8] ^= 0xff; /* corrupt the digest of inode 2 */
    g_autoptr(GBytes) badidx = g_bytes_new(bad, len);
    g_autoptr(GPtrArray) ups = g_ptr_array_new_with_free_func((GDestroyNotify)memdb_update_free);
    g_autoptr(GError) err = NULL;
    ck_assert_int_eq(memdb_sync_commit(fx.m, badidx, ups, NULL, &err), -EINVAL);
    ck_assert(strstr(err->message, "does not match master index"));
    memdb_compute_checksum(fx.m, after);
    ck_assert(memcmp(before, after, 32) == 0);
}
END_TEST


/* True if the operation log holds no record: at its tail (the position in the 4 KiB
 * header, wlog.c) the ring has the end marker. */
static bool log_is_empty(const char *path)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    ck_assert(g_file_get_contents(path, &data, &len, NULL));
    ck_assert_uint_gt(len, 4096);
    uint64_t tail = 0;
    memcpy(&tail, data + 8, 8); /* little-endian host */
    const char *at = data + 4096 + tail % (len - 4096);
    for (int i = 0; i < 4; i++)
        if (at[i])
            return false;
    return true;
}

/* A child process writes through the write log and dies without any cleanup. */
static void crash_after(void (*work)(memdb *m))
{
    memdb_free(fx.m);
    fx.m = NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        memdb *m = open_db();
        work(m);
        _exit(0); /* no memdb_free: nothing is merged into SQLite */
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fx.m = open_db();
}

static void chunked_work(memdb *m)
{
    static uint8_t chunk[4096];
    if (memdb_create(m, "big", 0, 1) != 0)
        _exit(1);
    for (int i = 0; i < 64; i++) {
        memset(chunk, i + 1, sizeof(chunk));
        if (memdb_write(m, "big", (uint64_t)i * 4096, chunk, 4096, false, 0, 7) != 4096)
            _exit(2);
    }
    if (memdb_write(m, "big", 100, "T", 1, true, 0, 8) != 1) /* truncate to 101 */
        _exit(3);
}

START_TEST(test_wlog_replay_after_crash)
{
    crash_after(chunked_work);
    memdb_attr a;
    ck_assert_int_eq(memdb_lookup_path(fx.m, "big", &a), 0);
    ck_assert_uint_eq(a.size, 101);
    ck_assert_uint_eq(a.mtime, 8);
    uint8_t buf[101];
    ck_assert_int_eq(memdb_read(fx.m, a.inode, buf, sizeof(buf), 0), 101);
    ck_assert_int_eq(buf[0], 1);
    ck_assert_int_eq(buf[100], 'T');
    ck_assert_uint_eq(version_of(fx.m), 1 + 1 + 64 + 1);
    /* the replay was merged: the log holds no record any more */
    g_autofree char *log = g_strconcat(fx.db_path, ".wlog", NULL);
    ck_assert(log_is_empty(log));
    struct stat st;
    ck_assert_int_eq(stat(log, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
}
END_TEST


/* Every kind of operation, with fixed writers and times. */
static void all_ops_work(memdb *m)
{
    static uint8_t chunk[3000];
    memset(chunk, 'c', sizeof(chunk));
    int r = 0;
    r |= memdb_mkdir(m, "nodes", 1, 10);
    r |= memdb_mkdir(m, "nodes/a", 1, 11);
    r |= memdb_mkdir(m, "nodes/a/qemu-server", 1, 12);
    r |= memdb_mkdir(m, "priv", 2, 13);
    r |= memdb_mkdir(m, "priv/lock", 2, 14);
    r |= memdb_mkdir(m, "priv/lock/l1", 2, 15);
    r |= memdb_mtime(m, "priv/lock/l1", 2, 16);
    r |= memdb_create(m, "nodes/a/qemu-server/100.conf.tmp", 3, 17);
    r |= memdb_write(m, "nodes/a/qemu-server/100.conf.tmp", 0, "name: x\n", 8, false, 3, 18) - 8;
    r |= memdb_rename(m, "nodes/a/qemu-server/100.conf.tmp", "nodes/a/qemu-server/100.conf", 3,
                      19);
    r |= memdb_create(m, "big", 4, 20);
    for (int i = 0; i < 10; i++)
        r |= memdb_write(m, "big", (uint64_t)i * 3000, chunk, 3000, false, 4, 21 + i) - 3000;
    r |= memdb_write(m, "big", 5, NULL, 0, true, 4, 40);
    r |= memdb_create(m, "gone", 5, 41);
    r |= memdb_delete(m, "gone", 5, 42);
    r |= memdb_create(m, "over", 5, 43);
    r |= memdb_create(m, "src", 5, 44);
    r |= memdb_write(m, "src", 0, "new", 3, false, 5, 45) - 3;
    r |= memdb_rename(m, "src", "over", 5, 46); /* replaces an entry */
    r |= memdb_mtime(m, "over", 6, 1000);
    r |= memdb_delete(m, "priv/lock/l1", 2, 47);
    if (r != 0)
        _exit(9);
}

START_TEST(test_wlog_replay_equals_clean_close)
{
    /* the same operations: once closed cleanly, once crashed before any merge */
    all_ops_work(fx.m);
    memdb_free(fx.m);
    fx.m = open_db();
    uint8_t clean[32];
    memdb_compute_checksum(fx.m, clean);
    g_autoptr(GBytes) clean_index = memdb_encode_index(fx.m);
    memdb_free(fx.m);
    fx.m = NULL;
    unlink(fx.db_path);
    g_autofree char *wal = g_strconcat(fx.db_path, "-wal", NULL);
    g_autofree char *shm = g_strconcat(fx.db_path, "-shm", NULL);
    unlink(wal);
    unlink(shm);
    fx.m = open_db();
    /* a new database starts with another mtime in its version row: align it */
    memdb_free(fx.m);
    fx.m = NULL;
    sqlite3 *h = NULL;
    ck_assert_int_eq(sqlite3_open(fx.db_path, &h), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(h, "UPDATE tree SET mtime = 0 WHERE inode = 0", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    crash_after(all_ops_work);
    uint8_t replayed[32];
    memdb_compute_checksum(fx.m, replayed);
    g_autoptr(GBytes) replayed_index = memdb_encode_index(fx.m);
    /* the root's mtime is the last operation's in both runs */
    ck_assert(g_bytes_equal(clean_index, replayed_index));
    ck_assert(memcmp(clean, replayed, 32) == 0);
    ck_assert_uint_eq(memdb_lock_count(fx.m), 0);
    g_autofree char *p = memdb_vm_config_path(fx.m, 100);
    ck_assert_str_eq(p, "nodes/a/qemu-server/100.conf");
}
END_TEST

START_TEST(test_wlog_torn_tail_ignored)
{
    crash_after(chunked_work);
    uint8_t before[32];
    memdb_compute_checksum(fx.m, before);
    /* a log whose records do not continue the database, plus garbage */
    memdb_free(fx.m);
    fx.m = NULL;
    g_autofree char *log = g_strconcat(fx.db_path, ".wlog", NULL);
    ck_assert(g_file_set_contents(log, "PXWL garbage that is not a record", -1, NULL));
    fx.m = open_db();
    uint8_t after[32];
    memdb_compute_checksum(fx.m, after);
    ck_assert(memcmp(before, after, 32) == 0);
}
END_TEST

START_TEST(test_wlog_merged_on_flush)
{
    ck_assert_int_eq(memdb_create(fx.m, "f", 0, 1), 0);
    ck_assert_int_eq(W(fx.m, "f", "data", 0, false), 4);
    ck_assert_int_eq(memdb_mkdir(fx.m, "d", 0, 2), 0);
    g_autofree char *log = g_strconcat(fx.db_path, ".wlog", NULL);
    ck_assert(!log_is_empty(log));
    /* a merge writes the rows into SQLite and empties the log */
    ck_assert_int_eq(memdb_flush(fx.m), 0);
    ck_assert(log_is_empty(log));
    /* read the row straight from SQLite */
    sqlite3 *h = NULL;
    ck_assert_int_eq(sqlite3_open(fx.db_path, &h), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(h, "SELECT data FROM tree WHERE name = 'f'", -1, &q, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_bytes(q, 0), 4);
    ck_assert(memcmp(sqlite3_column_blob(q, 0), "data", 4) == 0);
    sqlite3_finalize(q);
    sqlite3_close(h);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("memdb");
    TCase *tc = tcase_create("memdb");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_oracle_100files);
    tcase_add_test(tc, test_digest_input_example);
    tcase_add_test(tc, test_mkdir_delete_vectors);
    tcase_add_test(tc, test_write_vectors);
    tcase_add_test(tc, test_write_errors_and_holes);
    tcase_add_test(tc, test_chunked_write_linear);
    tcase_add_test(tc, test_inode_and_version_scheme);
    tcase_add_test(tc, test_rename_rules);
    tcase_add_test(tc, test_rename_children_before_parents_reload);
    tcase_add_test(tc, test_vmid_rules);
    tcase_add_test(tc, test_vmlist_rebuild_on_open);
    tcase_add_test(tc, test_locks_local);
    tcase_add_test(tc, test_lock_age_survives_reload);
    tcase_add_test(tc, test_batch);
    tcase_add_test(tc, test_full_disk_keeps_ram_equal_to_disk);
    tcase_add_test(tc, test_full_log_after_failed_merge);
    tcase_add_test(tc, test_paths_helpers);
    tcase_add_test(tc, test_sync_commit);
    tcase_add_test(tc, test_sync_commit_mismatch_changes_nothing);
    tcase_add_test(tc, test_wlog_replay_after_crash);
    tcase_add_test(tc, test_wlog_torn_tail_ignored);
    tcase_add_test(tc, test_wlog_replay_equals_clean_close);
    tcase_add_test(tc, test_wlog_merged_on_flush);
    suite_add_tcase(s, tc);
    return s;
}
