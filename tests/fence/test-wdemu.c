/*
 * test-wdemu: the emulated watchdog's fence-action parsing and its device state machine
 * (keepalive, magic close, release ping, new writer, expiry) with injected time.
 */
#include <string.h>

#include "tests/lab/wdemu.h"
#include "tests/unit/check-main.h"

START_TEST(test_action_parse)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(wdemu_action) a = NULL;

    ck_assert(wdemu_action_parse("log-only", &a, &error));
    ck_assert_int_eq(a->kind, WDEMU_ACTION_LOG_ONLY);
    g_clear_pointer(&a, wdemu_action_free);

    ck_assert(wdemu_action_parse("kill-pidns:4242", &a, &error));
    ck_assert_int_eq(a->kind, WDEMU_ACTION_KILL_PIDNS);
    ck_assert_int_eq(a->pid, 4242);
    g_clear_pointer(&a, wdemu_action_free);

    ck_assert(wdemu_action_parse("exec:touch \"$WATCHDOG_NODE\".fenced", &a, &error));
    ck_assert_int_eq(a->kind, WDEMU_ACTION_EXEC);
    ck_assert_str_eq(a->command, "touch \"$WATCHDOG_NODE\".fenced");
}
END_TEST

START_TEST(test_action_parse_errors)
{
    static const char *const bad[] = {
        "",
        "log",
        "kill-pidns:",
        "kill-pidns:1",
        "kill-pidns:0",
        "kill-pidns:-5",
        "kill-pidns:12x",
        "kill-pidns: 12",
        "exec:",
        "exec:   ",
        "reboot",
        "LOG-ONLY",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        wdemu_action *a = NULL;
        ck_assert_msg(!wdemu_action_parse(bad[i], &a, &error), "'%s' accepted", bad[i]);
        ck_assert_ptr_null(a);
        ck_assert(g_error_matches(error, WDEMU_ERROR, WDEMU_ERROR_ACTION));
        g_autofree char *quoted = g_strdup_printf("'%s'", bad[i]);
        ck_assert_ptr_nonnull(strstr(error->message, quoted));
    }
}
END_TEST

START_TEST(test_starts_on_first_byte)
{
    wdemu w;
    wdemu_init(&w, 1000);
    ck_assert_int_eq(w.state, WDEMU_STOPPED);
    ck_assert(!wdemu_expired(&w, 1000000));

    ck_assert_int_eq(wdemu_feed(&w, "\0", 1, 5000), WDEMU_STOPPED);
    ck_assert_int_eq(w.state, WDEMU_RUNNING);
    ck_assert_int_eq(w.deadline_ms, 6000);
    ck_assert(!wdemu_expired(&w, 5999));
    ck_assert(wdemu_expired(&w, 6000));
}
END_TEST

START_TEST(test_keepalive_moves_deadline)
{
    wdemu w;
    wdemu_init(&w, 1000);
    wdemu_feed(&w, "\0", 1, 0);
    ck_assert_int_eq(wdemu_feed(&w, "\0", 1, 250), WDEMU_RUNNING);
    ck_assert_int_eq(wdemu_feed(&w, "x", 1, 900), WDEMU_RUNNING);
    ck_assert_int_eq(wdemu_feed(&w, "", 0, 1500), WDEMU_RUNNING); /* no byte, no keepalive */
    ck_assert_int_eq(w.deadline_ms, 1900);
    ck_assert(!wdemu_expired(&w, 1899));
    ck_assert_uint_eq(w.keepalives, 3);
    ck_assert_int_eq(w.max_gap_ms, 650);
}
END_TEST

START_TEST(test_magic_close_stops)
{
    wdemu w;
    wdemu_init(&w, 1000);
    wdemu_feed(&w, "\0", 1, 0);
    wdemu_feed(&w, "\0V", 2, 100);
    ck_assert_int_eq(wdemu_eof(&w, 200), WDEMU_STOPPED);
    ck_assert(!wdemu_expired(&w, 100000));

    /* a new writer starts it again */
    ck_assert_int_eq(wdemu_feed(&w, "\0", 1, 300), WDEMU_STOPPED);
    ck_assert_int_eq(w.state, WDEMU_RUNNING);
    ck_assert(wdemu_expired(&w, 1300));
}
END_TEST

START_TEST(test_close_without_magic_keeps_running)
{
    wdemu w;
    wdemu_init(&w, 1000);
    wdemu_feed(&w, "\0", 1, 0);
    wdemu_feed(&w, "V\0", 2, 400); /* 'V' not last */
    ck_assert_int_eq(wdemu_eof(&w, 700), WDEMU_ORPHANED);
    /* the release ping: one final keepalive at the close */
    ck_assert_int_eq(w.deadline_ms, 1700);
    ck_assert(!wdemu_expired(&w, 1699));
    ck_assert(wdemu_expired(&w, 1700));
}
END_TEST

START_TEST(test_new_writer_continues)
{
    wdemu w;
    wdemu_init(&w, 1000);
    wdemu_feed(&w, "\0", 1, 0);
    ck_assert_int_eq(wdemu_eof(&w, 100), WDEMU_ORPHANED);
    ck_assert_int_eq(wdemu_feed(&w, "\0", 1, 900), WDEMU_ORPHANED);
    ck_assert_int_eq(w.state, WDEMU_RUNNING);
    ck_assert_int_eq(w.deadline_ms, 1900);
    /* and the new writer may stop it cleanly */
    wdemu_feed(&w, "V", 1, 950);
    ck_assert_int_eq(wdemu_eof(&w, 960), WDEMU_STOPPED);
}
END_TEST

START_TEST(test_silent_writer_close_starts_it)
{
    /* Opening a kernel watchdog starts it: an opener that closes without writing
     * leaves it running. */
    wdemu w;
    wdemu_init(&w, 500);
    ck_assert_int_eq(wdemu_eof(&w, 100), WDEMU_ORPHANED);
    ck_assert(wdemu_expired(&w, 600));

    /* 'V' from an earlier writer does not count for a later silent one */
    wdemu_init(&w, 500);
    wdemu_feed(&w, "V", 1, 0);
    ck_assert_int_eq(wdemu_eof(&w, 10), WDEMU_STOPPED);
    ck_assert_int_eq(wdemu_eof(&w, 20), WDEMU_ORPHANED);
}
END_TEST

START_TEST(test_state_names)
{
    ck_assert_str_eq(wdemu_state_name(WDEMU_STOPPED), "stopped");
    ck_assert_str_eq(wdemu_state_name(WDEMU_RUNNING), "running");
    ck_assert_str_eq(wdemu_state_name(WDEMU_ORPHANED), "orphaned");
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("wdemu");
    TCase *tc;

#define ADD(name)             \
    tc = tcase_create(#name); \
    tcase_add_test(tc, name); \
    suite_add_tcase(s, tc)

    ADD(test_action_parse);
    ADD(test_action_parse_errors);
    ADD(test_starts_on_first_byte);
    ADD(test_keepalive_moves_deadline);
    ADD(test_magic_close_stops);
    ADD(test_close_without_magic_keeps_running);
    ADD(test_new_writer_continues);
    ADD(test_silent_writer_close_starts_it);
    ADD(test_state_names);
    return s;
}
