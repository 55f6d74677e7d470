/*
 * wdmux-status: the mux's published status file and the HA timing invariant.
 *
 * The mux renders a wdmux_status to JSON (fence.md 4.6) and replaces the status file
 * with it; the HA daemons read it back before arming and check
 *     L - (J + W + K + Dv) >= M > 0
 * (ha.md 6.8, 11.2 I-1) against the mux's *effective* timeouts.  This module owns the
 * struct, its JSON form and the check; it does no I/O except wdmux_status_read().
 * The timing profile is a small struct of its own, so the check does not depend on
 * any HA type.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;
    uid_t uid;
    gint64 age_ms;
    char state[16]; /* "ok", "warned", "expired" or "lost" */
} wdmux_status_client;

typedef struct {
    char *backend; /* "device", "emulated", or "reference" for the built-in fallback */
    char *node;
    char *device;
    char *identity; /* driver identity; may be NULL */
    bool magic_close;
    gint64 device_timeout_ms; /* Dv: effective (as the driver reports it) */
    gint64 client_timeout_ms; /* W */
    gint64 warn_before_ms;
    gint64 tick_ms; /* K */
    bool updates_enabled;
    GArray *clients; /* of wdmux_status_client, never NULL */
} wdmux_status;

/* Timing profile terms the invariant needs, in milliseconds (ha.md 11.2 I-1). */
typedef struct {
    gint64 lock_timeout_ms; /* L: lock lifetime enforced by the config FS */
    gint64 renew_bound_ms;  /* J: longest delay from a lock renewal to its keepalive */
    gint64 margin_ms;       /* M: minimum slack, > 0 */
} wdmux_timing;

#define WDMUX_STATUS_ERROR (wdmux_status_error_quark())
GQuark wdmux_status_error_quark(void);

typedef enum {
    WDMUX_STATUS_ERROR_PARSE,     /* the status file is not what the mux writes */
    WDMUX_STATUS_ERROR_INVARIANT, /* the timing invariant does not hold */
} wdmux_status_error;

/* An empty status (no clients, zero timeouts, strings NULL).  Never NULL. */
wdmux_status *wdmux_status_new(void);

/*
 * The reference mux's fixed values (client 60 s, warning 10 s, tick 1 s, device 10 s),
 * for callers that found no status file because a reference mux is running.
 */
wdmux_status *wdmux_status_new_reference(void);

void wdmux_status_free(wdmux_status *st);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(wdmux_status, wdmux_status_free)

/* Render @st as the JSON document of fence.md 4.6 (newline-terminated).  Free with g_free. */
char *wdmux_status_render(const wdmux_status *st);

/*
 * Parse a status document.  The four timeouts must be present and positive integers;
 * the other members are optional.  On failure returns FALSE with a
 * WDMUX_STATUS_ERROR_PARSE message.
 */
gboolean wdmux_status_parse(const char *text, gssize len, wdmux_status **ret_status,
                            GError **error);

/*
 * Read and parse the status file at @path.  A missing file fails with
 * G_FILE_ERROR_NOENT (the caller may fall back to wdmux_status_new_reference());
 * other failures carry the path in the message.
 */
gboolean wdmux_status_read(const char *path, wdmux_status **ret_status, GError **error);

/*
 * TRUE iff L - (J + W + K + Dv) >= M and M > 0, with W, K and Dv taken from @st and
 * L, J, M from @t.  Otherwise FALSE with a WDMUX_STATUS_ERROR_INVARIANT message that
 * names every term and the resulting slack.
 */
gboolean wdmux_check_invariant(const wdmux_status *st, const wdmux_timing *t, GError **error);
