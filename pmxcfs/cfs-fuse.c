/*
 * cfs-fuse: libfuse3 low-level operations for /etc/pve.
 *
 * Reads are served from memdb under its read lock and never wait for the cluster.
 * Mutations build the path of the target from (parent inode, name) and go through
 * ops (sender-side checks, then local apply or one cluster message).  Virtual files
 * are generated at open into a private snapshot per handle (W17); their size in
 * getattr is the length of freshly generated content.  Every open uses direct_io.
 */
#define FUSE_USE_VERSION 314
#include "pmxcfs/cfs-fuse.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

#define G_LOG_DOMAIN_FUSE "fuse"

/* Kernel cache lifetimes (spec §4.1): 1 s, with explicit invalidation. */
#define CFS_FUSE_TIMEOUT 1.0
/* FUSE inode numbers of the virtual entries. */
#define VIRT_BASE (UINT64_C(1) << 62)

typedef enum {
    VIRT_SYMLINK,
    VIRT_FILE,
} virt_kind;

typedef struct virt_entry {
    const char *name;
    virt_kind kind;
    const char *link_suffix; /* symlinks: appended to "nodes/<nodename>" */
    mode_t mode;             /* files: permission bits before masking */
    GBytes *(*generate)(cfs_fuse *f);
} virt_entry;

struct cfs_fuse {
    cfs_fuse_config cfg;
    struct fuse_session *se;
    char *mountpoint;
    bool mounted;
    GThread *inval_thread;
    GAsyncQueue *inval_queue;
};

/* One open virtual file: a snapshot of its content. */
typedef struct virt_handle {
    GBytes *content;
} virt_handle;

static GBytes *gen_version(cfs_fuse *f)
{
    return cfs_status_version_json(f->cfg.status);
}
static GBytes *gen_members(cfs_fuse *f)
{
    return cfs_status_members_json(f->cfg.status);
}
static GBytes *gen_vmlist(cfs_fuse *f)
{
    return cfs_status_vmlist_json(f->cfg.status);
}
static GBytes *gen_clusterlog(cfs_fuse *f)
{
    return cfs_status_clusterlog_file(f->cfg.status);
}
static GBytes *gen_rrd(cfs_fuse *f)
{
    return cfs_status_rrd_dump(f->cfg.status);
}
static GBytes *gen_debug(cfs_fuse *f)
{
    (void)f;
    return g_bytes_new_static(log_get_debug() ? "1\n" : "0\n", 2);
}

static const virt_entry virtuals[] = {
    {"local", VIRT_SYMLINK, "", 0777, NULL},
    {"qemu-server", VIRT_SYMLINK, "/qemu-server", 0777, NULL},
    {"lxc", VIRT_SYMLINK, "/lxc", 0777, NULL},
    {"openvz", VIRT_SYMLINK, "/openvz", 0777, NULL},
    {".version", VIRT_FILE, NULL, 0440, gen_version},
    {".members", VIRT_FILE, NULL, 0440, gen_members},
    {".vmlist", VIRT_FILE, NULL, 0440, gen_vmlist},
    {".clusterlog", VIRT_FILE, NULL, 0440, gen_clusterlog},
    {".rrd", VIRT_FILE, NULL, 0440, gen_rrd},
    {".debug", VIRT_FILE, NULL, 0640, gen_debug},
};

/* .debug is the one virtual file that accepts writes and truncation (spec §2.8). */
static bool virt_is_debug(const virt_entry *v)
{
    return v->generate == gen_debug;
}

static const virt_entry *virt_by_name(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(virtuals); i++)
        if (strcmp(virtuals[i].name, name) == 0)
            return &virtuals[i];
    return NULL;
}

static const virt_entry *virt_by_ino(fuse_ino_t ino)
{
    if (ino < VIRT_BASE || ino >= VIRT_BASE + G_N_ELEMENTS(virtuals))
        return NULL;
    return &virtuals[ino - VIRT_BASE];
}

static fuse_ino_t virt_ino(const virt_entry *v)
{
    return VIRT_BASE + (fuse_ino_t)(v - virtuals);
}

static char *virt_link_target(cfs_fuse *f, const virt_entry *v)
{
    return g_strdup_printf("nodes/%s%s", cfs_status_nodename(f->cfg.status), v->link_suffix);
}

static uint64_t to_memdb(fuse_ino_t ino)
{
    return (uint64_t)ino - 1;
}

static fuse_ino_t to_fuse(uint64_t inode)
{
    return (fuse_ino_t)(inode + 1);
}

/* ---------------------------------------------------------------------------------- */
/* attributes (spec §3) */

/* OpenVZ action scripts keep the owner-execute bit: vps.<act> or <vmid>.<act>. */
static bool name_is_openvz_script(const char *name)
{
    const char *dot = strchr(name, '.');
    if (!dot || dot == name)
        return false;
    size_t prefix = (size_t)(dot - name);
    if (!(prefix == 3 && memcmp(name, "vps", 3) == 0)) {
        if (name[0] < '1' || name[0] > '9')
            return false;
        for (size_t i = 0; i < prefix; i++)
            if (!g_ascii_isdigit(name[i]))
                return false;
    }
    static const char *const acts[] = {"mount", "umount", "start", "stop", "premount",
                                       "postumount"};
    for (size_t i = 0; i < G_N_ELEMENTS(acts); i++)
        if (strcmp(dot + 1, acts[i]) == 0)
            return true;
    return false;
}

static mode_t mask_mode(mode_t mode, bool is_dir_or_link, bool private_path)
{
    if (private_path)
        return mode & (S_IFMT | 0700);
    return mode & (S_IFMT | (is_dir_or_link ? 0755 : 0750));
}

static void fill_stat_common(cfs_fuse *f, struct stat *st)
{
    st->st_uid = 0;
    st->st_gid = f->cfg.www_data_gid;
    st->st_blksize = 4096;
}

static void attr_from_memdb(cfs_fuse *f, const memdb_attr *a, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    fill_stat_common(f, st);
    st->st_ino = to_fuse(a->inode);
    bool quorate = cfs_status_is_quorate(f->cfg.status);
    if (a->inode == 0) {
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
    } else {
        g_autofree char *path = memdb_path(f->cfg.memdb, a->inode);
        bool priv = path && memdb_path_is_private(path);
        mode_t mode;
        if (a->type == CFS_TYPE_DIR) {
            mode = S_IFDIR | (quorate ? 0777 : 0555);
            st->st_nlink = 2;
        } else {
            mode = S_IFREG | (quorate ? 0666 : 0444);
            const char *base = path ? strrchr(path, '/') : NULL;
            base = base ? base + 1 : path;
            if (base && name_is_openvz_script(base))
                mode |= S_IXUSR;
            st->st_nlink = 1;
        }
        st->st_mode = mask_mode(mode, a->type == CFS_TYPE_DIR, priv);
    }
    st->st_size = a->type == CFS_TYPE_DIR ? 0 : a->size;
    st->st_blocks = (st->st_size + 511) / 512;
    st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec = a->mtime;
}

static void attr_from_virtual(cfs_fuse *f, const virt_entry *v, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    fill_stat_common(f, st);
    st->st_ino = virt_ino(v);
    st->st_nlink = 1;
    if (v->kind == VIRT_SYMLINK) {
        bool quorate = cfs_status_is_quorate(f->cfg.status);
        st->st_mode = mask_mode(S_IFLNK | (quorate ? 0777 : 0555), true, false);
        g_autofree char *target = virt_link_target(f, v);
        st->st_size = (off_t)strlen(target);
    } else {
        st->st_mode = mask_mode(S_IFREG | v->mode, false, false);
        g_autoptr(GBytes) content = v->generate(f);
        st->st_size = (off_t)g_bytes_get_size(content);
    }
    st->st_blocks = (st->st_size + 511) / 512;
}

static void entry_param(cfs_fuse *f, const memdb_attr *a, struct fuse_entry_param *ret)
{
    memset(ret, 0, sizeof(*ret));
    ret->ino = to_fuse(a->inode);
    ret->generation = 1;
    ret->attr_timeout = CFS_FUSE_TIMEOUT;
    ret->entry_timeout = CFS_FUSE_TIMEOUT;
    attr_from_memdb(f, a, &ret->attr);
}

static void reply_entry_memdb(cfs_fuse *f, fuse_req_t req, const memdb_attr *a)
{
    struct fuse_entry_param e;
    entry_param(f, a, &e);
    fuse_reply_entry(req, &e);
}

/* ---------------------------------------------------------------------------------- */
/* helpers */

static cfs_fuse *req_fs(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

/* The path of (parent, name), or NULL if the parent is gone. */
static char *child_path(cfs_fuse *f, fuse_ino_t parent, const char *name)
{
    if (parent == FUSE_ROOT_ID)
        return g_strdup(name);
    g_autofree char *p = memdb_path(f->cfg.memdb, to_memdb(parent));
    if (!p)
        return NULL;
    return g_strconcat(p, "/", name, NULL);
}

static bool is_virtual_child(fuse_ino_t parent, const char *name)
{
    return parent == FUSE_ROOT_ID && virt_by_name(name) != NULL;
}

static int fuse_errno(int r)
{
    return r < 0 ? -r : 0;
}

/* ---------------------------------------------------------------------------------- */
/* operations */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    /* Any file up to the size limit arrives as one write request (spec §4.3). */
    conn->max_write = CFS_MAX_FILE_SIZE;
    conn->max_read = 0;
    /* O_TRUNC stays a separate setattr, like the reference. */
    conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
    conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    cfs_fuse *f = req_fs(req);
    if (parent == FUSE_ROOT_ID) {
        const virt_entry *v = virt_by_name(name);
        if (v) {
            struct fuse_entry_param e = {0};
            e.ino = virt_ino(v);
            e.generation = 1;
            /* virtual content changes without notice: never cache it */
            e.attr_timeout = 0;
            e.entry_timeout = CFS_FUSE_TIMEOUT;
            attr_from_virtual(f, v, &e.attr);
            fuse_reply_entry(req, &e);
            return;
        }
    }
    if (virt_by_ino(parent)) {
        fuse_reply_err(req, EACCES);
        return;
    }
    memdb_attr a;
    int r = memdb_lookup(f->cfg.memdb, to_memdb(parent), name, &a);
    if (r < 0) {
        fuse_reply_err(req, fuse_errno(r));
        return;
    }
    reply_entry_memdb(f, req, &a);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    cfs_fuse *f = req_fs(req);
    struct stat st;
    const virt_entry *v = virt_by_ino(ino);
    if (v) {
        attr_from_virtual(f, v, &st);
        fuse_reply_attr(req, &st, 0);
        return;
    }
    memdb_attr a;
    int r = memdb_getattr(f->cfg.memdb, to_memdb(ino), &a);
    if (r < 0) {
        fuse_reply_err(req, fuse_errno(r));
        return;
    }
    attr_from_memdb(f, &a, &st);
    fuse_reply_attr(req, &st, CFS_FUSE_TIMEOUT);
}

/* chmod/chown never change anything; they succeed only in the allowed forms (§3). */
static int check_chmod_chown(cfs_fuse *f, const struct stat *attr, int to_set, bool priv)
{
    if (to_set & FUSE_SET_ATTR_MODE) {
        mode_t want = attr->st_mode & 07777;
        if (want != (priv ? 0600 : 0640))
            return -EPERM;
    }
    if ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != 0 && attr->st_uid != (uid_t)-1)
        return -EPERM;
    if ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != f->cfg.www_data_gid &&
        attr->st_gid != (gid_t)-1)
        return -EPERM;
    return 0;
}

static uint32_t setattr_mtime(const struct stat *attr, int to_set)
{
    if (to_set & FUSE_SET_ATTR_MTIME_NOW)
        return (uint32_t)time(NULL);
    return (uint32_t)attr->st_mtim.tv_sec;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    (void)fi;
    cfs_fuse *f = req_fs(req);
    int r = 0;
    const virt_entry *v = virt_by_ino(ino);
    if (v) {
        r = check_chmod_chown(f, attr, to_set, false);
        if (r == 0 && (to_set & FUSE_SET_ATTR_SIZE))
            r = virt_is_debug(v) ? 0 : -EIO;
        if (r == 0 && (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)))
            r = -EACCES;
        if (r < 0) {
            fuse_reply_err(req, -r);
            return;
        }
        struct stat st;
        attr_from_virtual(f, v, &st);
        fuse_reply_attr(req, &st, 0);
        return;
    }

    uint64_t inode = to_memdb(ino);
    g_autofree char *path = memdb_path(f->cfg.memdb, inode);
    if (!path) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    r = check_chmod_chown(f, attr, to_set, inode != 0 && memdb_path_is_private(path));
    if (r == 0 && (to_set & FUSE_SET_ATTR_SIZE))
        r = cfs_ops_truncate(f->cfg.ops, path, (uint64_t)attr->st_size);
    /* Only the modification time is kept; an atime-only change (UTIME_OMIT for mtime)
     * succeeds without an operation. */
    if (r >= 0 && (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)))
        r = cfs_ops_utimens(f->cfg.ops, path, setattr_mtime(attr, to_set));
    if (r < 0) {
        fuse_reply_err(req, -r);
        return;
    }
    memdb_attr a;
    if (memdb_getattr(f->cfg.memdb, inode, &a) < 0) {
        /* An unlock request removed an expired lock directory behind the kernel's back
         * (utimens returned 0): reply with its last attributes, drop the cached entry. */
        memset(&a, 0, sizeof(a));
        a.inode = inode;
        a.type = CFS_TYPE_DIR;
        g_autofree char *name = g_path_get_basename(path);
        g_autofree char *dir = g_path_get_dirname(path);
        memdb_attr pa;
        if (memdb_lookup_path(f->cfg.memdb, strcmp(dir, ".") == 0 ? "" : dir, &pa) == 0)
            cfs_fuse_invalidate_entry(f, pa.inode, name, inode);
        struct stat st;
        attr_from_memdb(f, &a, &st);
        fuse_reply_attr(req, &st, 0);
        return;
    }
    struct stat st;
    attr_from_memdb(f, &a, &st);
    fuse_reply_attr(req, &st, CFS_FUSE_TIMEOUT);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    cfs_fuse *f = req_fs(req);
    const virt_entry *v = virt_by_ino(ino);
    if (!v || v->kind != VIRT_SYMLINK) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    g_autofree char *target = virt_link_target(f, v);
    fuse_reply_readlink(req, target);
}

/* Create a file or directory below @parent through ops; fills the new entry's attributes. */
static int create_common(cfs_fuse *f, fuse_ino_t parent, const char *name, bool dir,
                         memdb_attr *ret_attr)
{
    if (is_virtual_child(parent, name) || virt_by_ino(parent))
        return -EACCES;
    g_autofree char *path = child_path(f, parent, name);
    if (!path)
        return -ENOENT;
    int r = dir ? cfs_ops_mkdir(f->cfg.ops, path) : cfs_ops_create(f->cfg.ops, path);
    if (r == 0)
        r = memdb_lookup_path(f->cfg.memdb, path, ret_attr);
    return r;
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    (void)mode;
    cfs_fuse *f = req_fs(req);
    memdb_attr a;
    int r = create_common(f, parent, name, true, &a);
    if (r < 0) {
        fuse_reply_err(req, -r);
        return;
    }
    reply_entry_memdb(f, req, &a);
}

static void remove_common(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir)
{
    cfs_fuse *f = req_fs(req);
    if (is_virtual_child(parent, name) || virt_by_ino(parent)) {
        fuse_reply_err(req, EACCES);
        return;
    }
    g_autofree char *path = child_path(f, parent, name);
    int r = !path ? -ENOENT : dir ? cfs_ops_rmdir(f->cfg.ops, path) : cfs_ops_unlink(f->cfg.ops, path);
    fuse_reply_err(req, fuse_errno(r));
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    remove_common(req, parent, name, false);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    remove_common(req, parent, name, true);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    cfs_fuse *f = req_fs(req);
    if (is_virtual_child(parent, name) || is_virtual_child(newparent, newname) ||
        virt_by_ino(parent) || virt_by_ino(newparent)) {
        fuse_reply_err(req, EACCES);
        return;
    }
    /* RENAME_NOREPLACE / RENAME_EXCHANGE cannot be expressed on the wire. */
    if (flags != 0) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    g_autofree char *from = child_path(f, parent, name);
    g_autofree char *to = child_path(f, newparent, newname);
    int r = from && to ? cfs_ops_rename(f->cfg.ops, from, to) : -ENOENT;
    fuse_reply_err(req, fuse_errno(r));
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    (void)ino;
    (void)newparent;
    (void)newname;
    fuse_reply_err(req, EPERM);
}

static void open_virtual(cfs_fuse *f, fuse_req_t req, const virt_entry *v,
                         struct fuse_file_info *fi)
{
    virt_handle *h = g_new0(virt_handle, 1);
    h->content = v->generate(f);
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->direct_io = 1;
    fi->keep_cache = 0;
    fuse_reply_open(req, fi);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    cfs_fuse *f = req_fs(req);
    const virt_entry *v = virt_by_ino(ino);
    if (v) {
        if (v->kind != VIRT_FILE) {
            fuse_reply_err(req, EACCES);
            return;
        }
        open_virtual(f, req, v, fi);
        return;
    }
    memdb_attr a;
    int r = memdb_getattr(f->cfg.memdb, to_memdb(ino), &a);
    if (r < 0) {
        fuse_reply_err(req, -r);
        return;
    }
    if (a.type == CFS_TYPE_DIR) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    fi->fh = 0;
    fi->direct_io = 1;
    fi->keep_cache = 0;
    fuse_reply_open(req, fi);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    (void)mode;
    cfs_fuse *f = req_fs(req);
    memdb_attr a;
    int r = create_common(f, parent, name, false, &a);
    if (r < 0) {
        fuse_reply_err(req, -r);
        return;
    }
    struct fuse_entry_param e;
    entry_param(f, &a, &e);
    fi->fh = 0;
    fi->direct_io = 1;
    fi->keep_cache = 0;
    fuse_reply_create(req, &e, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    cfs_fuse *f = req_fs(req);
    if (virt_by_ino(ino)) {
        virt_handle *h = (virt_handle *)(uintptr_t)fi->fh;
        gsize len = 0;
        const char *data = h ? g_bytes_get_data(h->content, &len) : NULL;
        if (!data || off < 0 || (size_t)off >= len) {
            fuse_reply_buf(req, NULL, 0);
            return;
        }
        fuse_reply_buf(req, data + off, MIN(size, len - (size_t)off));
        return;
    }
    if (off < 0) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    size = MIN(size, (size_t)CFS_MAX_FILE_SIZE);
    g_autofree char *buf = g_malloc(size ? size : 1);
    ssize_t n = memdb_read(f->cfg.memdb, to_memdb(ino), buf, size, (uint64_t)off);
    if (n < 0) {
        fuse_reply_err(req, (int)-n);
        return;
    }
    fuse_reply_buf(req, buf, (size_t)n);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    (void)fi;
    cfs_fuse *f = req_fs(req);
    const virt_entry *v = virt_by_ino(ino);
    if (v) {
        /* .debug: "1\n" or "0\n" at offset 0 toggles debug logging (spec §2.8). */
        if (virt_is_debug(v) && off == 0 && size >= 2 && buf[1] == '\n' &&
            (buf[0] == '0' || buf[0] == '1')) {
            log_set_debug(buf[0] == '1');
            g_log(G_LOG_DOMAIN_FUSE, G_LOG_LEVEL_MESSAGE, "debug level set to %c", buf[0]);
            fuse_reply_write(req, 2);
            return;
        }
        fuse_reply_err(req, EIO);
        return;
    }
    if (off < 0) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    g_autofree char *path = memdb_path(f->cfg.memdb, to_memdb(ino));
    int r = path ? cfs_ops_write(f->cfg.ops, path, (uint64_t)off, buf, size) : -ENOENT;
    if (r < 0) {
        fuse_reply_err(req, -r);
        return;
    }
    fuse_reply_write(req, (size_t)r);
}

/* Nothing to do on close: ENOSYS makes the kernel stop sending FLUSH at all, which
 * saves one round trip per close(). */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    (void)fi;
    fuse_reply_err(req, ENOSYS);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (virt_by_ino(ino) && fi->fh) {
        virt_handle *h = (virt_handle *)(uintptr_t)fi->fh;
        g_bytes_unref(h->content);
        g_free(h);
    }
    fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)ino;
    (void)datasync;
    (void)fi;
    fuse_reply_err(req, 0);
}

/* A directory listing snapshot taken at opendir. */
typedef struct dir_handle {
    GArray *entries; /* memdb_dirent; inode is the FUSE inode, type a DT_* value */
} dir_handle;

static void dirent_clear(gpointer p)
{
    g_free(((memdb_dirent *)p)->name);
}

static void dir_add(GArray *arr, fuse_ino_t ino, uint8_t dtype, const char *name)
{
    memdb_dirent d = {.inode = ino, .type = dtype, .name = g_strdup(name)};
    g_array_append_val(arr, d);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    cfs_fuse *f = req_fs(req);
    if (virt_by_ino(ino)) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    GArray *stored = NULL;
    int r = memdb_list(f->cfg.memdb, to_memdb(ino), &stored);
    if (r < 0) {
        fuse_reply_err(req, -r);
        return;
    }
    dir_handle *h = g_new0(dir_handle, 1);
    h->entries = g_array_sized_new(FALSE, FALSE, sizeof(memdb_dirent), stored->len + 12);
    g_array_set_clear_func(h->entries, dirent_clear);
    dir_add(h->entries, ino, DT_DIR, ".");
    dir_add(h->entries, ino, DT_DIR, "..");
    if (ino == FUSE_ROOT_ID) {
        for (size_t i = 0; i < G_N_ELEMENTS(virtuals); i++)
            dir_add(h->entries, virt_ino(&virtuals[i]),
                    virtuals[i].kind == VIRT_SYMLINK ? DT_LNK : DT_REG, virtuals[i].name);
    }
    for (guint i = 0; i < stored->len; i++) {
        memdb_dirent *d = &g_array_index(stored, memdb_dirent, i);
        if (ino == FUSE_ROOT_ID && virt_by_name(d->name))
            continue;
        dir_add(h->entries, to_fuse(d->inode), d->type == CFS_TYPE_DIR ? DT_DIR : DT_REG,
                d->name);
    }
    g_array_free(stored, TRUE);
    fi->fh = (uint64_t)(uintptr_t)h;
    fuse_reply_open(req, fi);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    (void)ino;
    dir_handle *h = (dir_handle *)(uintptr_t)fi->fh;
    g_autofree char *buf = g_malloc(size);
    size_t used = 0;
    for (guint i = (guint)MAX(off, 0); h && i < h->entries->len; i++) {
        memdb_dirent *d = &g_array_index(h->entries, memdb_dirent, i);
        struct stat st = {0};
        st.st_ino = d->inode;
        st.st_mode = (mode_t)DTTOIF(d->type);
        size_t n = fuse_add_direntry(req, buf + used, size - used, d->name, &st, (off_t)i + 1);
        if (n > size - used)
            break;
        used += n;
    }
    fuse_reply_buf(req, buf, used);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    dir_handle *h = (dir_handle *)(uintptr_t)fi->fh;
    if (h) {
        g_array_free(h->entries, TRUE);
        g_free(h);
    }
    fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    cfs_fuse *f = req_fs(req);
    uint64_t bytes, entries;
    memdb_usage(f->cfg.memdb, &bytes, &entries);
    uint64_t used_blocks = (bytes + CFS_BLOCK_SIZE - 1) / CFS_BLOCK_SIZE;
    struct statvfs sv = {0};
    sv.f_bsize = CFS_BLOCK_SIZE;
    sv.f_frsize = CFS_BLOCK_SIZE;
    sv.f_blocks = CFS_MAX_BLOCKS;
    /* clamped at 0 (W2) */
    sv.f_bfree = sv.f_bavail = used_blocks < CFS_MAX_BLOCKS ? CFS_MAX_BLOCKS - used_blocks : 0;
    sv.f_files = CFS_MAX_INODES;
    sv.f_ffree = sv.f_favail = entries < CFS_MAX_INODES ? CFS_MAX_INODES - entries : 0;
    sv.f_namemax = CFS_MAX_NAME_LEN;
    fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops cfs_fuse_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .readlink = op_readlink,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .rename = op_rename,
    .link = op_link,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .releasedir = op_releasedir,
    .fsyncdir = op_fsync,
    .statfs = op_statfs,
    .create = op_create,
};

/* ---------------------------------------------------------------------------------- */
/* invalidation */

typedef struct inval_req {
    fuse_ino_t parent; /* 0: inode-only */
    char *name;
    fuse_ino_t ino;    /* 0: none; UINT64_MAX: everything */
} inval_req;

static void inval_all(cfs_fuse *f)
{
    g_autoptr(GArray) inodes = memdb_inodes(f->cfg.memdb);
    for (guint i = 0; i < inodes->len; i++)
        fuse_lowlevel_notify_inval_inode(f->se, to_fuse(g_array_index(inodes, uint64_t, i)), -1,
                                         0);
    for (size_t i = 0; i < G_N_ELEMENTS(virtuals); i++)
        fuse_lowlevel_notify_inval_inode(f->se, virt_ino(&virtuals[i]), -1, 0);
}

static gpointer inval_thread_main(gpointer data)
{
    cfs_fuse *f = data;
    for (;;) {
        inval_req *r = g_async_queue_pop(f->inval_queue);
        if (!r->name && r->ino == 0 && r->parent == 0) { /* stop marker */
            g_free(r);
            break;
        }
        if (r->ino == UINT64_MAX)
            inval_all(f);
        else {
            if (r->parent && r->name)
                fuse_lowlevel_notify_inval_entry(f->se, r->parent, r->name, strlen(r->name));
            if (r->ino)
                fuse_lowlevel_notify_inval_inode(f->se, r->ino, -1, 0);
        }
        g_free(r->name);
        g_free(r);
    }
    return NULL;
}

static void inval_push(cfs_fuse *f, fuse_ino_t parent, const char *name, fuse_ino_t ino)
{
    if (!f || !f->inval_queue)
        return;
    inval_req *r = g_new0(inval_req, 1);
    r->parent = parent;
    r->name = g_strdup(name);
    r->ino = ino;
    g_async_queue_push(f->inval_queue, r);
}

void cfs_fuse_invalidate_entry(cfs_fuse *f, uint64_t parent_inode, const char *name,
                               uint64_t inode)
{
    inval_push(f, to_fuse(parent_inode), name, to_fuse(inode));
}

void cfs_fuse_invalidate_all(cfs_fuse *f)
{
    inval_push(f, 0, NULL, UINT64_MAX);
}

void cfs_fuse_on_change(cfs_fuse *f, const memdb_change *c)
{
    if (c->kind == MEMDB_CHANGE_RELOAD)
        cfs_fuse_invalidate_all(f);
    else
        cfs_fuse_invalidate_entry(f, c->parent, c->name, c->inode);
}

/* ---------------------------------------------------------------------------------- */
/* lifecycle */

cfs_fuse *cfs_fuse_new(const cfs_fuse_config *config, GError **error)
{
    cfs_fuse *f = g_new0(cfs_fuse, 1);
    f->cfg = *config;
    f->mountpoint = g_strdup(config->mountpoint);

    char *argv[] = {"pmxcfs", "-o", "default_permissions,allow_other", NULL};
    struct fuse_args args = FUSE_ARGS_INIT(3, argv);
    f->se = fuse_session_new(&args, &cfs_fuse_ops, sizeof(cfs_fuse_ops), f);
    fuse_opt_free_args(&args);
    if (!f->se) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot create FUSE session");
        cfs_fuse_free(f);
        return NULL;
    }
    if (fuse_session_mount(f->se, f->mountpoint) != 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "fuse_mount failed for '%s'",
                    f->mountpoint);
        cfs_fuse_free(f);
        return NULL;
    }
    f->mounted = true;
    f->inval_queue = g_async_queue_new();
    f->inval_thread = g_thread_new("fuse-inval", inval_thread_main, f);
    return f;
}

int cfs_fuse_run(cfs_fuse *f)
{
    struct fuse_loop_config *lc = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(lc, 0);
    fuse_loop_cfg_set_max_threads(lc, 16);
    fuse_loop_cfg_set_idle_threads(lc, 8);
    /* SIGTERM, SIGINT and SIGHUP end the loop; the caller then unmounts. */
    if (fuse_set_signal_handlers(f->se) != 0) {
        fuse_loop_cfg_destroy(lc);
        return -1;
    }
    int r = fuse_session_loop_mt(f->se, lc);
    fuse_remove_signal_handlers(f->se);
    fuse_loop_cfg_destroy(lc);
    return r;
}

void cfs_fuse_exit(cfs_fuse *f)
{
    if (f && f->se)
        fuse_session_exit(f->se);
}

void cfs_fuse_free(cfs_fuse *f)
{
    if (!f)
        return;
    if (f->inval_thread) {
        g_async_queue_push(f->inval_queue, g_new0(inval_req, 1));
        g_thread_join(f->inval_thread);
    }
    if (f->inval_queue)
        g_async_queue_unref(f->inval_queue);
    if (f->se) {
        if (f->mounted)
            fuse_session_unmount(f->se);
        fuse_session_destroy(f->se);
    }
    g_free(f->mountpoint);
    g_free(f);
}
