/*
 * dfsm: CPG membership, mode machine, state exchange and message queues (spec §10).
 *
 * Every decision here is taken identically on every member because it depends only on
 * the agreed order of CPG events; that includes the order in which held-back messages
 * are applied after a synchronisation (§10.11).  Local writers wait on result slots
 * keyed by their message count; a slot is filled when this process delivers its own
 * message (after the application's burst commit, W26) or released with EBUSY as soon
 * as the group is left or the connection is lost (W13).
 *
 * Locking: `lock` protects the result slots and the send counter; all other fields
 * belong to the dispatch thread.  Sends happen under `send_lock` so that counts go out
 * in increasing order (per-sender FIFO); senders on other threads read the CPG handle
 * there, so the dispatch thread replaces or finalises the handle only under it too.
 */
#include "pmxcfs/dfsm.h"

#include <corosync/cpg.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pmxcfs/wire.h"
#include "quorum/cs-error.h"

/* Bounded retries of CPG operations answering TRY_AGAIN (W18): 100 x 10 ms. */
#define DFSM_TRY_AGAIN_RETRIES 100
#define DFSM_TRY_AGAIN_SLEEP_US 10000
/* Largest number of delivered NORMAL messages grouped in one application burst. */
#define DFSM_BURST_MAX 256

typedef struct queued_msg {
    uint32_t nodeid;
    uint32_t pid;
    uint64_t count;
    uint64_t arrival; /* tie-breaker: agreed order of arrival */
    uint16_t subtype;
    uint32_t time;
    GBytes *raw; /* the whole message, header included */
} queued_msg;

typedef struct result_slot {
    bool done;
    int result;
} result_slot;

typedef struct pending_result {
    uint64_t count;
    int result;
} pending_result;

struct dfsm {
    char *group_name;
    uint32_t protocol_version;
    char *log_domain;
    dfsm_callbacks cb;
    void *ud;

    cpg_handle_t handle;
    bool have_handle;
    bool joined;
    bool restart_due;
    int fd;
    uint32_t nodeid;
    uint32_t pid;
    dfsm_mode mode;

    GArray *members; /* dfsm_member, sorted by (nodeid, pid) */
    guint local_index;
    bool is_member;

    uint32_t epoch_counter;
    uint8_t sync_epoch[16];

    GSequence *msg_queue; /* queued_msg, by (count, arrival) */
    GQueue *sync_queue;   /* queued_msg, FIFO */
    uint64_t arrivals;

    /* verification */
    uint64_t csum_counter;
    bool csum_valid;
    uint64_t csum_id;
    uint8_t csum[32];
    uint8_t csum_epoch[16];
    bool verify_pending;

    /* application bursts */
    bool in_burst;
    guint burst_count;
    GArray *burst_results; /* pending_result of local messages, released after the burst */

    /* senders */
    GMutex send_lock;
    GMutex lock;
    GCond cond;
    uint64_t msgcount;
    GHashTable *slots; /* count -> result_slot */
};

#define LOG(d, level, ...) g_log((d)->log_domain, level, __VA_ARGS__)
#define LOG_CRIT(d, ...) LOG(d, G_LOG_LEVEL_CRITICAL, __VA_ARGS__)
#define LOG_WARN(d, ...) LOG(d, G_LOG_LEVEL_WARNING, __VA_ARGS__)
#define LOG_NOTICE(d, ...) LOG(d, G_LOG_LEVEL_MESSAGE, __VA_ARGS__)
#define LOG_DEBUG(d, ...) LOG(d, G_LOG_LEVEL_DEBUG, __VA_ARGS__)

static const char *dfsm_mode_name(dfsm_mode mode)
{
    switch (mode) {
    case DFSM_MODE_START:
        return "start cluster connection";
    case DFSM_MODE_START_SYNC:
        return "starting data syncronisation";
    case DFSM_MODE_SYNCED:
        return "all data is up to date";
    case DFSM_MODE_UPDATE:
        return "waiting for updates from leader";
    case DFSM_MODE_LEAVE:
        return "leaving CPG group";
    case DFSM_MODE_VERSION_ERROR:
        return "detected newer protocol - please update this node";
    case DFSM_MODE_ERROR:
        return "serious internal error - stop cluster connection";
    }
    return "unknown mode";
}

static bool mode_is_error(dfsm_mode m)
{
    return m >= 128;
}

static void set_mode(dfsm *d, dfsm_mode mode)
{
    if (d->mode == mode)
        return;
    /* Once in an error mode, only a higher error value may follow until re-init. */
    if (mode_is_error(d->mode) && mode < d->mode)
        return;
    d->mode = mode;
    if (mode_is_error(mode))
        LOG_CRIT(d, "%s", dfsm_mode_name(mode));
    else
        LOG_NOTICE(d, "%s", dfsm_mode_name(mode));
}

/* ---------------------------------------------------------------------------------- */
/* result slots */

static void slots_release_all(dfsm *d, int result)
{
    g_mutex_lock(&d->lock);
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, d->slots);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        result_slot *s = value;
        if (!s->done) {
            s->done = true;
            s->result = result;
        }
    }
    g_cond_broadcast(&d->cond);
    g_mutex_unlock(&d->lock);
}

static void slot_complete(dfsm *d, uint64_t count, int result)
{
    g_mutex_lock(&d->lock);
    result_slot *s = g_hash_table_lookup(d->slots, &count);
    if (s && !s->done) {
        s->done = true;
        s->result = result;
        g_cond_broadcast(&d->cond);
    }
    g_mutex_unlock(&d->lock);
}

/* ---------------------------------------------------------------------------------- */
/* bursts (W26): group the application's work for consecutive NORMAL deliveries */

static void dfsm_leave(dfsm *d, const char *why);

static void burst_begin(dfsm *d)
{
    if (d->in_burst)
        return;
    d->in_burst = true;
    d->burst_count = 0;
    if (d->cb.burst_begin)
        d->cb.burst_begin(d->ud);
}

static void burst_end(dfsm *d)
{
    if (!d->in_burst)
        return;
    d->in_burst = false;
    int r = d->cb.burst_end ? d->cb.burst_end(d->ud) : 0;
    for (guint i = 0; i < d->burst_results->len; i++) {
        pending_result *p = &g_array_index(d->burst_results, pending_result, i);
        slot_complete(d, p->count, r < 0 ? -EBUSY : p->result);
    }
    g_array_set_size(d->burst_results, 0);
    if (r < 0)
        dfsm_leave(d, "application commit failed");
}

/* ---------------------------------------------------------------------------------- */
/* queues */

static void queued_msg_free(gpointer p)
{
    queued_msg *q = p;
    g_bytes_unref(q->raw);
    g_free(q);
}

static gint queued_cmp(gconstpointer a, gconstpointer b, gpointer user_data)
{
    (void)user_data;
    const queued_msg *x = a, *y = b;
    /* unsigned 64-bit comparison (W10) */
    if (x->count != y->count)
        return x->count < y->count ? -1 : 1;
    return x->arrival < y->arrival ? -1 : x->arrival > y->arrival;
}

static void queues_clear(dfsm *d)
{
    GSequenceIter *it = g_sequence_get_begin_iter(d->msg_queue);
    while (!g_sequence_iter_is_end(it)) {
        queued_msg_free(g_sequence_get(it));
        it = g_sequence_iter_next(it);
    }
    g_sequence_remove_range(g_sequence_get_begin_iter(d->msg_queue),
                            g_sequence_get_end_iter(d->msg_queue));
    g_queue_clear_full(d->sync_queue, queued_msg_free);
}

static dfsm_member *member_find(dfsm *d, uint32_t nodeid, uint32_t pid)
{
    for (guint i = 0; i < d->members->len; i++) {
        dfsm_member *m = &g_array_index(d->members, dfsm_member, i);
        if (m->nodeid == nodeid && m->pid == pid)
            return m;
    }
    return NULL;
}

bool dfsm_is_local(dfsm *d, uint32_t nodeid, uint32_t pid)
{
    return nodeid == d->nodeid && pid == d->pid;
}

/* Hand one NORMAL message to the application; record the result of our own. */
static void deliver_normal(dfsm *d, uint32_t nodeid, uint32_t pid, uint64_t count,
                           uint16_t subtype, uint32_t time, const uint8_t *payload, size_t len)
{
    burst_begin(d);
    int result = -EIO;
    int r = d->cb.deliver(d->ud, nodeid, pid, subtype, time, payload, len, &result);
    if (dfsm_is_local(d, nodeid, pid)) {
        pending_result p = {.count = count, .result = result};
        g_array_append_val(d->burst_results, p);
    }
    if (r < 0) {
        burst_end(d);
        dfsm_leave(d, "application rejected a message");
        return;
    }
    if (++d->burst_count >= DFSM_BURST_MAX)
        burst_end(d);
}

static void deliver_queued(dfsm *d, queued_msg *q)
{
    gsize len;
    const uint8_t *raw = g_bytes_get_data(q->raw, &len);
    deliver_normal(d, q->nodeid, q->pid, q->count, q->subtype, q->time, raw + DFSM_HEADER_NORMAL,
                   len - DFSM_HEADER_NORMAL);
}

/* Deliver the message queue as spec §10.11 says for the current mode. */
static void deliver_message_queue(dfsm *d)
{
    GSequenceIter *it = g_sequence_get_begin_iter(d->msg_queue);
    while (!g_sequence_iter_is_end(it) && !mode_is_error(d->mode)) {
        GSequenceIter *next = g_sequence_iter_next(it);
        queued_msg *q = g_sequence_get(it);
        dfsm_member *m = member_find(d, q->nodeid, q->pid);
        if (!m) {
            LOG_DEBUG(d, "remove message from non-member %u/%u", q->nodeid, q->pid);
            g_sequence_remove(it);
            queued_msg_free(q);
        } else if (m->synced) {
            if (d->mode == DFSM_MODE_SYNCED) {
                g_sequence_remove(it);
                deliver_queued(d, q);
                queued_msg_free(q);
            } else if (d->mode == DFSM_MODE_UPDATE) {
                g_sequence_remove(it);
                g_queue_push_tail(d->sync_queue, q);
            }
        }
        it = next;
    }
}

static void deliver_sync_queue(dfsm *d)
{
    queued_msg *q;
    while (!mode_is_error(d->mode) && (q = g_queue_pop_head(d->sync_queue))) {
        deliver_queued(d, q);
        queued_msg_free(q);
    }
}

/* ---------------------------------------------------------------------------------- */
/* sending */

static void header_base(uint8_t *h, uint16_t type, uint16_t subtype, uint32_t protocol)
{
    wire_put_u16(h, type);
    wire_put_u16(h + 2, subtype);
    wire_put_u32(h + 4, protocol);
    wire_put_u32(h + 8, (uint32_t)time(NULL));
    wire_put_u32(h + 12, 0);
}

/* cpg_mcast_joined with bounded TRY_AGAIN retries. */
static int mcast(dfsm *d, const struct iovec *iov, int iovcnt)
{
    if (!d->have_handle)
        return -ENOTCONN;
    int r = -EAGAIN;
    for (int i = 0; i < DFSM_TRY_AGAIN_RETRIES; i++) {
        r = cs_errno(cpg_mcast_joined(d->handle, CPG_TYPE_AGREED, iov, (unsigned)iovcnt));
        if (r != -EAGAIN)
            break;
        g_usleep(DFSM_TRY_AGAIN_SLEEP_US);
    }
    return r;
}

static int send_state_msg(dfsm *d, dfsm_msg_type type, const struct iovec *iov, int iovcnt)
{
    uint8_t h[DFSM_HEADER_STATE];
    header_base(h, (uint16_t)type, 0, d->protocol_version);
    memcpy(h + 16, d->sync_epoch, 16);
    struct iovec v[8];
    g_return_val_if_fail(iovcnt < 7, -EINVAL);
    v[0].iov_base = h;
    v[0].iov_len = sizeof(h);
    for (int i = 0; i < iovcnt; i++)
        v[i + 1] = iov[i];
    return mcast(d, v, iovcnt + 1);
}

static int send_normal(dfsm *d, uint16_t subtype, const struct iovec *iov, int iovcnt,
                       bool wait, uint64_t *ret_count)
{
    uint8_t h[DFSM_HEADER_NORMAL];
    struct iovec v[8];
    g_return_val_if_fail(iovcnt < 7, -EINVAL);
    for (int i = 0; i < iovcnt; i++)
        v[i + 1] = iov[i];
    v[0].iov_base = h;
    v[0].iov_len = sizeof(h);

    g_mutex_lock(&d->send_lock);
    g_mutex_lock(&d->lock);
    uint64_t count = ++d->msgcount;
    if (wait) {
        uint64_t *key = g_new(uint64_t, 1);
        *key = count;
        g_hash_table_insert(d->slots, key, g_new0(result_slot, 1));
    }
    g_mutex_unlock(&d->lock);
    header_base(h, DFSM_MSG_NORMAL, subtype, d->protocol_version);
    wire_put_u64(h + 16, count);
    int r = mcast(d, v, iovcnt + 1);
    g_mutex_unlock(&d->send_lock);
    if (r < 0 && wait) {
        g_mutex_lock(&d->lock);
        g_hash_table_remove(d->slots, &count);
        g_mutex_unlock(&d->lock);
    }
    *ret_count = count;
    return r;
}

int dfsm_send_message(dfsm *d, uint16_t subtype, const struct iovec *iov, int iovcnt)
{
    uint64_t count;
    return send_normal(d, subtype, iov, iovcnt, false, &count);
}

int dfsm_send_message_sync(dfsm *d, uint16_t subtype, const struct iovec *iov, int iovcnt,
                           int timeout_ms)
{
    uint64_t count;
    int r = send_normal(d, subtype, iov, iovcnt, true, &count);
    if (r < 0)
        return -EBUSY; /* failed sends yield EBUSY, like the reference */

    gint64 deadline = timeout_ms > 0 ? g_get_monotonic_time() + (gint64)timeout_ms * 1000 : 0;
    g_mutex_lock(&d->lock);
    result_slot *s = g_hash_table_lookup(d->slots, &count);
    while (!s->done) {
        if (deadline) {
            if (!g_cond_wait_until(&d->cond, &d->lock, deadline) && !s->done) {
                s->done = true;
                s->result = -EBUSY;
            }
        } else {
            g_cond_wait(&d->cond, &d->lock);
        }
    }
    r = s->result;
    g_hash_table_remove(d->slots, &count);
    g_mutex_unlock(&d->lock);
    return r;
}

int dfsm_send_update(dfsm *d, const struct iovec *iov, int iovcnt)
{
    return send_state_msg(d, DFSM_MSG_UPDATE, iov, iovcnt);
}

int dfsm_send_update_complete(dfsm *d)
{
    return send_state_msg(d, DFSM_MSG_UPDATE_COMPLETE, NULL, 0);
}

/* ---------------------------------------------------------------------------------- */
/* leaving */

/* The CPG group name; its length includes the NUL (spec §10.1). */
static void group_name(dfsm *d, struct cpg_name *ret)
{
    ret->length = (uint32_t)strlen(d->group_name) + 1;
    memcpy(ret->value, d->group_name, ret->length);
}

static void dfsm_leave(dfsm *d, const char *why)
{
    if (why)
        LOG_CRIT(d, "%s - leaving group", why);
    set_mode(d, DFSM_MODE_LEAVE);
    /* writers whose messages will never be delivered here (W13) */
    slots_release_all(d, -EBUSY);
    if (d->joined && d->have_handle) {
        struct cpg_name name;
        group_name(d, &name);
        cpg_leave(d->handle, &name);
    }
}

static void finalize_handle(dfsm *d)
{
    g_mutex_lock(&d->send_lock);
    if (d->have_handle)
        cpg_finalize(d->handle);
    d->have_handle = false;
    g_mutex_unlock(&d->send_lock);
    d->joined = false;
    d->is_member = false;
    d->fd = -1;
    d->restart_due = !(d->mode == DFSM_MODE_ERROR || d->mode == DFSM_MODE_VERSION_ERROR);
    burst_end(d);
    slots_release_all(d, -EBUSY);
    if (d->cb.cleanup)
        d->cb.cleanup(d->ud);
}

/* ---------------------------------------------------------------------------------- */
/* state messages */

static void members_clear_states(dfsm *d)
{
    for (guint i = 0; i < d->members->len; i++) {
        dfsm_member *m = &g_array_index(d->members, dfsm_member, i);
        g_clear_pointer(&m->state, g_bytes_unref);
    }
}

static void mark_all_synced(dfsm *d)
{
    for (guint i = 0; i < d->members->len; i++)
        g_array_index(d->members, dfsm_member, i).synced = true;
}

static void enter_synced(dfsm *d)
{
    set_mode(d, DFSM_MODE_SYNCED);
    if (d->cb.synced)
        d->cb.synced(d->ud);
}

static void handle_sync_start(dfsm *d, uint32_t nodeid, uint32_t pid, const uint8_t *msg)
{
    if (nodeid != dfsm_lowest_nodeid(d))
        LOG_CRIT(d, "received sync request from %u/%u, which is not the lowest node id (W11)",
                 nodeid, pid);
    memcpy(d->sync_epoch, msg + 16, 16);
    LOG_NOTICE(d, "received sync request (epoch %u/%u/%08X)", wire_get_u32(msg + 24),
               wire_get_u32(msg + 28), wire_get_u32(msg + 16));
    members_clear_states(d);
    if (d->cb.cleanup)
        d->cb.cleanup(d->ud);
    GBytes *state = d->cb.get_state(d->ud);
    gsize len;
    const void *data = g_bytes_get_data(state, &len);
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    int r = send_state_msg(d, DFSM_MSG_STATE, &iov, 1);
    g_bytes_unref(state);
    if (r < 0)
        dfsm_leave(d, "failed to send state");
}

static void handle_state(dfsm *d, uint32_t nodeid, uint32_t pid, const uint8_t *msg, size_t len)
{
    dfsm_member *m = member_find(d, nodeid, pid);
    if (!m || m->state) {
        dfsm_leave(d, m ? "received a second state from one member" : "state from a non-member");
        return;
    }
    m->state = g_bytes_new(msg + DFSM_HEADER_STATE, len - DFSM_HEADER_STATE);
    for (guint i = 0; i < d->members->len; i++)
        if (!g_array_index(d->members, dfsm_member, i).state)
            return;

    LOG_NOTICE(d, "received all states");
    for (guint i = 0; i < d->members->len; i++)
        g_array_index(d->members, dfsm_member, i).synced = false;
    int r = d->cb.process_state(d->ud, d, (dfsm_member *)(void *)d->members->data,
                                d->members->len, d->local_index);
    if (r < 0) {
        members_clear_states(d);
        dfsm_leave(d, "state processing failed");
        return;
    }
    if (g_array_index(d->members, dfsm_member, d->local_index).synced) {
        members_clear_states(d);
        enter_synced(d);
        deliver_message_queue(d);
    } else {
        set_mode(d, DFSM_MODE_UPDATE);
        deliver_message_queue(d);
    }
}

static void handle_update_complete(dfsm *d)
{
    int r = d->cb.commit(d->ud);
    members_clear_states(d);
    if (r < 0) {
        if (d->cb.cleanup)
            d->cb.cleanup(d->ud);
        dfsm_leave(d, "commit of the received updates failed");
        return;
    }
    mark_all_synced(d);
    enter_synced(d);
    deliver_sync_queue(d);
    deliver_message_queue(d);
    if (d->cb.cleanup)
        d->cb.cleanup(d->ud);
}

static void handle_verify_request(dfsm *d, uint32_t nodeid, uint32_t pid, const uint8_t *msg,
                                  size_t len)
{
    if (len != DFSM_HEADER_STATE + 8) {
        dfsm_leave(d, "verify request with wrong length");
        return;
    }
    if (!d->cb.checksum)
        return;
    d->csum_id = wire_get_u64(msg + DFSM_HEADER_STATE);
    d->cb.checksum(d->ud, d->csum);
    memcpy(d->csum_epoch, d->sync_epoch, 16);
    d->csum_valid = true;
    if (dfsm_is_local(d, nodeid, pid)) {
        uint8_t payload[40];
        wire_put_u64(payload, d->csum_id);
        memcpy(payload + 8, d->csum, 32);
        struct iovec iov = {.iov_base = payload, .iov_len = sizeof(payload)};
        if (send_state_msg(d, DFSM_MSG_VERIFY, &iov, 1) < 0)
            LOG_WARN(d, "failed to send verification checksum, ignoring");
    }
}

static void handle_verify(dfsm *d, uint32_t nodeid, uint32_t pid, const uint8_t *msg, size_t len)
{
    if (len != DFSM_HEADER_STATE + 40) {
        dfsm_leave(d, "verify message with wrong length");
        return;
    }
    if (dfsm_is_local(d, nodeid, pid))
        d->verify_pending = false;
    const uint8_t *p = msg + DFSM_HEADER_STATE;
    uint64_t id = wire_get_u64(p);
    if (!d->csum_valid || d->csum_id != id || memcmp(d->csum_epoch, d->sync_epoch, 16) != 0) {
        LOG_NOTICE(d, "skip verification - no checksum saved");
        return;
    }
    if (memcmp(d->csum, p + 8, 32) != 0) {
        LOG_CRIT(d, "wrong checksum %016" G_GINT64_MODIFIER "x != %016" G_GINT64_MODIFIER
                    "x - restarting",
                 wire_get_u64(p + 8), wire_get_u64(d->csum));
        dfsm_leave(d, NULL);
        return;
    }
    LOG_NOTICE(d, "data verification successful");
}

void dfsm_verify_request(dfsm *d)
{
    if (d->mode != DFSM_MODE_SYNCED || d->nodeid != dfsm_lowest_nodeid(d) || !d->cb.checksum)
        return;
    if (d->verify_pending) {
        LOG_NOTICE(d, "delay verify request");
        return;
    }
    uint8_t payload[8];
    wire_put_u64(payload, ++d->csum_counter);
    struct iovec iov = {.iov_base = payload, .iov_len = sizeof(payload)};
    if (send_state_msg(d, DFSM_MSG_VERIFY_REQUEST, &iov, 1) == 0)
        d->verify_pending = true;
}

/* ---------------------------------------------------------------------------------- */
/* CPG callbacks */

static void cpg_deliver_cb(cpg_handle_t handle, const struct cpg_name *group, uint32_t nodeid,
                           uint32_t pid, void *data, size_t len)
{
    (void)group;
    dfsm *d = NULL;
    if (cpg_context_get(handle, (void **)&d) != CS_OK || !d)
        return;
    const uint8_t *msg = data;
    if (mode_is_error(d->mode))
        return;
    if (len < DFSM_HEADER_BASE) {
        dfsm_leave(d, "received a message shorter than the header");
        return;
    }
    uint16_t type = wire_get_u16(msg);
    uint16_t subtype = wire_get_u16(msg + 2);
    uint32_t protocol = wire_get_u32(msg + 4);
    uint32_t mtime = wire_get_u32(msg + 8);
    if (protocol > d->protocol_version) {
        burst_end(d);
        set_mode(d, DFSM_MODE_VERSION_ERROR);
        slots_release_all(d, -EBUSY);
        return;
    }
    if (protocol < d->protocol_version) {
        LOG_WARN(d, "ignore message with wrong protocol version %u", protocol);
        return;
    }

    if (type == DFSM_MSG_NORMAL) {
        if (len < DFSM_HEADER_NORMAL) {
            dfsm_leave(d, "received a NORMAL message shorter than its header");
            return;
        }
        uint64_t count = wire_get_u64(msg + 16);
        dfsm_member *m = member_find(d, nodeid, pid);
        if (d->mode == DFSM_MODE_SYNCED && m && m->synced) {
            deliver_normal(d, nodeid, pid, count, subtype, mtime, msg + DFSM_HEADER_NORMAL,
                           len - DFSM_HEADER_NORMAL);
            return;
        }
        queued_msg *q = g_new0(queued_msg, 1);
        q->nodeid = nodeid;
        q->pid = pid;
        q->count = count;
        q->arrival = ++d->arrivals;
        q->subtype = subtype;
        q->time = mtime;
        q->raw = g_bytes_new(msg, len);
        if (d->mode == DFSM_MODE_UPDATE && m && m->synced)
            g_queue_push_tail(d->sync_queue, q);
        else
            g_sequence_insert_sorted(d->msg_queue, q, queued_cmp, NULL);
        return;
    }

    /* state messages: the application's burst must be committed first */
    burst_end(d);
    if (mode_is_error(d->mode))
        return;
    if (len < DFSM_HEADER_STATE) {
        dfsm_leave(d, "received a state message shorter than its header");
        return;
    }
    if (type != DFSM_MSG_SYNC_START && memcmp(msg + 16, d->sync_epoch, 16) != 0) {
        LOG_DEBUG(d, "ignore message (type %u) from another epoch", type);
        return;
    }

    switch (d->mode) {
    case DFSM_MODE_START_SYNC:
        if (type == DFSM_MSG_SYNC_START) {
            handle_sync_start(d, nodeid, pid, msg);
            return;
        }
        if (type == DFSM_MSG_STATE) {
            handle_state(d, nodeid, pid, msg, len);
            return;
        }
        if (type == DFSM_MSG_VERIFY_REQUEST || type == DFSM_MSG_VERIFY)
            return;
        break;
    case DFSM_MODE_UPDATE:
        if (type == DFSM_MSG_UPDATE) {
            if (!d->cb.process_update ||
                d->cb.process_update(d->ud, nodeid, pid, msg + DFSM_HEADER_STATE,
                                     len - DFSM_HEADER_STATE) < 0)
                dfsm_leave(d, "processing an update failed");
            return;
        }
        if (type == DFSM_MSG_UPDATE_COMPLETE) {
            handle_update_complete(d);
            return;
        }
        if (type == DFSM_MSG_VERIFY_REQUEST || type == DFSM_MSG_VERIFY)
            return;
        break;
    case DFSM_MODE_SYNCED:
        if (type == DFSM_MSG_UPDATE_COMPLETE) {
            mark_all_synced(d);
            deliver_message_queue(d);
            return;
        }
        if (type == DFSM_MSG_VERIFY_REQUEST) {
            handle_verify_request(d, nodeid, pid, msg, len);
            return;
        }
        if (type == DFSM_MSG_VERIFY) {
            handle_verify(d, nodeid, pid, msg, len);
            return;
        }
        return; /* e.g. the leader's own updates */
    default:
        break;
    }
    LOG_CRIT(d, "received unexpected message type %u in mode %u", type, d->mode);
    dfsm_leave(d, NULL);
}

static gint member_cmp(gconstpointer a, gconstpointer b)
{
    const dfsm_member *x = a, *y = b;
    if (x->nodeid != y->nodeid)
        return x->nodeid < y->nodeid ? -1 : 1;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static void cpg_confchg_cb(cpg_handle_t handle, const struct cpg_name *group,
                           const struct cpg_address *member_list, size_t member_count,
                           const struct cpg_address *left_list, size_t left_count,
                           const struct cpg_address *joined_list, size_t joined_count)
{
    (void)group;
    (void)left_list;
    (void)joined_list;
    dfsm *d = NULL;
    if (cpg_context_get(handle, (void **)&d) != CS_OK || !d)
        return;
    burst_end(d);

    d->is_member = false;
    /* a new local epoch: the sync epoch until a SYNC_START replaces it */
    d->epoch_counter++;
    wire_put_u32(d->sync_epoch, d->epoch_counter);
    wire_put_u32(d->sync_epoch + 4, (uint32_t)time(NULL));
    wire_put_u32(d->sync_epoch + 8, d->nodeid);
    wire_put_u32(d->sync_epoch + 12, d->pid);
    d->csum_valid = false;
    d->verify_pending = false;
    g_queue_clear_full(d->sync_queue, queued_msg_free);
    if (d->cb.cleanup)
        d->cb.cleanup(d->ud);

    members_clear_states(d);
    g_array_set_size(d->members, 0);
    GString *log = g_string_new(NULL);
    for (size_t i = 0; i < member_count; i++) {
        dfsm_member m = {.nodeid = member_list[i].nodeid, .pid = member_list[i].pid};
        g_array_append_val(d->members, m);
    }
    g_array_sort(d->members, member_cmp);
    for (guint i = 0; i < d->members->len; i++) {
        dfsm_member *m = &g_array_index(d->members, dfsm_member, i);
        g_string_append_printf(log, "%s%u/%u", i ? ", " : "", m->nodeid, m->pid);
        if (dfsm_is_local(d, m->nodeid, m->pid)) {
            d->is_member = true;
            d->local_index = i;
        }
    }

    if (mode_is_error(d->mode)) {
        g_string_free(log, TRUE);
        if (!d->is_member) {
            d->joined = false;
            d->restart_due = d->mode == DFSM_MODE_LEAVE;
        }
        return;
    }
    LOG_NOTICE(d, "members: %s", log->str);
    g_string_free(log, TRUE);

    if (!d->is_member) {
        if (d->mode != DFSM_MODE_START)
            set_mode(d, DFSM_MODE_LEAVE);
        d->joined = false;
        d->restart_due = true;
        slots_release_all(d, -EBUSY);
        return;
    }

    if (member_count > 1) {
        if (joined_count > 0 && !g_sequence_is_empty(d->msg_queue)) {
            /* let newcomers see our pending messages: send them again, unchanged */
            GSequenceIter *it = g_sequence_get_begin_iter(d->msg_queue);
            for (; !g_sequence_iter_is_end(it); it = g_sequence_iter_next(it)) {
                queued_msg *q = g_sequence_get(it);
                if (!dfsm_is_local(d, q->nodeid, q->pid))
                    continue;
                gsize len;
                const void *raw = g_bytes_get_data(q->raw, &len);
                struct iovec iov = {.iov_base = (void *)raw, .iov_len = len};
                if (mcast(d, &iov, 1) < 0)
                    LOG_WARN(d, "failed to resend a queued message, ignoring");
            }
            queues_clear(d);
        }
        set_mode(d, DFSM_MODE_START_SYNC);
        if (d->nodeid == dfsm_lowest_nodeid(d) &&
            send_state_msg(d, DFSM_MSG_SYNC_START, NULL, 0) < 0)
            dfsm_leave(d, "failed to send the sync request");
    } else {
        g_array_index(d->members, dfsm_member, d->local_index).synced = true;
        enter_synced(d);
        deliver_message_queue(d);
    }
    if (d->cb.confchg)
        d->cb.confchg(d->ud, (const dfsm_member *)(void *)d->members->data, d->members->len);
}

/* ---------------------------------------------------------------------------------- */
/* lifecycle */

dfsm *dfsm_new(const char *group_name, uint32_t protocol_version, const char *log_domain,
               const dfsm_callbacks *cb, void *user_data)
{
    dfsm *d = g_new0(dfsm, 1);
    d->group_name = g_strdup(group_name);
    d->protocol_version = protocol_version;
    d->log_domain = g_strdup(log_domain);
    d->cb = *cb;
    d->ud = user_data;
    d->fd = -1;
    d->pid = (uint32_t)getpid();
    d->mode = DFSM_MODE_START;
    d->restart_due = true;
    d->members = g_array_new(FALSE, TRUE, sizeof(dfsm_member));
    d->msg_queue = g_sequence_new(NULL); /* entries are freed explicitly */
    d->sync_queue = g_queue_new();
    d->burst_results = g_array_new(FALSE, FALSE, sizeof(pending_result));
    g_mutex_init(&d->send_lock);
    g_mutex_init(&d->lock);
    g_cond_init(&d->cond);
    d->slots = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    return d;
}

void dfsm_free(dfsm *d)
{
    if (!d)
        return;
    dfsm_finalize(d);
    members_clear_states(d);
    queues_clear(d);
    g_array_free(d->members, TRUE);
    g_sequence_free(d->msg_queue);
    g_queue_free_full(d->sync_queue, queued_msg_free);
    g_array_free(d->burst_results, TRUE);
    g_hash_table_destroy(d->slots);
    g_mutex_clear(&d->send_lock);
    g_mutex_clear(&d->lock);
    g_cond_clear(&d->cond);
    g_free(d->group_name);
    g_free(d->log_domain);
    g_free(d);
}

/* Create the CPG handle if there is none yet. */
static int dfsm_connect(dfsm *d)
{
    if (d->have_handle)
        return 0;
    cpg_model_v1_data_t model = {
        .model = CPG_MODEL_V1,
        .cpg_deliver_fn = cpg_deliver_cb,
        .cpg_confchg_fn = cpg_confchg_cb,
        .cpg_totem_confchg_fn = NULL,
        .flags = 0,
    };
    cpg_handle_t handle;
    int r = cs_errno(cpg_model_initialize(&handle, CPG_MODEL_V1, (cpg_model_data_t *)&model, d));
    if (r < 0)
        return r == -EAGAIN ? -EAGAIN : -ENOTCONN;
    g_mutex_lock(&d->send_lock);
    d->handle = handle;
    d->have_handle = true;
    g_mutex_unlock(&d->send_lock);
    unsigned int nodeid = 0;
    if (cs_errno(cpg_local_get(d->handle, &nodeid)) < 0 ||
        cs_errno(cpg_fd_get(d->handle, &d->fd)) < 0) {
        finalize_handle(d);
        return -ENOTCONN;
    }
    d->nodeid = nodeid;
    return 0;
}

/* Join the group, retrying TRY_AGAIN a bounded number of times. */
static int dfsm_join(dfsm *d)
{
    struct cpg_name name;
    group_name(d, &name);
    int r = -EAGAIN;
    for (int i = 0; i < DFSM_TRY_AGAIN_RETRIES && r == -EAGAIN; i++) {
        r = cs_errno(cpg_join(d->handle, &name));
        if (r == -EAGAIN)
            g_usleep(DFSM_TRY_AGAIN_SLEEP_US);
    }
    return r;
}

int dfsm_initialize(dfsm *d)
{
    if (d->mode == DFSM_MODE_ERROR || d->mode == DFSM_MODE_VERSION_ERROR)
        return -EPERM;
    burst_end(d);
    queues_clear(d);
    slots_release_all(d, -EBUSY);
    if (d->cb.cleanup)
        d->cb.cleanup(d->ud);
    d->mode = DFSM_MODE_START;
    LOG_NOTICE(d, "%s", dfsm_mode_name(DFSM_MODE_START));

    int r = -EEXIST;
    for (int attempt = 0; attempt < 2 && r == -EEXIST; attempt++) {
        if (attempt > 0) {
            /* corosync 3.1 refuses a second join on a handle that left the group
             * (CS_ERR_EXIST): start over with a fresh handle. */
            finalize_handle(d);
        }
        if ((r = dfsm_connect(d)) < 0)
            return r;
        r = dfsm_join(d);
    }
    if (r < 0) {
        LOG_WARN(d, "cpg_join failed: %s", g_strerror(-r));
        if (cs_errno_is_disconnect(r))
            finalize_handle(d);
        return r;
    }
    d->joined = true;
    d->restart_due = false;
    return 0;
}

int dfsm_fd(dfsm *d)
{
    return d->have_handle ? d->fd : -1;
}

int dfsm_dispatch(dfsm *d)
{
    if (!d->have_handle)
        return -ENOTCONN;
    int r = cs_errno(cpg_dispatch(d->handle, CS_DISPATCH_ALL));
    burst_end(d);
    if (r == -EAGAIN)
        r = 0;
    if (r < 0) {
        LOG_CRIT(d, "cpg_dispatch failed: %s", g_strerror(-r));
        finalize_handle(d);
        return -ENOTCONN;
    }
    /* after an event: leave the group when in an error mode */
    if (mode_is_error(d->mode) && d->joined) {
        struct cpg_name name;
        group_name(d, &name);
        cpg_leave(d->handle, &name);
    }
    return 0;
}

bool dfsm_needs_restart(dfsm *d)
{
    if (d->mode == DFSM_MODE_ERROR || d->mode == DFSM_MODE_VERSION_ERROR)
        return false;
    return d->restart_due && !d->joined;
}

void dfsm_finalize(dfsm *d)
{
    if (d->have_handle && d->joined) {
        struct cpg_name name;
        group_name(d, &name);
        cpg_leave(d->handle, &name);
    }
    finalize_handle(d);
    d->restart_due = false;
}

uint32_t dfsm_nodeid(dfsm *d)
{
    return d->nodeid;
}

uint32_t dfsm_lowest_nodeid(dfsm *d)
{
    /* the member table is sorted by (nodeid, pid) */
    return d->members->len ? g_array_index(d->members, dfsm_member, 0).nodeid : 0;
}
