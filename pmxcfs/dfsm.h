/*
 * dfsm: the distributed finite state machine shared by both CPG groups (spec §10).
 *
 * Owns one CPG handle and group membership, the mode machine (START, START_SYNC,
 * SYNCED, UPDATE, LEAVE, VERSION_ERROR, ERROR), the sync epoch, the state exchange,
 * the message queue (sorted by sender count) and the sync queue (FIFO), the result
 * slots of local writers, and the hourly verification.  The application (dcdb or the
 * kvstore) plugs in through dfsm_callbacks and never sees a CPG message header.
 *
 * Wire format: the 16/24/32-byte headers of spec §10.2, little-endian, encoded field by
 * field.  Threads: one thread (the owner's event loop) calls dfsm_dispatch() and the
 * timers; any thread may call dfsm_send_message_sync(), which waits for the local
 * delivery of its message and returns the result the local application computed.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct dfsm dfsm;

/* DFSM message types (spec §10.3). */
typedef enum {
    DFSM_MSG_NORMAL = 0,
    DFSM_MSG_SYNC_START = 1,
    DFSM_MSG_STATE = 2,
    DFSM_MSG_UPDATE = 3,
    DFSM_MSG_UPDATE_COMPLETE = 4,
    DFSM_MSG_VERIFY_REQUEST = 5,
    DFSM_MSG_VERIFY = 6,
} dfsm_msg_type;

/* Modes (spec §10.7); values >= 128 are error modes. */
typedef enum {
    DFSM_MODE_START = 0,
    DFSM_MODE_START_SYNC = 1,
    DFSM_MODE_SYNCED = 2,
    DFSM_MODE_UPDATE = 3,
    DFSM_MODE_LEAVE = 253,
    DFSM_MODE_VERSION_ERROR = 254,
    DFSM_MODE_ERROR = 255,
} dfsm_mode;

#define DFSM_HEADER_BASE 16
#define DFSM_HEADER_NORMAL 24
#define DFSM_HEADER_STATE 32

/* One member of the group, with the state it sent during synchronisation. */
typedef struct dfsm_member {
    uint32_t nodeid;
    uint32_t pid;
    bool synced;
    GBytes *state; /* valid during process_state only */
} dfsm_member;

typedef struct dfsm_callbacks {
    /*
     * A NORMAL message, in agreed order (or in the order of spec §10.11 after a sync).
     * @time is the sender's header time.  Store the operation result (bytes, 0 or
     * -errno) in *ret_result; return 0, or a negative value to make this node leave.
     */
    int (*deliver)(void *user_data, uint32_t nodeid, uint32_t pid, uint16_t subtype,
                   uint32_t time, const void *payload, size_t len, int *ret_result);
    /* The local state for the state exchange (taken when SYNC_START is processed). */
    GBytes *(*get_state)(void *user_data);
    /*
     * All states arrived: decide which members are synced (set members[i].synced);
     * members are sorted by (nodeid, pid); @local is the index of this process.  The
     * leader sends its updates with dfsm_send_update()/dfsm_send_update_complete().
     * Return 0, or negative to leave.
     */
    int (*process_state)(void *user_data, dfsm *d, dfsm_member *members, guint count,
                         guint local);
    /* UPDATE received while in UPDATE mode (NULL: UPDATE is an error, leave). */
    int (*process_update)(void *user_data, uint32_t nodeid, uint32_t pid, const void *payload,
                          size_t len);
    /* UPDATE_COMPLETE received while in UPDATE mode: commit (negative: leave). */
    int (*commit)(void *user_data);
    /* Drop everything collected during a synchronisation (always safe to call). */
    void (*cleanup)(void *user_data);
    /* The local process reached SYNCED. */
    void (*synced)(void *user_data);
    /* The membership changed (after the member table was rebuilt). */
    void (*confchg)(void *user_data, const dfsm_member *members, guint count);
    /* Whole-tree checksum for verification (NULL: no verification in this group). */
    void (*checksum)(void *user_data, uint8_t ret_checksum[32]);
    /* Called around each dispatch burst, e.g. to group database work (W26): begin before
     * the first delivered NORMAL message, end after the last; end returns 0 or -errno
     * (a failure makes the node leave and releases the burst's writers with EBUSY). */
    void (*burst_begin)(void *user_data);
    int (*burst_end)(void *user_data);
} dfsm_callbacks;

/*
 * Create a state machine for CPG group @group_name (joined with length strlen + 1,
 * spec §10.1) and @protocol_version.  Nothing is connected until dfsm_initialize().
 */
dfsm *dfsm_new(const char *group_name, uint32_t protocol_version, const char *log_domain,
               const dfsm_callbacks *cb, void *user_data);
void dfsm_free(dfsm *d);

/*
 * (Re)initialise: release waiting writers (EBUSY), mode START, create the CPG handle if
 * there is none, join the group.  0, -ENOTCONN (corosync not reachable: retry later),
 * or -errno.  Not allowed in ERROR / VERSION_ERROR modes (returns -EPERM).
 */
int dfsm_initialize(dfsm *d);
/* The fd to poll (-1 when not connected). */
int dfsm_fd(dfsm *d);
/*
 * Process pending CPG events.  Returns 0, or -ENOTCONN when corosync went away (the
 * handle was finalised and waiting writers released).  After a return, the owner checks
 * dfsm_needs_restart() and calls dfsm_initialize() (with a back-off) when true.
 */
int dfsm_dispatch(dfsm *d);
/* True when the group was left (or never joined) and a re-initialisation is due. */
bool dfsm_needs_restart(dfsm *d);
/* Leave the group and finalise the CPG handle (shutdown). */
void dfsm_finalize(dfsm *d);

uint32_t dfsm_nodeid(dfsm *d);
/* True if (@nodeid, @pid), e.g. the sender of a delivered message, is this process. */
bool dfsm_is_local(dfsm *d, uint32_t nodeid, uint32_t pid);
/* Lowest node id of the current membership (0 if none). */
uint32_t dfsm_lowest_nodeid(dfsm *d);

/*
 * Send a NORMAL message and wait for its local delivery: returns the application's
 * result, or -EBUSY if the send failed (also after the bounded TRY_AGAIN retries), the
 * group was left, the connection was lost or @timeout_ms passed before delivery (the
 * operation may or may not have been applied elsewhere).  @timeout_ms bounds the wait
 * (0 = no bound).
 */
int dfsm_send_message_sync(dfsm *d, uint16_t subtype, const struct iovec *iov, int iovcnt,
                           int timeout_ms);
/* Send a NORMAL message without waiting (kvstore, unlock messages).  0 or -errno. */
int dfsm_send_message(dfsm *d, uint16_t subtype, const struct iovec *iov, int iovcnt);

/* Leader side of a synchronisation (from process_state). */
int dfsm_send_update(dfsm *d, const struct iovec *iov, int iovcnt);
int dfsm_send_update_complete(dfsm *d);

/* Periodic verification (DCDB): send a VERIFY_REQUEST if this process is the lowest
 * node id, synced, and no request is pending (spec §10.14). */
void dfsm_verify_request(dfsm *d);
