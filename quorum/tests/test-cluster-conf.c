/*
 * test-cluster-conf: the cluster-level corosync.conf operations (quorum/cluster-conf.h):
 * name checks, link arguments, the layout of a new cluster, node ids, adding and removing
 * nodes with every refusal, and validation.  A refused change must leave the tree
 * byte-identical.
 */
#include <string.h>

#include "quorum/cluster-conf.h"
#include "tests/unit/check-main.h"

static const char two_nodes[] = "logging {\n"
                                "  debug: off\n"
                                "  to_syslog: yes\n"
                                "}\n"
                                "\n"
                                "nodelist {\n"
                                "  node {\n"
                                "    name: n1\n"
                                "    nodeid: 1\n"
                                "    quorum_votes: 1\n"
                                "    ring0_addr: 10.99.0.1\n"
                                "  }\n"
                                "  node {\n"
                                "    name: n3\n"
                                "    nodeid: 3\n"
                                "    quorum_votes: 1\n"
                                "    ring0_addr: 10.99.0.3\n"
                                "  }\n"
                                "}\n"
                                "\n"
                                "quorum {\n"
                                "  provider: corosync_votequorum\n"
                                "}\n"
                                "\n"
                                "totem {\n"
                                "  cluster_name: lab\n"
                                "  config_version: 4\n"
                                "  interface {\n"
                                "    linknumber: 0\n"
                                "  }\n"
                                "  ip_version: ipv4-6\n"
                                "  link_mode: passive\n"
                                "  secauth: on\n"
                                "  version: 2\n"
                                "}\n"
                                "\n";

static corosync_conf_item *parse_ok(const char *text)
{
    g_autoptr(GError) err = NULL;
    corosync_conf_item *root = corosync_conf_parse(text, strlen(text), &err);
    ck_assert_msg(root != NULL, "parse failed: %s", err ? err->message : "?");
    return root;
}

static void links_one(cluster_conf_link *links, unsigned n, const char *addr)
{
    for (unsigned i = 0; i < CLUSTER_CONF_MAX_LINKS; i++) {
        links[i].address = NULL;
        links[i].priority = -1;
    }
    links[n].address = (char *)addr;
}

START_TEST(test_cluster_names)
{
    ck_assert(cluster_conf_name_check("lab", NULL));
    ck_assert(cluster_conf_name_check("a-1-B", NULL));
    ck_assert(cluster_conf_name_check("123456789012345", NULL));
    const char *bad[] = {"", "1234567890123456", "my cluster", "lab!", "a_b", "a.b"};
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        ck_assert_msg(!cluster_conf_name_check(bad[i], &err), "accepted '%s'", bad[i]);
        ck_assert(g_error_matches(err, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_INVALID));
    }
    g_autoptr(GError) err = NULL;
    cluster_conf_name_check("lab!", &err);
    ck_assert_str_eq(err->message,
                     "invalid cluster name 'lab!': only letters, digits and '-' are allowed");
    g_clear_error(&err);
    cluster_conf_name_check("1234567890123456", &err);
    ck_assert_str_eq(err->message,
                     "invalid cluster name '1234567890123456': it must have 1 to 15 characters");
}
END_TEST

START_TEST(test_node_names)
{
    ck_assert(cluster_conf_nodename_check("n1", NULL));
    ck_assert(cluster_conf_nodename_check("pve-node-01", NULL));
    const char *bad[] = {"", "-n1", "n1-", "n_1", "n1.example", "a b"};
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++)
        ck_assert_msg(!cluster_conf_nodename_check(bad[i], NULL), "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(test_link_arguments)
{
    cluster_conf_link l = {NULL, -1};
    ck_assert(cluster_conf_link_parse("10.0.0.1", &l, NULL));
    ck_assert_str_eq(l.address, "10.0.0.1");
    ck_assert_int_eq(l.priority, -1);
    cluster_conf_link_clear(&l);
    ck_assert(cluster_conf_link_parse("address=fd00::1,priority=20", &l, NULL));
    ck_assert_str_eq(l.address, "fd00::1");
    ck_assert_int_eq(l.priority, 20);
    cluster_conf_link_clear(&l);
    ck_assert(cluster_conf_link_parse("n2.example.org", &l, NULL));
    cluster_conf_link_clear(&l);
    const char *bad[] = {
        "",          "priority=5", "address=10.0.0.1,prio=3", "10.0.0.1,priority=256",
        "bad name!", "address=",   "10.0.0.1,priority=-1"};
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        ck_assert_msg(!cluster_conf_link_parse(bad[i], &l, &err), "accepted '%s'", bad[i]);
        ck_assert_ptr_null(l.address);
    }
    g_autoptr(GError) err = NULL;
    cluster_conf_link_parse("address=10.0.0.1,prio=3", &l, &err);
    ck_assert_str_eq(err->message, "invalid link 'address=10.0.0.1,prio=3': expected "
                                   "'[address=]<IP or host>[,priority=<0-255>]'");
}
END_TEST

START_TEST(test_new_cluster_layout)
{
    cluster_conf_link links[CLUSTER_CONF_MAX_LINKS];
    links_one(links, 0, "10.99.0.1");
    links[1].address = (char *)"10.98.0.1";
    links[1].priority = 10;
    g_autoptr(corosync_conf_item) root = cluster_conf_new("lab", "n1", 1, 1, links);
    ck_assert_uint_eq(cluster_conf_version(root), 0);
    cluster_conf_version_bump(root);
    ck_assert_uint_eq(cluster_conf_version(root), 1);
    g_autofree char *text = corosync_conf_write(root);
    ck_assert_str_eq(text, "logging {\n"
                           "  debug: off\n"
                           "  to_syslog: yes\n"
                           "}\n"
                           "\n"
                           "nodelist {\n"
                           "  node {\n"
                           "    name: n1\n"
                           "    nodeid: 1\n"
                           "    quorum_votes: 1\n"
                           "    ring0_addr: 10.99.0.1\n"
                           "    ring1_addr: 10.98.0.1\n"
                           "  }\n"
                           "}\n"
                           "\n"
                           "quorum {\n"
                           "  provider: corosync_votequorum\n"
                           "}\n"
                           "\n"
                           "totem {\n"
                           "  cluster_name: lab\n"
                           "  config_version: 1\n"
                           "  interface {\n"
                           "    linknumber: 0\n"
                           "  }\n"
                           "  interface {\n"
                           "    knet_link_priority: 10\n"
                           "    linknumber: 1\n"
                           "  }\n"
                           "  ip_version: ipv4-6\n"
                           "  link_mode: passive\n"
                           "  secauth: on\n"
                           "  version: 2\n"
                           "}\n"
                           "\n");
    ck_assert(cluster_conf_validate(root, NULL));
    bool l[CLUSTER_CONF_MAX_LINKS];
    ck_assert_uint_eq(cluster_conf_links(root, l), 2);
    ck_assert(l[0] && l[1] && !l[2]);
}
END_TEST

START_TEST(test_add_lowest_free_id)
{
    g_autoptr(corosync_conf_item) root = parse_ok(two_nodes);
    ck_assert(cluster_conf_validate(root, NULL));
    cluster_conf_link links[CLUSTER_CONF_MAX_LINKS];
    links_one(links, 0, "10.99.0.2");
    uint32_t id = 0;
    ck_assert(cluster_conf_node_add(root, "n2", 0, 0, links, false, &id, NULL));
    ck_assert_uint_eq(id, 2);
    links_one(links, 0, "10.99.0.4");
    ck_assert(cluster_conf_node_add(root, "n4", 0, 2, links, false, &id, NULL));
    ck_assert_uint_eq(id, 4);
    links_one(links, 0, "10.99.0.9");
    ck_assert(cluster_conf_node_add(root, "n9", 9, 0, links, false, &id, NULL));
    ck_assert_uint_eq(id, 9);
    ck_assert(cluster_conf_validate(root, NULL));
    g_autoptr(GArray) nodes = cluster_conf_nodes(root);
    ck_assert_uint_eq(nodes->len, 5);
    const cluster_conf_node *n4 = cluster_conf_node_find(nodes, "n4");
    ck_assert_uint_eq(n4->nodeid, 4);
    ck_assert_uint_eq(n4->votes, 2);
    ck_assert_str_eq(n4->addr[0], "10.99.0.4");
    ck_assert_ptr_eq(cluster_conf_node_find(nodes, "10.99.0.9")->section,
                     cluster_conf_node_find(nodes, "n9")->section);
    ck_assert_ptr_null(cluster_conf_node_find(nodes, "n5"));
}
END_TEST

/* A refused add: exact message, and the tree is unchanged. */
static void assert_add_refused(const char *name, uint32_t nodeid, const char *addr, unsigned link,
                               bool force, int code, const char *message)
{
    g_autoptr(corosync_conf_item) root = parse_ok(two_nodes);
    cluster_conf_link links[CLUSTER_CONF_MAX_LINKS];
    links_one(links, link, addr);
    uint32_t id = 77;
    g_autoptr(GError) err = NULL;
    ck_assert(!cluster_conf_node_add(root, name, nodeid, 0, links, force, &id, &err));
    ck_assert_uint_eq(id, 77);
    ck_assert(g_error_matches(err, CLUSTER_CONF_ERROR, code));
    ck_assert_str_eq(err->message, message);
    g_autofree char *text = corosync_conf_write(root);
    ck_assert_str_eq(text, two_nodes);
}

START_TEST(test_add_refusals)
{
    assert_add_refused("n1", 0, "10.99.0.7", 0, false, CLUSTER_CONF_ERROR_EXISTS,
                       "can't add existing node 'n1'");
    assert_add_refused("n1", 5, "10.99.0.7", 0, true, CLUSTER_CONF_ERROR_EXISTS,
                       "can't add existing node 'n1' (nodeid or votes differ)");
    assert_add_refused("n2", 0, "10.99.0.3", 0, false, CLUSTER_CONF_ERROR_EXISTS,
                       "corosync: address '10.99.0.3' already used by node 'n3'");
    assert_add_refused("n2", 3, "10.99.0.2", 0, false, CLUSTER_CONF_ERROR_EXISTS,
                       "nodeid 3 already used by node 'n3'");
    assert_add_refused("n2", 0, "10.99.0.2", 1, false, CLUSTER_CONF_ERROR_INVALID,
                       "missing address for link 0 of the new node (the cluster uses link 0: "
                       "pass --link0)");
    assert_add_refused("bad_name", 0, "10.99.0.2", 0, false, CLUSTER_CONF_ERROR_INVALID,
                       "invalid node name 'bad_name': expected a host name (letters, digits and "
                       "'-', at most 63 characters)");
    /* an extra link the cluster does not have */
    g_autoptr(corosync_conf_item) root = parse_ok(two_nodes);
    cluster_conf_link links[CLUSTER_CONF_MAX_LINKS];
    links_one(links, 0, "10.99.0.2");
    links[2].address = (char *)"10.98.0.2";
    uint32_t id = 0;
    g_autoptr(GError) err = NULL;
    ck_assert(!cluster_conf_node_add(root, "n2", 0, 0, links, false, &id, &err));
    ck_assert_str_eq(err->message, "link 2 is not configured in this cluster");
}
END_TEST

START_TEST(test_force_readd_same_node)
{
    g_autoptr(corosync_conf_item) root = parse_ok(two_nodes);
    cluster_conf_link links[CLUSTER_CONF_MAX_LINKS];
    links_one(links, 0, "10.99.0.33");
    uint32_t id = 0;
    ck_assert(cluster_conf_node_add(root, "n3", 0, 0, links, true, &id, NULL));
    ck_assert_uint_eq(id, 3);
    g_autoptr(GArray) nodes = cluster_conf_nodes(root);
    ck_assert_uint_eq(nodes->len, 2);
    ck_assert_str_eq(cluster_conf_node_find(nodes, "n3")->addr[0], "10.99.0.33");
    ck_assert(cluster_conf_validate(root, NULL));
}
END_TEST

START_TEST(test_remove)
{
    g_autoptr(corosync_conf_item) root = parse_ok(two_nodes);
    g_autofree char *name = NULL;
    uint32_t id = 0;
    ck_assert(cluster_conf_node_remove(root, "10.99.0.3", &name, &id, NULL));
    ck_assert_str_eq(name, "n3");
    ck_assert_uint_eq(id, 3);
    g_autoptr(GArray) nodes = cluster_conf_nodes(root);
    ck_assert_uint_eq(nodes->len, 1);
    g_autoptr(GError) err = NULL;
    g_autofree char *name2 = NULL;
    ck_assert(!cluster_conf_node_remove(root, "n3", &name2, &id, &err));
    ck_assert(g_error_matches(err, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_NOT_FOUND));
    ck_assert_str_eq(err->message, "Node/IP: n3 is not a known host of the cluster.");
    ck_assert_ptr_null(name2);
}
END_TEST

static void assert_invalid(const char *from, const char *to, const char *message)
{
    g_autofree char *text = NULL;
    if (from) {
        const char *at = strstr(two_nodes, from);
        ck_assert_ptr_nonnull(at);
        text = g_strdup_printf("%.*s%s%s", (int)(at - two_nodes), two_nodes, to, at + strlen(from));
    } else {
        text = g_strdup(to);
    }
    g_autoptr(corosync_conf_item) root = parse_ok(text);
    g_autoptr(GError) err = NULL;
    ck_assert(!cluster_conf_validate(root, &err));
    ck_assert_str_eq(err->message, message);
}

START_TEST(test_validate)
{
    assert_invalid(NULL, "nodelist {\n}\n", "corosync.conf has no totem section");
    assert_invalid("  cluster_name: lab\n", "", "corosync.conf has no totem.cluster_name");
    assert_invalid("config_version: 4", "config_version: x",
                   "corosync.conf: totem.config_version is missing or not a number");
    assert_invalid("    nodeid: 3\n", "    nodeid: 1\n",
                   "corosync.conf: nodes 'n1' and 'n3' share a nodeid");
    assert_invalid("    nodeid: 3\n", "    nodeid: 0\n",
                   "corosync.conf: node 'n3' has no valid nodeid");
    assert_invalid("    name: n3\n", "    name: n1\n",
                   "corosync.conf: nodes 'n1' and 'n1' share a name");
    assert_invalid("ring0_addr: 10.99.0.3", "ring0_addr: 10.99.0.1",
                   "corosync.conf: nodes 'n1' and 'n3' share the address '10.99.0.1'");
    assert_invalid("    linknumber: 0\n", "    linknumber: 1\n",
                   "corosync.conf: node 'n1' has no address for link 1 (ring1_addr)");
    assert_invalid("    linknumber: 0\n", "    linknumber: 9\n",
                   "corosync.conf: invalid link number in totem interface (0 to 7)");
    assert_invalid("nodelist {", "nodelist_old {", "corosync.conf has no nodelist entries");
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("cluster-conf");
    struct {
        const char *name;
        const TTest *fn;
    } cases[] = {
        {"cluster_names", test_cluster_names},
        {"node_names", test_node_names},
        {"link_arguments", test_link_arguments},
        {"new_cluster", test_new_cluster_layout},
        {"add_lowest_free_id", test_add_lowest_free_id},
        {"add_refusals", test_add_refusals},
        {"force_readd", test_force_readd_same_node},
        {"remove", test_remove},
        {"validate", test_validate},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_test(tc, cases[i].fn);
        suite_add_tcase(s, tc);
    }
    return s;
}
