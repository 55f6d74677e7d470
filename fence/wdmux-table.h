/*
 * wdmux-table: the watchdog multiplexer's client table and its timing rules.
 *
 * Owns one slot per connected (armed) client: its credentials, the monotonic time of
 * its last byte, the magic flag (the last byte received was 'V') and its supervision
 * state.  It owns the node-wide "updates enabled" flag too, because only the table's
 * transitions (expiry, unclean disconnect) may clear it.  Pure logic: no I/O, no
 * clock; every call takes the current monotonic time in milliseconds, so tests inject
 * time.
 *
 * Invariants:
 * - updates_enabled goes from true to false at most once and never back;
 * - a slot leaves the table only through a clean disconnect (magic flag set);
 *   a lost (unclean) slot stays occupied, so the active marker stays too;
 * - an armed slot is in state OK or WARNED; EXPIRED and LOST are final.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef enum {
    WDMUX_SLOT_FREE = 0,
    WDMUX_SLOT_OK,      /* armed, age below the warning threshold */
    WDMUX_SLOT_WARNED,  /* armed, age above the warning threshold */
    WDMUX_SLOT_EXPIRED, /* age passed the client timeout; updates disabled */
    WDMUX_SLOT_LOST,    /* disconnected without 'V'; updates disabled */
} wdmux_slot_state;

typedef struct {
    wdmux_slot_state state;
    int fd;    /* the caller's descriptor, stored for it; -1 once closed */
    pid_t pid; /* peer credentials at accept time (0 if unknown) */
    uid_t uid;
    gint64 last_ms; /* monotonic time of accept or of the last byte */
    bool magic;     /* the last byte received was 'V' */
} wdmux_slot;

typedef enum {
    WDMUX_EVENT_AVERTED, /* a warned client wrote again before expiry */
    WDMUX_EVENT_WARNED,  /* age passed client timeout - warning lead */
    WDMUX_EVENT_EXPIRED, /* age passed the client timeout: updates now disabled */
} wdmux_event_kind;

typedef struct {
    wdmux_event_kind kind;
    unsigned slot;
    pid_t pid;
    gint64 age_ms;
} wdmux_event;

typedef enum {
    WDMUX_DISCONNECT_CLEAN, /* last byte was 'V': slot freed */
    WDMUX_DISCONNECT_LOST,  /* anything else: slot kept as LOST, updates disabled */
} wdmux_disconnect;

typedef struct wdmux_table wdmux_table;

/*
 * Create a table with @capacity slots.  A client is warned when its age exceeds
 * @warn_after_ms and expires when its age exceeds @client_timeout_ms (strict '>' as in
 * the reference).  Updates start enabled.
 */
wdmux_table *wdmux_table_new(unsigned capacity, gint64 client_timeout_ms, gint64 warn_after_ms);
void wdmux_table_free(wdmux_table *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(wdmux_table, wdmux_table_free)

/*
 * Arm a new client: the age starts at @now_ms (connecting arms, fence.md 3).
 * Returns 0 and the slot index in @ret_slot, or -ENOSPC when every slot is occupied.
 */
int wdmux_table_add(wdmux_table *t, int fd, pid_t pid, uid_t uid, gint64 now_ms,
                    unsigned *ret_slot);

/*
 * Account @len bytes received from the client in @slot at @now_ms: refresh its age and
 * set the magic flag from the last byte.  @len == 0 is a no-op.
 */
void wdmux_table_feed(wdmux_table *t, unsigned slot, const void *buf, size_t len, gint64 now_ms);

/*
 * The client in @slot disconnected (end of file, or a read error when @error is true).
 * A clean disconnect (magic flag set, no error) frees the slot; anything else marks it
 * LOST and disables updates.  The caller closes the descriptor itself.
 */
wdmux_disconnect wdmux_table_disconnect(wdmux_table *t, unsigned slot, bool error);

/*
 * Forget the client in @slot without any verdict: for a connection the caller could not
 * start watching right after wdmux_table_add() and closes at once (it never saw the
 * client as armed).  Updates are not touched.
 */
void wdmux_table_remove(wdmux_table *t, unsigned slot);

/*
 * Run the supervision rules for every armed client at @now_ms, in the reference order
 * per client (averted, warned, expired), appending one wdmux_event per transition to
 * @events (a GArray of wdmux_event).  An expiry disables updates.  Returns the number
 * of events appended.
 */
unsigned wdmux_table_supervise(wdmux_table *t, gint64 now_ms, GArray *events);

/* Disable updates for good (device failure).  Idempotent. */
void wdmux_table_disable_updates(wdmux_table *t);

bool wdmux_table_updates_enabled(const wdmux_table *t);

/* Occupied slots (armed, expired and lost). */
unsigned wdmux_table_used(const wdmux_table *t);

unsigned wdmux_table_capacity(const wdmux_table *t);

/* The slot at @index, or NULL when @index is out of range.  Free slots have state FREE. */
const wdmux_slot *wdmux_table_get(const wdmux_table *t, unsigned index);

/* Set the stored descriptor of an occupied slot (for example -1 after closing it). */
void wdmux_table_set_fd(wdmux_table *t, unsigned slot, int fd);

/* Age of @slot at @now_ms, never negative. */
gint64 wdmux_slot_age(const wdmux_slot *slot, gint64 now_ms);

/* "ok", "warned", "expired", "lost" (status file vocabulary, fence.md 4.6), "free". */
const char *wdmux_slot_state_name(wdmux_slot_state state);
