/*
 * wdemu: the logic of the lab's emulated watchdog (fence.md 4.5), without I/O.
 *
 * Owns the fence-action specification and the device state machine that mimics the
 * Linux watchdog core as seen through its write end:
 * - every byte is a keepalive and (re)starts the deadline, also after a stop;
 * - 'V' as the last byte before end of file stops the watchdog cleanly;
 * - end of file otherwise keeps it running, after one final keepalive (the kernel's
 *   release ping), and a later writer simply continues feeding it;
 * - once now >= deadline the watchdog has fired.
 * Times are monotonic milliseconds supplied by the caller.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef enum {
    WDEMU_ACTION_LOG_ONLY,   /* "log-only" */
    WDEMU_ACTION_KILL_PIDNS, /* "kill-pidns:<pid>": SIGKILL the node's pid-namespace init */
    WDEMU_ACTION_EXEC,       /* "exec:<command line>": /bin/sh -c, WATCHDOG_NODE set */
} wdemu_action_kind;

typedef struct {
    wdemu_action_kind kind;
    pid_t pid;     /* KILL_PIDNS */
    char *command; /* EXEC */
} wdemu_action;

#define WDEMU_ERROR (wdemu_error_quark())
GQuark wdemu_error_quark(void);

typedef enum {
    WDEMU_ERROR_ACTION, /* bad fence action specification */
} wdemu_error;

/* Parse a fence action specification; FALSE with a message naming it on error. */
gboolean wdemu_action_parse(const char *spec, wdemu_action **ret_action, GError **error);
void wdemu_action_free(wdemu_action *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(wdemu_action, wdemu_action_free)

typedef enum {
    WDEMU_STOPPED,  /* never started, or stopped cleanly with 'V' */
    WDEMU_RUNNING,  /* a writer feeds it */
    WDEMU_ORPHANED, /* its writer closed without 'V': the deadline runs */
} wdemu_state;

typedef struct {
    wdemu_state state;
    gint64 timeout_ms;
    gint64 deadline_ms; /* valid unless STOPPED */
    unsigned char last_byte;
    bool got_byte; /* the current writer sent at least one byte */
    /* statistics of continuous feeding (RUNNING only) */
    guint64 keepalives;
    gint64 last_keepalive_ms;
    gint64 max_gap_ms;
} wdemu;

void wdemu_init(wdemu *w, gint64 timeout_ms);

/* @len > 0 bytes arrived at @now_ms.  Returns the state before them. */
wdemu_state wdemu_feed(wdemu *w, const void *buf, size_t len, gint64 now_ms);

/*
 * The writer closed at @now_ms.  Returns the new state: STOPPED after a last 'V'
 * (magic close), else ORPHANED with the deadline restarted (release ping).  A writer
 * that wrote nothing at all still started the watchdog by opening it, as the kernel's
 * does, so its close also leaves it ORPHANED.
 */
wdemu_state wdemu_eof(wdemu *w, gint64 now_ms);

/* TRUE when the watchdog runs and @now_ms reached its deadline. */
bool wdemu_expired(const wdemu *w, gint64 now_ms);

const char *wdemu_state_name(wdemu_state state);
