/*
 * cs-quorum: tracking corosync quorum through the quorum API (spec §10.15).
 *
 * Owns one quorum handle.  The owner polls cs_quorum_fd() and calls
 * cs_quorum_dispatch() when it is readable; the notify callback runs from there.
 * Any failure counts as "not quorate".  Not thread-safe: one thread drives it.
 */
#pragma once

#include <stdbool.h>

typedef struct cs_quorum cs_quorum;
typedef void (*cs_quorum_notify_fn)(void *user_data, bool quorate);

cs_quorum *cs_quorum_new(cs_quorum_notify_fn notify, void *user_data);
void cs_quorum_free(cs_quorum *q);

/* Connect and start tracking; the current state is reported through notify.
 * 0 or -errno (-ENOTCONN: corosync not running). */
int cs_quorum_connect(cs_quorum *q);
/* Drop the connection (state becomes not quorate, notify is called if it changed). */
void cs_quorum_disconnect(cs_quorum *q);
bool cs_quorum_connected(const cs_quorum *q);
/* The fd to poll, or -1 when not connected. */
int cs_quorum_fd(const cs_quorum *q);
/* Process pending events.  -ENOTCONN when corosync went away (already disconnected). */
int cs_quorum_dispatch(cs_quorum *q);
bool cs_quorum_is_quorate(const cs_quorum *q);
