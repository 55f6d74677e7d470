/*
 * test-wdmux-config: defaults, value syntax, tick clamping, warning lead, the
 * environment file and the precedence of the configuration sources.
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "fence/wdmux-config.h"
#include "fence/wdmux-defs.h"
#include "tests/unit/check-main.h"

static char *write_temp(const char *content)
{
    g_autoptr(GError) error = NULL;
    char *path = NULL;
    int fd = g_file_open_tmp("wdmux-config-XXXXXX", &path, &error);
    ck_assert_msg(fd >= 0, "g_file_open_tmp: %s", error ? error->message : "?");
    close(fd);
    ck_assert(g_file_set_contents(path, content, -1, NULL));
    return path;
}

START_TEST(test_defaults_are_reference)
{
    g_autoptr(wdmux_config) cfg = wdmux_config_new();
    g_autoptr(GError) error = NULL;

    ck_assert_str_eq(cfg->device, "/dev/watchdog");
    ck_assert_str_eq(cfg->socket_path, "/run/watchdog-mux.sock");
    ck_assert_str_eq(cfg->marker_path, "/run/watchdog-mux.active");
    ck_assert_str_eq(cfg->status_path, "/run/watchdog-mux.status");
    ck_assert_str_eq(cfg->module, "softdog");
    ck_assert(!cfg->emulated);
    ck_assert_int_eq(cfg->client_timeout_ms, 60000);
    ck_assert_int_eq(cfg->device_timeout_ms, 10000);
    ck_assert_int_eq(cfg->warn_before_ms, 10000);
    ck_assert_int_eq(cfg->tick_ms, 1000);
    ck_assert_uint_eq(cfg->max_clients, 100);
    ck_assert_uint_eq(cfg->allow_uids->len, 1);
    ck_assert_uint_eq(g_array_index(cfg->allow_uids, uid_t, 0), 0);
    ck_assert(cfg->node && *cfg->node && !strchr(cfg->node, '.'));
    ck_assert(wdmux_config_finish(cfg, &error));
    ck_assert_int_eq(cfg->effective_tick_ms, 1000);
    ck_assert_int_eq(cfg->effective_warn_before_ms, 10000);
}
END_TEST

START_TEST(test_seconds_parse)
{
    static const struct {
        const char *text;
        int ret;
        gint64 ms;
    } cases[] = {
        {"10", 0, 10000},       {"0.5", 0, 500},      {"0.25", 0, 250},
        {"2.", 0, 2000},        {".5", 0, 500},       {"1.2345", 0, 1235},
        {"0.001", 0, 1},        {"3600", 0, 3600000}, {"0", -ERANGE, 0},
        {"0.0004", -ERANGE, 0}, {"3601", -ERANGE, 0}, {"99999999999999999999", -ERANGE, 0},
        {"", -EINVAL, 0},       {".", -EINVAL, 0},    {"-1", -EINVAL, 0},
        {"1e3", -EINVAL, 0},    {"inf", -EINVAL, 0},  {"0x10", -EINVAL, 0},
        {"1.2.3", -EINVAL, 0},  {" 1", -EINVAL, 0},   {"10s", -EINVAL, 0},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        gint64 ms = -7;
        int r = wdmux_seconds_parse(cases[i].text, &ms);
        ck_assert_msg(r == cases[i].ret, "'%s': got %d, want %d", cases[i].text, r, cases[i].ret);
        ck_assert_msg(ms == (r == 0 ? cases[i].ms : -7), "'%s': got %" G_GINT64_FORMAT " ms",
                      cases[i].text, ms);
    }
}
END_TEST

START_TEST(test_tick_clamp)
{
    /* reference: 1 s fits 10 s / 3 and 60 s / 4 */
    ck_assert_int_eq(wdmux_tick_clamp(1000, 60000, 10000), 1000);
    /* fast profile: device 1 s allows at most 333 ms, client 2 s at most 500 ms */
    ck_assert_int_eq(wdmux_tick_clamp(1000, 2000, 1000), 333);
    ck_assert_int_eq(wdmux_tick_clamp(250, 2000, 1000), 250);
    ck_assert_int_eq(wdmux_tick_clamp(1000, 1000, 10000), 250);
    /* never below 50 ms */
    ck_assert_int_eq(wdmux_tick_clamp(10, 60000, 10000), 50);
    ck_assert_int_eq(wdmux_tick_clamp(1000, 200, 150), 50);
}
END_TEST

START_TEST(test_warn_before)
{
    ck_assert_int_eq(wdmux_warn_before_effective(10000, 60000), 10000);
    ck_assert_int_eq(wdmux_warn_before_effective(10000, 10001), 10000);
    /* a lead not shorter than the timeout warns at half the timeout */
    ck_assert_int_eq(wdmux_warn_before_effective(10000, 10000), 5000);
    ck_assert_int_eq(wdmux_warn_before_effective(10000, 2000), 1000);
}
END_TEST

START_TEST(test_set_values)
{
    g_autoptr(wdmux_config) cfg = wdmux_config_new();
    g_autoptr(GError) error = NULL;

    ck_assert(wdmux_config_set(cfg, "WATCHDOG_MUX_CLIENT_TIMEOUT", "2", &error));
    ck_assert(wdmux_config_set(cfg, "WATCHDOG_MUX_DEVICE_TIMEOUT", "1", &error));
    ck_assert(wdmux_config_set(cfg, "WATCHDOG_MUX_WARN_BEFORE", "0.5", &error));
    ck_assert(wdmux_config_set(cfg, "WATCHDOG_MUX_TICK_MS", "250", &error));
    ck_assert(wdmux_config_set(cfg, "WATCHDOG_MUX_MAX_CLIENTS", "3", &error));
    ck_assert(wdmux_config_set(cfg, "WATCHDOG_MUX_ALLOW_UIDS", "0, 1000,65534", &error));
    ck_assert(wdmux_config_set(cfg, "WATCHDOG_MUX_EMULATED", "yes", &error));
    ck_assert(wdmux_config_set(cfg, "WATCHDOG_MUX_JOURNAL_SYNC", "0", &error));
    ck_assert(wdmux_config_set(cfg, "WATCHDOG_MUX_NODE", "node2", &error));
    ck_assert(wdmux_config_set(cfg, "WATCHDOG_MODULE", "ipmi_watchdog", &error));
    ck_assert(wdmux_config_set(cfg, "WATCHDOG_MUX_DEVICE", "/run/lab/wd.fifo", &error));
    ck_assert(wdmux_config_finish(cfg, &error));

    ck_assert_int_eq(cfg->client_timeout_ms, 2000);
    ck_assert_int_eq(cfg->device_timeout_ms, 1000);
    ck_assert_int_eq(cfg->effective_warn_before_ms, 500);
    ck_assert_int_eq(cfg->effective_tick_ms, 250);
    ck_assert_uint_eq(cfg->max_clients, 3);
    ck_assert_uint_eq(cfg->allow_uids->len, 3);
    ck_assert_uint_eq(g_array_index(cfg->allow_uids, uid_t, 1), 1000);
    ck_assert_uint_eq(g_array_index(cfg->allow_uids, uid_t, 2), 65534);
    ck_assert(cfg->emulated);
    ck_assert(!cfg->journal_sync);
    ck_assert_str_eq(cfg->node, "node2");
    ck_assert_str_eq(cfg->module, "ipmi_watchdog");
    ck_assert_str_eq(cfg->device, "/run/lab/wd.fifo");
}
END_TEST

START_TEST(test_bad_values_change_nothing)
{
    static const char *const bad[][2] = {
        {"WATCHDOG_MUX_CLIENT_TIMEOUT", "soon"},
        {"WATCHDOG_MUX_DEVICE_TIMEOUT", "-1"},
        {"WATCHDOG_MUX_TICK_MS", "0"},
        {"WATCHDOG_MUX_TICK_MS", "1.5"},
        {"WATCHDOG_MUX_MAX_CLIENTS", "0"},
        {"WATCHDOG_MUX_MAX_CLIENTS", "70000"},
        {"WATCHDOG_MUX_ALLOW_UIDS", "root"},
        {"WATCHDOG_MUX_ALLOW_UIDS", "0,,1"},
        {"WATCHDOG_MUX_EMULATED", "maybe"},
        {"WATCHDOG_MODULE", "softdog; reboot"},
        {"WATCHDOG_MODULE", "-v"},
        {"WATCHDOG_MUX_NODE", "a/b"},
        {"WATCHDOG_MUX_SOCKET", "relative.sock"},
        {"WATCHDOG_MUX_NO_SUCH_KEY", "1"},
    };
    g_autoptr(wdmux_config) cfg = wdmux_config_new();

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        ck_assert_msg(!wdmux_config_set(cfg, bad[i][0], bad[i][1], &error), "%s=%s accepted",
                      bad[i][0], bad[i][1]);
        ck_assert(error != NULL);
        ck_assert_msg(strstr(error->message, bad[i][0]) != NULL, "message '%s' lacks the key",
                      error->message);
    }
    ck_assert_int_eq(cfg->client_timeout_ms, 60000);
    ck_assert_int_eq(cfg->device_timeout_ms, 10000);
    ck_assert_int_eq(cfg->tick_ms, 1000);
    ck_assert_uint_eq(cfg->max_clients, 100);
    ck_assert_uint_eq(cfg->allow_uids->len, 1);
    ck_assert(!cfg->emulated);
    ck_assert_str_eq(cfg->module, "softdog");
    ck_assert_str_eq(cfg->socket_path, "/run/watchdog-mux.sock");
}
END_TEST

START_TEST(test_finish_checks)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(wdmux_config) cfg = wdmux_config_new();

    /* real devices take whole seconds */
    ck_assert(wdmux_config_set(cfg, "WATCHDOG_MUX_DEVICE_TIMEOUT", "0.5", NULL));
    ck_assert(!wdmux_config_finish(cfg, &error));
    ck_assert_ptr_nonnull(strstr(error->message, "whole seconds"));
    g_clear_error(&error);
    /* the emulated watchdog does not */
    cfg->emulated = true;
    ck_assert(wdmux_config_finish(cfg, &error));
    ck_assert_int_eq(cfg->effective_tick_ms, 166);

    ck_assert(wdmux_config_set(cfg, "WATCHDOG_MUX_DEVICE_TIMEOUT", "0.1", NULL));
    ck_assert(!wdmux_config_finish(cfg, &error));
    g_clear_error(&error);
    ck_assert(wdmux_config_set(cfg, "WATCHDOG_MUX_DEVICE_TIMEOUT", "1", NULL));

    g_autofree char *longpath = g_strnfill(120, 'x');
    longpath[0] = '/';
    ck_assert(wdmux_config_set(cfg, "WATCHDOG_MUX_SOCKET", longpath, NULL));
    ck_assert(!wdmux_config_finish(cfg, &error));
    ck_assert_ptr_nonnull(strstr(error->message, "too long"));
}
END_TEST

START_TEST(test_env_file)
{
    g_autofree char *path = write_temp("# pve-ha-manager defaults\n"
                                       "\n"
                                       "WATCHDOG_MODULE=iTCO_wdt\n"
                                       "export WATCHDOG_MUX_CLIENT_TIMEOUT=\"10\"\n"
                                       "  WATCHDOG_MUX_NODE = 'node 1'\n"
                                       "SOME_HA_SETTING=whatever goes\n"
                                       "not a line at all\n"
                                       "WATCHDOG_MUX_TICK_MS=500\n");
    g_autoptr(wdmux_config) cfg = wdmux_config_new();
    g_autoptr(GError) error = NULL;

    /* "node 1" has a blank: the whole file is refused at that line */
    ck_assert(!wdmux_config_load_env_file(cfg, path, &error));
    g_autofree char *where = g_strdup_printf("%s:5:", path);
    ck_assert_msg(g_str_has_prefix(error->message, where), "message: %s", error->message);
    g_clear_error(&error);

    g_autofree char *good = write_temp("WATCHDOG_MODULE=iTCO_wdt\n"
                                       "export WATCHDOG_MUX_CLIENT_TIMEOUT=\"10\"\n"
                                       "  WATCHDOG_MUX_NODE = 'node1'\n"
                                       "SOME_HA_SETTING=whatever goes\n"
                                       "not a line at all\n"
                                       "WATCHDOG_MUX_TICK_MS=500\n");
    g_autoptr(wdmux_config) cfg2 = wdmux_config_new();
    ck_assert(wdmux_config_load_env_file(cfg2, good, &error));
    ck_assert_str_eq(cfg2->module, "iTCO_wdt");
    ck_assert_int_eq(cfg2->client_timeout_ms, 10000);
    ck_assert_str_eq(cfg2->node, "node1");
    ck_assert_int_eq(cfg2->tick_ms, 500);

    /* a missing file is fine */
    ck_assert(wdmux_config_load_env_file(cfg2, "/nonexistent/pve-ha-manager", &error));
    g_unlink(path);
    g_unlink(good);
}
END_TEST

START_TEST(test_precedence)
{
    g_autofree char *path = write_temp("WATCHDOG_MUX_CLIENT_TIMEOUT=30\n"
                                       "WATCHDOG_MUX_DEVICE_TIMEOUT=5\n"
                                       "WATCHDOG_MUX_TICK_MS=400\n");
    g_autoptr(wdmux_config) cfg = wdmux_config_new();
    g_autoptr(GError) error = NULL;
    char *env[] = {"WATCHDOG_MUX_DEVICE_TIMEOUT=4", "WATCHDOG_MUX_TICK_MS=300", "HOME=/root", NULL};

    ck_assert(wdmux_config_load_env_file(cfg, path, &error));
    ck_assert(wdmux_config_load_environ(cfg, env, &error));
    ck_assert(wdmux_config_set(cfg, "WATCHDOG_MUX_TICK_MS", "200", &error)); /* an option */
    ck_assert(wdmux_config_finish(cfg, &error));
    ck_assert_int_eq(cfg->client_timeout_ms, 30000); /* file */
    ck_assert_int_eq(cfg->device_timeout_ms, 4000);  /* environment over file */
    ck_assert_int_eq(cfg->tick_ms, 200);             /* option over both */

    char *bad_env[] = {"WATCHDOG_MUX_TICK_MS=fast", NULL};
    ck_assert(!wdmux_config_load_environ(cfg, bad_env, &error));
    ck_assert(g_str_has_prefix(error->message, "environment: WATCHDOG_MUX_TICK_MS"));
    ck_assert_int_eq(cfg->tick_ms, 200);
    g_unlink(path);
}
END_TEST

START_TEST(test_is_key)
{
    ck_assert(wdmux_config_is_key("WATCHDOG_MODULE"));
    ck_assert(wdmux_config_is_key("WATCHDOG_MUX_STATUS"));
    ck_assert(!wdmux_config_is_key("WATCHDOG_MUX"));
    ck_assert(!wdmux_config_is_key("PATH"));
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("wdmux-config");
    TCase *tc;

#define ADD(name)             \
    tc = tcase_create(#name); \
    tcase_add_test(tc, name); \
    suite_add_tcase(s, tc)

    ADD(test_defaults_are_reference);
    ADD(test_seconds_parse);
    ADD(test_tick_clamp);
    ADD(test_warn_before);
    ADD(test_set_values);
    ADD(test_bad_values_change_nothing);
    ADD(test_finish_checks);
    ADD(test_env_file);
    ADD(test_precedence);
    ADD(test_is_key);
    return s;
}
