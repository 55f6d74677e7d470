/*
 * test-wdmux-status: status file rendering (exact bytes), parsing (round trip, errors,
 * missing file) and the timing invariant L - (J + W + K + Dv) >= M > 0.
 */
#include <glib/gstdio.h>
#include <string.h>

#include "fence/wdmux-status.h"
#include "tests/unit/check-main.h"

static wdmux_status *status_example(void)
{
    wdmux_status *st = wdmux_status_new();
    st->backend = g_strdup("device");
    st->node = g_strdup("node1");
    st->device = g_strdup("/dev/watchdog");
    st->identity = g_strdup("Software Watchdog");
    st->magic_close = true;
    st->device_timeout_ms = 10000;
    st->client_timeout_ms = 60000;
    st->warn_before_ms = 10000;
    st->tick_ms = 1000;
    st->updates_enabled = true;
    wdmux_status_client a = {.pid = 2412, .uid = 0, .age_ms = 3210, .state = "ok"};
    wdmux_status_client b = {.pid = 2530, .uid = 0, .age_ms = 7022, .state = "lost"};
    g_array_append_val(st->clients, a);
    g_array_append_val(st->clients, b);
    return st;
}

static const char example_json[] = "{\n"
                                   "  \"backend\" : \"device\",\n"
                                   "  \"node\" : \"node1\",\n"
                                   "  \"device\" : \"/dev/watchdog\",\n"
                                   "  \"identity\" : \"Software Watchdog\",\n"
                                   "  \"magic_close\" : true,\n"
                                   "  \"device_timeout_ms\" : 10000,\n"
                                   "  \"client_timeout_ms\" : 60000,\n"
                                   "  \"warn_before_ms\" : 10000,\n"
                                   "  \"tick_ms\" : 1000,\n"
                                   "  \"updates_enabled\" : true,\n"
                                   "  \"clients\" : [\n"
                                   "    {\n"
                                   "      \"pid\" : 2412,\n"
                                   "      \"uid\" : 0,\n"
                                   "      \"age_ms\" : 3210,\n"
                                   "      \"state\" : \"ok\"\n"
                                   "    },\n"
                                   "    {\n"
                                   "      \"pid\" : 2530,\n"
                                   "      \"uid\" : 0,\n"
                                   "      \"age_ms\" : 7022,\n"
                                   "      \"state\" : \"lost\"\n"
                                   "    }\n"
                                   "  ]\n"
                                   "}\n";

START_TEST(test_render_exact)
{
    g_autoptr(wdmux_status) st = status_example();
    g_autofree char *text = wdmux_status_render(st);
    ck_assert_str_eq(text, example_json);
}
END_TEST

START_TEST(test_render_empty_and_null)
{
    g_autoptr(wdmux_status) st = wdmux_status_new();
    st->backend = g_strdup("emulated");
    st->device_timeout_ms = 1000;
    st->client_timeout_ms = 2000;
    st->warn_before_ms = 1000;
    st->tick_ms = 250;
    g_autofree char *text = wdmux_status_render(st);
    ck_assert_ptr_nonnull(strstr(text, "\"identity\" : null"));
    ck_assert_ptr_nonnull(strstr(text, "\"updates_enabled\" : false"));

    g_autoptr(wdmux_status) back = NULL;
    g_autoptr(GError) error = NULL;
    ck_assert_msg(wdmux_status_parse(text, -1, &back, &error), "%s", error ? error->message : "");
    ck_assert_str_eq(back->backend, "emulated");
    ck_assert_ptr_null(back->identity);
    ck_assert_uint_eq(back->clients->len, 0);
    ck_assert(!back->updates_enabled);
    ck_assert_int_eq(back->tick_ms, 250);
}
END_TEST

START_TEST(test_round_trip)
{
    g_autoptr(wdmux_status) st = status_example();
    g_autoptr(wdmux_status) back = NULL;
    g_autoptr(GError) error = NULL;

    ck_assert(wdmux_status_parse(example_json, -1, &back, &error));
    ck_assert_str_eq(back->backend, "device");
    ck_assert_str_eq(back->node, "node1");
    ck_assert_str_eq(back->device, "/dev/watchdog");
    ck_assert_str_eq(back->identity, "Software Watchdog");
    ck_assert(back->magic_close);
    ck_assert(back->updates_enabled);
    ck_assert_int_eq(back->device_timeout_ms, 10000);
    ck_assert_int_eq(back->client_timeout_ms, 60000);
    ck_assert_int_eq(back->warn_before_ms, 10000);
    ck_assert_int_eq(back->tick_ms, 1000);
    ck_assert_uint_eq(back->clients->len, 2);
    const wdmux_status_client *b = &g_array_index(back->clients, wdmux_status_client, 1);
    ck_assert_int_eq(b->pid, 2530);
    ck_assert_int_eq(b->age_ms, 7022);
    ck_assert_str_eq(b->state, "lost");

    g_autofree char *again = wdmux_status_render(back);
    ck_assert_str_eq(again, example_json);
}
END_TEST

START_TEST(test_parse_errors)
{
    static const struct {
        const char *text;
        const char *needle;
    } cases[] = {
        {"", "watchdog-mux status:"},
        {"[1, 2]", "not a JSON object"},
        {"{\"device_timeout_ms\": 1000, \"warn_before_ms\": 1, \"tick_ms\": 250}",
         "'client_timeout_ms' is missing"},
        {"{\"device_timeout_ms\": \"10\", \"client_timeout_ms\": 1, \"warn_before_ms\": 1, "
         "\"tick_ms\": 1}",
         "'device_timeout_ms' must be an integer"},
        {"{\"device_timeout_ms\": 0, \"client_timeout_ms\": 1, \"warn_before_ms\": 1, "
         "\"tick_ms\": 1}",
         "'device_timeout_ms' must be an integer >= 1"},
        {"{\"device_timeout_ms\": 1.5, \"client_timeout_ms\": 1, \"warn_before_ms\": 1, "
         "\"tick_ms\": 1}",
         "'device_timeout_ms'"},
        {"{\"device_timeout_ms\": 1, \"client_timeout_ms\": 1, \"warn_before_ms\": 1, "
         "\"tick_ms\": 1, \"clients\": {}}",
         "'clients' must be an array"},
        {"{\"device_timeout_ms\": 1, \"client_timeout_ms\": 1, \"warn_before_ms\": 1, "
         "\"tick_ms\": 1, \"clients\": [{\"uid\": 0}]}",
         "'pid' is missing"},
        {"{\"device_timeout_ms\": 1, \"client_timeout_ms\": 1, \"warn_before_ms\": 1, "
         "\"tick_ms\": 1, \"magic_close\": \"yes\"}",
         "'magic_close' must be true or false"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(wdmux_status) st = NULL;
        g_autoptr(GError) error = NULL;
        ck_assert_msg(!wdmux_status_parse(cases[i].text, -1, &st, &error), "case %zu parsed", i);
        ck_assert_ptr_null(st);
        ck_assert(g_error_matches(error, WDMUX_STATUS_ERROR, WDMUX_STATUS_ERROR_PARSE));
        ck_assert_msg(strstr(error->message, cases[i].needle), "case %zu: '%s' lacks '%s'", i,
                      error->message, cases[i].needle);
    }
}
END_TEST

START_TEST(test_read_file)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(wdmux_status) st = NULL;

    ck_assert(!wdmux_status_read("/nonexistent/watchdog-mux.status", &st, &error));
    ck_assert(g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT));
    g_clear_error(&error);

    g_autofree char *dir = g_dir_make_tmp("wdmux-status-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "status", NULL);
    ck_assert(g_file_set_contents(path, example_json, -1, NULL));
    ck_assert(wdmux_status_read(path, &st, &error));
    ck_assert_int_eq(st->client_timeout_ms, 60000);
    g_clear_pointer(&st, wdmux_status_free);

    ck_assert(g_file_set_contents(path, "{garbage", -1, NULL));
    ck_assert(!wdmux_status_read(path, &st, &error));
    ck_assert(g_str_has_prefix(error->message, path));
    g_unlink(path);
    g_rmdir(dir);
}
END_TEST

START_TEST(test_reference_fallback)
{
    g_autoptr(wdmux_status) st = wdmux_status_new_reference();
    ck_assert_int_eq(st->client_timeout_ms, 60000);
    ck_assert_int_eq(st->tick_ms, 1000);
    ck_assert_int_eq(st->device_timeout_ms, 10000);
    ck_assert_int_eq(st->warn_before_ms, 10000);
    ck_assert_str_eq(st->backend, "reference");

    /* ha.md 6.8: 120 - (0 + 60 + 1 + 10) = 49 s of slack */
    wdmux_timing t = {.lock_timeout_ms = 120000, .renew_bound_ms = 0, .margin_ms = 49000};
    ck_assert(wdmux_check_invariant(st, &t, NULL));
    t.margin_ms = 49001;
    ck_assert(!wdmux_check_invariant(st, &t, NULL));
}
END_TEST

START_TEST(test_invariant_fast_profile)
{
    /* ha.md 11.2: fast profile L 5, J 0.25, W 2, K 0.25, Dv 1 -> slack 1.5 s */
    g_autoptr(wdmux_status) st = wdmux_status_new();
    st->client_timeout_ms = 2000;
    st->tick_ms = 250;
    st->device_timeout_ms = 1000;
    wdmux_timing t = {.lock_timeout_ms = 5000, .renew_bound_ms = 250, .margin_ms = 1000};
    g_autoptr(GError) error = NULL;

    ck_assert(wdmux_check_invariant(st, &t, &error));
    ck_assert_ptr_null(error);
    t.margin_ms = 1500;
    ck_assert(wdmux_check_invariant(st, &t, &error));

    t.margin_ms = 1501;
    ck_assert(!wdmux_check_invariant(st, &t, &error));
    ck_assert(g_error_matches(error, WDMUX_STATUS_ERROR, WDMUX_STATUS_ERROR_INVARIANT));
    ck_assert_str_eq(error->message,
                     "watchdog timing invariant violated: lock timeout 5000 ms - (renewal bound "
                     "250 ms + client timeout 2000 ms + mux tick 250 ms + device timeout 1000 "
                     "ms) = slack 1500 ms, but the margin is 1501 ms");
    g_clear_error(&error);

    /* A mux with a longer device timeout than the profile assumed breaks it. */
    st->device_timeout_ms = 10000;
    t.margin_ms = 1000;
    ck_assert(!wdmux_check_invariant(st, &t, &error));
    ck_assert_ptr_nonnull(strstr(error->message, "slack -7500 ms"));
    g_clear_error(&error);

    /* The margin must be positive even when the slack is. */
    st->device_timeout_ms = 1000;
    t.margin_ms = 0;
    ck_assert(!wdmux_check_invariant(st, &t, &error));
    ck_assert_ptr_nonnull(strstr(error->message, "must be positive"));
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("wdmux-status");
    TCase *tc;

#define ADD(name)             \
    tc = tcase_create(#name); \
    tcase_add_test(tc, name); \
    suite_add_tcase(s, tc)

    ADD(test_render_exact);
    ADD(test_render_empty_and_null);
    ADD(test_round_trip);
    ADD(test_parse_errors);
    ADD(test_read_file);
    ADD(test_reference_fallback);
    ADD(test_invariant_fast_profile);
    return s;
}
