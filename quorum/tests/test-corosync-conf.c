/*
 * test-corosync-conf: the corosync.conf parser and writer (quorum/corosync-conf.h):
 * reference layout round trips, comments, unknown and repeated keys, ordering, editing,
 * and every kind of malformed input with its exact message.
 */
#include <string.h>

#include "quorum/corosync-conf.h"
#include "tests/unit/check-main.h"

/* The layout pvecm create writes (and the reference's PVE::Corosync::write_conf). */
static const char reference[] = "logging {\n"
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
                                "    name: n2\n"
                                "    nodeid: 2\n"
                                "    quorum_votes: 1\n"
                                "    ring0_addr: 10.99.0.2\n"
                                "  }\n"
                                "}\n"
                                "\n"
                                "quorum {\n"
                                "  provider: corosync_votequorum\n"
                                "}\n"
                                "\n"
                                "totem {\n"
                                "  cluster_name: lab\n"
                                "  config_version: 2\n"
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

static void assert_parse_error(const char *text, const char *message)
{
    g_autoptr(GError) err = NULL;
    corosync_conf_item *root = corosync_conf_parse(text, strlen(text), &err);
    ck_assert_ptr_null(root);
    ck_assert_ptr_nonnull(err);
    ck_assert(g_error_matches(err, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_SYNTAX));
    ck_assert_str_eq(err->message, message);
}

START_TEST(test_reference_round_trip)
{
    g_autoptr(corosync_conf_item) root = parse_ok(reference);
    ck_assert_str_eq(corosync_conf_get(root, "totem.cluster_name"), "lab");
    ck_assert_str_eq(corosync_conf_get(root, "totem.config_version"), "2");
    ck_assert_str_eq(corosync_conf_get(root, "totem.interface.linknumber"), "0");
    ck_assert_str_eq(corosync_conf_get(root, "quorum.provider"), "corosync_votequorum");
    ck_assert_ptr_null(corosync_conf_get(root, "totem.token"));
    ck_assert_ptr_null(corosync_conf_get(root, "nosuch.key"));
    g_autoptr(GPtrArray) nodes =
        corosync_conf_sections(corosync_conf_section(root, "nodelist"), "node");
    ck_assert_uint_eq(nodes->len, 2);
    ck_assert_str_eq(corosync_conf_get(nodes->pdata[1], "ring0_addr"), "10.99.0.2");
    g_autofree char *out = corosync_conf_write(root);
    ck_assert_str_eq(out, reference);
}
END_TEST

START_TEST(test_messy_input_normalised_and_stable)
{
    const char *messy = "# cluster of the lab\n"
                        "totem{\n"
                        "version:2\n"
                        "\tsecauth :   on  \r\n"
                        "  cluster_name: lab\n"
                        "  crypto_cipher: aes256\n"
                        "  interface {\n"
                        "    linknumber: 1\n"
                        "  }\n"
                        "  interface {\n"
                        "    linknumber: 0\n"
                        "  }\n"
                        "  config_version: 7\n"
                        "}\n"
                        "\n\n"
                        "nodelist {\n"
                        "  node {\n"
                        "    ring0_addr: fd00::2\n"
                        "    name: zeta\n"
                        "    nodeid: 2\n"
                        "  }\n"
                        "  node {\n"
                        "    nodeid: 1\n"
                        "    name: alpha\n"
                        "    ring0_addr: fd00::1\n"
                        "  }\n"
                        "}\n"
                        "unknown_section {\n"
                        "  nested {\n"
                        "    x: y\n"
                        "  }\n"
                        "}\n";
    g_autoptr(corosync_conf_item) root = parse_ok(messy);
    ck_assert_str_eq(corosync_conf_get(root, "totem.secauth"), "on");
    ck_assert_str_eq(corosync_conf_get(root, "totem.crypto_cipher"), "aes256");
    ck_assert_str_eq(corosync_conf_get(root, "unknown_section.nested.x"), "y");
    g_autofree char *out = corosync_conf_write(root);
    const char *expected = "nodelist {\n"
                           "  node {\n"
                           "    name: alpha\n"
                           "    nodeid: 1\n"
                           "    ring0_addr: fd00::1\n"
                           "  }\n"
                           "  node {\n"
                           "    name: zeta\n"
                           "    nodeid: 2\n"
                           "    ring0_addr: fd00::2\n"
                           "  }\n"
                           "}\n"
                           "\n"
                           "# cluster of the lab\n"
                           "totem {\n"
                           "  cluster_name: lab\n"
                           "  config_version: 7\n"
                           "  crypto_cipher: aes256\n"
                           "  interface {\n"
                           "    linknumber: 0\n"
                           "  }\n"
                           "  interface {\n"
                           "    linknumber: 1\n"
                           "  }\n"
                           "  secauth: on\n"
                           "  version: 2\n"
                           "}\n"
                           "\n"
                           "unknown_section {\n"
                           "  nested {\n"
                           "    x: y\n"
                           "  }\n"
                           "}\n"
                           "\n";
    ck_assert_str_eq(out, expected);
    /* writing is a fixed point */
    g_autoptr(corosync_conf_item) again = parse_ok(out);
    g_autofree char *out2 = corosync_conf_write(again);
    ck_assert_str_eq(out2, out);
}
END_TEST

START_TEST(test_comments_follow_their_items)
{
    const char *text = "totem {\n"
                       "  # the version comment\n"
                       "  version: 2\n"
                       "  # about the name\n"
                       "  #   second line\n"
                       "  cluster_name: lab\n"
                       "  # trailing in totem\n"
                       "}\n"
                       "# about logging\n"
                       "logging {\n"
                       "  to_syslog: yes\n"
                       "}\n"
                       "# end of file\n";
    g_autoptr(corosync_conf_item) root = parse_ok(text);
    g_autofree char *out = corosync_conf_write(root);
    ck_assert_str_eq(out, "# about logging\n"
                          "logging {\n"
                          "  to_syslog: yes\n"
                          "}\n"
                          "\n"
                          "totem {\n"
                          "  # about the name\n"
                          "  #   second line\n"
                          "  cluster_name: lab\n"
                          "  # the version comment\n"
                          "  version: 2\n"
                          "  # trailing in totem\n"
                          "}\n"
                          "\n"
                          "# end of file\n");
    g_autoptr(corosync_conf_item) again = parse_ok(out);
    g_autofree char *out2 = corosync_conf_write(again);
    ck_assert_str_eq(out2, out);
}
END_TEST

START_TEST(test_repeated_keys_kept_last_wins)
{
    g_autoptr(corosync_conf_item) root =
        parse_ok("totem {\n  token: 1000\n  token: 3000\n  a: x\n}\n");
    ck_assert_str_eq(corosync_conf_get(root, "totem.token"), "3000");
    g_autofree char *out = corosync_conf_write(root);
    ck_assert_str_eq(out, "totem {\n  a: x\n  token: 1000\n  token: 3000\n}\n\n");
    corosync_conf_set(root, "totem.token", "5000");
    g_autofree char *out2 = corosync_conf_write(root);
    ck_assert_str_eq(out2, "totem {\n  a: x\n  token: 1000\n  token: 5000\n}\n\n");
    ck_assert_uint_eq(corosync_conf_unset(corosync_conf_section(root, "totem"), "token"), 2);
    ck_assert_ptr_null(corosync_conf_get(root, "totem.token"));
}
END_TEST

START_TEST(test_values_with_colons_and_spaces)
{
    g_autoptr(corosync_conf_item) root =
        parse_ok("nodelist {\n node {\n  ring0_addr: fe80::1:2\n  name: a b: c\n  empty:\n }\n}\n");
    g_autoptr(GPtrArray) nodes =
        corosync_conf_sections(corosync_conf_section(root, "nodelist"), "node");
    ck_assert_str_eq(corosync_conf_get(nodes->pdata[0], "ring0_addr"), "fe80::1:2");
    ck_assert_str_eq(corosync_conf_get(nodes->pdata[0], "name"), "a b: c");
    ck_assert_str_eq(corosync_conf_get(nodes->pdata[0], "empty"), "");
}
END_TEST

START_TEST(test_edit_tree)
{
    g_autoptr(corosync_conf_item) root = corosync_conf_section_new("");
    corosync_conf_set(root, "totem.cluster_name", "x");
    corosync_conf_set(root, "totem.interface.linknumber", "0");
    corosync_conf_item *nodelist = corosync_conf_section_add(root, "nodelist");
    corosync_conf_item *b = corosync_conf_section_add(nodelist, "node");
    corosync_conf_set(b, "name", "b");
    corosync_conf_item *a = corosync_conf_section_add(nodelist, "node");
    corosync_conf_set(a, "name", "a");
    g_autofree char *out = corosync_conf_write(root);
    ck_assert_str_eq(out,
                     "nodelist {\n"
                     "  node {\n    name: a\n  }\n"
                     "  node {\n    name: b\n  }\n"
                     "}\n\n"
                     "totem {\n  cluster_name: x\n  interface {\n    linknumber: 0\n  }\n}\n\n");
    ck_assert(corosync_conf_remove(nodelist, b));
    ck_assert(!corosync_conf_remove(nodelist, root));
    g_autoptr(GPtrArray) nodes = corosync_conf_sections(nodelist, "node");
    ck_assert_uint_eq(nodes->len, 1);
    ck_assert_ptr_eq(corosync_conf_section(root, "nodelist.node"), a);
    ck_assert_ptr_null(corosync_conf_section(root, "totem.cluster_name"));
}
END_TEST

START_TEST(test_empty_input)
{
    g_autoptr(corosync_conf_item) root = parse_ok("");
    ck_assert_uint_eq(root->items->len, 0);
    g_autofree char *out = corosync_conf_write(root);
    ck_assert_str_eq(out, "");
    g_autoptr(corosync_conf_item) comments = parse_ok("# only\n\n# comments\n");
    g_autofree char *out2 = corosync_conf_write(comments);
    ck_assert_str_eq(out2, "# only\n# comments\n");
}
END_TEST

START_TEST(test_malformed)
{
    assert_parse_error("totem {\n  version: 2\n", "line 2: section 'totem' opened on line 1 "
                                                  "is not closed");
    assert_parse_error("totem {\n}\n}\n", "line 3: '}' without an open section");
    assert_parse_error("totem {\n  version 2\n}\n",
                       "line 2: expected 'key: value', 'name {' or '}', got 'version 2'");
    assert_parse_error("totem {\n  : 2\n}\n", "line 2: empty key");
    assert_parse_error("{\n}\n", "line 1: section without a name");
    assert_parse_error("to tem {\n}\n", "line 1: invalid section name 'to tem'");
    assert_parse_error("totem {\n  ver sion: 2\n}\n", "line 2: invalid key 'ver sion'");
    assert_parse_error("totem { version: 2 }\n", "line 1: invalid key 'totem { version'");
    assert_parse_error("totem {\n  a: b {\n}\n", "line 2: invalid section name 'a: b'");
    assert_parse_error("totem {\n  a: }\n}\n", "line 2: braces in the value of 'a' (one item "
                                               "per line)");
    static const char nul[] = "totem {\n  a: b\0c\n}\n";
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_null(corosync_conf_parse(nul, sizeof(nul) - 1, &err));
    ck_assert_str_eq(err->message, "line 2: NUL byte in the file");
    g_autoptr(GString) deep = g_string_new(NULL);
    for (int i = 0; i <= COROSYNC_CONF_MAX_DEPTH; i++)
        g_string_append_printf(deep, "s%d {\n", i);
    g_autofree char *msg = g_strdup_printf("line %d: sections nested deeper than %d levels",
                                           COROSYNC_CONF_MAX_DEPTH + 1, COROSYNC_CONF_MAX_DEPTH);
    assert_parse_error(deep->str, msg);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("corosync-conf");
    struct {
        const char *name;
        const TTest *fn;
    } cases[] = {
        {"reference_round_trip", test_reference_round_trip},
        {"messy_input", test_messy_input_normalised_and_stable},
        {"comments", test_comments_follow_their_items},
        {"repeated_keys", test_repeated_keys_kept_last_wins},
        {"values", test_values_with_colons_and_spaces},
        {"edit", test_edit_tree},
        {"empty", test_empty_input},
        {"malformed", test_malformed},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_test(tc, cases[i].fn);
        suite_add_tcase(s, tc);
    }
    return s;
}
