/*
 * test-ha-sim: CRM, LRM and manager behaviour through the simulated environment:
 * each test writes a small scenario into a temporary directory, runs it and
 * asserts log lines and the final manager status.
 */
#include "ha/sim/hardware.h"
#include "tests/unit/check-main.h"
#include "tests/unit/test-util.h"

#include <string.h>

typedef struct {
    char *dir;
    char *log;
    ha_manager_status *ms;
    int rc;
} run_result;

static void run_result_clear(run_result *r)
{
    test_rmtree(r->dir);
    g_free(r->dir);
    g_free(r->log);
    ha_manager_status_free(r->ms);
}

/* files: NULL-terminated name, content pairs */
static run_result run_sim(const char *profile, ...)
{
    run_result r = {0};
    r.dir = test_tmpdir();
    va_list ap;
    va_start(ap, profile);
    for (const char *name = va_arg(ap, const char *); name; name = va_arg(ap, const char *)) {
        const char *content = va_arg(ap, const char *);
        g_autofree char *p = g_build_filename(r.dir, name, NULL);
        ck_assert(g_file_set_contents(p, content, -1, NULL));
    }
    va_end(ap);
    ha_timing t;
    ck_assert_int_eq(ha_timing_profile(profile, &t), 0);
    sim_hw *hw = NULL;
    g_autoptr(GError) err = NULL;
    ck_assert_msg(sim_hw_load(r.dir, &t, true, &hw, &err) == 0, "%s", err ? err->message : "");
    r.rc = sim_hw_run(hw);
    ck_assert_int_eq(sim_hw_write_status(hw, NULL), 0);
    sim_hw_free(hw);
    g_autofree char *logp = g_build_filename(r.dir, "status", "log", NULL);
    g_autofree char *msp = g_build_filename(r.dir, "status", "manager_status", NULL);
    g_autofree char *ms = NULL;
    ck_assert(g_file_get_contents(logp, &r.log, NULL, NULL));
    ck_assert(g_file_get_contents(msp, &ms, NULL, NULL));
    ck_assert_int_eq(ha_manager_status_parse(ms, &r.ms, NULL), 0);
    return r;
}

static const char *HW3 = "{\"node1\":{\"power\":\"off\",\"network\":\"off\"},"
                         "\"node2\":{\"power\":\"off\",\"network\":\"off\"},"
                         "\"node3\":{\"power\":\"off\",\"network\":\"off\"}}";

static void assert_line(const run_result *r, const char *line)
{
    ck_assert_msg(strstr(r->log, line) != NULL, "log lacks '%s'", line);
}

static void assert_no_line(const run_result *r, const char *text)
{
    ck_assert_msg(strstr(r->log, text) == NULL, "log unexpectedly has '%s'", text);
}

static void assert_final(const run_result *r, const char *sid, ha_svc_state st, const char *node)
{
    ha_service_state *sd = g_hash_table_lookup(r->ms->service_status, sid);
    ck_assert_msg(sd != NULL, "%s missing", sid);
    ck_assert_str_eq(ha_svc_state_name(sd->state), ha_svc_state_name(st));
    ck_assert_str_eq(sd->node, node);
}

START_TEST(test_start_and_master)
{
    run_result r = run_sim("default", "hardware_status", HW3, "service_config",
                           "{\"vm:101\":{\"node\":\"node2\",\"state\":\"started\"}}", "cmdlist",
                           "[[\"power node1 on\",\"power node2 on\",\"power node3 on\"]]", NULL);
    ck_assert_int_eq(r.rc, 0);
    assert_line(&r, "info     20    node1/crm: got lock 'ha_manager_lock'\n");
    assert_line(&r, "info     20    node1/crm: service 'vm:101': state changed from 'request_start' to 'started'  (node = node2)\n");
    assert_line(&r, "info     23    node2/lrm: starting service vm:101\n");
    assert_line(&r, "info    620     hardware: exit simulation - done\n");
    /* node1 and node3 have no active service: their LRMs never arm */
    assert_no_line(&r, "node1/lrm: got lock");
    assert_no_line(&r, "node3/lrm: got lock");
    assert_final(&r, "vm:101", HA_SS_STARTED, "node2");
    ck_assert_str_eq(r.ms->master_node, "node1");
    run_result_clear(&r);
}
END_TEST

START_TEST(test_restart_policy_and_relocation)
{
    /* fa:130: three failing starts; max_restart 1 -> two tries per node */
    run_result r = run_sim("default", "hardware_status", HW3, "service_config",
                           "{\"fa:130\":{\"node\":\"node1\",\"state\":\"started\"}}", "cmdlist",
                           "[[\"power node1 on\",\"power node2 on\",\"power node3 on\"]]", NULL);
    assert_line(&r, "warn     21    node1/lrm: restart policy: retry number 1 for service 'fa:130'\n");
    assert_line(&r, "err      41    node1/lrm: unable to start service fa:130 on local node after 1 retries\n");
    assert_line(&r, "starting service fa:130 on node 'node1' failed, relocating service.");
    assert_line(&r, "relocate service 'fa:130' to node 'node2'");
    assert_line(&r, "relocation policy successful for 'fa:130' on node 'node2', failed nodes: node1");
    assert_final(&r, "fa:130", HA_SS_STARTED, "node2");
    run_result_clear(&r);
}
END_TEST

START_TEST(test_error_state)
{
    /* fa:190: nine failing starts; max_relocate 0 -> error after the first node */
    run_result r = run_sim("default", "hardware_status", HW3, "service_config",
                           "{\"fa:190\":{\"node\":\"node1\",\"state\":\"started\",\"max_relocate\":\"0\"}}",
                           "cmdlist",
                           "[[\"power node1 on\",\"power node2 on\",\"power node3 on\"],"
                           "[\"service fa:190 disabled\"]]",
                           NULL);
    assert_line(&r, "recovery policy for service fa:190 failed, entering error state. Failed nodes: node1");
    assert_line(&r, "service fa:190 is in an error state and needs manual intervention.");
    assert_line(&r, "service 'fa:190': state changed from 'error' to 'stopped'");
    assert_final(&r, "fa:190", HA_SS_STOPPED, "node1");
    run_result_clear(&r);
}
END_TEST

START_TEST(test_stop_command)
{
    run_result r = run_sim("default", "hardware_status", HW3, "service_config",
                           "{\"vm:101\":{\"node\":\"node1\",\"state\":\"started\"}}", "cmdlist",
                           "[[\"power node1 on\",\"power node2 on\",\"power node3 on\"],"
                           "[\"service vm:101 stop 0\"]]",
                           NULL);
    assert_line(&r, "node1/crm: got crm command: stop vm:101 0\n");
    assert_line(&r, "request immediate service hard-stop for service 'vm:101'");
    assert_line(&r, "state changed from 'started' to 'request_stop'  (timeout = 0)");
    assert_line(&r, "node1/lrm: stopping service vm:101 (timeout=0)");
    assert_final(&r, "vm:101", HA_SS_STOPPED, "node1");
    g_autofree char *scp = g_build_filename(r.dir, "status", "service_config", NULL);
    g_autofree char *sc = NULL;
    ck_assert(g_file_get_contents(scp, &sc, NULL, NULL));
    ck_assert_ptr_nonnull(strstr(sc, "\"state\":\"stopped\"")); /* config rewritten */
    run_result_clear(&r);
}
END_TEST

START_TEST(test_disarm_freeze_and_arm)
{
    run_result r = run_sim("default", "hardware_status", HW3, "service_config",
                           "{\"vm:101\":{\"node\":\"node1\",\"state\":\"started\"}}", "cmdlist",
                           "[[\"power node1 on\",\"power node2 on\",\"power node3 on\"],"
                           "[\"crm node1 disarm-ha freeze\"],[\"crm node2 arm-ha\"]]",
                           NULL);
    assert_line(&r, "got crm command: disarm-ha freeze");
    assert_line(&r, "disarm: freezing service 'vm:101' (was 'started')");
    assert_line(&r, "node1/lrm: HA disarm requested, releasing agent lock and watchdog");
    assert_line(&r, "all LRMs disarmed, HA stack is now fully disarmed");
    assert_line(&r, "HA stack fully disarmed, releasing CRM watchdog");
    assert_line(&r, "got crm command: arm-ha");
    assert_line(&r, "re-arming HA stack");
    assert_line(&r, "service 'vm:101': state changed from 'freeze' to 'started'");
    assert_final(&r, "vm:101", HA_SS_STARTED, "node1");
    ck_assert_ptr_null(r.ms->disarm_mode);
    run_result_clear(&r);
}
END_TEST

START_TEST(test_cfs_failure_messages)
{
    run_result r = run_sim("default", "hardware_status", HW3, "service_config",
                           "{\"vm:101\":{\"node\":\"node2\",\"state\":\"started\"}}", "cmdlist",
                           "[[\"power node1 on\",\"power node2 on\",\"power node3 on\"],"
                           "[\"cfs node2 rw fail\"],[\"cfs node2 rw work\",\"cfs node1 update fail\"]]",
                           NULL);
    assert_line(&r, "node2/lrm: updating service status from manager failed: cfs connection refused - not mounted?");
    assert_line(&r, "node2/lrm: unable to write lrm status file - cfs connection refused - not mounted?");
    assert_line(&r, "node1/crm: temporary inconsistent cluster state (cfs restart?), skip round");
    assert_final(&r, "vm:101", HA_SS_STARTED, "node2");
    run_result_clear(&r);
}
END_TEST

START_TEST(test_abort_on_bad_command)
{
    run_result r = run_sim("default", "hardware_status", HW3, "cmdlist",
                           "[[\"power node1 on\"],[\"explode node1\"]]", NULL);
    ck_assert_int_lt(r.rc, 0);
    assert_line(&r, "err     120     hardware: exit simulation - sim_hardware_cmd: unknown command 'explode node1'\n");
    run_result_clear(&r);
}
END_TEST

START_TEST(test_bad_input_refused)
{
    g_autofree char *dir = test_tmpdir();
    g_autofree char *p = g_build_filename(dir, "cmdlist", NULL);
    ck_assert(g_file_set_contents(p, "[[\"power node1 on\"]", -1, NULL));
    sim_hw *hw = NULL;
    g_autoptr(GError) err = NULL;
    ck_assert_int_lt(sim_hw_load(dir, ha_timing_default(), true, &hw, &err), 0);
    ck_assert_ptr_null(hw);
    ck_assert_ptr_nonnull(strstr(err->message, "cmdlist"));
    g_autofree char *status = g_build_filename(dir, "status", NULL);
    ck_assert(!g_file_test(status, G_FILE_TEST_EXISTS)); /* nothing touched */
    test_rmtree(dir);
}
END_TEST

/* Time from the failure command to the recovered guest's start, in ms. */
static gint64 recovery_time(const char *profile)
{
    run_result r = run_sim(profile, "hardware_status", HW3, "service_config",
                           "{\"vm:101\":{\"node\":\"node2\",\"state\":\"started\"},"
                           "\"vm:102\":{\"node\":\"node3\",\"state\":\"started\"}}",
                           "cmdlist", "[[\"power node1 on\",\"power node2 on\",\"power node3 on\"],"
                           "[\"power node2 off\"]]",
                           NULL);
    const char *off = strstr(r.log, "cmdlist: execute power node2 off");
    const char *start = off ? strstr(off, "lrm: starting service vm:101") : NULL;
    ck_assert_msg(off && start, "no recovery in profile %s", profile);
    /* parse the time column of both lines */
    const char *l1 = off, *l2 = start;
    while (l1 > r.log && l1[-1] != '\n')
        l1--;
    while (l2 > r.log && l2[-1] != '\n')
        l2--;
    double t1 = g_ascii_strtod(l1 + 6, NULL), t2 = g_ascii_strtod(l2 + 6, NULL);
    assert_final(&r, "vm:101", HA_SS_STARTED, "node1");
    run_result_clear(&r);
    return (gint64)((t2 - t1) * 1000);
}

START_TEST(test_recovery_time_profiles)
{
    gint64 def = recovery_time("default");
    gint64 fast = recovery_time("fast");
    /* default: fence delay 60 s and lock expiry 120 s after the last renewal */
    ck_assert_int_ge(def, 120000);
    ck_assert_int_le(def, 160000);
    /* fast: lock timeout 5 s; well under 10 s */
    ck_assert_int_lt(fast, 10000);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ha-sim");
    TCase *tc = tcase_create("manager");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_start_and_master);
    tcase_add_test(tc, test_restart_policy_and_relocation);
    tcase_add_test(tc, test_error_state);
    tcase_add_test(tc, test_stop_command);
    tcase_add_test(tc, test_disarm_freeze_and_arm);
    tcase_add_test(tc, test_cfs_failure_messages);
    suite_add_tcase(s, tc);
    tc = tcase_create("simulator");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_abort_on_bad_command);
    tcase_add_test(tc, test_bad_input_refused);
    tcase_add_test(tc, test_recovery_time_profiles);
    suite_add_tcase(s, tc);
    return s;
}
