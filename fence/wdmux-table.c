/*
 * wdmux-table: client slots, the magic-byte rule and the age transitions of the
 * watchdog multiplexer (fence.md 2.3, 3, 4.3).
 *
 * A fixed array of slots, allocated once, so that accepting a client never allocates
 * and a full table is a plain -ENOSPC.  Ages come from the caller's monotonic clock in
 * milliseconds; comparisons are strict ('>') like the reference's whole-second ones.
 */
#include "fence/wdmux-table.h"

#include <errno.h>

#include "fence/wdmux-defs.h"

struct wdmux_table {
    wdmux_slot *slots;
    unsigned capacity;
    unsigned used;
    gint64 client_timeout_ms;
    gint64 warn_after_ms;
    bool updates_enabled;
};

wdmux_table *wdmux_table_new(unsigned capacity, gint64 client_timeout_ms, gint64 warn_after_ms)
{
    g_return_val_if_fail(capacity > 0, NULL);
    g_return_val_if_fail(client_timeout_ms > 0 && warn_after_ms >= 0, NULL);

    wdmux_table *t = g_new0(wdmux_table, 1);
    t->slots = g_new0(wdmux_slot, capacity);
    for (unsigned i = 0; i < capacity; i++)
        t->slots[i].fd = -1;
    t->capacity = capacity;
    t->client_timeout_ms = client_timeout_ms;
    t->warn_after_ms = warn_after_ms;
    t->updates_enabled = true;
    return t;
}

void wdmux_table_free(wdmux_table *t)
{
    if (!t)
        return;
    g_free(t->slots);
    g_free(t);
}

int wdmux_table_add(wdmux_table *t, int fd, pid_t pid, uid_t uid, gint64 now_ms, unsigned *ret_slot)
{
    for (unsigned i = 0; i < t->capacity; i++) {
        wdmux_slot *s = &t->slots[i];
        if (s->state != WDMUX_SLOT_FREE)
            continue;
        *s = (wdmux_slot){
            .state = WDMUX_SLOT_OK,
            .fd = fd,
            .pid = pid,
            .uid = uid,
            .last_ms = now_ms,
            .magic = false,
        };
        t->used++;
        if (ret_slot)
            *ret_slot = i;
        return 0;
    }
    return -ENOSPC;
}

static wdmux_slot *table_slot(wdmux_table *t, unsigned slot)
{
    g_return_val_if_fail(slot < t->capacity, NULL);
    wdmux_slot *s = &t->slots[slot];
    g_return_val_if_fail(s->state != WDMUX_SLOT_FREE, NULL);
    return s;
}

void wdmux_table_feed(wdmux_table *t, unsigned slot, const void *buf, size_t len, gint64 now_ms)
{
    wdmux_slot *s = table_slot(t, slot);
    if (!s || len == 0)
        return;
    /* Only the last byte matters: 'V' anywhere but at the end is followed by a byte
     * that clears the flag again (the reference walks every byte to the same effect). */
    s->magic = ((const unsigned char *)buf)[len - 1] == WDMUX_MAGIC_BYTE;
    if (now_ms > s->last_ms)
        s->last_ms = now_ms;
}

wdmux_disconnect wdmux_table_disconnect(wdmux_table *t, unsigned slot, bool error)
{
    wdmux_slot *s = table_slot(t, slot);
    if (!s)
        return WDMUX_DISCONNECT_LOST;
    if (s->magic && !error && s->state != WDMUX_SLOT_LOST) {
        *s = (wdmux_slot){.state = WDMUX_SLOT_FREE, .fd = -1};
        t->used--;
        return WDMUX_DISCONNECT_CLEAN;
    }
    s->state = WDMUX_SLOT_LOST;
    s->fd = -1;
    t->updates_enabled = false;
    return WDMUX_DISCONNECT_LOST;
}

void wdmux_table_remove(wdmux_table *t, unsigned slot)
{
    wdmux_slot *s = table_slot(t, slot);
    if (!s)
        return;
    *s = (wdmux_slot){.state = WDMUX_SLOT_FREE, .fd = -1};
    t->used--;
}

static void table_event(GArray *events, wdmux_event_kind kind, unsigned slot, const wdmux_slot *s,
                        gint64 age_ms)
{
    wdmux_event ev = {.kind = kind, .slot = slot, .pid = s->pid, .age_ms = age_ms};
    g_array_append_val(events, ev);
}

unsigned wdmux_table_supervise(wdmux_table *t, gint64 now_ms, GArray *events)
{
    unsigned n = 0;

    for (unsigned i = 0; i < t->capacity; i++) {
        wdmux_slot *s = &t->slots[i];
        if (s->state != WDMUX_SLOT_OK && s->state != WDMUX_SLOT_WARNED)
            continue;
        gint64 age = wdmux_slot_age(s, now_ms);

        if (s->state == WDMUX_SLOT_WARNED && age <= t->warn_after_ms) {
            s->state = WDMUX_SLOT_OK;
            table_event(events, WDMUX_EVENT_AVERTED, i, s, age);
            n++;
        }
        if (s->state == WDMUX_SLOT_OK && age > t->warn_after_ms) {
            s->state = WDMUX_SLOT_WARNED;
            table_event(events, WDMUX_EVENT_WARNED, i, s, age);
            n++;
        }
        if (age > t->client_timeout_ms) {
            s->state = WDMUX_SLOT_EXPIRED;
            t->updates_enabled = false;
            table_event(events, WDMUX_EVENT_EXPIRED, i, s, age);
            n++;
        }
    }
    return n;
}

void wdmux_table_disable_updates(wdmux_table *t)
{
    t->updates_enabled = false;
}

bool wdmux_table_updates_enabled(const wdmux_table *t)
{
    return t->updates_enabled;
}

unsigned wdmux_table_used(const wdmux_table *t)
{
    return t->used;
}

unsigned wdmux_table_capacity(const wdmux_table *t)
{
    return t->capacity;
}

const wdmux_slot *wdmux_table_get(const wdmux_table *t, unsigned index)
{
    if (index >= t->capacity)
        return NULL;
    return &t->slots[index];
}

void wdmux_table_set_fd(wdmux_table *t, unsigned slot, int fd)
{
    wdmux_slot *s = table_slot(t, slot);
    if (s)
        s->fd = fd;
}

gint64 wdmux_slot_age(const wdmux_slot *slot, gint64 now_ms)
{
    return now_ms > slot->last_ms ? now_ms - slot->last_ms : 0;
}

const char *wdmux_slot_state_name(wdmux_slot_state state)
{
    switch (state) {
    case WDMUX_SLOT_OK:
        return "ok";
    case WDMUX_SLOT_WARNED:
        return "warned";
    case WDMUX_SLOT_EXPIRED:
        return "expired";
    case WDMUX_SLOT_LOST:
        return "lost";
    case WDMUX_SLOT_FREE:
        break;
    }
    return "free";
}
