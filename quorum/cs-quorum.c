/*
 * cs-quorum: quorum API glue.  The quorum library delivers its context pointer to the
 * notify callback, which updates `quorate` and forwards changes to the owner.
 */
#include "quorum/cs-quorum.h"

#include <corosync/quorum.h>
#include <glib.h>

#include "quorum/cs-error.h"

struct cs_quorum {
    quorum_handle_t handle;
    bool connected;
    bool quorate;
    int fd;
    cs_quorum_notify_fn notify;
    void *user_data;
};

static void cs_quorum_set(cs_quorum *q, bool quorate)
{
    if (q->quorate == quorate)
        return;
    q->quorate = quorate;
    if (q->notify)
        q->notify(q->user_data, quorate);
}

static void quorum_notification(quorum_handle_t handle, uint32_t quorate, uint64_t ring_seq,
                                uint32_t view_list_entries, uint32_t *view_list)
{
    (void)ring_seq;
    (void)view_list_entries;
    (void)view_list;
    void *ctx = NULL;
    if (quorum_context_get(handle, (const void **)&ctx) != CS_OK || !ctx)
        return;
    cs_quorum_set(ctx, quorate != 0);
}

cs_quorum *cs_quorum_new(cs_quorum_notify_fn notify, void *user_data)
{
    cs_quorum *q = g_new0(cs_quorum, 1);
    q->notify = notify;
    q->user_data = user_data;
    q->fd = -1;
    return q;
}

void cs_quorum_free(cs_quorum *q)
{
    if (!q)
        return;
    if (q->connected)
        quorum_finalize(q->handle);
    g_free(q);
}

int cs_quorum_connect(cs_quorum *q)
{
    if (q->connected)
        return 0;
    quorum_callbacks_t cb = {.quorum_notify_fn = quorum_notification};
    uint32_t type = 0;
    int r = cs_errno(quorum_initialize(&q->handle, &cb, &type));
    if (r < 0)
        return r;
    quorum_context_set(q->handle, q);
    int quorate = 0;
    if ((r = cs_errno(quorum_getquorate(q->handle, &quorate))) < 0 ||
        (r = cs_errno(quorum_trackstart(q->handle, CS_TRACK_CHANGES))) < 0 ||
        (r = cs_errno(quorum_fd_get(q->handle, &q->fd))) < 0) {
        quorum_finalize(q->handle);
        q->fd = -1;
        return r;
    }
    q->connected = true;
    cs_quorum_set(q, quorate != 0);
    return 0;
}

void cs_quorum_disconnect(cs_quorum *q)
{
    if (q->connected)
        quorum_finalize(q->handle);
    q->connected = false;
    q->fd = -1;
    cs_quorum_set(q, false);
}

bool cs_quorum_connected(const cs_quorum *q)
{
    return q->connected;
}

int cs_quorum_fd(const cs_quorum *q)
{
    return q->connected ? q->fd : -1;
}

int cs_quorum_dispatch(cs_quorum *q)
{
    if (!q->connected)
        return -ENOTCONN;
    int r = cs_errno(quorum_dispatch(q->handle, CS_DISPATCH_ALL));
    if (r == -EAGAIN)
        return 0;
    if (r < 0) {
        cs_quorum_disconnect(q);
        return -ENOTCONN;
    }
    return 0;
}

bool cs_quorum_is_quorate(const cs_quorum *q)
{
    return q->connected && q->quorate;
}
