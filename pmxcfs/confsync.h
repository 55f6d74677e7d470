/*
 * confsync: propagation of the replicated corosync.conf to the host file
 * /etc/corosync/corosync.conf, and the corosync reload (spec §10.16).
 *
 * Owns a settle timer and the reload child process, both on the cluster service's
 * GMainContext.  Triggers are coalesced: only the content present 500 ms after the last
 * trigger is compared and installed (W27), and a reload is requested if any coalesced
 * trigger asked for it.  The reload runs asynchronously (timer + child watch), never
 * blocking message delivery (W7).  The host file is replaced atomically with fsync (W16).
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "pmxcfs/memdb.h"

typedef struct confsync confsync;

/* @host_path: normally /etc/corosync/corosync.conf; @reload_argv: NULL for
 * {"corosync-cfgtool", "-R"}.  Timers run on @ctx. */
confsync *confsync_new(memdb *m, const char *host_path, GMainContext *ctx,
                       const char *const *reload_argv);
void confsync_free(confsync *cs);

/* Schedule a check (thread-safe).  @notify: ask corosync to reload after installing. */
void confsync_trigger(confsync *cs, bool notify);

/*
 * The check itself, synchronous (used by the timer, and by tests): install the tree's
 * corosync.conf if it is newer.  Returns 1 if the host file was written, 0 if nothing
 * was to do, -errno on failure.  *ret_old_version gets the host file's version.
 */
int confsync_check(confsync *cs, uint64_t *ret_old_version);

/* The first `config_version: <n>` of @text (0 = none). */
uint64_t confsync_parse_version(const char *text, size_t len);
