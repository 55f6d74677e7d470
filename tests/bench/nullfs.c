/*
 * nullfs: the smallest FUSE file system that runs the fsbench workload, used as the
 * "FUSE floor" baseline of the pmxcfs benchmarks: it keeps files in RAM, persists
 * nothing and does no checks, with the same kernel settings as pmxcfs (low-level API,
 * multi-threaded loop, direct_io, 1 s attribute and entry timeouts, 1 MiB writes).
 * Whatever pmxcfs costs above nullfs is pmxcfs's own overhead.
 *
 *   nullfs MOUNTPOINT      (foreground; unmounts on SIGTERM/SIGINT)
 */
#define FUSE_USE_VERSION 314
#include <errno.h>
#include <fuse_lowlevel.h>
#include <glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

typedef struct node {
    fuse_ino_t ino;
    fuse_ino_t parent;
    bool dir;
    char *name;
    GByteArray *data;
    GHashTable *children;
    time_t mtime;
} node;

static GMutex lock;
static GHashTable *nodes; /* ino -> node */
static fuse_ino_t next_ino = 2;

static node *get(fuse_ino_t ino)
{
    return g_hash_table_lookup(nodes, GSIZE_TO_POINTER(ino));
}

static node *child(node *dir, const char *name)
{
    return dir && dir->dir ? g_hash_table_lookup(dir->children, name) : NULL;
}

static node *mknode(node *dir, const char *name, bool isdir)
{
    node *n = g_new0(node, 1);
    n->ino = dir ? next_ino++ : FUSE_ROOT_ID;
    n->parent = dir ? dir->ino : FUSE_ROOT_ID;
    n->dir = isdir;
    n->name = g_strdup(name);
    n->mtime = time(NULL);
    if (isdir)
        n->children = g_hash_table_new(g_str_hash, g_str_equal);
    else
        n->data = g_byte_array_new();
    g_hash_table_insert(nodes, GSIZE_TO_POINTER(n->ino), n);
    if (dir)
        g_hash_table_insert(dir->children, n->name, n);
    return n;
}

static void fill(node *n, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = n->ino;
    st->st_mode = n->dir ? S_IFDIR | 0755 : S_IFREG | 0640;
    st->st_nlink = n->dir ? 2 : 1;
    st->st_size = n->dir ? 0 : n->data->len;
    st->st_mtime = st->st_atime = st->st_ctime = n->mtime;
}

static void reply_entry(fuse_req_t req, node *n)
{
    struct fuse_entry_param e = {.ino = n->ino, .attr_timeout = 1.0, .entry_timeout = 1.0};
    fill(n, &e.attr);
    fuse_reply_entry(req, &e);
}

static void op_init(void *u, struct fuse_conn_info *conn)
{
    (void)u;
    conn->max_write = 1 << 20;
    conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    g_mutex_lock(&lock);
    node *n = child(get(parent), name);
    if (n)
        reply_entry(req, n);
    else
        fuse_reply_err(req, ENOENT);
    g_mutex_unlock(&lock);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    g_mutex_lock(&lock);
    node *n = get(ino);
    struct stat st;
    if (n) {
        fill(n, &st);
        fuse_reply_attr(req, &st, 1.0);
    } else {
        fuse_reply_err(req, ENOENT);
    }
    g_mutex_unlock(&lock);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    (void)fi;
    g_mutex_lock(&lock);
    node *n = get(ino);
    if (n && !n->dir && (to_set & FUSE_SET_ATTR_SIZE))
        g_byte_array_set_size(n->data, (guint)attr->st_size);
    struct stat st;
    if (n) {
        fill(n, &st);
        fuse_reply_attr(req, &st, 1.0);
    } else {
        fuse_reply_err(req, ENOENT);
    }
    g_mutex_unlock(&lock);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    (void)mode;
    g_mutex_lock(&lock);
    node *p = get(parent);
    if (child(p, name))
        fuse_reply_err(req, EEXIST);
    else
        reply_entry(req, mknode(p, name, true));
    g_mutex_unlock(&lock);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    (void)mode;
    g_mutex_lock(&lock);
    node *p = get(parent);
    if (child(p, name)) {
        fuse_reply_err(req, EEXIST);
    } else {
        node *n = mknode(p, name, false);
        struct fuse_entry_param e = {.ino = n->ino, .attr_timeout = 1.0, .entry_timeout = 1.0};
        fill(n, &e.attr);
        fi->direct_io = 1;
        fuse_reply_create(req, &e, fi);
    }
    g_mutex_unlock(&lock);
}

static void drop(node *p, node *n)
{
    g_hash_table_remove(p->children, n->name);
    g_hash_table_remove(nodes, GSIZE_TO_POINTER(n->ino));
    if (n->dir)
        g_hash_table_destroy(n->children);
    else
        g_byte_array_free(n->data, TRUE);
    g_free(n->name);
    g_free(n);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    g_mutex_lock(&lock);
    node *p = get(parent);
    node *n = child(p, name);
    if (n)
        drop(p, n);
    fuse_reply_err(req, n ? 0 : ENOENT);
    g_mutex_unlock(&lock);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned flags)
{
    (void)flags;
    g_mutex_lock(&lock);
    node *p = get(parent), *np = get(newparent);
    node *n = child(p, name);
    if (!n || !np) {
        fuse_reply_err(req, ENOENT);
    } else {
        node *old = child(np, newname);
        if (old)
            drop(np, old);
        g_hash_table_remove(p->children, n->name);
        g_free(n->name);
        n->name = g_strdup(newname);
        n->parent = np->ino;
        g_hash_table_insert(np->children, n->name, n);
        fuse_reply_err(req, 0);
    }
    g_mutex_unlock(&lock);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    fi->direct_io = 1;
    fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    (void)fi;
    g_mutex_lock(&lock);
    node *n = get(ino);
    if (!n || n->dir || (size_t)off >= n->data->len)
        fuse_reply_buf(req, NULL, 0);
    else
        fuse_reply_buf(req, (char *)n->data->data + off, MIN(size, n->data->len - (size_t)off));
    g_mutex_unlock(&lock);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    (void)fi;
    g_mutex_lock(&lock);
    node *n = get(ino);
    if (n && !n->dir) {
        if ((size_t)off + size > n->data->len)
            g_byte_array_set_size(n->data, (guint)(off + size));
        memcpy(n->data->data + off, buf, size);
        fuse_reply_write(req, size);
    } else {
        fuse_reply_err(req, EIO);
    }
    g_mutex_unlock(&lock);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    (void)fi;
    fuse_reply_err(req, ENOSYS);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    (void)fi;
    fuse_reply_err(req, 0);
}

static const struct fuse_lowlevel_ops ops = {
    .init = op_init,
    .lookup = op_lookup,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .mkdir = op_mkdir,
    .rmdir = op_unlink,
    .unlink = op_unlink,
    .rename = op_rename,
    .create = op_create,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .release = op_release,
};

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: nullfs MOUNTPOINT\n");
        return 2;
    }
    nodes = g_hash_table_new(g_direct_hash, g_direct_equal);
    mknode(NULL, "", true);
    char *fargv[] = {"nullfs", "-o", "default_permissions,allow_other", NULL};
    struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
    struct fuse_session *se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
    if (!se || fuse_session_mount(se, argv[1]) != 0)
        return 1;
    fuse_set_signal_handlers(se);
    struct fuse_loop_config *lc = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(lc, 16);
    fuse_loop_cfg_set_idle_threads(lc, 8);
    int r = fuse_session_loop_mt(se, lc);
    fuse_loop_cfg_destroy(lc);
    fuse_session_unmount(se);
    fuse_session_destroy(se);
    return r ? 1 : 0;
}
