/*
 * dcdb: the file-system application of the `pve_dcdb_v1` CPG group (spec §10.4-10.5,
 * §10.13, §10.15).
 *
 * Owns the dfsm instance of the group, the encoding of operations into NORMAL messages
 * and of entries into UPDATE messages, the leader rule and update sending, the
 * collection and commit of received updates, and the apply side of every operation
 * (including unlock requests).  Local writers submit through dcdb_ops_cluster(); every
 * node applies the ordered message and the writer gets its own node's result.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "pmxcfs/dfsm.h"
#include "pmxcfs/memdb.h"
#include "pmxcfs/ops.h"
#include "pmxcfs/status.h"

#define DCDB_GROUP_NAME "pve_dcdb_v1"
#define DCDB_PROTOCOL_VERSION 1
/* Operation payload header (spec §10.4). */
#define DCDB_OP_HEADER 20
/* UPDATE payload header before the name (spec §10.5). */
#define DCDB_UPDATE_HEADER 41

typedef struct dcdb dcdb;

typedef struct dcdb_hooks {
    /* corosync.conf was changed by a delivered operation or a resync commit;
     * @notify: the change came from this process (ask corosync to reload). */
    void (*corosync_conf_changed)(void *user_data, bool notify);
    void *user_data;
} dcdb_hooks;

/* Borrowed: @m and @st must outlive the dcdb object. */
dcdb *dcdb_new(memdb *m, cfs_status *st, const dcdb_hooks *hooks);
void dcdb_free(dcdb *db);
dfsm *dcdb_get_dfsm(dcdb *db);
/* The cluster backend for cfs_ops (submit = send + wait for the local result). */
const cfs_ops_cluster *dcdb_ops_cluster(dcdb *db);
/* True while an operation this process submitted (for a kernel request) is applied:
 * the kernel's caches already reflect it.  Only meaningful in the service thread. */
bool dcdb_applying_own(dcdb *db);

/*
 * Wire encoding, exposed for tests.  dcdb_encode_op() fills @buf (at least
 * DCDB_OP_HEADER bytes) with the header and @iov[0..2] with header, path and to; the
 * data goes in @iov[3].  Returns the iovec count.  dcdb_decode_op() validates a
 * received payload and points the op's strings into it (0 or -EINVAL).
 */
int dcdb_encode_op(const cfs_op *op, uint8_t buf[DCDB_OP_HEADER], struct iovec iov[4]);
int dcdb_decode_op(uint16_t subtype, const void *payload, size_t len, cfs_op *ret_op);
/* UPDATE payloads: encode one entry; decode and validate one (0 or -EINVAL). */
GBytes *dcdb_encode_update(const memdb_attr *attr, const char *name, GBytes *data);
int dcdb_decode_update(const void *payload, size_t len, memdb_update **ret_update);
