/*
 * cs-membership: votequorum + cmap snapshot.
 *
 * The member list and ring id come from votequorum's nodelist notification, requested
 * with CS_TRACK_CURRENT and dispatched until it arrived (bounded by a poll timeout);
 * votes, totals and flags from votequorum_getinfo(); names and addresses from the cmap
 * nodelist.  Every corosync result goes through cs_errno().
 */
#include "quorum/cs-membership.h"

#include <corosync/cmap.h>
#include <corosync/votequorum.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quorum/cs-error.h"

/* Nodes of the cmap nodelist that are looked at (corosync allows far fewer). */
#define CMAP_NODELIST_MAX 1024
/* Links per node (knet). */
#define CMAP_LINKS_MAX 8

typedef struct track_state {
    bool got_nodelist;
    uint32_t ring_nodeid;
    uint64_t ring_seq;
    GArray *ids; /* uint32_t */
} track_state;

static void nodelist_notify(votequorum_handle_t handle, uint64_t context,
                            votequorum_ring_id_t ring_id, uint32_t n, uint32_t list[])
{
    (void)handle;
    track_state *st = (track_state *)(uintptr_t)context;
    st->got_nodelist = true;
    st->ring_nodeid = ring_id.nodeid;
    st->ring_seq = ring_id.seq;
    g_array_set_size(st->ids, 0);
    g_array_append_vals(st->ids, list, n);
}

static void member_clear(gpointer p)
{
    cs_member *m = p;
    g_free(m->name);
    g_free(m->addr);
}

void cs_membership_free(cs_membership *m)
{
    if (!m)
        return;
    g_free(m->quorum_provider);
    g_free(m->cluster_name);
    if (m->members)
        g_array_unref(m->members);
    g_free(m);
}

/* A cmap string as a GLib string (cmap allocates with malloc). */
static char *cmap_string(cmap_handle_t h, const char *key)
{
    char *s = NULL;
    if (cmap_get_string(h, key, &s) != CS_OK)
        return NULL;
    char *copy = g_strdup(s);
    free(s);
    return copy;
}

/* Name and addresses of node @nodeid from the cmap nodelist. */
static void cmap_node_info(cmap_handle_t h, uint32_t nodeid, cs_member *m)
{
    for (unsigned i = 0; i < CMAP_NODELIST_MAX; i++) {
        char key[CMAP_KEYNAME_MAXLEN];
        uint32_t id = 0;
        g_snprintf(key, sizeof(key), "nodelist.node.%u.nodeid", i);
        cs_error_t e = cmap_get_uint32(h, key, &id);
        if (e == CS_ERR_NOT_EXIST)
            break;
        if (e != CS_OK || id != nodeid)
            continue;
        for (unsigned l = 0; l < CMAP_LINKS_MAX && !m->addr; l++) {
            g_snprintf(key, sizeof(key), "nodelist.node.%u.ring%u_addr", i, l);
            m->addr = cmap_string(h, key);
        }
        g_snprintf(key, sizeof(key), "nodelist.node.%u.name", i);
        m->name = cmap_string(h, key);
        if (!m->name && m->addr)
            m->name = g_strdup(m->addr);
        return;
    }
}

static int member_cmp(const void *a, const void *b)
{
    const cs_member *x = a, *y = b;
    return x->nodeid < y->nodeid ? -1 : x->nodeid > y->nodeid;
}

static int64_t now_ms(void)
{
    return g_get_monotonic_time() / 1000;
}

/* Dispatch votequorum until the nodelist notification arrived or the deadline passed. */
static int wait_nodelist(votequorum_handle_t vq, track_state *st)
{
    int fd = -1;
    int r = cs_errno(votequorum_fd_get(vq, &fd));
    if (r < 0)
        return r;
    int64_t deadline = now_ms() + CS_MEMBERSHIP_TIMEOUT_MS;
    while (!st->got_nodelist) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n = poll(&pfd, 1, (int)left);
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n <= 0)
            continue;
        r = cs_errno(votequorum_dispatch(vq, CS_DISPATCH_ALL));
        if (r < 0 && r != -EAGAIN)
            return r;
    }
    return 0;
}

int cs_membership_query(cs_membership **ret_snapshot)
{
    cmap_handle_t cmap = 0;
    int r = cs_errno(cmap_initialize(&cmap));
    if (r < 0)
        return r == -EAGAIN ? r : -ENOTCONN;
    votequorum_handle_t vq = 0;
    votequorum_callbacks_t cb = {.votequorum_nodelist_notify_fn = nodelist_notify};
    r = cs_errno(votequorum_initialize(&vq, &cb));
    if (r < 0) {
        cmap_finalize(cmap);
        return r == -EAGAIN ? r : -ENOTCONN;
    }
    track_state st = {.ids = g_array_new(FALSE, FALSE, sizeof(uint32_t))};
    g_autoptr(cs_membership) m = g_new0(cs_membership, 1);
    m->members = g_array_new(FALSE, TRUE, sizeof(cs_member));
    g_array_set_clear_func(m->members, member_clear);

    if ((r = cs_errno(votequorum_trackstart(vq, (uint64_t)(uintptr_t)&st, CS_TRACK_CURRENT))) < 0 ||
        (r = wait_nodelist(vq, &st)) < 0)
        goto out;
    votequorum_trackstop(vq);

    if ((r = cs_errno(cmap_get_uint32(cmap, "runtime.votequorum.this_node_id", &m->local_nodeid))) <
        0)
        goto out;
    struct votequorum_info info;
    memset(&info, 0, sizeof(info));
    if ((r = cs_errno(votequorum_getinfo(vq, m->local_nodeid, &info))) < 0)
        goto out;
    m->expected_votes = info.node_expected_votes;
    m->highest_expected = info.highest_expected;
    m->total_votes = info.total_votes;
    m->quorum = info.quorum;
    m->flags = info.flags;
    m->quorate = (info.flags & VOTEQUORUM_INFO_QUORATE) != 0;
    m->ring_nodeid = st.ring_nodeid;
    m->ring_seq = st.ring_seq;
    m->quorum_provider = cmap_string(cmap, "quorum.provider");
    m->cluster_name = cmap_string(cmap, "totem.cluster_name");
    cmap_get_uint64(cmap, "totem.config_version", &m->config_version);

    for (unsigned i = 0; i < st.ids->len; i++) {
        cs_member mem = {.nodeid = g_array_index(st.ids, uint32_t, i)};
        struct votequorum_info ni;
        memset(&ni, 0, sizeof(ni));
        if (votequorum_getinfo(vq, mem.nodeid, &ni) == CS_OK)
            mem.votes = ni.node_votes;
        cmap_node_info(cmap, mem.nodeid, &mem);
        g_array_append_val(m->members, mem);
    }
    g_array_sort(m->members, member_cmp);
    *ret_snapshot = g_steal_pointer(&m);
    r = 0;
out:
    g_array_unref(st.ids);
    votequorum_finalize(vq);
    cmap_finalize(cmap);
    return r;
}

int cs_membership_set_expected(uint32_t expected)
{
    votequorum_handle_t vq = 0;
    votequorum_callbacks_t cb = {0};
    int r = cs_errno(votequorum_initialize(&vq, &cb));
    if (r < 0)
        return r == -EAGAIN ? r : -ENOTCONN;
    r = cs_errno(votequorum_setexpected(vq, expected));
    votequorum_finalize(vq);
    return r;
}

int cs_membership_config_version(uint64_t *ret_version)
{
    cmap_handle_t cmap = 0;
    int r = cs_errno(cmap_initialize(&cmap));
    if (r < 0)
        return r == -EAGAIN ? r : -ENOTCONN;
    uint64_t v = 0;
    r = cs_errno(cmap_get_uint64(cmap, "totem.config_version", &v));
    cmap_finalize(cmap);
    if (r == 0)
        *ret_version = v;
    return r;
}
