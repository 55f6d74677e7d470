/*
 * test-confdb: the node list built from cmap keys (spec §11.3): name or ring0_addr,
 * entries without a name or node id skipped, votes, order by node id.
 */
#include <string.h>

#include "pmxcfs/confdb.h"
#include "tests/unit/check-main.h"

static GHashTable *keys_of(const char *const *kv)
{
    GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    for (; kv[0]; kv += 2)
        g_hash_table_insert(h, g_strdup(kv[0]), g_strdup(kv[1]));
    return h;
}

START_TEST(test_nodelist)
{
    const char *const kv[] = {
        "nodelist.node.0.nodeid",
        "2",
        "nodelist.node.0.name",
        "pmxb",
        "nodelist.node.0.ring0_addr",
        "10.0.0.2",
        "nodelist.node.0.quorum_votes",
        "1",
        "nodelist.node.1.nodeid",
        "1",
        "nodelist.node.1.ring0_addr",
        "pmxa",
        "nodelist.node.1.quorum_votes",
        "3",
        /* no node id: skipped */
        "nodelist.node.2.name",
        "ghost",
        /* no name and no ring0_addr: skipped */
        "nodelist.node.3.nodeid",
        "4",
        /* invalid node ids: skipped */
        "nodelist.node.4.nodeid",
        "x",
        "nodelist.node.4.name",
        "bad",
        "nodelist.node.5.nodeid",
        "0",
        "nodelist.node.5.name",
        "zero",
        "nodelist.node.6.nodeid",
        "4294967296",
        "nodelist.node.6.name",
        "big",
        /* other keys are ignored */
        "nodelist.node.7.nodeid",
        "7",
        "nodelist.node.7.name",
        "pmxg",
        "nodelist.node.7.ring1_addr",
        "x",
        "totem.cluster_name",
        "lab",
        "nodelist.local_node_pos",
        "0",
        NULL,
    };
    g_autoptr(GHashTable) keys = keys_of(kv);
    g_autoptr(GArray) nodes = confdb_parse_nodelist(keys);
    ck_assert_uint_eq(nodes->len, 3);
    cfs_status_node *n = (cfs_status_node *)(void *)nodes->data;
    ck_assert_uint_eq(n[0].nodeid, 1);
    ck_assert_str_eq(n[0].name, "pmxa"); /* ring0_addr without a name */
    ck_assert_uint_eq(n[0].votes, 3);
    ck_assert_uint_eq(n[1].nodeid, 2);
    ck_assert_str_eq(n[1].name, "pmxb");
    ck_assert_uint_eq(n[1].votes, 1);
    ck_assert_uint_eq(n[2].nodeid, 7);
    ck_assert_str_eq(n[2].name, "pmxg");
    ck_assert_uint_eq(n[2].votes, 1); /* default */

    g_autoptr(GHashTable) empty = keys_of((const char *const[]){NULL});
    g_autoptr(GArray) none = confdb_parse_nodelist(empty);
    ck_assert_uint_eq(none->len, 0);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("confdb");
    TCase *tc = tcase_create("confdb");
    tcase_add_test(tc, test_nodelist);
    suite_add_tcase(s, tc);
    return s;
}
