/*
 * test-wdmux-table: the mux's client table with an injected monotonic clock:
 * arming, the last-byte rule, disconnect verdicts, warning / averted / expiry
 * transitions with strict comparisons, and the one-way updates flag.
 */
#include <errno.h>

#include "fence/wdmux-table.h"
#include "tests/unit/check-main.h"

/* The reference numbers (fence.md 2.1): expire after 60 s, warn 10 s before. */
#define T_TIMEOUT 60000
#define T_WARN    50000

static GArray *events_new(void)
{
    return g_array_new(FALSE, FALSE, sizeof(wdmux_event));
}

static const wdmux_event *event_at(GArray *ev, guint i)
{
    ck_assert_uint_gt(ev->len, i);
    return &g_array_index(ev, wdmux_event, i);
}

START_TEST(test_add_arms_at_accept)
{
    g_autoptr(wdmux_table) t = wdmux_table_new(4, T_TIMEOUT, T_WARN);
    g_autoptr(GArray) ev = events_new();
    unsigned slot = 99;

    ck_assert_int_eq(wdmux_table_add(t, 7, 1234, 0, 1000, &slot), 0);
    ck_assert_uint_eq(slot, 0);
    ck_assert_uint_eq(wdmux_table_used(t), 1);
    const wdmux_slot *s = wdmux_table_get(t, slot);
    ck_assert_int_eq(s->state, WDMUX_SLOT_OK);
    ck_assert_int_eq(s->fd, 7);
    ck_assert_int_eq(s->pid, 1234);
    ck_assert(!s->magic);
    ck_assert_int_eq(wdmux_slot_age(s, 1000 + 42), 42);

    /* Connecting alone arms: no byte ever written, the age still runs from accept. */
    ck_assert_uint_eq(wdmux_table_supervise(t, 1000 + T_TIMEOUT + 1, ev), 2);
    ck_assert_int_eq(event_at(ev, 0)->kind, WDMUX_EVENT_WARNED);
    ck_assert_int_eq(event_at(ev, 1)->kind, WDMUX_EVENT_EXPIRED);
    ck_assert_int_eq(event_at(ev, 1)->pid, 1234);
    ck_assert(!wdmux_table_updates_enabled(t));
}
END_TEST

START_TEST(test_full_table)
{
    g_autoptr(wdmux_table) t = wdmux_table_new(2, T_TIMEOUT, T_WARN);
    unsigned a = 0, b = 0, c = 0;

    ck_assert_int_eq(wdmux_table_add(t, 3, 1, 0, 0, &a), 0);
    ck_assert_int_eq(wdmux_table_add(t, 4, 2, 0, 0, &b), 0);
    ck_assert_int_eq(wdmux_table_add(t, 5, 3, 0, 0, &c), -ENOSPC);
    ck_assert_uint_eq(wdmux_table_used(t), 2);
    /* A full table is not a fence: updates stay on. */
    ck_assert(wdmux_table_updates_enabled(t));

    wdmux_table_feed(t, a, "V", 1, 10);
    ck_assert_int_eq(wdmux_table_disconnect(t, a, false), WDMUX_DISCONNECT_CLEAN);
    ck_assert_int_eq(wdmux_table_add(t, 5, 3, 0, 20, &c), 0);
    ck_assert_uint_eq(c, a);
    ck_assert_int_eq(wdmux_table_get(t, c)->pid, 3);
}
END_TEST

START_TEST(test_last_byte_wins)
{
    g_autoptr(wdmux_table) t = wdmux_table_new(4, T_TIMEOUT, T_WARN);
    unsigned s = 0;

    ck_assert_int_eq(wdmux_table_add(t, 3, 1, 0, 0, &s), 0);
    wdmux_table_feed(t, s, "\0V", 2, 1);
    ck_assert(wdmux_table_get(t, s)->magic);
    wdmux_table_feed(t, s, "V\0", 2, 2);
    ck_assert(!wdmux_table_get(t, s)->magic);
    wdmux_table_feed(t, s, "xxV", 3, 3);
    ck_assert(wdmux_table_get(t, s)->magic);
    /* A zero-length read changes nothing, not even the age. */
    wdmux_table_feed(t, s, "", 0, 500);
    ck_assert(wdmux_table_get(t, s)->magic);
    ck_assert_int_eq(wdmux_table_get(t, s)->last_ms, 3);
    wdmux_table_feed(t, s, "v", 1, 4); /* only upper-case V is magic */
    ck_assert(!wdmux_table_get(t, s)->magic);
    ck_assert_int_eq(wdmux_table_get(t, s)->last_ms, 4);
}
END_TEST

START_TEST(test_disconnect_without_magic_is_lost)
{
    g_autoptr(wdmux_table) t = wdmux_table_new(4, T_TIMEOUT, T_WARN);
    unsigned a = 0, b = 0;

    ck_assert_int_eq(wdmux_table_add(t, 3, 1, 0, 0, &a), 0);
    ck_assert_int_eq(wdmux_table_add(t, 4, 2, 0, 0, &b), 0);
    wdmux_table_feed(t, a, "V", 1, 5);
    wdmux_table_feed(t, a, "\0", 1, 6);
    ck_assert_int_eq(wdmux_table_disconnect(t, a, false), WDMUX_DISCONNECT_LOST);
    ck_assert(!wdmux_table_updates_enabled(t));
    /* The lost slot stays occupied (and with it the active marker). */
    ck_assert_uint_eq(wdmux_table_used(t), 2);
    ck_assert_int_eq(wdmux_table_get(t, a)->state, WDMUX_SLOT_LOST);
    ck_assert_int_eq(wdmux_table_get(t, a)->fd, -1);
    ck_assert_str_eq(wdmux_slot_state_name(wdmux_table_get(t, a)->state), "lost");

    /* A later clean disconnect of another client frees only that slot; updates stay off. */
    wdmux_table_feed(t, b, "V", 1, 7);
    ck_assert_int_eq(wdmux_table_disconnect(t, b, false), WDMUX_DISCONNECT_CLEAN);
    ck_assert_uint_eq(wdmux_table_used(t), 1);
    ck_assert(!wdmux_table_updates_enabled(t));
}
END_TEST

START_TEST(test_disconnect_no_byte_is_lost)
{
    g_autoptr(wdmux_table) t = wdmux_table_new(4, T_TIMEOUT, T_WARN);
    unsigned a = 0;

    ck_assert_int_eq(wdmux_table_add(t, 3, 1, 0, 0, &a), 0);
    ck_assert_int_eq(wdmux_table_disconnect(t, a, false), WDMUX_DISCONNECT_LOST);
    ck_assert(!wdmux_table_updates_enabled(t));
}
END_TEST

START_TEST(test_read_error_is_lost_even_after_magic)
{
    g_autoptr(wdmux_table) t = wdmux_table_new(4, T_TIMEOUT, T_WARN);
    unsigned a = 0;

    ck_assert_int_eq(wdmux_table_add(t, 3, 1, 0, 0, &a), 0);
    wdmux_table_feed(t, a, "V", 1, 5);
    ck_assert_int_eq(wdmux_table_disconnect(t, a, true), WDMUX_DISCONNECT_LOST);
    ck_assert(!wdmux_table_updates_enabled(t));
}
END_TEST

START_TEST(test_clean_disconnect_frees)
{
    g_autoptr(wdmux_table) t = wdmux_table_new(4, T_TIMEOUT, T_WARN);
    unsigned a = 0;

    ck_assert_int_eq(wdmux_table_add(t, 3, 1, 0, 0, &a), 0);
    wdmux_table_feed(t, a, "\0\0V", 3, 5);
    ck_assert_int_eq(wdmux_table_disconnect(t, a, false), WDMUX_DISCONNECT_CLEAN);
    ck_assert_uint_eq(wdmux_table_used(t), 0);
    ck_assert(wdmux_table_updates_enabled(t));
    ck_assert_int_eq(wdmux_table_get(t, a)->state, WDMUX_SLOT_FREE);
}
END_TEST

START_TEST(test_warning_is_strict)
{
    g_autoptr(wdmux_table) t = wdmux_table_new(4, T_TIMEOUT, T_WARN);
    g_autoptr(GArray) ev = events_new();
    unsigned a = 0;

    ck_assert_int_eq(wdmux_table_add(t, 3, 77, 0, 0, &a), 0);
    ck_assert_uint_eq(wdmux_table_supervise(t, T_WARN, ev), 0);
    ck_assert_int_eq(wdmux_table_get(t, a)->state, WDMUX_SLOT_OK);
    ck_assert_uint_eq(wdmux_table_supervise(t, T_WARN + 1, ev), 1);
    ck_assert_int_eq(event_at(ev, 0)->kind, WDMUX_EVENT_WARNED);
    ck_assert_int_eq(event_at(ev, 0)->age_ms, T_WARN + 1);
    ck_assert_int_eq(event_at(ev, 0)->pid, 77);
    ck_assert_int_eq(wdmux_table_get(t, a)->state, WDMUX_SLOT_WARNED);
    /* Warned once, not on every tick. */
    ck_assert_uint_eq(wdmux_table_supervise(t, T_WARN + 500, ev), 0);
    ck_assert(wdmux_table_updates_enabled(t));
}
END_TEST

START_TEST(test_averted)
{
    g_autoptr(wdmux_table) t = wdmux_table_new(4, T_TIMEOUT, T_WARN);
    g_autoptr(GArray) ev = events_new();
    unsigned a = 0;

    ck_assert_int_eq(wdmux_table_add(t, 3, 77, 0, 0, &a), 0);
    ck_assert_uint_eq(wdmux_table_supervise(t, 55000, ev), 1);
    wdmux_table_feed(t, a, "\0", 1, 56000);
    ck_assert_uint_eq(wdmux_table_supervise(t, 57000, ev), 1);
    ck_assert_int_eq(event_at(ev, 1)->kind, WDMUX_EVENT_AVERTED);
    ck_assert_int_eq(event_at(ev, 1)->age_ms, 1000);
    ck_assert_int_eq(wdmux_table_get(t, a)->state, WDMUX_SLOT_OK);
    /* and it can be warned again later */
    ck_assert_uint_eq(wdmux_table_supervise(t, 56000 + T_WARN + 1, ev), 1);
    ck_assert_int_eq(event_at(ev, 2)->kind, WDMUX_EVENT_WARNED);
}
END_TEST

START_TEST(test_expiry_is_strict_and_final)
{
    g_autoptr(wdmux_table) t = wdmux_table_new(4, T_TIMEOUT, T_WARN);
    g_autoptr(GArray) ev = events_new();
    unsigned a = 0, b = 0;

    ck_assert_int_eq(wdmux_table_add(t, 3, 1, 0, 0, &a), 0);
    ck_assert_int_eq(wdmux_table_add(t, 4, 2, 0, T_TIMEOUT, &b), 0);
    ck_assert_uint_eq(wdmux_table_supervise(t, T_TIMEOUT, ev), 1); /* a: warned only */
    ck_assert(wdmux_table_updates_enabled(t));
    ck_assert_uint_eq(wdmux_table_supervise(t, T_TIMEOUT + 1, ev), 1);
    ck_assert_int_eq(event_at(ev, 1)->kind, WDMUX_EVENT_EXPIRED);
    ck_assert_int_eq(event_at(ev, 1)->slot, a);
    ck_assert(!wdmux_table_updates_enabled(t));
    ck_assert_int_eq(wdmux_table_get(t, a)->state, WDMUX_SLOT_EXPIRED);
    ck_assert_int_eq(wdmux_table_get(t, b)->state, WDMUX_SLOT_OK);

    /* Expired is final: writing again neither re-arms it nor re-enables updates. */
    wdmux_table_feed(t, a, "\0", 1, T_TIMEOUT + 2);
    ck_assert_uint_eq(wdmux_table_supervise(t, T_TIMEOUT + 3, ev), 0);
    ck_assert_int_eq(wdmux_table_get(t, a)->state, WDMUX_SLOT_EXPIRED);
    ck_assert(!wdmux_table_updates_enabled(t));
    ck_assert_uint_eq(wdmux_table_used(t), 2);
}
END_TEST

START_TEST(test_millisecond_resolution)
{
    /* Fast profile: client 2 s, warning 1 s before (fence.md 4.2 / ha.md 11.2). */
    g_autoptr(wdmux_table) t = wdmux_table_new(1, 2000, 1000);
    g_autoptr(GArray) ev = events_new();
    unsigned a = 0;

    ck_assert_int_eq(wdmux_table_add(t, 3, 1, 0, 123456, &a), 0);
    wdmux_table_feed(t, a, "\0", 1, 124000);
    ck_assert_uint_eq(wdmux_table_supervise(t, 126000, ev), 1);
    ck_assert_int_eq(event_at(ev, 0)->kind, WDMUX_EVENT_WARNED);
    ck_assert_uint_eq(wdmux_table_supervise(t, 126001, ev), 1);
    ck_assert_int_eq(event_at(ev, 1)->kind, WDMUX_EVENT_EXPIRED);
    ck_assert_int_eq(event_at(ev, 1)->age_ms, 2001);
}
END_TEST

START_TEST(test_clock_never_runs_backwards)
{
    g_autoptr(wdmux_table) t = wdmux_table_new(1, T_TIMEOUT, T_WARN);
    g_autoptr(GArray) ev = events_new();
    unsigned a = 0;

    ck_assert_int_eq(wdmux_table_add(t, 3, 1, 0, 5000, &a), 0);
    /* An older timestamp (caller bug) must not move the age backwards. */
    wdmux_table_feed(t, a, "\0", 1, 1000);
    ck_assert_int_eq(wdmux_table_get(t, a)->last_ms, 5000);
    ck_assert_int_eq(wdmux_slot_age(wdmux_table_get(t, a), 1000), 0);
    ck_assert_uint_eq(wdmux_table_supervise(t, 1000, ev), 0);
}
END_TEST

START_TEST(test_remove_and_disable)
{
    g_autoptr(wdmux_table) t = wdmux_table_new(2, T_TIMEOUT, T_WARN);
    unsigned a = 0;

    ck_assert_int_eq(wdmux_table_add(t, 3, 1, 0, 0, &a), 0);
    wdmux_table_remove(t, a);
    ck_assert_uint_eq(wdmux_table_used(t), 0);
    ck_assert(wdmux_table_updates_enabled(t));
    ck_assert_int_eq(wdmux_table_get(t, a)->state, WDMUX_SLOT_FREE);
    ck_assert_ptr_null(wdmux_table_get(t, 2));

    wdmux_table_disable_updates(t);
    wdmux_table_disable_updates(t);
    ck_assert(!wdmux_table_updates_enabled(t));
    ck_assert_uint_eq(wdmux_table_capacity(t), 2);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("wdmux-table");
    TCase *tc;

#define ADD(name)             \
    tc = tcase_create(#name); \
    tcase_add_test(tc, name); \
    suite_add_tcase(s, tc)

    ADD(test_add_arms_at_accept);
    ADD(test_full_table);
    ADD(test_last_byte_wins);
    ADD(test_disconnect_without_magic_is_lost);
    ADD(test_disconnect_no_byte_is_lost);
    ADD(test_read_error_is_lost_even_after_magic);
    ADD(test_clean_disconnect_frees);
    ADD(test_warning_is_strict);
    ADD(test_averted);
    ADD(test_expiry_is_strict_and_final);
    ADD(test_millisecond_resolution);
    ADD(test_clock_never_runs_backwards);
    ADD(test_remove_and_disable);
    return s;
}
