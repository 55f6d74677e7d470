/*
 * test-ha-config: parsers and writers of resources.cfg, rules.cfg, groups.cfg,
 * datacenter.cfg, manager_status and lrm_status (round trips and bad input).
 */
#include "ha/config-datacenter.h"
#include "ha/config-resources.h"
#include "ha/config-rules.h"
#include "ha/config-status.h"
#include "tests/unit/check-main.h"

#include <errno.h>
#include <string.h>

static const char *resources_text = "vm: 100\n"
                                    "\tcomment billing frontend\n"
                                    "\tfailback 0\n"
                                    "\tstate started\n"
                                    "\n"
                                    "ct: 201\n"
                                    "\tmax_relocate 2\n"
                                    "\tmax_restart 3\n"
                                    "\n"
                                    "vm: 350\n"
                                    "\tstate disabled\n"
                                    "\n";

START_TEST(test_resources_round_trip)
{
    g_autoptr(GPtrArray) warn = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(ha_resources) rs = ha_resources_parse(resources_text, "resources.cfg", warn);
    ck_assert_int_eq(warn->len, 0);
    ck_assert_int_eq(rs->order->len, 3);
    ha_resource *ct = ha_resources_get(rs, "ct:201");
    ck_assert_str_eq(ct->state, "started"); /* default */
    ck_assert_int_eq(ct->max_restart, 3);
    ck_assert_int_eq(ct->failback, 1);
    ck_assert_int_eq(ha_resources_get(rs, "vm:100")->failback, 0);
    g_autofree char *out = ha_resources_write(rs);
    ck_assert_str_eq(out, resources_text);
}
END_TEST

START_TEST(test_resources_bad_input)
{
    const char *text = "vm: 100\n\tstate enabled\n\tmax_restart -1\n\tcolour blue\n\n"
                       "vm: 0100\n\tstate started\n\n"
                       "qemu: 101\n\n"
                       "ct: 102\n\tstate running\n";
    g_autoptr(GPtrArray) warn = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(ha_resources) rs = ha_resources_parse(text, "r", warn);
    ck_assert_int_eq(rs->order->len, 2);
    ck_assert_str_eq(ha_resources_get(rs, "vm:100")->state, "started"); /* enabled */
    ck_assert_int_eq(ha_resources_get(rs, "vm:100")->max_restart, 1);    /* bad value keeps default */
    ck_assert_str_eq(ha_resources_get(rs, "ct:102")->state, "started");
    ck_assert_int_eq(warn->len, 5);
}
END_TEST

START_TEST(test_sid_parse)
{
    g_autofree char *type = NULL, *name = NULL;
    ck_assert_int_eq(ha_sid_parse("vm:100", &type, &name), 0);
    ck_assert_str_eq(type, "vm");
    ck_assert_str_eq(name, "100");
    ck_assert_int_eq(ha_sid_parse("VM:100", NULL, NULL), -EINVAL);
    ck_assert_int_eq(ha_sid_parse("vm:", NULL, NULL), -EINVAL);
    ck_assert_int_eq(ha_sid_parse("100", NULL, NULL), -EINVAL);
    ck_assert(ha_guest_name_valid("100"));
    ck_assert(!ha_guest_name_valid("1"));
    ck_assert(!ha_guest_name_valid("0100"));
}
END_TEST

static const char *rules_text = "node-affinity: web-prefers-a\n"
                                "\tcomment frontends%3A prefer rack A\n"
                                "\tnodes node1:2,node2:1,node3\n"
                                "\tresources vm:100,vm:101\n"
                                "\tstrict 0\n"
                                "\n"
                                "resource-affinity: app-with-cache\n"
                                "\tdisable\n"
                                "\taffinity positive\n"
                                "\tresources ct:201,vm:202\n"
                                "\n";

START_TEST(test_rules_round_trip)
{
    g_autoptr(ha_rules) rs = ha_rules_parse(rules_text, "rules.cfg", NULL);
    ck_assert_int_eq(rs->rules->len, 2);
    ha_rule *a = g_ptr_array_index(rs->rules, 0);
    ck_assert_str_eq(a->comment, "frontends: prefer rack A");
    ck_assert_int_eq(a->nodes->len, 3);
    bool found;
    ck_assert_int_eq(ha_rule_node_priority(a, "node1", &found), 2);
    ck_assert(found);
    ck_assert_int_eq(ha_rule_node_priority(a, "node3", &found), 0);
    ha_rule *b = g_ptr_array_index(rs->rules, 1);
    ck_assert(b->disabled);
    ck_assert(b->positive);
    g_autofree char *out = ha_rules_write(rs);
    ck_assert_str_eq(out, rules_text);
}
END_TEST

START_TEST(test_rules_bad_input)
{
    const char *text = "node-affinity: x\n\tnodes node1\n\tresources vm:100\n\n"     /* id too short */
                       "node-affinity: nonodes\n\tresources vm:100\n\n"              /* no nodes */
                       "resource-affinity: noaff\n\tresources vm:1,vm:2\n\n"         /* no affinity */
                       "resource-affinity: badaff\n\taffinity maybe\n\tresources vm:100,vm:101\n\n"
                       "node-affinity: ok-rule\n\tnodes node1:x\n\tresources vm:100\n\n"
                       "colocation: c1\n\tresources vm:100\n\n"
                       "resource-affinity: good\n\taffinity negative\n\tresources vm:100 vm:101;vm:102\n";
    g_autoptr(GPtrArray) warn = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(ha_rules) rs = ha_rules_parse(text, "rules.cfg", warn);
    ck_assert_int_eq(rs->rules->len, 1);
    ha_rule *r = g_ptr_array_index(rs->rules, 0);
    ck_assert_str_eq(r->id, "good");
    ck_assert(!r->positive);
    ck_assert_int_eq(r->resources->len, 3);
    ck_assert_uint_ge(warn->len, 6);
}
END_TEST

START_TEST(test_comment_encoding)
{
    g_autofree char *enc = ha_comment_encode("a:b %c\xc3\xa4");
    ck_assert_str_eq(enc, "a%3Ab %25c%C3%A4");
    g_autofree char *dec = ha_comment_decode(enc);
    ck_assert_str_eq(dec, "a:b %c\xc3\xa4");
}
END_TEST

START_TEST(test_groups)
{
    const char *text = "group: rack-a\n\tcomment legacy placement group\n\tnodes node1:2,node2\n"
                       "\tnofailback 1\n\trestricted 0\n\n"
                       "group: only-node3\n\tnodes node3\n\trestricted 1\n";
    g_autoptr(ha_groups) gs = ha_groups_parse(text, "groups.cfg", NULL);
    ck_assert_int_eq(gs->groups->len, 2);
    ha_group *g = ha_groups_find(gs, "rack-a");
    ck_assert(g->nofailback);
    ck_assert(!g->restricted);
    ck_assert(ha_groups_find(gs, "only-node3")->restricted);
    g_autofree char *out = ha_groups_write(gs);
    g_autoptr(ha_groups) again = ha_groups_parse(out, "groups.cfg", NULL);
    g_autofree char *out2 = ha_groups_write(again);
    ck_assert_str_eq(out, out2);
}
END_TEST

START_TEST(test_manager_status_round_trip)
{
    const char *text =
        "{\"master_node\":\"node2\",\"timestamp\":1767261600,"
        "\"node_status\":{\"node1\":\"maintenance\",\"node2\":\"online\",\"node3\":\"fence\"},"
        "\"node_request\":{\"node1\":{\"maintenance\":1},\"node4\":{}},"
        "\"disarm\":{\"mode\":\"freeze\",\"state\":\"disarmed\"},"
        "\"service_status\":{"
        "\"vm:101\":{\"maintenance_node\":\"node1\",\"node\":\"node1\",\"state\":\"migrate\","
        "\"target\":\"node4\",\"uid\":\"p0Xk5NnV2qGdM7sHf4yT+w\",\"cmd\":[\"migrate\",\"node3\"]},"
        "\"vm:150\":{\"failed_nodes\":[\"node4\"],\"node\":\"node4\",\"state\":\"relocate\","
        "\"target\":\"node2\",\"uid\":\"b8\"},"
        "\"vm:300\":{\"node\":\"node4\",\"state\":\"request_stop\",\"timeout\":120,\"uid\":\"Hq\","
        "\"running\":1}}}";
    g_autoptr(ha_manager_status) ms = NULL;
    g_autoptr(GError) err = NULL;
    ck_assert_int_eq(ha_manager_status_parse(text, &ms, &err), 0);
    ck_assert_str_eq(ms->master_node, "node2");
    ck_assert_int_eq(ms->timestamp, 1767261600);
    ck_assert_int_eq(ha_manager_status_node_state(ms, "node3"), HA_NODE_FENCE);
    ck_assert_int_eq(ha_manager_status_node_state(ms, "node9"), HA_NODE_UNKNOWN);
    ha_service_state *sd = g_hash_table_lookup(ms->service_status, "vm:101");
    ck_assert_int_eq(sd->state, HA_SS_MIGRATE);
    ck_assert_str_eq(sd->cmd, "migrate");
    ck_assert_str_eq(sd->cmd_arg, "node3");
    sd = g_hash_table_lookup(ms->service_status, "vm:300");
    ck_assert_str_eq(sd->timeout, "120");
    ck_assert(sd->running);
    ck_assert_str_eq(ms->disarm_state, "disarmed");
    ck_assert_int_eq(g_hash_table_size(ms->node_request), 2);
    g_autofree char *out = ha_manager_status_to_json(ms);
    g_autoptr(ha_manager_status) again = NULL;
    ck_assert_int_eq(ha_manager_status_parse(out, &again, NULL), 0);
    g_autofree char *out2 = ha_manager_status_to_json(again);
    ck_assert_str_eq(out, out2);
    ck_assert_ptr_nonnull(strstr(out, "\"failed_nodes\":[\"node4\"]"));
}
END_TEST

START_TEST(test_manager_status_bad_input)
{
    ha_manager_status *ms = NULL;
    g_autoptr(GError) err = NULL;
    ck_assert_int_eq(ha_manager_status_parse("{\"service_status\":", &ms, &err), -EINVAL);
    ck_assert_ptr_null(ms);
    ck_assert_ptr_nonnull(strstr(err->message, "unable to parse manager status"));
    g_clear_error(&err);
    ck_assert_int_eq(ha_manager_status_parse("[1,2]", &ms, &err), -EINVAL);
    g_clear_error(&err);
    ck_assert_int_eq(
        ha_manager_status_parse("{\"service_status\":{\"vm:1\":{\"state\":\"flying\"}}}", &ms, &err),
        -EINVAL);
    ck_assert_ptr_nonnull(strstr(err->message, "flying"));
    g_clear_error(&err);
    ck_assert_int_eq(ha_manager_status_parse("{\"node_status\":{\"n1\":\"asleep\"}}", &ms, &err),
                     -EINVAL);
    g_clear_error(&err);
    /* a member of the wrong type is refused, not skipped */
    ck_assert_int_eq(ha_manager_status_parse("{\"node_status\":\"online\"}", &ms, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err->message, "bad member type"));
    g_clear_error(&err);
    ck_assert_int_eq(ha_manager_status_parse("{\"service_status\":[]}", &ms, &err), -EINVAL);
    g_clear_error(&err);
    g_autoptr(ha_manager_status) empty = NULL;
    ck_assert_int_eq(ha_manager_status_parse("  \n", &empty, NULL), 0);
    ck_assert_int_eq(g_hash_table_size(empty->service_status), 0);
}
END_TEST

START_TEST(test_lrm_status_round_trip)
{
    const char *text = "{\"state\":\"active\",\"mode\":\"active\",\"timestamp\":1767261604,"
                       "\"results\":{\"3Fj\":{\"sid\":\"vm:100\",\"state\":\"started\",\"exit_code\":0},"
                       "\"Hq2\":{\"sid\":\"vm:300\",\"state\":\"request_stop\",\"exit_code\":\"1\"}}}";
    g_autoptr(ha_lrm_status) ls = NULL;
    ck_assert_int_eq(ha_lrm_status_parse(text, &ls, NULL), 0);
    ck_assert_str_eq(ls->state, "active");
    ha_lrm_result *r = g_hash_table_lookup(ls->results, "Hq2");
    ck_assert_int_eq(r->exit_code, 1);
    g_autofree char *out = ha_lrm_status_to_json(ls);
    g_autoptr(ha_lrm_status) again = NULL;
    ck_assert_int_eq(ha_lrm_status_parse(out, &again, NULL), 0);
    g_autofree char *out2 = ha_lrm_status_to_json(again);
    ck_assert_str_eq(out, out2);
    ha_lrm_status *bad = NULL;
    g_autoptr(GError) err = NULL;
    ck_assert_int_eq(ha_lrm_status_parse("{\"results\":{\"u\":{\"sid\":\"vm:1\"}}}", &bad, &err), -EINVAL);
    ck_assert_ptr_null(bad);
    g_clear_error(&err);
    ck_assert_int_eq(ha_lrm_status_parse("{\"results\":[]}", &bad, &err), -EINVAL);
    ck_assert_ptr_null(bad);
}
END_TEST

START_TEST(test_datacenter)
{
    g_autoptr(GPtrArray) warn = g_ptr_array_new_with_free_func(g_free);
    ha_dc_settings dc;
    ha_dc_settings_parse("ha: shutdown_policy=migrate\n"
                         "crs: ha=static,ha-rebalance-on-start=1,ha-auto-rebalance-threshold=30\n"
                         "max_workers: 8\nfencing: watchdog\nkeyboard: de\nbroken line\n"
                         "ha-timing: profile=fast\n",
                         &dc, warn);
    ck_assert_str_eq(dc.shutdown_policy, "migrate");
    ck_assert_str_eq(dc.crs_ha, "static");
    ck_assert(dc.rebalance_on_start);
    ck_assert_double_eq_tol(dc.auto_rebalance_threshold, 0.3, 1e-9); /* 30 % (I-6) */
    ck_assert_int_eq(dc.max_workers, 8);
    ck_assert_str_eq(dc.ha_timing, "profile=fast");
    ck_assert_int_eq(warn->len, 1);
    ha_dc_settings_clear(&dc);

    g_autoptr(GError) err = NULL;
    ck_assert_int_eq(ha_dc_settings_parse_json("{\"ha\":{\"shutdown_policy\":\"freeze\"},"
                                               "\"crs\":{\"ha\":\"basic\",\"ha-rebalance-on-start\":1}}",
                                               &dc, &err),
                     0);
    ck_assert_str_eq(dc.shutdown_policy, "freeze");
    ck_assert(dc.rebalance_on_start);
    ha_dc_settings_clear(&dc);
    ck_assert_int_eq(ha_dc_settings_parse_json("{bad", &dc, &err), -EINVAL);
    ha_dc_settings_clear(&dc);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ha-config");
    TCase *tc = tcase_create("resources");
    tcase_add_test(tc, test_resources_round_trip);
    tcase_add_test(tc, test_resources_bad_input);
    tcase_add_test(tc, test_sid_parse);
    suite_add_tcase(s, tc);
    tc = tcase_create("rules");
    tcase_add_test(tc, test_rules_round_trip);
    tcase_add_test(tc, test_rules_bad_input);
    tcase_add_test(tc, test_comment_encoding);
    tcase_add_test(tc, test_groups);
    suite_add_tcase(s, tc);
    tc = tcase_create("status");
    tcase_add_test(tc, test_manager_status_round_trip);
    tcase_add_test(tc, test_manager_status_bad_input);
    tcase_add_test(tc, test_lrm_status_round_trip);
    tcase_add_test(tc, test_datacenter);
    suite_add_tcase(s, tc);
    return s;
}
