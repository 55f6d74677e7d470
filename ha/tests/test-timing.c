/*
 * test-timing: built-in profiles, the ha-timing parser and the safety invariant.
 */
#include "ha/timing.h"
#include "tests/unit/check-main.h"

START_TEST(test_default_is_reference)
{
    ha_timing t;
    ck_assert_int_eq(ha_timing_profile("default", &t), 0);
    ck_assert_int_eq(t.round_ms, 10000);
    ck_assert_int_eq(t.fence_delay_ms, 60000);
    ck_assert_int_eq(t.lock_timeout_ms, 120000);
    ck_assert_int_eq(t.client_timeout_ms, 60000);
    ck_assert_int_eq(t.device_timeout_ms, 10000);
    ck_assert_int_eq(t.idle_sleep_ms, 5000);
    ck_assert_int_eq(t.lock_retry_sleep_ms, 1000);
    ck_assert_int_eq(t.worker_budget_ms, 8000);
    ck_assert_int_eq(t.restart_giveup_ms, 90000);
    ck_assert_int_eq(t.sim_unit_ms, 1000);
    ck_assert_int_eq(ha_timing_slack_ms(&t), 49000);
    ck_assert(ha_timing_check(&t, NULL));
}
END_TEST

START_TEST(test_builtin_profiles_safe)
{
    static const char *names[] = {"default", "balanced", "fast"};
    static const gint64 slack[] = {49000, 4000, 1500};
    for (int i = 0; i < 3; i++) {
        ha_timing t;
        ck_assert_int_eq(ha_timing_profile(names[i], &t), 0);
        ck_assert_int_eq(ha_timing_slack_ms(&t), slack[i]);
        g_autoptr(GError) err = NULL;
        ck_assert_msg(ha_timing_check(&t, &err), "%s: %s", names[i], err ? err->message : "");
    }
    ha_timing t;
    ck_assert_int_eq(ha_timing_profile("nonsense", &t), -ENOENT);
}
END_TEST

START_TEST(test_parse_overrides)
{
    ha_timing t;
    g_autoptr(GError) err = NULL;
    ck_assert(ha_timing_parse("profile=fast,fence-delay=2.5", &t, &err));
    ck_assert_int_eq(t.fence_delay_ms, 2500);
    ck_assert_int_eq(t.round_ms, 1000);
    ck_assert_str_eq(t.name, "custom");
    ck_assert(ha_timing_parse("fence-delay=30,profile=balanced", &t, NULL));
    ck_assert_int_eq(t.fence_delay_ms, 30000);
    ck_assert_int_eq(t.lock_timeout_ms, 20000);
    ck_assert(ha_timing_parse("balanced", &t, NULL));
    ck_assert_str_eq(t.name, "balanced");
}
END_TEST

START_TEST(test_parse_refuses_unsafe)
{
    ha_timing t;
    t.round_ms = 4242;
    g_autoptr(GError) err = NULL;
    /* 60 - (0 + 60 + 1 + 10) < 1 */
    ck_assert(!ha_timing_parse("profile=default,lock-timeout=60", &t, &err));
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_nonnull(strstr(err->message, "unsafe"));
    ck_assert_int_eq(t.round_ms, 4242); /* untouched on failure */
    g_clear_error(&err);
    ck_assert(!ha_timing_parse("profile=fast,client-timeout=4", &t, &err));
    g_clear_error(&err);
    ck_assert(!ha_timing_parse("profile=fast,margin=0", &t, &err));
    g_clear_error(&err);
    ck_assert(!ha_timing_parse("profile=warp", &t, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "unknown timing profile"));
    g_clear_error(&err);
    ck_assert(!ha_timing_parse("round=abc", &t, &err));
    g_clear_error(&err);
    ck_assert(!ha_timing_parse("speed=3", &t, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "unknown ha-timing key"));
}
END_TEST

START_TEST(test_round_scales_derived)
{
    ha_timing t;
    ck_assert(ha_timing_parse("profile=default,round=2", &t, NULL));
    ck_assert_int_eq(t.idle_sleep_ms, 1000);
    ck_assert_int_eq(t.worker_budget_ms, 1600);
    ck_assert_int_eq(t.sim_unit_ms, 100);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("timing");
    TCase *tc = tcase_create("profiles");
    tcase_add_test(tc, test_default_is_reference);
    tcase_add_test(tc, test_builtin_profiles_safe);
    tcase_add_test(tc, test_parse_overrides);
    tcase_add_test(tc, test_parse_refuses_unsafe);
    tcase_add_test(tc, test_round_scales_derived);
    suite_add_tcase(s, tc);
    return s;
}
