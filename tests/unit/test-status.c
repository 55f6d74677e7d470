/*
 * test-status: the status layer as the kvstore application: `.version` with the
 * kvstore section, `.members` with and without cluster information, caching of the
 * virtual files by version (W24), routing of local sets and delivered UPDATE/LOG
 * messages, online flags, re-broadcast after a state exchange, `nodeip` on SYNCED,
 * and three status objects wired together by a fake in-order transport.
 */
#include <errno.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "pmxcfs/clog.h"
#include "pmxcfs/kvstore.h"
#include "pmxcfs/status.h"
#include "tests/unit/check-main.h"
#include "tests/unit/test-util.h"

static struct {
    char *dir;
    memdb *m;
} fx;

static void setup(void)
{
    fx.dir = test_tmpdir();
    g_autofree char *db = g_build_filename(fx.dir, "config.db", NULL);
    memdb_options opts = {0};
    fx.m = memdb_open(db, &opts, NULL, NULL);
    ck_assert_ptr_nonnull(fx.m);
}

static void teardown(void)
{
    memdb_free(fx.m);
    test_rmtree(fx.dir);
    g_free(fx.dir);
    memset(&fx, 0, sizeof(fx));
}

static char *str_of(GBytes *b)
{
    gsize len;
    const char *d = g_bytes_get_data(b, &len);
    return g_strndup(d ? d : "", len);
}

static char *members(cfs_status *st)
{
    g_autoptr(GBytes) b = cfs_status_members_json(st);
    return str_of(b);
}

static char *version(cfs_status *st)
{
    g_autoptr(GBytes) b = cfs_status_version_json(st);
    return str_of(b);
}

static const cfs_status_node three_nodes[] = {
    {"pmxa", 1, 1},
    {"pmxb", 2, 1},
    {"pmxc", 3, 1},
};

/* ---------------------------------------------------------------------------------- */
/* a fake kvstore group: messages are queued and delivered in order to every member */

typedef struct fake_msg {
    uint32_t from;
    uint16_t subtype;
    GBytes *payload;
} fake_msg;

typedef struct fake_net {
    cfs_status *nodes[4]; /* index = node id */
    GQueue queue;
    guint sent[4];
} fake_net;

typedef struct fake_port {
    fake_net *net;
    uint32_t id;
} fake_port;

static int fake_send(void *user_data, uint16_t subtype, const void *payload, size_t len)
{
    fake_port *p = user_data;
    fake_msg *m = g_new0(fake_msg, 1);
    m->from = p->id;
    m->subtype = subtype;
    m->payload = g_bytes_new(payload, len);
    g_queue_push_tail(&p->net->queue, m);
    p->net->sent[p->id]++;
    return 0;
}

/* Deliver everything queued (delivery may queue more); @online: who receives. */
static void fake_deliver(fake_net *net, const bool online[4])
{
    fake_msg *m;
    while ((m = g_queue_pop_head(&net->queue))) {
        for (uint32_t id = 1; id <= 3; id++) {
            if (!net->nodes[id] || !online[id] || !online[m->from])
                continue;
            gsize len;
            const void *data = g_bytes_get_data(m->payload, &len);
            ck_assert_int_eq(
                cfs_status_deliver(net->nodes[id], m->from, id == m->from, m->subtype, data, len),
                0);
        }
        g_bytes_unref(m->payload);
        g_free(m);
    }
}

/* A state exchange among the online nodes, as dfsm runs it. */
static void fake_sync(fake_net *net, const bool online[4])
{
    GBytes *states[4] = {NULL};
    uint32_t ids[4];
    size_t n = 0;
    for (uint32_t id = 1; id <= 3; id++)
        if (online[id]) {
            ids[n] = id;
            states[n++] = cfs_status_get_state(net->nodes[id]);
        }
    for (size_t i = 0; i < n; i++) {
        cfs_status_set_members(net->nodes[ids[i]], ids, n);
        cfs_status_process_states(net->nodes[ids[i]], states, n, i);
        cfs_status_synced(net->nodes[ids[i]]);
    }
    for (size_t i = 0; i < n; i++)
        g_bytes_unref(states[i]);
    fake_deliver(net, online);
}

/* ---------------------------------------------------------------------------------- */

START_TEST(test_members_formats)
{
    g_autoptr(cfs_status) st = cfs_status_new("pmxa", fx.m);
    g_autofree char *m0 = members(st);
    ck_assert_str_eq(m0, "{\n\"nodename\": \"pmxa\",\n\"version\": 0\n}\n");

    cfs_status_set_quorate(st, true);
    const cfs_status_node nodes[] = {{"pmxa", 1, 1}, {"pmxb", 2, 1}};
    cfs_status_set_cluster_info(st, "pmx2n", 1, nodes, 2);
    uint32_t both[] = {1, 2};
    cfs_status_set_members(st, both, 2);
    ck_assert_int_eq(cfs_status_set(st, "nodeip", "10.99.0.1", 10), 0);
    g_autofree char *m1 = members(st);
    ck_assert_str_eq(m1, "{\n\"nodename\": \"pmxa\",\n\"version\": 3,\n"
                         "\"cluster\": { \"name\": \"pmx2n\", \"version\": 1, \"nodes\": 2, "
                         "\"quorate\": 1 },\n\"nodelist\": {\n"
                         "  \"pmxa\": { \"id\": 1, \"online\": 1, \"ip\": \"10.99.0.1\"},\n"
                         "  \"pmxb\": { \"id\": 2, \"online\": 1}\n  }\n}\n");
    g_autoptr(JsonParser) p = json_parser_new();
    ck_assert(json_parser_load_from_data(p, m1, -1, NULL));

    /* same nodeip again: no version change; invalid ones are ignored */
    ck_assert_int_eq(cfs_status_set(st, "nodeip", "10.99.0.1", 10), 0);
    ck_assert_int_eq(cfs_status_set(st, "nodeip", "10.99.0.9", 9), 0); /* no NUL */
    ck_assert_uint_eq(cfs_status_clinfo_version(st), 3);

    cfs_status_set_quorate(st, false);
    ck_assert_int_eq(cfs_status_set_online(st, 2, false), 0);
    ck_assert_int_eq(cfs_status_set_online(st, 7, true), -ENOENT);
    g_autofree char *m2 = members(st);
    ck_assert_ptr_nonnull(strstr(m2, "\"quorate\": 0"));
    ck_assert_ptr_nonnull(strstr(m2, "\"pmxb\": { \"id\": 2, \"online\": 0}"));
    ck_assert_ptr_nonnull(strstr(m2, "\"version\": 4,"));

    cfs_status_clear_cluster_info(st);
    g_autofree char *m3 = members(st);
    ck_assert_str_eq(m3, "{\n\"nodename\": \"pmxa\",\n\"version\": 5\n}\n");
}
END_TEST

START_TEST(test_version_kvstore_section)
{
    g_autoptr(cfs_status) st = cfs_status_new("pmxa", fx.m);
    cfs_status_bump_all(st);
    g_autofree char *v0 = version(st);
    ck_assert(
        g_str_has_suffix(v0, "\"mapping/usb.cfg\": 1,\n\"kvstore\": {\n\"pmxa\": {\n}\n}\n}\n"));
    ck_assert(g_str_has_prefix(v0, "{\n\"starttime\": "));

    cfs_status_set_cluster_info(st, "c", 1, three_nodes, 3);
    ck_assert_int_eq(cfs_status_set(st, "kv/a", "1", 1), 0);
    ck_assert_int_eq(cfs_status_set(st, "kv/a", "2", 1), 0);
    ck_assert_int_eq(cfs_status_set(st, "tasklist", "[]", 2), 0);
    ck_assert_int_eq(cfs_status_set(st, "rrd/pve2-node/pmxa", "1:2", 4), 0);
    ck_assert_int_eq(cfs_status_set(st, "nodeip", "10.0.0.1", 9), 0);
    /* an UPDATE from node 3 */
    g_autoptr(GBytes) upd = NULL;
    ck_assert_int_eq(kvstore_update_encode("kv/c", "x", 1, &upd), 0);
    ck_assert_int_eq(cfs_status_deliver(st, 3, false, CFS_KVSTORE_MSG_UPDATE,
                                        g_bytes_get_data(upd, NULL), g_bytes_get_size(upd)),
                     0);
    g_autofree char *v1 = version(st);
    ck_assert(g_str_has_suffix(v1, "\"kvstore\": {\n\"pmxa\": {\n\"kv/a\": 1,\n\"tasklist\": 0}\n"
                                   ",\n\"pmxc\": {\n\"kv/c\": 0}\n}\n}\n"));
    ck_assert_ptr_nonnull(strstr(v1, "\"clinfo\": 2,\n"));
    g_autoptr(JsonParser) p = json_parser_new();
    ck_assert(json_parser_load_from_data(p, v1, -1, NULL));

    /* GET_STATUS of another node's table */
    g_autoptr(GBytes) val = NULL;
    ck_assert_int_eq(cfs_status_get(st, "pmxc", "kv/c", &val), 0);
    ck_assert_int_eq(cfs_status_get(st, "pmxb", "kv/c", &(GBytes *){NULL}), -ENOENT);
    ck_assert_int_eq(cfs_status_get(st, "nosuch", "kv/c", &(GBytes *){NULL}), -ENOENT);
    ck_assert_int_eq(cfs_status_get(st, "", "nodeip", &(GBytes *){NULL}), -ENOENT);

    /* limits */
    g_autofree char *big = g_malloc0(CFS_MAX_STATUS_VALUE + 1);
    ck_assert_int_eq(cfs_status_set(st, "kv/big", big, CFS_MAX_STATUS_VALUE + 1), -EFBIG);
    g_autofree char *k256 = g_strnfill(256, 'k');
    ck_assert_int_eq(cfs_status_set(st, k256, "x", 1), -ENAMETOOLONG);
    ck_assert_int_eq(cfs_status_set(st, "", "x", 1), -EINVAL);

    /* re-reading the cluster info keeps tables of known ids and drops the others */
    const cfs_status_node two[] = {{"pmxa", 1, 1}, {"pmxc-renamed", 3, 1}};
    cfs_status_set_cluster_info(st, "c", 2, two, 2);
    g_autoptr(GBytes) val2 = NULL;
    ck_assert_int_eq(cfs_status_get(st, "pmxc-renamed", "kv/c", &val2), 0);
    const cfs_status_node one[] = {{"pmxa", 1, 1}};
    cfs_status_set_cluster_info(st, "c", 3, one, 1);
    g_autofree char *v2 = version(st);
    ck_assert(g_str_has_suffix(v2, "\"tasklist\": 0}\n}\n}\n"));
}
END_TEST

START_TEST(test_cache_by_version)
{
    g_autoptr(cfs_status) st = cfs_status_new("pmxa", fx.m);
    GBytes *a = cfs_status_vmlist_json(st);
    GBytes *b = cfs_status_vmlist_json(st);
    ck_assert_ptr_eq(a, b); /* cached: the very same text */
    g_bytes_unref(b);
    ck_assert_int_eq(memdb_mkdir(fx.m, "nodes", 0, 1), 0);
    ck_assert_int_eq(memdb_mkdir(fx.m, "nodes/pmxa", 0, 1), 0);
    ck_assert_int_eq(memdb_mkdir(fx.m, "nodes/pmxa/qemu-server", 0, 1), 0);
    ck_assert_int_eq(memdb_create(fx.m, "nodes/pmxa/qemu-server/100.conf", 0, 1), 0);
    b = cfs_status_vmlist_json(st);
    ck_assert_ptr_ne(a, b);
    g_autofree char *s = str_of(b);
    ck_assert_str_eq(s, "{\n\"version\": 1,\n\"ids\": {\n\"100\": { \"node\": \"pmxa\", "
                        "\"type\": \"qemu\", \"version\": 1 }}\n\n}\n");
    g_bytes_unref(a);
    g_bytes_unref(b);

    GBytes *m1 = cfs_status_members_json(st);
    GBytes *m2 = cfs_status_members_json(st);
    ck_assert_ptr_eq(m1, m2);
    cfs_status_set_quorate(st, true);
    GBytes *m3 = cfs_status_members_json(st);
    ck_assert(g_bytes_equal(m1, m3)); /* no cluster info: quorate is not shown */
    g_bytes_unref(m3);
    cfs_status_set_cluster_info(st, "c", 1, three_nodes, 3);
    m3 = cfs_status_members_json(st);
    ck_assert_ptr_ne(m1, m3);
    g_bytes_unref(m1);
    g_bytes_unref(m2);
    g_bytes_unref(m3);

    GBytes *v1 = cfs_status_version_json(st);
    GBytes *v2 = cfs_status_version_json(st);
    ck_assert_ptr_eq(v1, v2);
    cfs_status_path_changed(st, "not/observed");
    GBytes *v3 = cfs_status_version_json(st);
    ck_assert_ptr_eq(v1, v3);
    cfs_status_path_changed(st, "storage.cfg");
    GBytes *v4 = cfs_status_version_json(st);
    ck_assert_ptr_ne(v1, v4);
    ck_assert_uint_eq(cfs_status_path_version(st, "storage.cfg"), 1);
    ck_assert_int_eq(memdb_create(fx.m, "nodes/pmxa/qemu-server/101.conf", 0, 1), 0);
    GBytes *v5 = cfs_status_version_json(st);
    ck_assert_ptr_ne(v4, v5); /* the VM-list version is part of .version */
    g_autofree char *vs = str_of(v5);
    ck_assert_ptr_nonnull(strstr(vs, "\"vmlist\": 2,\n"));
    g_bytes_unref(v1);
    g_bytes_unref(v2);
    g_bytes_unref(v3);
    g_bytes_unref(v4);
    g_bytes_unref(v5);

    GBytes *l1 = cfs_status_clusterlog_file(st);
    GBytes *l2 = cfs_status_clusterlog_file(st);
    ck_assert_ptr_eq(l1, l2);
    ck_assert_int_eq(cfs_status_log(st, 5, "root@pam", "t", 1, "new entry"), 0);
    GBytes *l3 = cfs_status_clusterlog_file(st);
    ck_assert_ptr_ne(l1, l3);
    g_autofree char *ls = str_of(l3);
    ck_assert_ptr_nonnull(strstr(ls, "new entry"));
    g_bytes_unref(l1);
    g_bytes_unref(l2);
    g_bytes_unref(l3);
}
END_TEST

START_TEST(test_deliver_rules)
{
    g_autoptr(cfs_status) st = cfs_status_new("pmxa", fx.m);
    cfs_status_set_cluster_info(st, "c", 1, three_nodes, 3);
    g_autoptr(GBytes) upd = NULL;
    ck_assert_int_eq(kvstore_update_encode("kv/x", "from-b", 6, &upd), 0);
    const void *d = g_bytes_get_data(upd, NULL);
    size_t len = g_bytes_get_size(upd);

    /* own messages and unknown nodes are ignored */
    ck_assert_int_eq(cfs_status_deliver(st, 1, true, CFS_KVSTORE_MSG_UPDATE, d, len), 0);
    ck_assert_int_eq(cfs_status_deliver(st, 9, false, CFS_KVSTORE_MSG_UPDATE, d, len), 0);
    ck_assert_int_eq(cfs_status_get(st, NULL, "kv/x", &(GBytes *){NULL}), -ENOENT);
    /* malformed payloads and unknown subtypes: dropped, never an error */
    ck_assert_int_eq(cfs_status_deliver(st, 2, false, CFS_KVSTORE_MSG_UPDATE, d, 100), 0);
    ck_assert_int_eq(cfs_status_deliver(st, 2, false, CFS_KVSTORE_MSG_LOG, d, len), 0);
    ck_assert_int_eq(cfs_status_deliver(st, 2, false, 77, d, len), 0);
    ck_assert_int_eq(cfs_status_deliver(st, 2, false, CFS_KVSTORE_MSG_UPDATE_COMPLETE, d, 0), 0);
    ck_assert_int_eq(cfs_status_get(st, "pmxb", "kv/x", &(GBytes *){NULL}), -ENOENT);

    ck_assert_int_eq(cfs_status_deliver(st, 2, false, CFS_KVSTORE_MSG_UPDATE, d, len), 0);
    g_autoptr(GBytes) v = NULL;
    ck_assert_int_eq(cfs_status_get(st, "pmxb", "kv/x", &v), 0);
    ck_assert_uint_eq(g_bytes_get_size(v), 6);

    /* nodeip of node 2 appears in .members, and creates no key/value table for it */
    g_autoptr(GBytes) ip = NULL;
    g_autoptr(GBytes) ip3 = NULL;
    ck_assert_int_eq(kvstore_update_encode("nodeip", "10.0.0.2", 9, &ip), 0);
    ck_assert_int_eq(cfs_status_deliver(st, 2, false, CFS_KVSTORE_MSG_UPDATE,
                                        g_bytes_get_data(ip, NULL), g_bytes_get_size(ip)),
                     0);
    g_autofree char *m = members(st);
    ck_assert_ptr_nonnull(strstr(m, "\"pmxb\": { \"id\": 2, \"online\": 0, \"ip\": \"10.0.0.2\"}"));
    ck_assert_int_eq(kvstore_update_encode("nodeip", "10.0.0.3", 9, &ip3), 0);
    ck_assert_int_eq(cfs_status_deliver(st, 3, false, CFS_KVSTORE_MSG_UPDATE,
                                        g_bytes_get_data(ip3, NULL), g_bytes_get_size(ip3)),
                     0);
    g_autofree char *ver = version(st);
    ck_assert_ptr_null(strstr(ver, "\"pmxc\""));
    ck_assert_ptr_nonnull(strstr(ver, "\"pmxb\": {\n\"kv/x\": 0}"));

    /* a LOG entry from node 2 is inserted once */
    g_autoptr(GBytes) e = NULL;
    ck_assert_int_eq(clog_entry_pack(2000000000, 1, 5, 6, "pmxb", "root@pam", "t", "remote", &e),
                     0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(cfs_status_deliver(st, 2, false, CFS_KVSTORE_MSG_LOG,
                                            g_bytes_get_data(e, NULL), g_bytes_get_size(e)),
                         0);
    g_autoptr(GBytes) log = cfs_status_clusterlog_file(st);
    g_autofree char *ls = str_of(log);
    const char *first = strstr(ls, "\"msg\": \"remote\"");
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_null(strstr(first + 1, "\"msg\": \"remote\""));
}
END_TEST

START_TEST(test_three_nodes)
{
    fake_net net = {0};
    g_queue_init(&net.queue);
    fake_port ports[4];
    const char *names[] = {NULL, "pmxa", "pmxb", "pmxc"};
    for (uint32_t id = 1; id <= 3; id++) {
        net.nodes[id] = cfs_status_new(names[id], fx.m);
        g_autofree char *addr = g_strdup_printf("10.99.0.%u", id);
        cfs_status_set_local_address(net.nodes[id], addr);
        cfs_status_set_cluster_info(net.nodes[id], "lab", 3, three_nodes, 3);
        cfs_status_set_quorate(net.nodes[id], true);
        ports[id] = (fake_port){.net = &net, .id = id};
        cfs_status_transport t = {.send = fake_send, .user_data = &ports[id]};
        cfs_status_set_transport(net.nodes[id], &t);
    }
    bool all[4] = {false, true, true, true};
    fake_sync(&net, all);

    /* online flags and addresses from the sync */
    for (uint32_t id = 1; id <= 3; id++) {
        g_autofree char *m = members(net.nodes[id]);
        for (uint32_t o = 1; o <= 3; o++) {
            g_autofree char *line = g_strdup_printf(
                "\"%s\": { \"id\": %u, \"online\": 1, \"ip\": \"10.99.0.%u\"}", names[o], o, o);
            ck_assert_msg(strstr(m, line), "node %u misses '%s' in\n%s", id, line, m);
        }
    }

    /* a value set on one node is visible on all */
    ck_assert_int_eq(cfs_status_set(net.nodes[1], "kv/test", "hello", 6), 0);
    fake_deliver(&net, all);
    for (uint32_t id = 2; id <= 3; id++) {
        g_autoptr(GBytes) v = NULL;
        ck_assert_int_eq(cfs_status_get(net.nodes[id], "pmxa", "kv/test", &v), 0);
        ck_assert_str_eq(g_bytes_get_data(v, NULL), "hello");
    }

    /* partition: node 3 alone logs, the others log; after healing all logs are merged */
    bool part[4] = {false, true, true, false};
    cfs_status_set_members(net.nodes[3], (uint32_t[]){3}, 1);
    fake_sync(&net, part);
    ck_assert_int_eq(cfs_status_log(net.nodes[1], 6, "root@pam", "t", 1, "on a"), 0);
    ck_assert_int_eq(cfs_status_log(net.nodes[3], 6, "root@pam", "t", 1, "on c"), 0);
    ck_assert_int_eq(cfs_status_set(net.nodes[3], "kv/late", "c", 2), 0);
    /* node 3's messages are lost in the partition */
    fake_deliver(&net, part);
    {
        g_autofree char *m = members(net.nodes[1]);
        ck_assert_ptr_nonnull(strstr(m, "\"pmxc\": { \"id\": 3, \"online\": 0"));
    }
    fake_sync(&net, all);
    for (uint32_t id = 1; id <= 3; id++) {
        g_autoptr(GBytes) log = cfs_status_clusterlog_file(net.nodes[id]);
        g_autofree char *ls = str_of(log);
        ck_assert_msg(strstr(ls, "\"on a\"") && strstr(ls, "\"on c\""), "node %u: %s", id, ls);
        /* three "starting cluster log" entries, one per node, none twice */
        guint starts = 0;
        for (const char *p = ls; (p = strstr(p, "starting cluster log")); p++)
            starts++;
        ck_assert_uint_eq(starts, 3);
        /* the re-broadcast after the sync brought node 3's key everywhere */
        g_autoptr(GBytes) v = NULL;
        ck_assert_int_eq(cfs_status_get(net.nodes[id], "pmxc", "kv/late", &v), 0);
        g_autofree char *m = members(net.nodes[id]);
        ck_assert_ptr_nonnull(strstr(m, "\"pmxc\": { \"id\": 3, \"online\": 1"));
    }
    for (uint32_t id = 1; id <= 3; id++) {
        cfs_status_set_transport(net.nodes[id], NULL);
        cfs_status_free(net.nodes[id]);
    }
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("status");
    TCase *tc = tcase_create("status");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_members_formats);
    tcase_add_test(tc, test_version_kvstore_section);
    tcase_add_test(tc, test_cache_by_version);
    tcase_add_test(tc, test_deliver_rules);
    tcase_add_test(tc, test_three_nodes);
    suite_add_tcase(s, tc);
    return s;
}
