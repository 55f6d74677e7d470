/*
 * test-pvecm-status: the corosync-quorumtool formats of `pvecm status` and `pvecm nodes`
 * (quorum/pvecm-status.h).  The expected texts are the output of corosync-quorumtool
 * 3.1.7 (`-siH`, `-s`, `-l`) captured on a 3-node lab cluster, quorate and isolated.
 */
#include <corosync/votequorum.h>
#include <stdlib.h>
#include <string.h>

#include "quorum/pvecm-status.h"
#include "tests/unit/check-main.h"

static cs_membership *fake(unsigned nmembers, bool quorate)
{
    cs_membership *m = g_new0(cs_membership, 1);
    m->quorum_provider = g_strdup("corosync_votequorum");
    m->cluster_name = g_strdup("lab");
    m->config_version = 1;
    m->local_nodeid = 1;
    m->ring_nodeid = 1;
    m->ring_seq = 0xd;
    m->quorate = quorate;
    m->expected_votes = 3;
    m->highest_expected = 3;
    m->total_votes = nmembers;
    m->quorum = 2;
    m->flags = quorate ? VOTEQUORUM_INFO_QUORATE : 0;
    m->members = g_array_new(FALSE, TRUE, sizeof(cs_member));
    for (unsigned i = 1; i <= nmembers; i++) {
        cs_member mem = {.nodeid = i, .votes = 1};
        mem.name = g_strdup_printf("n%u", i);
        mem.addr = g_strdup_printf("10.99.0.%u", i);
        g_array_append_val(m->members, mem);
    }
    return m;
}

static void free_fake(cs_membership *m)
{
    for (unsigned i = 0; i < m->members->len; i++) {
        g_free(g_array_index(m->members, cs_member, i).name);
        g_free(g_array_index(m->members, cs_member, i).addr);
    }
    g_array_set_clear_func(m->members, NULL);
    cs_membership_free(m);
}

/* The date line depends on the clock: compare everything else. */
static const char *after_date(const char *s)
{
    const char *p = strstr(s, "Quorum provider:");
    ck_assert_ptr_nonnull(p);
    return p;
}

START_TEST(test_status_siH_quorate)
{
    cs_membership *m = fake(3, true);
    g_autofree char *out = pvecm_status_format_quorum(m, true, true, 0);
    ck_assert(g_str_has_prefix(out, "Quorum information\n"
                                    "------------------\n"
                                    "Date:             "));
    ck_assert_str_eq(after_date(out), "Quorum provider:  corosync_votequorum\n"
                                      "Nodes:            3\n"
                                      "Node ID:          0x00000001\n"
                                      "Ring ID:          1.d\n"
                                      "Quorate:          Yes\n"
                                      "\n"
                                      "Votequorum information\n"
                                      "----------------------\n"
                                      "Expected votes:   3\n"
                                      "Highest expected: 3\n"
                                      "Total votes:      3\n"
                                      "Quorum:           2  \n"
                                      "Flags:            Quorate \n"
                                      "\n"
                                      "Membership information\n"
                                      "----------------------\n"
                                      "    Nodeid      Votes Name\n"
                                      "0x00000001          1 10.99.0.1 (local)\n"
                                      "0x00000002          1 10.99.0.2\n"
                                      "0x00000003          1 10.99.0.3\n");
    free_fake(m);
}
END_TEST

START_TEST(test_status_s_isolated)
{
    cs_membership *m = fake(1, false);
    cs_member *only = &g_array_index(m->members, cs_member, 0);
    only->nodeid = 3;
    g_free(only->name);
    only->name = g_strdup("n3");
    m->local_nodeid = 3;
    m->ring_nodeid = 3;
    m->ring_seq = 0x11;
    g_autofree char *out = pvecm_status_format_quorum(m, false, false, 0);
    ck_assert_str_eq(after_date(out), "Quorum provider:  corosync_votequorum\n"
                                      "Nodes:            1\n"
                                      "Node ID:          3\n"
                                      "Ring ID:          3.11\n"
                                      "Quorate:          No\n"
                                      "\n"
                                      "Votequorum information\n"
                                      "----------------------\n"
                                      "Expected votes:   3\n"
                                      "Highest expected: 3\n"
                                      "Total votes:      1\n"
                                      "Quorum:           2 Activity blocked\n"
                                      "Flags:            \n"
                                      "\n"
                                      "Membership information\n"
                                      "----------------------\n"
                                      "    Nodeid      Votes Name\n"
                                      "         3          1 n3 (local)\n");
    free_fake(m);
}
END_TEST

START_TEST(test_nodes_l)
{
    cs_membership *m = fake(3, true);
    g_autofree char *out = pvecm_status_format_members(m, false, false);
    ck_assert_str_eq(out, "\n"
                          "Membership information\n"
                          "----------------------\n"
                          "    Nodeid      Votes Name\n"
                          "         1          1 n1 (local)\n"
                          "         2          1 n2\n"
                          "         3          1 n3\n");
    free_fake(m);
}
END_TEST

START_TEST(test_date_like_ctime)
{
    setenv("TZ", "UTC", 1);
    tzset();
    cs_membership *m = fake(1, true);
    g_autofree char *out = pvecm_status_format_quorum(m, true, true, 1700000000);
    ck_assert_ptr_nonnull(strstr(out, "Date:             Tue Nov 14 22:13:20 2023\n"));
    g_autofree char *out2 = pvecm_status_format_quorum(m, true, true, 1699000000);
    ck_assert_ptr_nonnull(strstr(out2, "Date:             Fri Nov  3 08:26:40 2023\n"));
    free_fake(m);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("pvecm-status");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, test_status_siH_quorate);
    tcase_add_test(tc, test_status_s_isolated);
    tcase_add_test(tc, test_nodes_l);
    tcase_add_test(tc, test_date_like_ctime);
    suite_add_tcase(s, tc);
    return s;
}
