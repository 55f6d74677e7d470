/*
 * ipc: the libqb IPC service `pve2` that local tools (PVE::IPCC, pmxcfs-ctl) use to
 * read the status layer and configuration files without FUSE (spec §12).
 *
 * Owns the service, its thread and event loop (a GMainContext driving libqb's poll
 * callbacks), the per-connection state (client pid, read-only flag) and the decoding,
 * validation and answering of every request id.  Requests are answered one at a time
 * in arrival order; a bad request gets its error code and never affects other
 * clients.  A response that does not fit the client's buffer is answered with -EFBIG
 * and no data, and the connection stays usable (W8).
 *
 * Accept rule: root (uid 0 and gid 0) is read-write, group www-data is read-only
 * (SET_STATUS, LOG_CLUSTER_MSG and GET_CONFIG of private paths give -EPERM), anyone
 * else is refused.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pmxcfs/memdb.h"
#include "pmxcfs/status.h"

typedef struct cfs_ipc_config {
    const char *service; /* NULL = CFS_IPC_SERVICE ("pve2") */
    gid_t www_data_gid;
    memdb *memdb;       /* borrowed */
    cfs_status *status; /* borrowed */
} cfs_ipc_config;

/* Who sent a request. */
typedef struct cfs_ipc_client {
    pid_t pid;
    bool read_only;
} cfs_ipc_client;

/*
 * The accept rule: 0 with @ret_read_only set, or -EACCES for anyone but root (uid 0,
 * gid 0) and group @www_data_gid.
 */
int cfs_ipc_accept_check(uid_t uid, gid_t gid, gid_t www_data_gid, bool *ret_read_only);

/*
 * Answer one request (header included, @size bytes).  Returns the response's error
 * field: 0 with the response data in @ret_data (NULL for none), or -errno as listed in
 * spec §12.4 (-ECHRNG for unknown ids, -EINVAL for wrong sizes or missing NULs, -EPERM
 * for writes of read-only clients, ...).  Does not apply the response size limit.
 */
int cfs_ipc_handle(const cfs_ipc_config *config, const cfs_ipc_client *client, const void *request,
                   size_t size, GBytes **ret_data);

typedef struct cfs_ipc cfs_ipc;

/*
 * Start the service in its own thread.  Returns once it accepts connections, or NULL
 * with @error set (for example when another process serves the same name in this
 * network namespace).  @config is copied; the objects it points to must outlive the
 * service.
 */
cfs_ipc *cfs_ipc_start(const cfs_ipc_config *config, GError **error);
/* Stop the service (clients are disconnected) and join its thread; NULL-safe. */
void cfs_ipc_stop(cfs_ipc *ipc);
