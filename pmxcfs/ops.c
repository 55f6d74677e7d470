/*
 * ops: sender-side checks and dispatch of file-system operations.
 *
 * The limits of spec §5.1 (total size, entry count, name length) are checked here
 * against the local tree, never at apply time, so replicas always decide alike.  In
 * local mode an operation is applied at once with writer 0 and the local clock; in
 * cluster mode it becomes one message through the cluster backend.
 */
#include "pmxcfs/ops.h"

#include <errno.h>
#include <string.h>
#include <time.h>

struct cfs_ops {
    memdb *m;
    cfs_status *st;
    const cfs_ops_cluster *cluster;
};

int cfs_op_apply(memdb *m, const cfs_op *op, uint32_t writer, uint32_t mtime)
{
    switch (op->type) {
    case CFS_OP_WRITE:
        return memdb_write(m, op->path, op->offset, op->data, op->size,
                           (op->flags & CFS_OP_FLAG_TRUNCATE) != 0, writer, mtime);
    case CFS_OP_MKDIR:
        return memdb_mkdir(m, op->path, writer, mtime);
    case CFS_OP_DELETE:
        return memdb_delete(m, op->path, writer, mtime);
    case CFS_OP_RENAME:
        return memdb_rename(m, op->path, op->to, writer, mtime);
    case CFS_OP_CREATE:
        return memdb_create(m, op->path, writer, mtime);
    case CFS_OP_MTIME:
        return memdb_mtime(m, op->path, writer, op->offset);
    case CFS_OP_UNLOCK: {
        uint8_t csum[32];
        if (memdb_lock_checksum(m, op->path, csum) == 0 && memcmp(csum, op->checksum, 32) == 0)
            memdb_delete(m, op->path, writer, mtime);
        return 0;
    }
    case CFS_OP_UNLOCK_REQUEST:
        return 0;
    }
    return -EINVAL;
}

cfs_ops *cfs_ops_new(memdb *m, cfs_status *st, const cfs_ops_cluster *cluster)
{
    cfs_ops *o = g_new0(cfs_ops, 1);
    o->m = m;
    o->st = st;
    o->cluster = cluster;
    return o;
}

void cfs_ops_free(cfs_ops *o)
{
    g_free(o);
}

static int ops_submit(cfs_ops *o, const cfs_op *op)
{
    if (o->cluster)
        return o->cluster->submit(o->cluster->user_data, op);
    return cfs_op_apply(o->m, op, 0, (uint32_t)time(NULL));
}

/* Length of the last path component. */
static size_t last_name_len(const char *path)
{
    size_t len = strlen(path);
    while (len > 0 && path[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && path[start - 1] != '/')
        start--;
    return len - start;
}

static int check_quorum(cfs_ops *o)
{
    return cfs_status_is_quorate(o->st) ? 0 : -EACCES;
}

static int check_new_entry(cfs_ops *o, const char *path)
{
    if (last_name_len(path) > CFS_MAX_NAME_LEN)
        return -ENAMETOOLONG;
    uint64_t bytes, entries;
    memdb_usage(o->m, &bytes, &entries);
    if (entries + 1 > CFS_MAX_INODES)
        return -ENOSPC;
    return 0;
}

/* Refuse growth beyond the total size limit (shrinking is always allowed). */
static int check_growth(cfs_ops *o, const char *path, uint64_t new_size_if_grows,
                        bool truncate)
{
    memdb_attr a;
    uint64_t old_size = memdb_lookup_path(o->m, path, &a) == 0 ? a.size : 0;
    uint64_t new_size = truncate ? new_size_if_grows : MAX(old_size, new_size_if_grows);
    if (new_size <= old_size)
        return 0;
    uint64_t bytes, entries;
    memdb_usage(o->m, &bytes, &entries);
    if (bytes - old_size + new_size > CFS_MAX_TOTAL_SIZE)
        return -ENOSPC;
    return 0;
}

int cfs_ops_create(cfs_ops *o, const char *path)
{
    int r;
    if ((r = check_quorum(o)) < 0 || (r = check_new_entry(o, path)) < 0)
        return r;
    cfs_op op = {.type = CFS_OP_CREATE, .path = path};
    return ops_submit(o, &op);
}

int cfs_ops_mkdir(cfs_ops *o, const char *path)
{
    int r;
    if ((r = check_quorum(o)) < 0 || (r = check_new_entry(o, path)) < 0)
        return r;
    cfs_op op = {.type = CFS_OP_MKDIR, .path = path};
    return ops_submit(o, &op);
}

int cfs_ops_write(cfs_ops *o, const char *path, uint64_t offset, const void *data, size_t len)
{
    int r;
    if ((r = check_quorum(o)) < 0)
        return r;
    /* 64-bit checks before the 32-bit wire fields (W20).  A write that crosses the size
     * limit writes up to the limit and returns a short count, like a POSIX file system
     * at its maximum file size; the next write then fails with EFBIG.  This makes one
     * write() of 1 MiB + 1 bytes return 1048576 however the kernel splits the buffer
     * (errno table, probe step 32). */
    if (offset >= CFS_MAX_FILE_SIZE && len > 0)
        return -EFBIG;
    if (offset > CFS_MAX_FILE_SIZE)
        return -EFBIG;
    if (len > CFS_MAX_FILE_SIZE - offset)
        len = CFS_MAX_FILE_SIZE - offset;
    if ((r = check_growth(o, path, offset + len, false)) < 0)
        return r;
    cfs_op op = {.type = CFS_OP_WRITE,
                 .path = path,
                 .data = data,
                 .size = (uint32_t)len,
                 .offset = (uint32_t)offset};
    return ops_submit(o, &op);
}

int cfs_ops_truncate(cfs_ops *o, const char *path, uint64_t size)
{
    int r;
    if ((r = check_quorum(o)) < 0)
        return r;
    if (size > CFS_MAX_FILE_SIZE)
        return -EFBIG;
    if ((r = check_growth(o, path, size, true)) < 0)
        return r;
    cfs_op op = {.type = CFS_OP_WRITE,
                 .path = path,
                 .offset = (uint32_t)size,
                 .flags = CFS_OP_FLAG_TRUNCATE};
    return ops_submit(o, &op);
}

/* unlink and rmdir are one storage operation; check the type here (W12). */
static int ops_delete(cfs_ops *o, const char *path, bool want_dir)
{
    int r;
    if ((r = check_quorum(o)) < 0)
        return r;
    memdb_attr a;
    if (memdb_lookup_path(o->m, path, &a) == 0) {
        if (want_dir && a.type != CFS_TYPE_DIR)
            return -ENOTDIR;
        if (!want_dir && a.type == CFS_TYPE_DIR)
            return -EISDIR;
    }
    cfs_op op = {.type = CFS_OP_DELETE, .path = path};
    return ops_submit(o, &op);
}

int cfs_ops_unlink(cfs_ops *o, const char *path)
{
    return ops_delete(o, path, false);
}

int cfs_ops_rmdir(cfs_ops *o, const char *path)
{
    return ops_delete(o, path, true);
}

int cfs_ops_rename(cfs_ops *o, const char *from, const char *to)
{
    int r;
    if ((r = check_quorum(o)) < 0)
        return r;
    if (last_name_len(to) > CFS_MAX_NAME_LEN)
        return -ENAMETOOLONG;
    cfs_op op = {.type = CFS_OP_RENAME, .path = from, .to = to};
    return ops_submit(o, &op);
}

int cfs_ops_utimens(cfs_ops *o, const char *path, uint32_t mtime)
{
    int r;
    if ((r = check_quorum(o)) < 0)
        return r;
    cfs_op op = {.type = CFS_OP_MTIME, .path = path, .offset = mtime};
    uint8_t csum[32];
    if (mtime == 0 && memdb_lock_checksum(o->m, path, csum) == 0) {
        /* An unlock request (spec §7). */
        if (!o->cluster) {
            if (memdb_lock_expired(o->m, path, csum)) {
                cfs_op del = {.type = CFS_OP_DELETE, .path = path};
                return ops_submit(o, &del);
            }
        } else {
            cfs_op req = {.type = CFS_OP_UNLOCK_REQUEST, .path = path};
            memcpy(req.checksum, csum, 32);
            o->cluster->send_async(o->cluster->user_data, &req);
        }
    }
    return ops_submit(o, &op);
}
