/*
 * kvgroup: dfsm callbacks for the kvstore group.
 *
 * Everything runs on the cluster thread except the transport's send, which any thread
 * (the IPC thread for SET_STATUS and LOG_CLUSTER_MSG) may call: dfsm_send_message() is
 * thread-safe and never waits for delivery.  A failed state processing never makes the
 * node leave: a malformed ring from a peer is ignored by the merge (spec §11.5).
 */
#include "pmxcfs/kvgroup.h"

#include "pmxcfs/cfs-limits.h"

#define KVSTORE_GROUP    "pve_kvstore_v1"
#define KVSTORE_PROTOCOL 0

struct kvgroup {
    cfs_status *status;
    dfsm *d;
};

static int kv_deliver(void *user_data, uint32_t nodeid, uint32_t pid, uint16_t subtype,
                      uint32_t time, const void *payload, size_t len, int *ret_result)
{
    (void)time;
    kvgroup *k = user_data;
    *ret_result = cfs_status_deliver(k->status, nodeid, dfsm_is_local(k->d, nodeid, pid), subtype,
                                     payload, len);
    return 0;
}

static GBytes *kv_get_state(void *user_data)
{
    kvgroup *k = user_data;
    return cfs_status_get_state(k->status);
}

static int kv_process_state(void *user_data, dfsm *d, dfsm_member *members, guint count,
                            guint local)
{
    (void)d;
    kvgroup *k = user_data;
    g_autofree GBytes **states = g_new0(GBytes *, count ? count : 1);
    for (guint i = 0; i < count; i++) {
        members[i].synced = true;
        states[i] = members[i].state;
    }
    cfs_status_process_states(k->status, states, count, local);
    return 0;
}

static int kv_commit(void *user_data)
{
    (void)user_data;
    return 0; /* never in UPDATE mode: every member is synced after the state exchange */
}

static void kv_synced(void *user_data)
{
    kvgroup *k = user_data;
    cfs_status_synced(k->status);
}

static void kv_confchg(void *user_data, const dfsm_member *members, guint count)
{
    kvgroup *k = user_data;
    g_autofree uint32_t *ids = g_new(uint32_t, count ? count : 1);
    for (guint i = 0; i < count; i++)
        ids[i] = members[i].nodeid;
    cfs_status_set_members(k->status, ids, count);
}

static int kv_send(void *user_data, uint16_t subtype, const void *payload, size_t len)
{
    kvgroup *k = user_data;
    struct iovec iov = {.iov_base = (void *)payload, .iov_len = len};
    return dfsm_send_message(k->d, subtype, &iov, 1);
}

kvgroup *kvgroup_new(cfs_status *status)
{
    kvgroup *k = g_new0(kvgroup, 1);
    k->status = status;
    dfsm_callbacks cb = {
        .deliver = kv_deliver,
        .get_state = kv_get_state,
        .process_state = kv_process_state,
        .process_update = NULL, /* an UPDATE in this group is an error: leave */
        .commit = kv_commit,
        .synced = kv_synced,
        .confchg = kv_confchg,
    };
    k->d = dfsm_new(KVSTORE_GROUP, KVSTORE_PROTOCOL, "status", &cb, k);
    cfs_status_transport t = {.send = kv_send, .user_data = k};
    cfs_status_set_transport(status, &t);
    return k;
}

void kvgroup_free(kvgroup *k)
{
    if (!k)
        return;
    cfs_status_set_transport(k->status, NULL);
    dfsm_free(k->d);
    g_free(k);
}

dfsm *kvgroup_dfsm(kvgroup *k)
{
    return k->d;
}
