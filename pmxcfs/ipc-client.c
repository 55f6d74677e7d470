/*
 * ipc-client: requests to pmxcfs over libqb, byte for byte like PVE::IPCC.
 *
 * A request is a 16-byte header (id, size, each in an 8-byte slot) followed by the
 * payload; the response is a 24-byte header (id, size, error) followed by the data
 * when error is 0.  Payloads are built field by field in little-endian order.
 */
#include "pmxcfs/ipc-client.h"

#include <errno.h>
#include <qb/qbipcc.h>
#include <string.h>
#include <sys/uio.h>

#include "pmxcfs/wire.h"

struct cfs_client {
    char *service;
    size_t buffer_size;
    int timeout_ms;
    qb_ipcc_connection_t *conn;
    uint8_t *buf; /* receive buffer, recv_size bytes */
    size_t recv_size;
};

static int client_open(cfs_client *c)
{
    errno = 0;
    c->conn = qb_ipcc_connect(c->service, c->buffer_size);
    if (!c->conn)
        return errno ? -errno : -ECONNREFUSED;
    /* libqb may round small buffers up, and the server sizes responses by its figure */
    int32_t size = qb_ipcc_get_buffer_size(c->conn);
    if (size > 0 && (size_t)size > c->recv_size) {
        c->recv_size = (size_t)size;
        c->buf = g_realloc(c->buf, c->recv_size);
    }
    return 0;
}

int cfs_client_connect(const char *service, size_t buffer_size, int timeout_ms,
                       cfs_client **ret_client)
{
    cfs_client *c = g_new0(cfs_client, 1);
    c->service = g_strdup(service ? service : CFS_IPC_SERVICE);
    c->buffer_size = buffer_size ? buffer_size : CFS_IPC_CLIENT_BUFFER;
    c->timeout_ms = timeout_ms;
    c->recv_size = c->buffer_size;
    c->buf = g_malloc(c->recv_size);
    int r = client_open(c);
    if (r < 0) {
        cfs_client_free(c);
        return r;
    }
    *ret_client = c;
    return 0;
}

void cfs_client_free(cfs_client *c)
{
    if (!c)
        return;
    if (c->conn)
        qb_ipcc_disconnect(c->conn);
    g_free(c->buf);
    g_free(c->service);
    g_free(c);
}

/* One send + receive; 0 with the response length, or a transport -errno. */
static int roundtrip(cfs_client *c, int32_t id, const void *payload, size_t len, size_t *ret_len)
{
    if (!c->conn)
        return -ENOTCONN;
    uint8_t hdr[CFS_IPC_REQUEST_HEADER] = {0};
    wire_put_u32(hdr, (uint32_t)id);
    wire_put_u32(hdr + 8, (uint32_t)(CFS_IPC_REQUEST_HEADER + len));
    struct iovec iov[2] = {{.iov_base = hdr, .iov_len = sizeof(hdr)},
                           {.iov_base = (void *)payload, .iov_len = len}};
    ssize_t n = qb_ipcc_sendv_recv(c->conn, iov, len ? 2 : 1, c->buf, c->recv_size, c->timeout_ms);
    if (n < 0)
        return (int)n;
    *ret_len = (size_t)n;
    return 0;
}

int cfs_client_call(cfs_client *c, int32_t id, const void *payload, size_t len, int *ret_result,
                    GBytes **ret_data)
{
    if (CFS_IPC_REQUEST_HEADER + len > c->buffer_size)
        return -EMSGSIZE;
    size_t n = 0;
    int r = roundtrip(c, id, payload, len, &n);
    if (r < 0 && r != -ETIMEDOUT && r != -EAGAIN) {
        /* like the Perl client: reconnect once and retry */
        if (c->conn)
            qb_ipcc_disconnect(c->conn);
        c->conn = NULL;
        if (client_open(c) == 0)
            r = roundtrip(c, id, payload, len, &n);
    }
    if (r < 0)
        return r;
    if (n < CFS_IPC_RESPONSE_HEADER || wire_get_u32(c->buf + 8) != n ||
        (int32_t)wire_get_u32(c->buf) != id)
        return -EBADMSG;
    int result = (int32_t)wire_get_u32(c->buf + 16);
    *ret_result = result;
    if (ret_data)
        *ret_data = result == 0
                        ? g_bytes_new(c->buf + CFS_IPC_RESPONSE_HEADER, n - CFS_IPC_RESPONSE_HEADER)
                        : NULL;
    return 0;
}

int cfs_client_request(cfs_client *c, int32_t id, const void *payload, size_t len,
                       GBytes **ret_data)
{
    int result = 0;
    int r = cfs_client_call(c, id, payload, len, &result, ret_data);
    return r < 0 ? r : result;
}

int cfs_client_get_simple(cfs_client *c, int32_t id, GBytes **ret_data)
{
    return cfs_client_request(c, id, NULL, 0, ret_data);
}

/* Copy @s into a zero-filled field of @size bytes; -ENAMETOOLONG if it does not fit. */
static int put_field(uint8_t *field, size_t size, const char *s)
{
    size_t len = strlen(s);
    if (len >= size)
        return -ENAMETOOLONG;
    memcpy(field, s, len);
    return 0;
}

int cfs_client_set_status(cfs_client *c, const char *key, const void *value, size_t len)
{
    g_autofree uint8_t *p = g_malloc0(CFS_STATUS_KEY_FIELD + len);
    int r = put_field(p, CFS_STATUS_KEY_FIELD, key);
    if (r < 0)
        return r;
    if (len)
        memcpy(p + CFS_STATUS_KEY_FIELD, value, len);
    return cfs_client_request(c, CFS_IPC_SET_STATUS, p, CFS_STATUS_KEY_FIELD + len, NULL);
}

int cfs_client_get_status(cfs_client *c, const char *key, const char *node, GBytes **ret_value)
{
    uint8_t p[2 * CFS_STATUS_KEY_FIELD] = {0};
    int r = put_field(p, CFS_STATUS_KEY_FIELD, key);
    if (r == 0 && node)
        r = put_field(p + CFS_STATUS_KEY_FIELD, CFS_STATUS_KEY_FIELD, node);
    if (r < 0)
        return r;
    return cfs_client_request(c, CFS_IPC_GET_STATUS, p, sizeof(p), ret_value);
}

int cfs_client_get_config(cfs_client *c, const char *path, GBytes **ret_data)
{
    return cfs_client_request(c, CFS_IPC_GET_CONFIG, path, strlen(path) + 1, ret_data);
}

int cfs_client_log(cfs_client *c, uint8_t priority, const char *ident, const char *tag,
                   const char *msg)
{
    size_t il = MIN(strlen(ident), CFS_CLOG_MAX_FIELD - 1) + 1;
    size_t tl = MIN(strlen(tag), CFS_CLOG_MAX_FIELD - 1) + 1;
    size_t ml = strlen(msg) + 1;
    size_t len = 3 + il + tl + ml;
    g_autofree uint8_t *p = g_malloc0(len);
    p[0] = priority;
    p[1] = (uint8_t)il;
    p[2] = (uint8_t)tl;
    memcpy(p + 3, ident, il - 1);
    memcpy(p + 3 + il, tag, tl - 1);
    memcpy(p + 3 + il + tl, msg, ml);
    return cfs_client_request(c, CFS_IPC_LOG_CLUSTER_MSG, p, len, NULL);
}

int cfs_client_get_cluster_log(cfs_client *c, uint32_t max, const char *user, GBytes **ret_json)
{
    const char *u = user ? user : "";
    size_t ul = strlen(u) + 1;
    g_autofree uint8_t *p = g_malloc0(16 + ul);
    wire_put_u32(p, max);
    memcpy(p + 16, u, ul);
    return cfs_client_request(c, CFS_IPC_GET_CLUSTER_LOG, p, 16 + ul, ret_json);
}

int cfs_client_get_guest_property(cfs_client *c, uint32_t vmid, const char *prop, GBytes **ret_json)
{
    size_t pl = strlen(prop) + 1;
    g_autofree uint8_t *p = g_malloc(4 + pl);
    wire_put_u32(p, vmid);
    memcpy(p + 4, prop, pl);
    return cfs_client_request(c, CFS_IPC_GET_GUEST_CONFIG_PROPERTY, p, 4 + pl, ret_json);
}

int cfs_client_get_guest_properties(cfs_client *c, uint32_t vmid, const char *const *props,
                                    size_t n_props, GBytes **ret_json)
{
    if (n_props == 0 || n_props > 255)
        return -EINVAL;
    g_autoptr(GByteArray) p = g_byte_array_new();
    uint8_t head[5];
    wire_put_u32(head, vmid);
    head[4] = (uint8_t)n_props;
    g_byte_array_append(p, head, sizeof(head));
    for (size_t i = 0; i < n_props; i++)
        g_byte_array_append(p, (const guint8 *)props[i], (guint)strlen(props[i]) + 1);
    return cfs_client_request(c, CFS_IPC_GET_GUEST_CONFIG_PROPERTIES, p->data, p->len, ret_json);
}

int cfs_client_verify_token(cfs_client *c, const char *token)
{
    return cfs_client_request(c, CFS_IPC_VERIFY_TOKEN, token, strlen(token) + 1, NULL);
}
