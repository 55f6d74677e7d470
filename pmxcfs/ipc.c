/*
 * ipc: the `pve2` libqb service: request handling and its server thread.
 *
 * Request handling (cfs_ipc_handle) is a pure function of the request bytes, the
 * client and the current memdb/status state, so it is tested without a transport.
 * Every field is read with explicit bounds; strings the reference "forces" to be
 * NUL-terminated are copied with g_strndup() up to the forced position, never patched
 * in the shared-memory request.
 *
 * The server thread owns a GMainContext; libqb's poll callbacks are mapped onto GLib
 * sources (one per file descriptor, indexed by fd) and its jobs onto idle sources.  All
 * libqb calls happen in that thread: start-up runs qb_ipcs_run() there and stopping
 * is an invocation in that context, so libqb needs no locking.  The callbacks find
 * their server through a thread-local pointer, so several services (tests) can run in
 * one process.
 */
#include "pmxcfs/ipc.h"

#include <errno.h>
#include <gio/gio.h>
#include <qb/qbipcs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "pmxcfs/cfs-limits.h"
#include "pmxcfs/clog.h"
#include "pmxcfs/wire.h"

#define G_LOG_DOMAIN_IPC "ipcs"

/* ---------------------------------------------------------------------------------- */
/* request handling */

int cfs_ipc_accept_check(uid_t uid, gid_t gid, gid_t www_data_gid, bool *ret_read_only)
{
    if (uid == 0 && gid == 0) {
        *ret_read_only = false;
        return 0;
    }
    if (gid == www_data_gid) {
        *ret_read_only = true;
        return 0;
    }
    return -EACCES;
}

/* A path as the tree sees it: no empty components, no leading '/'. */
static char *path_normalise(const char *path)
{
    g_auto(GStrv) comps = g_strsplit(path, "/", -1);
    GString *s = g_string_new(NULL);
    for (char **c = comps; *c; c++) {
        if (!**c)
            continue;
        if (s->len)
            g_string_append_c(s, '/');
        g_string_append(s, *c);
    }
    return g_string_free(s, FALSE);
}

static int req_get_config(const cfs_ipc_config *cfg, const cfs_ipc_client *client,
                          const uint8_t *req, size_t size, GBytes **ret_data)
{
    if (size <= CFS_IPC_REQUEST_HEADER)
        return -EINVAL;
    g_autofree char *raw =
        g_strndup((const char *)req + CFS_IPC_REQUEST_HEADER, size - CFS_IPC_REQUEST_HEADER - 1);
    g_autofree char *path = path_normalise(raw);
    if (client->read_only && memdb_path_is_private(path))
        return -EPERM;
    return memdb_read_path(cfg->memdb, path, ret_data);
}

static int req_set_status(const cfs_ipc_config *cfg, const cfs_ipc_client *client,
                          const uint8_t *req, size_t size)
{
    if (client->read_only)
        return -EPERM;
    if (size < CFS_IPC_SET_STATUS_MIN)
        return -EINVAL;
    g_autofree char *key =
        g_strndup((const char *)req + CFS_IPC_REQUEST_HEADER, CFS_STATUS_KEY_FIELD - 1);
    size_t len = size - CFS_IPC_SET_STATUS_MIN;
    if (len > CFS_MAX_STATUS_VALUE)
        return -EFBIG;
    return cfs_status_set(cfg->status, key, req + CFS_IPC_SET_STATUS_MIN, len);
}

static int req_get_status(const cfs_ipc_config *cfg, const uint8_t *req, size_t size,
                          GBytes **ret_data)
{
    if (size < CFS_IPC_GET_STATUS_SIZE)
        return -EINVAL;
    const char *base = (const char *)req + CFS_IPC_REQUEST_HEADER;
    g_autofree char *key = g_strndup(base, CFS_STATUS_KEY_FIELD - 1);
    g_autofree char *node = g_strndup(base + CFS_STATUS_KEY_FIELD, CFS_STATUS_KEY_FIELD - 1);
    return cfs_status_get(cfg->status, node, key, ret_data);
}

static int req_log(const cfs_ipc_config *cfg, const cfs_ipc_client *client, const uint8_t *req,
                   size_t size)
{
    if (client->read_only)
        return -EPERM;
    if (size < CFS_IPC_LOG_STRINGS)
        return -EINVAL;
    uint8_t priority = req[16], ident_len = req[17], tag_len = req[18];
    int64_t msg_len = (int64_t)size - CFS_IPC_LOG_STRINGS - ident_len - tag_len;
    if (msg_len < 1 || ident_len < 1 || tag_len < 1)
        return -EINVAL;
    const char *ident = (const char *)req + CFS_IPC_LOG_STRINGS;
    const char *tag = ident + ident_len;
    const char *msg = tag + tag_len;
    /* the NULs must lie inside the request (W23) */
    if (ident[ident_len - 1] || tag[tag_len - 1] || msg[msg_len - 1])
        return -EINVAL;
    if (priority > 7)
        return -EINVAL;
    int r = cfs_status_log(cfg->status, priority, ident, tag, (uint32_t)client->pid, msg);
    return r == -EEXIST ? 0 : r;
}

static int req_get_cluster_log(const cfs_ipc_config *cfg, const uint8_t *req, size_t size,
                               GBytes **ret_data)
{
    if (size <= CFS_IPC_CLUSTER_LOG_USER)
        return -EINVAL;
    uint32_t max = wire_get_u32(req + 16);
    g_autofree char *user = g_strndup((const char *)req + CFS_IPC_CLUSTER_LOG_USER,
                                      size - CFS_IPC_CLUSTER_LOG_USER - 1);
    *ret_data = cfs_status_clusterlog_json(cfg->status, user, max);
    return 0;
}

static int req_rrd_dump(const cfs_ipc_config *cfg, GBytes **ret_data)
{
    g_autoptr(GBytes) dump = cfs_status_rrd_dump(cfg->status);
    gsize len;
    const void *data = g_bytes_get_data(dump, &len);
    /* always exactly one NUL (W19) */
    uint8_t *buf = g_malloc(len + 1);
    if (len)
        memcpy(buf, data, len);
    buf[len] = '\0';
    *ret_data = g_bytes_new_take(buf, len + 1);
    return 0;
}

static int req_verify_token(const cfs_ipc_config *cfg, const uint8_t *req, size_t size)
{
    if (size < CFS_IPC_REQUEST_HEADER + 2)
        return -EINVAL;
    const char *token = (const char *)req + CFS_IPC_REQUEST_HEADER;
    size_t len = size - CFS_IPC_REQUEST_HEADER;
    if (token[len - 1] != '\0' || memchr(token, '\0', len - 1) || strchr(token, '\n'))
        return -EINVAL;
    g_autoptr(GBytes) file = NULL;
    if (memdb_read_path(cfg->memdb, "priv/token.cfg", &file) < 0)
        return -ENOENT;
    gsize flen;
    const char *data = g_bytes_get_data(file, &flen);
    size_t tlen = len - 1;
    for (const char *line = data, *end = data + flen; line && line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t llen = nl ? (size_t)(nl - line) : (size_t)(end - line);
        if (llen == tlen && memcmp(line, token, tlen) == 0)
            return 0;
        line = nl ? nl + 1 : NULL;
    }
    return -ENOENT;
}

/* ---------------------------------------------------------------------------------- */
/* guest config properties (spec §12.4) */

static gint vm_config_cmp(gconstpointer a, gconstpointer b)
{
    uint32_t x = ((const memdb_vm_config *)a)->vmid, y = ((const memdb_vm_config *)b)->vmid;
    return x < y ? -1 : x > y;
}

/*
 * Scan the main section of one config for @props; @ret_values[i] are offsets/lengths
 * into @text (length 0 = not found).
 */
static void config_scan(const char *text, size_t len, char *const *props, size_t n_props,
                        const char **ret_values, size_t *ret_lens)
{
    const char *end = text + len;
    for (const char *line = text; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *lend = nl ? nl : end;
        if (*line == '[')
            break; /* snapshot or pending section */
        for (size_t i = 0; i < n_props; i++) {
            size_t plen = strlen(props[i]);
            if ((size_t)(lend - line) <= plen || memcmp(line, props[i], plen) != 0 ||
                line[plen] != ':')
                continue;
            const char *v = line + plen + 1, *ve = lend;
            while (v < ve && g_ascii_isspace(*v))
                v++;
            while (ve > v && g_ascii_isspace(ve[-1]))
                ve--;
            if (ve > v) {
                ret_values[i] = v;
                ret_lens[i] = (size_t)(ve - v);
            }
        }
        line = nl ? nl + 1 : end;
    }
}

static void json_append_value(GString *out, const char *v, size_t len)
{
    g_autofree char *copy = g_strndup(v, len);
    clog_json_escape(out, copy);
}

static GBytes *guest_properties_json(GArray *configs, char *const *props, size_t n_props)
{
    g_array_sort(configs, vm_config_cmp);
    GString *out = g_string_new("{\n");
    g_autofree const char **values = g_new0(const char *, n_props);
    g_autofree size_t *lens = g_new0(size_t, n_props);
    guint count = 0;
    for (guint i = 0; i < configs->len; i++) {
        memdb_vm_config *c = &g_array_index(configs, memdb_vm_config, i);
        gsize len;
        const char *text = g_bytes_get_data(c->data, &len);
        memset(lens, 0, n_props * sizeof(*lens));
        if (text)
            config_scan(text, len, props, n_props, values, lens);
        bool any = false;
        for (size_t p = 0; p < n_props; p++) {
            if (!lens[p])
                continue;
            if (!any)
                g_string_append_printf(out, "%s\"%u\":{", count++ ? ",\n" : "", c->vmid);
            else
                g_string_append_c(out, ',');
            any = true;
            g_string_append_c(out, '"');
            g_string_append(out, props[p]);
            g_string_append(out, "\": \"");
            json_append_value(out, values[p], lens[p]);
            g_string_append_c(out, '"');
        }
        if (any)
            g_string_append_c(out, '}');
    }
    g_string_append(out, "\n}\n");
    return g_string_free_to_bytes(out);
}

/*
 * The checks both property requests start with, in the order of spec §12.4: -EINVAL
 * for a request without vmid or with vmid 1-99, -ENOENT for an unknown vmid, -EINVAL
 * when no property bytes follow.  0 with the vmid (0 = all guests).
 */
static int req_vmid(const cfs_ipc_config *cfg, const uint8_t *req, size_t size, uint32_t *ret_vmid)
{
    if (size < CFS_IPC_GUEST_PROPS)
        return -EINVAL;
    uint32_t vmid = wire_get_u32(req + CFS_IPC_REQUEST_HEADER);
    if (vmid > 0 && vmid < 100)
        return -EINVAL;
    if (vmid) {
        g_autofree char *path = memdb_vm_config_path(cfg->memdb, vmid);
        if (!path)
            return -ENOENT;
    }
    if (size == CFS_IPC_GUEST_PROPS)
        return -EINVAL;
    *ret_vmid = vmid;
    return 0;
}

static int guest_properties(const cfs_ipc_config *cfg, uint32_t vmid, char *const *props,
                            size_t n_props, GBytes **ret_data)
{
    g_autoptr(GArray) configs = NULL;
    int r = memdb_vm_configs(cfg->memdb, vmid, &configs);
    if (r < 0)
        return r;
    *ret_data = guest_properties_json(configs, props, n_props);
    return 0;
}

static int req_guest_property(const cfs_ipc_config *cfg, const uint8_t *req, size_t size,
                              GBytes **ret_data)
{
    uint32_t vmid = 0;
    int r = req_vmid(cfg, req, size, &vmid);
    if (r < 0)
        return r;
    g_autofree char *prop =
        g_strndup((const char *)req + CFS_IPC_GUEST_PROPS, size - CFS_IPC_GUEST_PROPS - 1);
    char *props[] = {prop};
    return guest_properties(cfg, vmid, props, 1, ret_data);
}

static int req_guest_properties(const cfs_ipc_config *cfg, const uint8_t *req, size_t size,
                                GBytes **ret_data)
{
    uint32_t vmid = 0;
    int r = req_vmid(cfg, req, size, &vmid);
    if (r < 0)
        return r;
    uint8_t n = req[CFS_IPC_GUEST_PROPS];
    size_t pos = CFS_IPC_GUEST_PROPS + 1;
    if (n == 0 || size - pos <= 1)
        return -EINVAL;
    g_autoptr(GPtrArray) props = g_ptr_array_new_with_free_func(g_free);
    for (uint8_t i = 0; i < n; i++) {
        const char *p = (const char *)req + pos;
        const char *nul = pos < size ? memchr(p, '\0', size - pos) : NULL;
        if (!nul || nul == p || !(*p >= 'a' && *p <= 'z'))
            return -EINVAL;
        g_ptr_array_add(props, g_strdup(p));
        pos += (size_t)(nul - p) + 1;
    }
    if (pos != size)
        return -EINVAL;
    return guest_properties(cfg, vmid, (char *const *)props->pdata, props->len, ret_data);
}

int cfs_ipc_handle(const cfs_ipc_config *cfg, const cfs_ipc_client *client, const void *request,
                   size_t size, GBytes **ret_data)
{
    const uint8_t *req = request;
    *ret_data = NULL;
    if (size < CFS_IPC_REQUEST_HEADER)
        return -EINVAL;
    int32_t id = (int32_t)wire_get_u32(req);
    bool header_only = size == CFS_IPC_REQUEST_HEADER;
    switch (id) {
    case CFS_IPC_GET_FS_VERSION:
        if (!header_only)
            return -EINVAL;
        *ret_data = cfs_status_version_json(cfg->status);
        return 0;
    case CFS_IPC_GET_CLUSTER_INFO:
        if (!header_only)
            return -EINVAL;
        *ret_data = cfs_status_members_json(cfg->status);
        return 0;
    case CFS_IPC_GET_GUEST_LIST:
        if (!header_only)
            return -EINVAL;
        *ret_data = cfs_status_vmlist_json(cfg->status);
        return 0;
    case CFS_IPC_SET_STATUS:
        return req_set_status(cfg, client, req, size);
    case CFS_IPC_GET_STATUS:
        return req_get_status(cfg, req, size, ret_data);
    case CFS_IPC_GET_CONFIG:
        return req_get_config(cfg, client, req, size, ret_data);
    case CFS_IPC_LOG_CLUSTER_MSG:
        return req_log(cfg, client, req, size);
    case CFS_IPC_GET_CLUSTER_LOG:
        return req_get_cluster_log(cfg, req, size, ret_data);
    case CFS_IPC_GET_RRD_DUMP:
        if (!header_only)
            return -EINVAL;
        return req_rrd_dump(cfg, ret_data);
    case CFS_IPC_GET_GUEST_CONFIG_PROPERTY:
        return req_guest_property(cfg, req, size, ret_data);
    case CFS_IPC_VERIFY_TOKEN:
        return req_verify_token(cfg, req, size);
    case CFS_IPC_GET_GUEST_CONFIG_PROPERTIES:
        return req_guest_properties(cfg, req, size, ret_data);
    default:
        return -ECHRNG;
    }
}

/* ---------------------------------------------------------------------------------- */
/* the server thread */

struct cfs_ipc {
    cfs_ipc_config cfg;
    char *service_name;
    GMainContext *ctx;
    GMainLoop *loop;
    GThread *thread;
    qb_ipcs_service_t *service;
    GHashTable *sources; /* fd -> fd_source (one reference) */

    /* start-up handshake */
    GMutex lock;
    GCond cond;
    bool started;
    int start_result;
};

/* A GLib source for one file descriptor that libqb polls. */
typedef struct fd_source {
    GSource source;
    gpointer tag;
    int fd;
    qb_ipcs_dispatch_fn_t fn;
    void *data;
    cfs_ipc *ipc;
} fd_source;

/* Per-connection state, created at accept and freed when libqb frees the connection. */
typedef struct conn_state {
    cfs_ipc_client client;
} conn_state;

/* The server whose thread is running: libqb's poll callbacks carry no user pointer. */
static __thread cfs_ipc *current_ipc;

static gboolean fd_source_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
    (void)callback;
    (void)user_data;
    fd_source *fs = (fd_source *)source;
    GIOCondition revents = g_source_query_unix_fd(source, fs->tag);
    int32_t r = fs->fn(fs->fd, (int32_t)revents, fs->data);
    if (r < 0 && g_hash_table_lookup(fs->ipc->sources, GINT_TO_POINTER(fs->fd)) == fs) {
        g_hash_table_remove(fs->ipc->sources, GINT_TO_POINTER(fs->fd));
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs fd_source_funcs = {
    .dispatch = fd_source_dispatch,
};

static void fd_source_drop(gpointer p)
{
    GSource *s = p;
    g_source_destroy(s);
    g_source_unref(s);
}

static int32_t poll_dispatch_add(enum qb_loop_priority p, int32_t fd, int32_t events, void *data,
                                 qb_ipcs_dispatch_fn_t fn)
{
    (void)p;
    cfs_ipc *ipc = current_ipc;
    fd_source *fs = (fd_source *)g_source_new(&fd_source_funcs, sizeof(fd_source));
    fs->fd = fd;
    fs->fn = fn;
    fs->data = data;
    fs->ipc = ipc;
    fs->tag = g_source_add_unix_fd(&fs->source, fd, (GIOCondition)events);
    g_source_attach(&fs->source, ipc->ctx);
    g_hash_table_replace(ipc->sources, GINT_TO_POINTER(fd), fs);
    return 0;
}

static int32_t poll_dispatch_mod(enum qb_loop_priority p, int32_t fd, int32_t events, void *data,
                                 qb_ipcs_dispatch_fn_t fn)
{
    (void)p;
    fd_source *fs = g_hash_table_lookup(current_ipc->sources, GINT_TO_POINTER(fd));
    if (!fs)
        return -ENOENT;
    fs->fn = fn;
    fs->data = data;
    g_source_modify_unix_fd(&fs->source, fs->tag, (GIOCondition)events);
    return 0;
}

static int32_t poll_dispatch_del(int32_t fd)
{
    if (!g_hash_table_remove(current_ipc->sources, GINT_TO_POINTER(fd)))
        return -ENOENT;
    return 0;
}

typedef struct job {
    qb_loop_job_dispatch_fn fn;
    void *data;
} job;

static gboolean job_run(gpointer p)
{
    job *j = p;
    j->fn(j->data);
    return G_SOURCE_REMOVE;
}

static int32_t poll_job_add(enum qb_loop_priority p, void *data, qb_loop_job_dispatch_fn fn)
{
    (void)p;
    job *j = g_new(job, 1);
    j->fn = fn;
    j->data = data;
    GSource *s = g_idle_source_new();
    g_source_set_callback(s, job_run, j, g_free);
    g_source_attach(s, current_ipc->ctx);
    g_source_unref(s);
    return 0;
}

static int32_t on_accept(qb_ipcs_connection_t *c, uid_t uid, gid_t gid)
{
    bool read_only = false;
    if (cfs_ipc_accept_check(uid, gid, current_ipc->cfg.www_data_gid, &read_only) < 0) {
        g_log(G_LOG_DOMAIN_IPC, G_LOG_LEVEL_CRITICAL, "connection from bad user %u! - rejected",
              (unsigned)uid);
        return -EACCES;
    }
    conn_state *cs = g_new0(conn_state, 1);
    cs->client.read_only = read_only;
    qb_ipcs_context_set(c, cs);
    return 0;
}

static void on_created(qb_ipcs_connection_t *c)
{
    conn_state *cs = qb_ipcs_context_get(c);
    struct qb_ipcs_connection_stats_2 *stats = qb_ipcs_connection_stats_get_2(c, 0);
    if (cs && stats)
        cs->client.pid = stats->client_pid;
    free(stats);
}

static int32_t on_closed(qb_ipcs_connection_t *c)
{
    (void)c;
    return 0;
}

static void on_destroyed(qb_ipcs_connection_t *c)
{
    g_free(qb_ipcs_context_get(c));
    qb_ipcs_context_set(c, NULL);
}

static int32_t on_message(qb_ipcs_connection_t *c, void *data, size_t size)
{
    conn_state *cs = qb_ipcs_context_get(c);
    cfs_ipc_client client = cs ? cs->client : (cfs_ipc_client){.read_only = true};
    g_autoptr(GBytes) body = NULL;
    int32_t id = size >= 4 ? (int32_t)wire_get_u32(data) : 0;
    int32_t bufsize = qb_ipcs_connection_get_buffer_size(c);
    /* libqb hands us the size from the request header; never read past the buffer */
    int r = bufsize > 0 && size > (size_t)bufsize
                ? -EINVAL
                : cfs_ipc_handle(&current_ipc->cfg, &client, data, size, &body);

    gsize len = 0;
    const void *bytes = body ? g_bytes_get_data(body, &len) : NULL;
    /* W8: answer -EFBIG instead of breaking the connection.  With libqb 2.0 a message
     * of exactly the buffer size (as the client asked for it) fits. */
    if (r == 0 && bufsize > 0 && (uint64_t)CFS_IPC_RESPONSE_HEADER + len > (uint64_t)bufsize)
        r = -EFBIG;
    if (r != 0)
        len = 0;

    uint8_t hdr[CFS_IPC_RESPONSE_HEADER] = {0};
    wire_put_u32(hdr, (uint32_t)id);
    wire_put_u32(hdr + 8, (uint32_t)(CFS_IPC_RESPONSE_HEADER + len));
    wire_put_u32(hdr + 16, (uint32_t)r);
    struct iovec iov[2] = {{.iov_base = hdr, .iov_len = sizeof(hdr)},
                           {.iov_base = (void *)bytes, .iov_len = len}};
    ssize_t sent = qb_ipcs_response_sendv(c, iov, len ? 2 : 1);
    if (sent < 0) {
        g_log(G_LOG_DOMAIN_IPC, G_LOG_LEVEL_WARNING,
              "unable to send response to request %d: %s - closing the connection", id,
              g_strerror((int)-sent));
        qb_ipcs_disconnect(c);
    }
    return 0;
}

static void signal_started(cfs_ipc *ipc, int result)
{
    g_mutex_lock(&ipc->lock);
    ipc->start_result = result;
    ipc->started = true;
    g_cond_signal(&ipc->cond);
    g_mutex_unlock(&ipc->lock);
}

static gpointer server_thread(gpointer p)
{
    cfs_ipc *ipc = p;
    g_main_context_push_thread_default(ipc->ctx);
    current_ipc = ipc;
    struct qb_ipcs_service_handlers handlers = {
        .connection_accept = on_accept,
        .connection_created = on_created,
        .msg_process = on_message,
        .connection_closed = on_closed,
        .connection_destroyed = on_destroyed,
    };
    struct qb_ipcs_poll_handlers poll = {
        .job_add = poll_job_add,
        .dispatch_add = poll_dispatch_add,
        .dispatch_mod = poll_dispatch_mod,
        .dispatch_del = poll_dispatch_del,
    };
    ipc->service = qb_ipcs_create(ipc->service_name, 0, QB_IPC_SHM, &handlers);
    int r = ipc->service ? 0 : -ENOMEM;
    if (r == 0) {
        qb_ipcs_poll_handlers_set(ipc->service, &poll);
        r = qb_ipcs_run(ipc->service);
        if (r < 0)
            ipc->service = NULL; /* qb_ipcs_run destroys the service on failure */
    }
    signal_started(ipc, r);
    if (r == 0)
        g_main_loop_run(ipc->loop);
    g_hash_table_remove_all(ipc->sources);
    current_ipc = NULL;
    g_main_context_pop_thread_default(ipc->ctx);
    return NULL;
}

static void ipc_free(cfs_ipc *ipc)
{
    if (ipc->sources)
        g_hash_table_destroy(ipc->sources);
    if (ipc->loop)
        g_main_loop_unref(ipc->loop);
    if (ipc->ctx)
        g_main_context_unref(ipc->ctx);
    g_mutex_clear(&ipc->lock);
    g_cond_clear(&ipc->cond);
    g_free(ipc->service_name);
    g_free(ipc);
}

cfs_ipc *cfs_ipc_start(const cfs_ipc_config *config, GError **error)
{
    cfs_ipc *ipc = g_new0(cfs_ipc, 1);
    ipc->cfg = *config;
    ipc->service_name = g_strdup(config->service ? config->service : CFS_IPC_SERVICE);
    ipc->cfg.service = ipc->service_name;
    ipc->ctx = g_main_context_new();
    ipc->loop = g_main_loop_new(ipc->ctx, FALSE);
    ipc->sources = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, fd_source_drop);
    g_mutex_init(&ipc->lock);
    g_cond_init(&ipc->cond);

    ipc->thread = g_thread_new("ipcs", server_thread, ipc);
    g_mutex_lock(&ipc->lock);
    while (!ipc->started)
        g_cond_wait(&ipc->cond, &ipc->lock);
    int r = ipc->start_result;
    g_mutex_unlock(&ipc->lock);
    if (r < 0) {
        g_thread_join(ipc->thread);
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r),
                    "unable to start IPC service '%s': %s", ipc->service_name, g_strerror(-r));
        ipc_free(ipc);
        return NULL;
    }
    return ipc;
}

static gboolean stop_in_thread(gpointer p)
{
    cfs_ipc *ipc = p;
    if (ipc->service) {
        qb_ipcs_destroy(ipc->service);
        ipc->service = NULL;
    }
    g_main_loop_quit(ipc->loop);
    return G_SOURCE_REMOVE;
}

void cfs_ipc_stop(cfs_ipc *ipc)
{
    if (!ipc)
        return;
    g_main_context_invoke(ipc->ctx, stop_in_thread, ipc);
    g_thread_join(ipc->thread);
    ipc_free(ipc);
}
