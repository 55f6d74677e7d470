/*
 * ipc-client: a small client library for the pmxcfs IPC service `pve2` (spec §12),
 * speaking the same wire layout as the Perl client PVE::IPCC.
 *
 * Owns one libqb connection and its receive buffer.  Each call sends one request and
 * waits for its response; on a transport error the connection is reopened and the
 * request sent once more, like the Perl client.  Not thread-safe: use one client per
 * thread (or process).
 *
 * Return convention of every call: 0 on success, or a negative errno that is either
 * the server's answer (for example -ENOENT) or a transport failure (cfs_client_call()
 * tells them apart).
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pmxcfs/cfs-limits.h"

typedef struct cfs_client cfs_client;

/*
 * Connect to @service (NULL = "pve2") with a message buffer of @buffer_size bytes
 * (0 = CFS_IPC_CLIENT_BUFFER, 2 MiB; the Perl client uses CFS_IPC_PERL_BUFFER).
 * @timeout_ms bounds every wait for a response (-1 = forever).  Returns 0 or -errno
 * (-ECONNREFUSED / -ENOENT when no server runs, -EACCES when the server refuses us).
 */
int cfs_client_connect(const char *service, size_t buffer_size, int timeout_ms,
                       cfs_client **ret_client);
/* Disconnect and free; NULL-safe. */
void cfs_client_free(cfs_client *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(cfs_client, cfs_client_free)

/*
 * Send request @id with @len bytes of @payload (after the 16-byte header) and wait for
 * the response.  Returns 0 when a response arrived, with its error field in
 * @ret_result and, when that is 0, its data in @ret_data (NULL if @ret_data is NULL);
 * or a negative transport error (-ETIMEDOUT, -ENOTCONN, -EBADMSG for a malformed
 * response, ...).
 */
int cfs_client_call(cfs_client *c, int32_t id, const void *payload, size_t len, int *ret_result,
                    GBytes **ret_data);

/* The same, with the server's error and transport errors folded into one -errno. */
int cfs_client_request(cfs_client *c, int32_t id, const void *payload, size_t len,
                       GBytes **ret_data);

/* GET_FS_VERSION, GET_CLUSTER_INFO, GET_GUEST_LIST, GET_RRD_DUMP: header-only. */
int cfs_client_get_simple(cfs_client *c, int32_t id, GBytes **ret_data);

/* SET_STATUS: @len bytes of @value under @key (len 0 deletes).  -ENAMETOOLONG for a
 * key of 256 bytes or more (checked before sending). */
int cfs_client_set_status(cfs_client *c, const char *key, const void *value, size_t len);
/* GET_STATUS of @key on @node (NULL or "" = the local node). */
int cfs_client_get_status(cfs_client *c, const char *key, const char *node, GBytes **ret_value);
/* GET_CONFIG: the content of @path (relative to /etc/pve). */
int cfs_client_get_config(cfs_client *c, const char *path, GBytes **ret_data);
/* LOG_CLUSTER_MSG; ident and tag are cut to 254 bytes. */
int cfs_client_log(cfs_client *c, uint8_t priority, const char *ident, const char *tag,
                   const char *msg);
/* GET_CLUSTER_LOG: at most @max entries (0 = 50), of @user only if non-empty. */
int cfs_client_get_cluster_log(cfs_client *c, uint32_t max, const char *user, GBytes **ret_json);
/* GET_GUEST_CONFIG_PROPERTY: one property of guest @vmid (0 = all guests). */
int cfs_client_get_guest_property(cfs_client *c, uint32_t vmid, const char *prop,
                                  GBytes **ret_json);
/* GET_GUEST_CONFIG_PROPERTIES: 1-255 properties (-EINVAL otherwise, before sending). */
int cfs_client_get_guest_properties(cfs_client *c, uint32_t vmid, const char *const *props,
                                    size_t n_props, GBytes **ret_json);
/* VERIFY_TOKEN: 0 if `<userid>!<tokenid> <secret>` is in priv/token.cfg, else -ENOENT. */
int cfs_client_verify_token(cfs_client *c, const char *token);
