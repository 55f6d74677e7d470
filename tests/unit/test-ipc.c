/*
 * test-ipc: the `pve2` requests of spec §12.4 (every id, every error code of the table,
 * the accept rule, the read-only rule) through cfs_ipc_handle(), and the transport
 * (libqb service in its thread + the client library): -EFBIG for responses that do not
 * fit, the connection staying usable, a taken service name refused.
 */
#include <errno.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "pmxcfs/cfs-limits.h"
#include "pmxcfs/ipc-client.h"
#include "pmxcfs/ipc.h"
#include "tests/unit/check-main.h"
#include "tests/unit/test-util.h"

#define WWW_GID 33

static struct {
    char *dir;
    memdb *m;
    cfs_status *st;
    cfs_ipc_config cfg;
} fx;

static const cfs_ipc_client root_client = {.pid = 4242, .read_only = false};
static const cfs_ipc_client www_client = {.pid = 4343, .read_only = true};

static void setup(void)
{
    fx.dir = test_tmpdir();
    g_autofree char *db = g_build_filename(fx.dir, "config.db", NULL);
    g_autoptr(GError) err = NULL;
    memdb_options opts = {0};
    fx.m = memdb_open(db, &opts, NULL, &err);
    ck_assert_msg(fx.m, "memdb_open: %s", err ? err->message : "?");
    fx.st = cfs_status_new("testnode", fx.m);
    fx.cfg = (cfs_ipc_config){.www_data_gid = WWW_GID, .memdb = fx.m, .status = fx.st};
}

static void teardown(void)
{
    cfs_status_free(fx.st);
    memdb_free(fx.m);
    test_rmtree(fx.dir);
    g_free(fx.dir);
    memset(&fx, 0, sizeof(fx));
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int32_t le32_id(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
}

/* A request: header with @id and the size, then @len payload bytes. */
static GByteArray *req_new(int32_t id, const void *payload, size_t len)
{
    GByteArray *r = g_byte_array_sized_new((guint)(16 + len));
    uint8_t hdr[16] = {0};
    put32(hdr, (uint32_t)id);
    put32(hdr + 8, (uint32_t)(16 + len));
    g_byte_array_append(r, hdr, 16);
    if (len)
        g_byte_array_append(r, payload, (guint)len);
    return r;
}

static int call_as(const cfs_ipc_client *client, int32_t id, const void *payload, size_t len,
                   GBytes **ret)
{
    g_autoptr(GByteArray) r = req_new(id, payload, len);
    GBytes *data = NULL;
    int res = cfs_ipc_handle(&fx.cfg, client, r->data, r->len, &data);
    if (res != 0)
        ck_assert_ptr_null(data);
    if (ret)
        *ret = data;
    else if (data)
        g_bytes_unref(data);
    return res;
}

static int call(int32_t id, const void *payload, size_t len, GBytes **ret)
{
    return call_as(&root_client, id, payload, len, ret);
}

static char *str_of(GBytes *b)
{
    gsize len;
    const char *d = g_bytes_get_data(b, &len);
    return g_strndup(d ? d : "", len);
}

static void write_file(const char *path, const char *content)
{
    memdb_attr a;
    if (memdb_lookup_path(fx.m, path, &a) < 0)
        ck_assert_int_eq(memdb_create(fx.m, path, 0, 1000), 0);
    ck_assert_int_eq(memdb_write(fx.m, path, 0, content, strlen(content), true, 0, 1000),
                     (int)strlen(content));
}

/* SET_STATUS payload: 256-byte key + value */
static GByteArray *status_payload(const char *key, const void *value, size_t len)
{
    GByteArray *p = g_byte_array_new();
    uint8_t field[256] = {0};
    memcpy(field, key, MIN(strlen(key), sizeof(field)));
    g_byte_array_append(p, field, sizeof(field));
    if (len)
        g_byte_array_append(p, value, (guint)len);
    return p;
}

static int get_status(const char *key, const char *node, GBytes **ret)
{
    uint8_t p[512] = {0};
    memcpy(p, key, strlen(key));
    if (node)
        memcpy(p + 256, node, strlen(node));
    return call(CFS_IPC_GET_STATUS, p, sizeof(p), ret);
}

/* ---------------------------------------------------------------------------------- */

START_TEST(test_accept_rule)
{
    bool ro = true;
    ck_assert_int_eq(cfs_ipc_accept_check(0, 0, WWW_GID, &ro), 0);
    ck_assert(!ro);
    ck_assert_int_eq(cfs_ipc_accept_check(33, 33, WWW_GID, &ro), 0);
    ck_assert(ro);
    ck_assert_int_eq(cfs_ipc_accept_check(0, 33, WWW_GID, &ro), 0);
    ck_assert(ro);
    ck_assert_int_eq(cfs_ipc_accept_check(65534, 65534, WWW_GID, &ro), -EACCES);
    ck_assert_int_eq(cfs_ipc_accept_check(0, 1000, WWW_GID, &ro), -EACCES);
    ck_assert_int_eq(cfs_ipc_accept_check(1000, 0, WWW_GID, &ro), -EACCES);
}
END_TEST

START_TEST(test_header_only_requests)
{
    const int32_t ids[] = {CFS_IPC_GET_FS_VERSION, CFS_IPC_GET_CLUSTER_INFO, CFS_IPC_GET_GUEST_LIST,
                           CFS_IPC_GET_RRD_DUMP};
    for (size_t i = 0; i < G_N_ELEMENTS(ids); i++) {
        g_autoptr(GBytes) b = NULL;
        ck_assert_int_eq(call(ids[i], NULL, 0, &b), 0);
        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(call(ids[i], "x", 1, NULL), -EINVAL);
        ck_assert_int_eq(call_as(&www_client, ids[i], NULL, 0, NULL), 0);
    }
    g_autoptr(GBytes) members = NULL;
    ck_assert_int_eq(call(CFS_IPC_GET_CLUSTER_INFO, NULL, 0, &members), 0);
    g_autofree char *m = str_of(members);
    ck_assert_str_eq(m, "{\n\"nodename\": \"testnode\",\n\"version\": 0\n}\n");
    g_autoptr(GBytes) vmlist = NULL;
    ck_assert_int_eq(call(CFS_IPC_GET_GUEST_LIST, NULL, 0, &vmlist), 0);
    g_autofree char *v = str_of(vmlist);
    ck_assert_str_eq(v, "{\n\"version\": 0\n\n}\n");
    /* the .version layout of a fresh node: 1048 bytes for "pmxtest" (spec §12.5) */
    cfs_status *st = cfs_status_new("pmxtest", fx.m);
    cfs_status_bump_all(st);
    g_autoptr(GBytes) ver = cfs_status_version_json(st);
    ck_assert_uint_eq(g_bytes_get_size(ver), 1048);
    cfs_status_free(st);
    /* the RRD dump always ends with exactly one NUL (W19) */
    g_autoptr(GBytes) rrd = NULL;
    ck_assert_int_eq(call(CFS_IPC_GET_RRD_DUMP, NULL, 0, &rrd), 0);
    ck_assert_uint_eq(g_bytes_get_size(rrd), 1);
    ck_assert_uint_eq(((const char *)g_bytes_get_data(rrd, NULL))[0], 0);
}
END_TEST

START_TEST(test_unknown_ids)
{
    const int32_t ids[] = {0, 9, 14, 100, -1, G_MAXINT32};
    for (size_t i = 0; i < G_N_ELEMENTS(ids); i++)
        ck_assert_int_eq(call(ids[i], NULL, 0, NULL), -ECHRNG);
    /* shorter than a header */
    GBytes *b = NULL;
    ck_assert_int_eq(cfs_ipc_handle(&fx.cfg, &root_client, "\x01\0\0\0", 4, &b), -EINVAL);
}
END_TEST

START_TEST(test_set_get_status)
{
    g_autoptr(GByteArray) p = status_payload("kv/test", "hello", 6);
    ck_assert_int_eq(call(CFS_IPC_SET_STATUS, p->data, p->len, NULL), 0);
    g_autoptr(GBytes) v = NULL;
    ck_assert_int_eq(get_status("kv/test", NULL, &v), 0);
    ck_assert_uint_eq(g_bytes_get_size(v), 6);
    ck_assert_int_eq(memcmp(g_bytes_get_data(v, NULL), "hello", 6), 0);
    g_autoptr(GBytes) v2 = NULL;
    ck_assert_int_eq(get_status("kv/test", "testnode", &v2), 0);
    ck_assert_int_eq(get_status("kv/test", "othernode", NULL), -ENOENT);
    ck_assert_int_eq(get_status("kv/none", NULL, NULL), -ENOENT);

    /* read-only clients cannot set */
    ck_assert_int_eq(call_as(&www_client, CFS_IPC_SET_STATUS, p->data, p->len, NULL), -EPERM);
    g_autoptr(GBytes) v3 = NULL;
    ck_assert_int_eq(call_as(&www_client, CFS_IPC_GET_STATUS,
                             (uint8_t[512]){'k', 'v', '/', 't', 'e', 's', 't'}, 512, &v3),
                     0);
    /* sizes */
    ck_assert_int_eq(call(CFS_IPC_SET_STATUS, p->data, 255, NULL), -EINVAL);
    ck_assert_int_eq(call(CFS_IPC_GET_STATUS, p->data, 511, NULL), -EINVAL);
    g_autofree char *big = g_malloc0(CFS_MAX_STATUS_VALUE + 1);
    g_autoptr(GByteArray) pb = status_payload("kv/big", big, CFS_MAX_STATUS_VALUE + 1);
    ck_assert_int_eq(call(CFS_IPC_SET_STATUS, pb->data, pb->len, NULL), -EFBIG);
    g_autoptr(GByteArray) pf = status_payload("kv/big", big, CFS_MAX_STATUS_VALUE);
    ck_assert_int_eq(call(CFS_IPC_SET_STATUS, pf->data, pf->len, NULL), 0);

    /* byte 271 is forced to NUL: a 256-byte key is stored under its first 255 bytes */
    g_autofree char *k256 = g_strnfill(256, 'k');
    g_autoptr(GByteArray) pk = status_payload(k256, "v", 1);
    ck_assert_int_eq(call(CFS_IPC_SET_STATUS, pk->data, pk->len, NULL), 0);
    g_autofree char *k255 = g_strnfill(255, 'k');
    g_autoptr(GBytes) kv = NULL;
    ck_assert_int_eq(cfs_status_get(fx.st, NULL, k255, &kv), 0);

    /* an empty value deletes; an empty key is refused */
    g_autoptr(GByteArray) pd = status_payload("kv/test", NULL, 0);
    ck_assert_int_eq(call(CFS_IPC_SET_STATUS, pd->data, pd->len, NULL), 0);
    ck_assert_int_eq(get_status("kv/test", NULL, NULL), -ENOENT);
    g_autoptr(GByteArray) pe = status_payload("", "x", 1);
    ck_assert_int_eq(call(CFS_IPC_SET_STATUS, pe->data, pe->len, NULL), -EINVAL);

    /* rrd/ and nodeip are not readable through GET_STATUS */
    g_autoptr(GByteArray) pr = status_payload("rrd/pve2-node/testnode", "1:2\0", 4);
    ck_assert_int_eq(call(CFS_IPC_SET_STATUS, pr->data, pr->len, NULL), 0);
    ck_assert_int_eq(get_status("rrd/pve2-node/testnode", NULL, NULL), -ENOENT);
    g_autoptr(GBytes) rrd = NULL;
    ck_assert_int_eq(call(CFS_IPC_GET_RRD_DUMP, NULL, 0, &rrd), 0);
    ck_assert_uint_eq(g_bytes_get_size(rrd), strlen("pve2-node/testnode:1:2\n") + 1);
    ck_assert_str_eq(g_bytes_get_data(rrd, NULL), "pve2-node/testnode:1:2\n");

    /* the local table appears in .version */
    g_autoptr(GBytes) ver = NULL;
    ck_assert_int_eq(call(CFS_IPC_GET_FS_VERSION, NULL, 0, &ver), 0);
    g_autofree char *vs = str_of(ver);
    ck_assert_ptr_nonnull(strstr(vs, "\"kvstore\": {\n\"testnode\": {\n\"kkkk"));
    ck_assert_ptr_nonnull(strstr(vs, "\"kv/big\": 0}\n}\n}\n"));
    ck_assert_ptr_null(strstr(vs, "rrd/"));
}
END_TEST

START_TEST(test_get_config)
{
    write_file("storage.cfg", "dir: local\n");
    ck_assert_int_eq(memdb_mkdir(fx.m, "priv", 0, 1000), 0);
    write_file("priv/shadow.cfg", "secret");
    ck_assert_int_eq(memdb_mkdir(fx.m, "nodes", 0, 1000), 0);
    ck_assert_int_eq(memdb_mkdir(fx.m, "nodes/n1", 0, 1000), 0);
    ck_assert_int_eq(memdb_mkdir(fx.m, "nodes/n1/priv", 0, 1000), 0);
    write_file("nodes/n1/priv/key", "k");

    g_autoptr(GBytes) b = NULL;
    ck_assert_int_eq(call(CFS_IPC_GET_CONFIG, "storage.cfg", 12, &b), 0);
    g_autofree char *s = str_of(b);
    ck_assert_str_eq(s, "dir: local\n");
    /* the last byte is forced to NUL */
    g_autoptr(GBytes) b2 = NULL;
    ck_assert_int_eq(call(CFS_IPC_GET_CONFIG, "storage.cfgX", 12, &b2), 0);
    ck_assert(g_bytes_equal(b, b2));
    ck_assert_int_eq(call(CFS_IPC_GET_CONFIG, NULL, 0, NULL), -EINVAL);
    ck_assert_int_eq(call(CFS_IPC_GET_CONFIG, "missing.cfg", 12, NULL), -ENOENT);
    ck_assert_int_eq(call(CFS_IPC_GET_CONFIG, "nodes", 6, NULL), -ENOENT);
    ck_assert_int_eq(call(CFS_IPC_GET_CONFIG, "", 1, NULL), -ENOENT);
    ck_assert_int_eq(call(CFS_IPC_GET_CONFIG, ".version", 9, NULL), -ENOENT);

    /* private paths: root reads, www-data gets EPERM (before ENOENT) */
    ck_assert_int_eq(call(CFS_IPC_GET_CONFIG, "priv/shadow.cfg", 16, NULL), 0);
    ck_assert_int_eq(call_as(&www_client, CFS_IPC_GET_CONFIG, "priv/shadow.cfg", 16, NULL), -EPERM);
    ck_assert_int_eq(call_as(&www_client, CFS_IPC_GET_CONFIG, "//priv///shadow.cfg", 20, NULL),
                     -EPERM);
    ck_assert_int_eq(call_as(&www_client, CFS_IPC_GET_CONFIG, "/priv/none", 11, NULL), -EPERM);
    ck_assert_int_eq(call_as(&www_client, CFS_IPC_GET_CONFIG, "nodes/n1/priv/key", 18, NULL),
                     -EPERM);
    ck_assert_int_eq(call_as(&www_client, CFS_IPC_GET_CONFIG, "priv", 5, NULL), -EPERM);
    ck_assert_int_eq(call_as(&www_client, CFS_IPC_GET_CONFIG, "storage.cfg", 12, NULL), 0);
    ck_assert_int_eq(call_as(&www_client, CFS_IPC_GET_CONFIG, "./priv/shadow.cfg", 18, NULL),
                     -ENOENT);
}
END_TEST

/* LOG_CLUSTER_MSG payload: priority, ident_len, tag_len, ident, tag, message. */
static GByteArray *log_payload(uint8_t pri, const char *ident, const char *tag, const char *msg)
{
    GByteArray *p = g_byte_array_new();
    uint8_t head[3] = {pri, (uint8_t)(strlen(ident) + 1), (uint8_t)(strlen(tag) + 1)};
    g_byte_array_append(p, head, 3);
    g_byte_array_append(p, (const guint8 *)ident, (guint)strlen(ident) + 1);
    g_byte_array_append(p, (const guint8 *)tag, (guint)strlen(tag) + 1);
    g_byte_array_append(p, (const guint8 *)msg, (guint)strlen(msg) + 1);
    return p;
}

static JsonArray *log_entries(JsonParser *parser, const char *user, uint32_t max)
{
    uint8_t p[64] = {0};
    put32(p, max);
    size_t ulen = user ? strlen(user) + 1 : 1;
    if (user)
        memcpy(p + 16, user, ulen);
    g_autoptr(GBytes) b = NULL;
    ck_assert_int_eq(call(CFS_IPC_GET_CLUSTER_LOG, p, 16 + ulen, &b), 0);
    g_autofree char *s = str_of(b);
    ck_assert(json_parser_load_from_data(parser, s, -1, NULL));
    return json_object_get_array_member(json_node_get_object(json_parser_get_root(parser)), "data");
}

START_TEST(test_log)
{
    g_autoptr(GByteArray) p = log_payload(3, "admin@pve", "task", "it \"works\"");
    ck_assert_int_eq(call(CFS_IPC_LOG_CLUSTER_MSG, p->data, p->len, NULL), 0);
    ck_assert_int_eq(call_as(&www_client, CFS_IPC_LOG_CLUSTER_MSG, p->data, p->len, NULL), -EPERM);
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonArray *a = log_entries(parser, NULL, 0);
    ck_assert_uint_eq(json_array_get_length(a), 2); /* ours and "starting cluster log" */
    JsonObject *e = json_array_get_object_element(a, 0);
    ck_assert_str_eq(json_object_get_string_member(e, "msg"), "it \"works\"");
    ck_assert_str_eq(json_object_get_string_member(e, "user"), "admin@pve");
    ck_assert_str_eq(json_object_get_string_member(e, "tag"), "task");
    ck_assert_str_eq(json_object_get_string_member(e, "node"), "testnode");
    ck_assert_int_eq(json_object_get_int_member(e, "pid"), root_client.pid);
    ck_assert_int_eq(json_object_get_int_member(e, "pri"), 3);

    /* sizes and NULs: every one -EINVAL, W23 included */
    ck_assert_int_eq(call(CFS_IPC_LOG_CLUSTER_MSG, p->data, 2, NULL), -EINVAL);
    g_autoptr(GByteArray) nomsg = log_payload(3, "a", "b", "");
    ck_assert_int_eq(call(CFS_IPC_LOG_CLUSTER_MSG, nomsg->data, nomsg->len - 1, NULL), -EINVAL);
    ck_assert_int_eq(call(CFS_IPC_LOG_CLUSTER_MSG, nomsg->data, nomsg->len, NULL), 0);
    g_autoptr(GByteArray) unterminated = log_payload(3, "a", "b", "msg");
    ck_assert_int_eq(call(CFS_IPC_LOG_CLUSTER_MSG, unterminated->data, unterminated->len - 1, NULL),
                     -EINVAL);
    g_autoptr(GByteArray) bad_ident = log_payload(3, "abc", "t", "msg");
    bad_ident->data[3 + 3] = 'x'; /* ident's NUL */
    ck_assert_int_eq(call(CFS_IPC_LOG_CLUSTER_MSG, bad_ident->data, bad_ident->len, NULL), -EINVAL);
    g_autoptr(GByteArray) bad_tag = log_payload(3, "abc", "t", "msg");
    bad_tag->data[3 + 4 + 1] = 'x'; /* tag's NUL */
    ck_assert_int_eq(call(CFS_IPC_LOG_CLUSTER_MSG, bad_tag->data, bad_tag->len, NULL), -EINVAL);
    g_autoptr(GByteArray) too_long = log_payload(3, "abc", "t", "m");
    too_long->data[1] = 200; /* ident length beyond the request */
    ck_assert_int_eq(call(CFS_IPC_LOG_CLUSTER_MSG, too_long->data, too_long->len, NULL), -EINVAL);
    g_autoptr(GByteArray) zero = log_payload(3, "abc", "t", "m");
    zero->data[1] = 0;
    ck_assert_int_eq(call(CFS_IPC_LOG_CLUSTER_MSG, zero->data, zero->len, NULL), -EINVAL);
    g_autoptr(GByteArray) bad_pri = log_payload(8, "abc", "t", "m");
    ck_assert_int_eq(call(CFS_IPC_LOG_CLUSTER_MSG, bad_pri->data, bad_pri->len, NULL), -EINVAL);

    /* user filter and max */
    JsonArray *mine = log_entries(parser, "admin@pve", 0);
    ck_assert_uint_eq(json_array_get_length(mine), 1);
    JsonArray *one = log_entries(parser, NULL, 1);
    ck_assert_uint_eq(json_array_get_length(one), 1);
    ck_assert_int_eq(call(CFS_IPC_GET_CLUSTER_LOG, (uint8_t[16]){0}, 16, NULL), -EINVAL);
    ck_assert_int_eq(call(CFS_IPC_GET_CLUSTER_LOG, (uint8_t[17]){0}, 17, NULL), 0);
}
END_TEST

START_TEST(test_verify_token)
{
    const char *tok = "root@pam!t1 5ecret";
    ck_assert_int_eq(call(CFS_IPC_VERIFY_TOKEN, tok, strlen(tok) + 1, NULL), -ENOENT);
    ck_assert_int_eq(memdb_mkdir(fx.m, "priv", 0, 1000), 0);
    write_file("priv/token.cfg", "root@pam!t0 aaa\nroot@pam!t1 5ecret\nx");
    ck_assert_int_eq(call(CFS_IPC_VERIFY_TOKEN, tok, strlen(tok) + 1, NULL), 0);
    ck_assert_int_eq(call_as(&www_client, CFS_IPC_VERIFY_TOKEN, tok, strlen(tok) + 1, NULL), 0);
    ck_assert_int_eq(call(CFS_IPC_VERIFY_TOKEN, "x", 2, NULL), 0); /* last line, no newline */
    ck_assert_int_eq(call(CFS_IPC_VERIFY_TOKEN, "root@pam!t1 5ecre", 18, NULL), -ENOENT);
    ck_assert_int_eq(call(CFS_IPC_VERIFY_TOKEN, "", 1, NULL), -EINVAL);
    ck_assert_int_eq(call(CFS_IPC_VERIFY_TOKEN, NULL, 0, NULL), -EINVAL);
    ck_assert_int_eq(call(CFS_IPC_VERIFY_TOKEN, tok, strlen(tok), NULL), -EINVAL);
    ck_assert_int_eq(call(CFS_IPC_VERIFY_TOKEN, "a\nb", 4, NULL), -EINVAL);
    ck_assert_int_eq(call(CFS_IPC_VERIFY_TOKEN, "x\0y", 4, NULL), -EINVAL);
}
END_TEST

static void make_guest(const char *node, const char *kind, uint32_t vmid, const char *conf)
{
    g_autofree char *n = g_strdup_printf("nodes/%s", node);
    g_autofree char *k = g_strdup_printf("nodes/%s/%s", node, kind);
    g_autofree char *f = g_strdup_printf("nodes/%s/%s/%u.conf", node, kind, vmid);
    memdb_attr a;
    if (memdb_lookup_path(fx.m, "nodes", &a) < 0)
        ck_assert_int_eq(memdb_mkdir(fx.m, "nodes", 0, 1000), 0);
    if (memdb_lookup_path(fx.m, n, &a) < 0)
        ck_assert_int_eq(memdb_mkdir(fx.m, n, 0, 1000), 0);
    if (memdb_lookup_path(fx.m, k, &a) < 0)
        ck_assert_int_eq(memdb_mkdir(fx.m, k, 0, 1000), 0);
    write_file(f, conf);
}

static int prop11(uint32_t vmid, const char *prop, size_t len, char **ret)
{
    uint8_t p[300] = {0};
    put32(p, vmid);
    if (prop)
        memcpy(p + 4, prop, len);
    GBytes *b = NULL;
    int r = call(CFS_IPC_GET_GUEST_CONFIG_PROPERTY, p, 4 + len, &b);
    if (ret)
        *ret = r == 0 ? str_of(b) : NULL;
    if (b)
        g_bytes_unref(b);
    return r;
}

static int prop13(uint32_t vmid, uint8_t n, const void *props, size_t len, char **ret)
{
    uint8_t p[300] = {0};
    put32(p, vmid);
    p[4] = n;
    if (props)
        memcpy(p + 5, props, len);
    GBytes *b = NULL;
    int r = call(CFS_IPC_GET_GUEST_CONFIG_PROPERTIES, p, 5 + len, &b);
    if (ret)
        *ret = r == 0 ? str_of(b) : NULL;
    if (b)
        g_bytes_unref(b);
    return r;
}

START_TEST(test_guest_properties)
{
    make_guest("n1", "qemu-server", 100,
               "name: vm100\nlock: backup\nmemory: 512\n\n[snap1]\nlock: snapshot\n");
    make_guest("n1", "lxc", 101, "lock:   migrate  \r\nhostname: ct\\101\n");
    make_guest("n2", "qemu-server", 102, "name: \"q\"\nlock:\nnolock: x");

    g_autofree char *a = NULL;
    ck_assert_int_eq(prop11(100, "lock", 5, &a), 0);
    ck_assert_str_eq(a, "{\n\"100\":{\"lock\": \"backup\"}\n}\n");
    g_autofree char *all = NULL;
    ck_assert_int_eq(prop11(0, "lock", 5, &all), 0);
    ck_assert_str_eq(all,
                     "{\n\"100\":{\"lock\": \"backup\"},\n\"101\":{\"lock\": \"migrate\"}\n}\n");
    g_autofree char *none = NULL;
    ck_assert_int_eq(prop11(0, "absent", 7, &none), 0);
    ck_assert_str_eq(none, "{\n\n}\n");
    g_autofree char *esc = NULL;
    ck_assert_int_eq(prop11(102, "name", 5, &esc), 0);
    ck_assert_str_eq(esc, "{\n\"102\":{\"name\": \"\\\"q\\\"\"}\n}\n");

    ck_assert_int_eq(prop11(50, "lock", 5, NULL), -EINVAL);
    ck_assert_int_eq(prop11(99, "lock", 5, NULL), -EINVAL);
    ck_assert_int_eq(prop11(200, "lock", 5, NULL), -ENOENT);
    ck_assert_int_eq(prop11(100, NULL, 0, NULL), -EINVAL);
    ck_assert_int_eq(prop11(200, NULL, 0, NULL), -ENOENT); /* vmid checks come first */
    ck_assert_int_eq(call(CFS_IPC_GET_GUEST_CONFIG_PROPERTY, "\x64\0", 2, NULL), -EINVAL);

    g_autofree char *m = NULL;
    ck_assert_int_eq(prop13(0, 2, "name\0lock", 10, &m), 0);
    ck_assert_str_eq(m, "{\n\"100\":{\"name\": \"vm100\",\"lock\": \"backup\"},\n"
                        "\"101\":{\"lock\": \"migrate\"},\n\"102\":{\"name\": \"\\\"q\\\"\"}\n}\n");
    g_autofree char *h = NULL;
    ck_assert_int_eq(prop13(101, 1, "hostname", 9, &h), 0);
    ck_assert_str_eq(h, "{\n\"101\":{\"hostname\": \"ct\\\\101\"}\n}\n");

    ck_assert_int_eq(prop13(50, 1, "lock", 5, NULL), -EINVAL);
    ck_assert_int_eq(prop13(300, 1, "lock", 5, NULL), -ENOENT);
    ck_assert_int_eq(prop13(0, 0, "lock", 5, NULL), -EINVAL);     /* num_props 0 */
    ck_assert_int_eq(prop13(0, 1, "l", 1, NULL), -EINVAL);        /* at most 1 byte */
    ck_assert_int_eq(prop13(0, 1, "lock", 4, NULL), -EINVAL);     /* unterminated */
    ck_assert_int_eq(prop13(0, 2, "lock", 5, NULL), -EINVAL);     /* fewer than announced */
    ck_assert_int_eq(prop13(0, 1, "lock\0x", 7, NULL), -EINVAL);  /* bytes left over */
    ck_assert_int_eq(prop13(0, 2, "lock\0\0", 6, NULL), -EINVAL); /* empty property */
    ck_assert_int_eq(prop13(0, 1, "Lock", 5, NULL), -EINVAL);     /* not a-z first */
    ck_assert_int_eq(prop13(0, 1, "1ock", 5, NULL), -EINVAL);
    ck_assert_int_eq(call(CFS_IPC_GET_GUEST_CONFIG_PROPERTIES, "\0\0\0\0", 4, NULL), -EINVAL);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* transport */

static char *service_name(void)
{
    return g_strdup_printf("pve2-unit-%d", (int)getpid());
}

START_TEST(test_transport)
{
    g_autofree char *name = service_name();
    fx.cfg.service = name;
    g_autoptr(GError) err = NULL;
    cfs_ipc *ipc = cfs_ipc_start(&fx.cfg, &err);
    ck_assert_msg(ipc, "cfs_ipc_start: %s", err ? err->message : "?");

    /* a second service with the same name is refused with a clear error */
    g_autoptr(GError) err2 = NULL;
    ck_assert_ptr_null(cfs_ipc_start(&fx.cfg, &err2));
    ck_assert_ptr_nonnull(err2);
    ck_assert_ptr_nonnull(strstr(err2->message, name));

    cfs_client *c = NULL;
    ck_assert_int_eq(cfs_client_connect(name, CFS_IPC_PERL_BUFFER, 10000, &c), 0);
    g_autoptr(GBytes) members = NULL;
    ck_assert_int_eq(cfs_client_get_simple(c, CFS_IPC_GET_CLUSTER_INFO, &members), 0);
    g_autofree char *ms = str_of(members);
    ck_assert_str_eq(ms, "{\n\"nodename\": \"testnode\",\n\"version\": 0\n}\n");

    ck_assert_int_eq(cfs_client_set_status(c, "kv/x", "1\0", 2), 0);
    g_autoptr(GBytes) v = NULL;
    ck_assert_int_eq(cfs_client_get_status(c, "kv/x", NULL, &v), 0);
    ck_assert_uint_eq(g_bytes_get_size(v), 2);
    ck_assert_int_eq(cfs_client_get_simple(c, 9, NULL), -ECHRNG);

    /* the largest response that fits the Perl client's 1 MiB buffer, then one byte more */
    g_autofree char *data = g_malloc(CFS_MAX_FILE_SIZE);
    memset(data, 'x', CFS_MAX_FILE_SIZE);
    ck_assert_int_eq(memdb_create(fx.m, "big", 0, 1), 0);
    size_t fit = CFS_IPC_PERL_BUFFER - CFS_IPC_RESPONSE_HEADER;
    ck_assert_int_eq(memdb_write(fx.m, "big", 0, data, fit, true, 0, 1), (int)fit);
    g_autoptr(GBytes) got = NULL;
    ck_assert_int_eq(cfs_client_get_config(c, "big", &got), 0);
    ck_assert_uint_eq(g_bytes_get_size(got), fit);
    ck_assert_int_eq(memdb_write(fx.m, "big", 0, data, CFS_MAX_FILE_SIZE, true, 0, 1),
                     (int)CFS_MAX_FILE_SIZE);
    int result = 0;
    ck_assert_int_eq(cfs_client_call(c, CFS_IPC_GET_CONFIG, "big", 4, &result, NULL), 0);
    ck_assert_int_eq(result, -EFBIG); /* W8: an answer, not a transport error */
    g_autoptr(GBytes) after = NULL;
    ck_assert_int_eq(cfs_client_get_simple(c, CFS_IPC_GET_CLUSTER_INFO, &after), 0);
    ck_assert(g_bytes_equal(after, members));
    cfs_client_free(c);

    /* our clients' 2 MiB buffer reads a full 1 MiB file */
    ck_assert_int_eq(cfs_client_connect(name, 0, 10000, &c), 0);
    g_autoptr(GBytes) full = NULL;
    ck_assert_int_eq(cfs_client_get_config(c, "big", &full), 0);
    ck_assert_uint_eq(g_bytes_get_size(full), CFS_MAX_FILE_SIZE);
    cfs_client_free(c);

    cfs_ipc_stop(ipc);
    /* after stop, nobody answers */
    ck_assert_int_lt(cfs_client_connect(name, 0, 1000, &c), 0);
}
END_TEST

START_TEST(test_transport_many_clients)
{
    g_autofree char *name = service_name();
    fx.cfg.service = name;
    cfs_ipc *ipc = cfs_ipc_start(&fx.cfg, NULL);
    ck_assert_ptr_nonnull(ipc);
    /* connections come and go; none leaks into the next */
    for (int round = 0; round < 50; round++) {
        cfs_client *cs[4] = {NULL};
        for (int i = 0; i < 4; i++)
            ck_assert_int_eq(cfs_client_connect(name, 65536, 10000, &cs[i]), 0);
        for (int i = 0; i < 4; i++) {
            g_autoptr(GBytes) b = NULL;
            ck_assert_int_eq(cfs_client_get_simple(cs[i], CFS_IPC_GET_FS_VERSION, &b), 0);
            ck_assert_uint_gt(g_bytes_get_size(b), 1000);
        }
        for (int i = 0; i < 4; i++)
            cfs_client_free(cs[i]);
    }
    cfs_ipc_stop(ipc);
}
END_TEST

/* Random and truncated requests: every one gets an answer, nothing leaks (ASan/LSan). */
START_TEST(test_fuzz_requests)
{
    make_guest("n1", "qemu-server", 100, "lock: backup\nname: a\n");
    write_file("storage.cfg", "x");
    GRand *rand = g_rand_new_with_seed(20240601);
    const cfs_ipc_client *clients[] = {&root_client, &www_client};
    uint8_t buf[1200];
    for (int i = 0; i < 30000; i++) {
        size_t size = (size_t)g_rand_int_range(rand, 0, (gint32)sizeof(buf));
        for (size_t k = 0; k < size; k++)
            buf[k] = (uint8_t)g_rand_int(rand);
        if (size >= 4) {
            /* mostly real ids; plausible sizes around the interesting boundaries */
            put32(buf, (uint32_t)g_rand_int_range(rand, -2, 16));
            if (g_rand_boolean(rand)) {
                static const size_t edges[] = {16, 17,  19,  20,  21,  22,  32,
                                               33, 271, 272, 273, 527, 528, 529};
                size = edges[g_rand_int_range(rand, 0, G_N_ELEMENTS(edges))];
            }
            if (g_rand_int_range(rand, 0, 4) == 0 && size > 16)
                buf[size - 1] = 0;
            if (le32_id(buf) == CFS_IPC_SET_STATUS && size >= 272)
                memcpy(buf + 16, "kv/fuzz", 8); /* bounded storage */
        }
        GBytes *data = NULL;
        int r = cfs_ipc_handle(&fx.cfg, clients[i % 2], buf, size, &data);
        ck_assert_int_le(r, 0);
        if (r < 0)
            ck_assert_ptr_null(data);
        if (data)
            g_bytes_unref(data);
    }
    g_rand_free(rand);
    g_autoptr(GBytes) m = NULL;
    ck_assert_int_eq(call(CFS_IPC_GET_CLUSTER_INFO, NULL, 0, &m), 0);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ipc");
    TCase *tc = tcase_create("requests");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_accept_rule);
    tcase_add_test(tc, test_header_only_requests);
    tcase_add_test(tc, test_unknown_ids);
    tcase_add_test(tc, test_set_get_status);
    tcase_add_test(tc, test_get_config);
    tcase_add_test(tc, test_log);
    tcase_add_test(tc, test_verify_token);
    tcase_add_test(tc, test_guest_properties);
    tcase_add_test(tc, test_fuzz_requests);
    suite_add_tcase(s, tc);

    tc = tcase_create("transport");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_transport);
    tcase_add_test(tc, test_transport_many_clients);
    suite_add_tcase(s, tc);
    return s;
}
