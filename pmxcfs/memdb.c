/*
 * memdb: the in-RAM tree, its version scheme, and write-through to SQLite.
 *
 * Locking: `apply_lock` (recursive) serialises every mutation (`merge_lock` every use
 * of SQLite, see memdb-log.c); `tree_lock` (rw) is taken for writing only while pointers
 * and bytes change, so readers never wait for SQLite.  An apply function validates
 * against the tree (no tree lock needed: only apply-lock holders mutate), publishes the
 * change in RAM and makes it durable through the operation log (memdb-log.c).  When
 * that fails the tree is reloaded from database + log, so RAM equals disk again.
 *
 * Entries are owned by `index` (inode -> entry); a directory's `children` table maps
 * names to the same entries without owning them.  The root (inode 0) carries the
 * global version, writer and mtime.
 */
#include "pmxcfs/memdb-private.h"

#include <errno.h>
#include <string.h>

/* ---------------------------------------------------------------------------------- */
/* entries */

memdb_entry *mdb_entry_new(uint64_t inode, uint64_t parent, uint64_t version,
                              uint32_t writer, uint32_t mtime, uint8_t type, const char *name)
{
    memdb_entry *e = g_new0(memdb_entry, 1);
    e->inode = inode;
    e->parent = parent;
    e->version = version;
    e->writer = writer;
    e->mtime = mtime;
    e->type = type;
    e->name = g_strdup(name);
    return e;
}

void mdb_entry_free(memdb_entry *e)
{
    if (!e)
        return;
    if (e->type == CFS_TYPE_DIR) {
        if (e->children)
            g_hash_table_destroy(e->children);
    } else {
        g_free(e->data);
    }
    g_free(e->name);
    g_free(e);
}

static guint mdb_entry_child_count(const memdb_entry *e)
{
    return e->type == CFS_TYPE_DIR && e->children ? g_hash_table_size(e->children) : 0;
}

memdb_entry *mdb_entry_child(const memdb_entry *dir, const char *name)
{
    if (dir->type != CFS_TYPE_DIR || !dir->children)
        return NULL;
    return g_hash_table_lookup(dir->children, name);
}

void mdb_entry_attach(memdb_entry *dir, memdb_entry *e)
{
    if (!dir->children)
        dir->children = g_hash_table_new(g_str_hash, g_str_equal);
    e->parent = dir->inode;
    g_hash_table_replace(dir->children, e->name, e);
}

static void mdb_entry_detach(memdb_entry *dir, memdb_entry *e)
{
    if (dir->children)
        g_hash_table_remove(dir->children, e->name);
}

void mdb_entry_attr(const memdb_entry *e, memdb_attr *ret)
{
    ret->inode = e->inode;
    ret->parent = e->parent;
    ret->version = e->version;
    ret->writer = e->writer;
    ret->mtime = e->mtime;
    ret->size = e->type == CFS_TYPE_DIR ? 0 : e->size;
    ret->type = e->type;
}

memdb_entry *mdb_get(memdb *m, uint64_t inode)
{
    return g_hash_table_lookup(m->index, &inode);
}

static memdb_entry *mdb_entry_parent(memdb *m, const memdb_entry *e)
{
    return e->inode == 0 ? NULL : mdb_get(m, e->parent);
}

/* ---------------------------------------------------------------------------------- */
/* paths */

/* Iterate the components of a path, skipping empty ones. */
typedef struct path_iter {
    const char *p;
    const char *comp;
    size_t len;
} path_iter;

static bool path_next(path_iter *it)
{
    while (*it->p == '/')
        it->p++;
    if (*it->p == '\0')
        return false;
    it->comp = it->p;
    it->p = strchrnul(it->p, '/');
    it->len = (size_t)(it->p - it->comp);
    return true;
}

/* Look up one child by a (not NUL-terminated) name. */
static memdb_entry *entry_child_n(const memdb_entry *dir, const char *name, size_t len)
{
    char buf[256];
    if (len < sizeof(buf)) {
        memcpy(buf, name, len);
        buf[len] = '\0';
        return mdb_entry_child(dir, buf);
    }
    g_autofree char *copy = g_strndup(name, len);
    return mdb_entry_child(dir, copy);
}

memdb_entry *mdb_lookup_path(memdb *m, const char *path)
{
    path_iter it = {.p = path};
    memdb_entry *cur = m->root;
    while (cur && path_next(&it))
        cur = entry_child_n(cur, it.comp, it.len);
    return cur;
}

/*
 * Resolve the parent directory of @path and its last component.  Returns 0 with
 * *ret_parent set (which may be a non-directory: the caller reports ENOTDIR in its own
 * precedence), or -ENOENT when an intermediate component is missing or not a
 * directory.  For the root path the name is "" and the parent is the root.
 */
static int resolve_parent(memdb *m, const char *path, memdb_entry **ret_parent,
                          char **ret_name)
{
    path_iter it = {.p = path};
    memdb_entry *cur = m->root;
    const char *last = NULL;
    size_t last_len = 0;

    while (path_next(&it)) {
        if (last) {
            cur = cur->type == CFS_TYPE_DIR ? entry_child_n(cur, last, last_len) : NULL;
            if (!cur)
                return -ENOENT;
        }
        last = it.comp;
        last_len = it.len;
    }
    *ret_parent = cur;
    *ret_name = last ? g_strndup(last, last_len) : g_strdup("");
    return 0;
}

bool memdb_name_is_bad(const char *name)
{
    return name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

/* Split a normalised path into at most @max components; returns the count, or
 * max + 1 when there are more. */
static int path_split(const char *path, path_iter *comps, int max)
{
    path_iter it = {.p = path};
    int n = 0;
    while (path_next(&it)) {
        if (n == max)
            return max + 1;
        comps[n++] = it;
    }
    return n;
}

static bool comp_is(const path_iter *c, const char *s)
{
    return c->len == strlen(s) && memcmp(c->comp, s, c->len) == 0;
}

/* LDH host name rule (spec §6.1). */
bool mdb_name_is_ldh(const char *s, size_t len)
{
    if (len == 0 || s[0] == '-' || s[len - 1] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!g_ascii_isalnum(c) && c != '-')
            return false;
    }
    return true;
}

/* The directory of a guest type's configs: "qemu-server", "openvz" or "lxc" (§6.1). */
const char *mdb_vm_kind_dir(vm_type type)
{
    switch (type) {
    case VMTYPE_QEMU:
        return "qemu-server";
    case VMTYPE_OPENVZ:
        return "openvz";
    case VMTYPE_LXC:
        return "lxc";
    }
    return "unknown";
}

static bool vm_kind_parse(const char *s, size_t len, vm_type *ret)
{
    for (vm_type t = VMTYPE_QEMU; t <= VMTYPE_LXC; t++) {
        const char *dir = mdb_vm_kind_dir(t);
        if (strlen(dir) == len && memcmp(s, dir, len) == 0) {
            *ret = t;
            return true;
        }
    }
    return false;
}

/* "<vmid>.conf": decimal without leading zero, at most 2^32 - 1. */
bool mdb_vm_conf_name_parse(const char *s, size_t len, uint32_t *ret_vmid)
{
    if (len < 6 || memcmp(s + len - 5, ".conf", 5) != 0)
        return false;
    size_t digits = len - 5;
    if (digits > 10 || s[0] < '1' || s[0] > '9')
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < digits; i++) {
        if (!g_ascii_isdigit(s[i]))
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > UINT32_MAX)
        return false;
    *ret_vmid = (uint32_t)v;
    return true;
}

bool memdb_parse_vm_path(const char *path, uint32_t *ret_vmid, vm_type *ret_type,
                         char **ret_node)
{
    path_iter c[4];
    if (path_split(path, c, 4) != 4 || !comp_is(&c[0], "nodes") ||
        !mdb_name_is_ldh(c[1].comp, c[1].len))
        return false;
    vm_type type;
    uint32_t vmid;
    if (!vm_kind_parse(c[2].comp, c[2].len, &type) ||
        !mdb_vm_conf_name_parse(c[3].comp, c[3].len, &vmid))
        return false;
    if (ret_vmid)
        *ret_vmid = vmid;
    if (ret_type)
        *ret_type = type;
    if (ret_node)
        *ret_node = g_strndup(c[1].comp, c[1].len);
    return true;
}

bool memdb_path_is_private(const char *path)
{
    path_iter c[3];
    int n = path_split(path, c, 3);
    if (n >= 1 && comp_is(&c[0], "priv"))
        return true;
    return n >= 3 && comp_is(&c[0], "nodes") && comp_is(&c[2], "priv");
}

const char *memdb_vm_type_name(vm_type type)
{
    switch (type) {
    case VMTYPE_QEMU:
        return "qemu";
    case VMTYPE_OPENVZ:
        return "openvz";
    case VMTYPE_LXC:
        return "lxc";
    }
    return "unknown";
}

/* Build an entry's path by walking its parents. */
char *mdb_entry_path(memdb *m, const memdb_entry *e)
{
    if (e->inode == 0)
        return g_strdup("");
    GPtrArray *names = g_ptr_array_new();
    const memdb_entry *cur = e;
    while (cur && cur->inode != 0) {
        g_ptr_array_add(names, cur->name);
        cur = mdb_entry_parent(m, cur);
        if (names->len > 4096) /* defensive: a cycle would never end */
            break;
    }
    GString *s = g_string_new(NULL);
    for (guint i = names->len; i > 0; i--) {
        if (s->len)
            g_string_append_c(s, '/');
        g_string_append(s, g_ptr_array_index(names, i - 1));
    }
    g_ptr_array_free(names, TRUE);
    return g_string_free(s, FALSE);
}

/* True if @e is the directory "priv/lock", i.e. its children are lock directories. */
static bool mdb_entry_is_lock_parent(memdb *m, const memdb_entry *e)
{
    if (e->type != CFS_TYPE_DIR || e->inode == 0 || strcmp(e->name, "lock") != 0)
        return false;
    const memdb_entry *p = mdb_entry_parent(m, e);
    return p && p->inode != 0 && p->parent == 0 && strcmp(p->name, "priv") == 0;
}

bool mdb_entry_is_lock_dir(memdb *m, const memdb_entry *e)
{
    if (e->type != CFS_TYPE_DIR || e->inode == 0)
        return false;
    const memdb_entry *p = mdb_entry_parent(m, e);
    return p && mdb_entry_is_lock_parent(m, p);
}

/* ---------------------------------------------------------------------------------- */
/* clock, notifications */

uint64_t mdb_now(memdb *m)
{
    if (m->opts.now)
        return m->opts.now(m->opts.now_data);
    return (uint64_t)(g_get_monotonic_time() / G_USEC_PER_SEC);
}

void mdb_notify(memdb *m, memdb_change_kind kind, const char *path, const memdb_entry *e,
                   uint64_t parent, const char *name)
{
    if (!m->opts.on_change || m->replaying)
        return;
    memdb_change c = {
        .kind = kind,
        .path = path,
        .inode = e ? e->inode : 0,
        .parent = parent,
        .name = name,
    };
    m->opts.on_change(m->opts.change_data, &c);
}

/* ---------------------------------------------------------------------------------- */
/* loading */

typedef struct load_state {
    GPtrArray *entries;
    bool have_version;
    uint64_t version;
    uint32_t writer;
    uint32_t mtime;
    GString *errors;
    guint nerrors;
} load_state;

static void load_error(load_state *st, const char *what, uint64_t inode, uint64_t parent,
                       const char *name, uint64_t version, uint32_t mtime)
{
    g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_CRITICAL,
          "%s (inode = %" G_GUINT64_FORMAT ", parent = %" G_GUINT64_FORMAT
          ", name = '%s', version = %" G_GUINT64_FORMAT ", mtime = %u)",
          what, inode, parent, name, version, mtime);
    if (st->nerrors++ == 0)
        g_string_printf(st->errors, "%s (inode %" G_GUINT64_FORMAT ", name '%s')", what, inode,
                        name);
}

static int load_row(void *user_data, const database_row *row)
{
    load_state *st = user_data;

    if (row->inode == 0) {
        if (strcmp(row->name, "__version__") != 0) {
            load_error(st, "root inode has unexpected name", row->inode, row->parent,
                       row->name, row->version, row->mtime);
            return 0;
        }
        st->have_version = true;
        st->version = row->version;
        st->writer = row->writer;
        st->mtime = row->mtime;
        return 0;
    }
    if (row->name[0] == '\0') {
        load_error(st, "inode has no name", row->inode, row->parent, row->name, row->version,
                   row->mtime);
        return 0;
    }
    if (row->type != CFS_TYPE_DIR && row->type != CFS_TYPE_REG) {
        load_error(st, "inode has unknown type", row->inode, row->parent, row->name,
                   row->version, row->mtime);
        return 0;
    }
    if (row->type == CFS_TYPE_DIR && row->size > 0) {
        load_error(st, "directory inode contains data", row->inode, row->parent, row->name,
                   row->version, row->mtime);
        return 0;
    }
    memdb_entry *e = mdb_entry_new(row->inode, row->parent, row->version, row->writer, row->mtime,
                               row->type, row->name);
    if (row->type == CFS_TYPE_REG && row->size > 0) {
        e->data = g_memdup2(row->data, row->size);
        e->size = e->capacity = row->size;
    }
    g_ptr_array_add(st->entries, e);
    return 0;
}

/* Build a new tree from the database.  On failure returns -EINVAL/-EIO with @error set
 * and leaves @m untouched. */
static int memdb_load(memdb *m, GHashTable **ret_index, memdb_entry **ret_root,
                      uint64_t *ret_bytes, bool *ret_have_version, GError **error)
{
    load_state st = {.entries = g_ptr_array_new(), .errors = g_string_new(NULL)};
    GHashTable *index = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                              (GDestroyNotify)mdb_entry_free);
    int r = database_load(m->db, load_row, &st, error);
    if (r < 0) {
        g_ptr_array_set_free_func(st.entries, (GDestroyNotify)mdb_entry_free);
        goto fail;
    }

    memdb_entry *root = mdb_entry_new(0, 0, st.have_version ? st.version : 1, st.writer, st.mtime,
                                  CFS_TYPE_DIR, "");
    g_hash_table_insert(index, &root->inode, root);
    uint64_t bytes = 0;
    for (guint i = 0; i < st.entries->len; i++) {
        memdb_entry *e = g_ptr_array_index(st.entries, i);
        g_hash_table_insert(index, &e->inode, e);
        bytes += e->type == CFS_TYPE_REG ? e->size : 0;
    }
    /* Link children to parents; rows come in any order (parents may follow children). */
    for (guint i = 0; i < st.entries->len; i++) {
        memdb_entry *e = g_ptr_array_index(st.entries, i);
        memdb_entry *p = g_hash_table_lookup(index, &e->parent);
        if (!p) {
            load_error(&st, "missing directory inode", e->inode, e->parent, e->name,
                       e->version, e->mtime);
            continue;
        }
        if (p->type != CFS_TYPE_DIR) {
            load_error(&st, "parent is not a directory", e->inode, e->parent, e->name,
                       e->version, e->mtime);
            continue;
        }
        if (mdb_entry_child(p, e->name)) {
            load_error(&st, "found entry with duplicate name", e->inode, e->parent, e->name,
                       e->version, e->mtime);
            continue;
        }
        mdb_entry_attach(p, e);
    }
    /* Every entry must reach the root; a parent cycle would otherwise hide entries. */
    if (st.nerrors == 0) {
        GHashTable *reached = g_hash_table_new(g_int64_hash, g_int64_equal);
        g_hash_table_add(reached, &root->inode);
        for (guint i = 0; i < st.entries->len; i++) {
            memdb_entry *e = g_ptr_array_index(st.entries, i);
            GPtrArray *chain = g_ptr_array_new();
            memdb_entry *cur = e;
            while (cur && !g_hash_table_contains(reached, &cur->inode) &&
                   chain->len <= st.entries->len) {
                g_ptr_array_add(chain, cur);
                cur = g_hash_table_lookup(index, &cur->parent);
            }
            if (cur && g_hash_table_contains(reached, &cur->inode)) {
                for (guint j = 0; j < chain->len; j++)
                    g_hash_table_add(reached, &((memdb_entry *)chain->pdata[j])->inode);
            } else {
                load_error(&st, "entry not reachable from the root (parent cycle)", e->inode,
                           e->parent, e->name, e->version, e->mtime);
            }
            g_ptr_array_free(chain, TRUE);
            if (st.nerrors)
                break;
        }
        g_hash_table_destroy(reached);
    }
    if (st.nerrors) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "DB load failed: %s%s",
                    st.errors->str, st.nerrors > 1 ? " (and more, see log)" : "");
        r = -EINVAL;
        goto fail;
    }
    g_ptr_array_free(st.entries, TRUE);
    g_string_free(st.errors, TRUE);
    *ret_index = index;
    *ret_root = root;
    *ret_bytes = bytes;
    *ret_have_version = st.have_version;
    return 0;

fail:
    g_ptr_array_free(st.entries, TRUE);
    g_string_free(st.errors, TRUE);
    g_hash_table_destroy(index);
    return r;
}

int memdb_reload(memdb *m, GError **error)
{
    g_rec_mutex_lock(&m->apply_lock);
    GHashTable *index = NULL;
    memdb_entry *root = NULL;
    uint64_t bytes = 0;
    bool have_version = false;
    g_rec_mutex_lock(&m->merge_lock);
    int r = memdb_load(m, &index, &root, &bytes, &have_version, error);
    if (r < 0) {
        g_rec_mutex_unlock(&m->merge_lock);
        g_rec_mutex_unlock(&m->apply_lock);
        return r;
    }
    m->merge_failed = false; /* the replay below marks every pending row again */
    g_rec_mutex_unlock(&m->merge_lock);
    g_rw_lock_writer_lock(&m->tree_lock);
    GHashTable *old = m->index;
    m->index = index;
    m->root = root;
    m->total_bytes = bytes;
    g_hash_table_remove_all(m->dirty);
    g_hash_table_remove_all(m->deleted);
    g_rw_lock_writer_unlock(&m->tree_lock);
    if (old)
        g_hash_table_destroy(old);
    /* the log holds what the database does not have yet; its replay must not reset the
     * age of locks that exist before and after (W6) */
    GHashTable *prev_locks = m->locks;
    m->locks = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    mdb_wlog_replay_all(m);
    g_rw_lock_writer_lock(&m->tree_lock);
    mdb_vmlist_rebuild(m, true);
    mdb_locks_rebuild(m, prev_locks);
    g_rw_lock_writer_unlock(&m->tree_lock);
    g_hash_table_destroy(prev_locks);
    mdb_notify(m, MEMDB_CHANGE_RELOAD, NULL, NULL, 0, NULL);
    g_rec_mutex_unlock(&m->apply_lock);
    return 0;
}

memdb *memdb_open(const char *db_path, const memdb_options *options, bool *ret_created,
                  GError **error)
{
    g_autoptr(memdb) m = g_new0(memdb, 1);
    g_rec_mutex_init(&m->apply_lock);
    g_rec_mutex_init(&m->merge_lock);
    g_rw_lock_init(&m->tree_lock);
    if (options)
        m->opts = *options;
    m->db_path = g_strdup(db_path);
    m->vmlist = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, mdb_vm_record_free);
    m->locks = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

    bool created = false;
    m->db = database_open(db_path, &created, error);
    if (!m->db)
        return NULL;

    bool have_version = false;
    if (memdb_load(m, &m->index, &m->root, &m->total_bytes, &have_version, error) < 0)
        return NULL;
    if (database_prepare_writes(m->db, error) < 0)
        return NULL;
    m->dirty = g_hash_table_new(g_direct_hash, g_direct_equal);
    m->deleted = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    g_autoptr(GError) wlog_error = NULL;
    m->wlog = wlog_open(db_path, &wlog_error);
    if (!m->wlog)
        g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_WARNING,
              "%s, every operation is committed to the database directly", wlog_error->message);
    if (have_version) {
        mdb_wlog_replay_all(m);
        if (mdb_merge_pending(m)) {
            /* Merge now; if that fails (disk full) the log keeps everything and the
             * merge is retried later. */
            int r = mdb_merge(m);
            if (r < 0)
                g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_WARNING,
                      "cannot merge the operation log into '%s' yet: %s, ignoring", db_path,
                      g_strerror(-r));
        }
    } else {
        wlog_truncate(m->wlog);
    }

    if (!have_version) {
        /* A new database: global version 1, written right away (spec §9.5). */
        m->root->version = 1;
        m->root->writer = 0;
        m->root->mtime = (uint32_t)time(NULL);
        int r = database_begin(m->db);
        if (r == 0)
            database_put_version(m->db, 1, 0, m->root->mtime, CFS_TYPE_REG);
        if (r == 0)
            r = database_commit(m->db);
        if (r < 0) {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO,
                        "cannot write the version row to '%s': %s", db_path,
                        g_strerror(-r));
            return NULL;
        }
    }
    mdb_vmlist_rebuild(m, false);
    mdb_locks_rebuild(m, NULL);
    if (m->opts.flush_interval_ms) {
        g_mutex_init(&m->flusher_lock);
        g_cond_init(&m->flusher_cond);
        m->flusher = g_thread_new("memdb-flush", mdb_flusher_main, m);
    }
    if (ret_created)
        *ret_created = created;
    return g_steal_pointer(&m);
}

void memdb_free(memdb *m)
{
    if (!m)
        return;
    if (m->flusher) {
        g_mutex_lock(&m->flusher_lock);
        m->flusher_stop = true;
        g_cond_signal(&m->flusher_cond);
        g_mutex_unlock(&m->flusher_lock);
        g_thread_join(m->flusher);
        g_mutex_clear(&m->flusher_lock);
        g_cond_clear(&m->flusher_cond);
    }
    if (m->db && m->dirty && mdb_merge_pending(m))
        memdb_flush(m);
    wlog_free(m->wlog);
    if (m->dirty)
        g_hash_table_destroy(m->dirty);
    if (m->deleted)
        g_hash_table_destroy(m->deleted);
    database_free(m->db);
    if (m->index)
        g_hash_table_destroy(m->index);
    if (m->vmlist)
        g_hash_table_destroy(m->vmlist);
    if (m->locks)
        g_hash_table_destroy(m->locks);
    g_rec_mutex_clear(&m->apply_lock);
    g_rec_mutex_clear(&m->merge_lock);
    g_rw_lock_clear(&m->tree_lock);
    g_free(m->db_path);
    g_free(m);
}

/* ---------------------------------------------------------------------------------- */
/* apply operations */

/*
 * The common first checks of create, mkdir, write and utimens (spec §4.2): the parent
 * must exist (ENOENT) and be a directory (ENOTDIR), the name must not be "", "." or
 * ".." (EACCES).
 */
static int resolve_target(memdb *m, const char *path, memdb_entry **ret_parent,
                          char **ret_name)
{
    int r = resolve_parent(m, path, ret_parent, ret_name);
    if (r < 0)
        return r;
    if ((*ret_parent)->type != CFS_TYPE_DIR)
        return -ENOTDIR;
    if (memdb_name_is_bad(*ret_name))
        return -EACCES;
    return 0;
}

/* Create a file or directory; shared by create and mkdir. */
static int memdb_create_entry(memdb *m, const char *path, uint8_t type, uint32_t writer,
                              uint32_t mtime)
{
    g_autofree char *name = NULL;
    memdb_entry *parent = NULL;
    int r;

    g_rec_mutex_lock(&m->apply_lock);
    if ((r = resolve_target(m, path, &parent, &name)) < 0)
        goto out;
    if (type == CFS_TYPE_REG && mdb_vmlist_conflicts(m, path)) {
        r = -EEXIST;
        goto out;
    }
    if (mdb_entry_child(parent, name)) {
        r = -EEXIST;
        goto out;
    }

    g_rw_lock_writer_lock(&m->tree_lock);
    uint64_t version = mdb_root_bump(m, writer, mtime);
    memdb_entry *e = mdb_entry_new(version, parent->inode, version, writer, mtime, type, name);
    mdb_entry_attach(parent, e);
    g_hash_table_insert(m->index, &e->inode, e);
    if (type == CFS_TYPE_REG)
        mdb_vmlist_register_path(m, path, version);
    g_rw_lock_writer_unlock(&m->tree_lock);
    if (type == CFS_TYPE_DIR && mdb_entry_is_lock_parent(m, parent)) {
        g_autofree char *lpath = mdb_entry_path(m, e);
        mdb_lock_record_set(m, lpath, e);
    }

    mdb_mark_dirty(m, e);
    mdb_notify(m, MEMDB_CHANGE_CREATE, path, e, parent->inode, e->name);
    wlog_record rec = {.type = type == CFS_TYPE_DIR ? WLOG_OP_MKDIR : WLOG_OP_CREATE,
                       .path = path};
    r = mdb_persist_op(m, &rec, 0);
out:
    g_rec_mutex_unlock(&m->apply_lock);
    return r;
}

int memdb_create(memdb *m, const char *path, uint32_t writer, uint32_t mtime)
{
    return memdb_create_entry(m, path, CFS_TYPE_REG, writer, mtime);
}

int memdb_mkdir(memdb *m, const char *path, uint32_t writer, uint32_t mtime)
{
    return memdb_create_entry(m, path, CFS_TYPE_DIR, writer, mtime);
}

/* Make room for @size bytes, growing geometrically so chunked writes stay linear (W4). */
static void mdb_entry_reserve(memdb_entry *e, uint32_t size)
{
    if (size <= e->capacity)
        return;
    uint64_t cap = e->capacity ? (uint64_t)e->capacity * 2 : size;
    if (cap > CFS_MAX_FILE_SIZE)
        cap = CFS_MAX_FILE_SIZE;
    if (cap < size)
        cap = size;
    e->data = g_realloc(e->data, cap);
    e->capacity = (uint32_t)cap;
}

int memdb_write(memdb *m, const char *path, uint64_t offset, const void *data, size_t len,
                bool truncate, uint32_t writer, uint32_t mtime)
{
    g_autofree char *name = NULL;
    memdb_entry *parent = NULL;
    int r;

    /* 64-bit arithmetic: offsets near 4 GiB must not wrap (W20). */
    if (offset > CFS_MAX_FILE_SIZE || len > CFS_MAX_FILE_SIZE ||
        offset + len > CFS_MAX_FILE_SIZE)
        return -EFBIG;

    g_rec_mutex_lock(&m->apply_lock);
    if ((r = resolve_target(m, path, &parent, &name)) < 0)
        goto out;
    if (mdb_vmlist_conflicts(m, path)) {
        r = -EEXIST;
        goto out;
    }
    memdb_entry *e = mdb_entry_child(parent, name);
    if (e && e->type == CFS_TYPE_DIR) {
        r = -ENOTDIR;
        goto out;
    }
    if (!e) {
        r = -ENOENT;
        goto out;
    }

    uint32_t end = (uint32_t)(offset + len);
    uint32_t old_size = e->size;
    uint32_t new_size = truncate ? end : MAX(old_size, end);

    g_rw_lock_writer_lock(&m->tree_lock);
    mdb_entry_reserve(e, new_size);
    if (offset > old_size)
        memset(e->data + old_size, 0, offset - old_size);
    if (len)
        memcpy(e->data + offset, data, len);
    if (truncate && new_size < e->capacity / 4) {
        /* shrink buffers that lost most of their content */
        e->data = g_realloc(e->data, new_size ? new_size : 1);
        e->capacity = new_size ? new_size : 1;
    }
    e->size = new_size;
    m->total_bytes = m->total_bytes - old_size + new_size;
    uint64_t version = mdb_root_bump(m, writer, mtime);
    e->version = version;
    e->writer = writer;
    e->mtime = mtime;
    mdb_vmlist_register_path(m, path, version);
    g_rw_lock_writer_unlock(&m->tree_lock);

    mdb_mark_dirty(m, e);
    mdb_notify(m, MEMDB_CHANGE_WRITE, path, e, parent->inode, e->name);
    wlog_record rec = {
        .type = WLOG_OP_WRITE,
        .path = path,
        .offset = (uint32_t)offset,
        .flags = truncate ? WLOG_FLAG_TRUNCATE : 0,
        .data = data,
        .size = (uint32_t)len,
    };
    r = mdb_persist_op(m, &rec, (int)len);
out:
    g_rec_mutex_unlock(&m->apply_lock);
    return r;
}

/* Unlink @e from the tree and account for it; the caller frees it later. */
static void mdb_tree_remove(memdb *m, memdb_entry *e, const char *path)
{
    memdb_entry *parent = mdb_entry_parent(m, e);
    if (parent)
        mdb_entry_detach(parent, e);
    g_hash_table_steal(m->index, &e->inode);
    mdb_mark_deleted(m, e);
    if (e->type == CFS_TYPE_REG) {
        m->total_bytes -= e->size;
        mdb_vmlist_remove_path(m, path);
    }
}

/* The entry a delete or rename acts on: -ENOENT if missing, -EACCES for the root. */
static int resolve_source(memdb *m, const char *path, memdb_entry **ret_entry)
{
    memdb_entry *e = mdb_lookup_path(m, path);
    if (!e)
        return -ENOENT;
    if (e->inode == 0)
        return -EACCES;
    *ret_entry = e;
    return 0;
}

int memdb_delete(memdb *m, const char *path, uint32_t writer, uint32_t mtime)
{
    g_autofree char *epath = NULL;
    memdb_entry *e = NULL;
    int r;

    g_rec_mutex_lock(&m->apply_lock);
    if ((r = resolve_source(m, path, &e)) < 0)
        goto out;
    if (mdb_entry_child_count(e) > 0) {
        r = -ENOTEMPTY;
        goto out;
    }

    epath = mdb_entry_path(m, e);
    bool was_lock = mdb_entry_is_lock_dir(m, e);
    uint64_t parent_inode = e->parent;
    g_rw_lock_writer_lock(&m->tree_lock);
    mdb_tree_remove(m, e, epath);
    mdb_root_bump(m, writer, mtime);
    g_rw_lock_writer_unlock(&m->tree_lock);
    if (was_lock)
        g_hash_table_remove(m->locks, epath);

    mdb_notify(m, MEMDB_CHANGE_DELETE, epath, e, parent_inode, e->name);
    mdb_entry_free(e);
    wlog_record rec = {.type = WLOG_OP_DELETE, .path = path};
    r = mdb_persist_op(m, &rec, 0);
out:
    g_rec_mutex_unlock(&m->apply_lock);
    return r;
}

int memdb_rename(memdb *m, const char *from, const char *to, uint32_t writer, uint32_t mtime)
{
    g_autofree char *tname = NULL;
    g_autofree char *src_path = NULL;
    g_autofree char *old_name = NULL;
    g_autofree char *replaced_path = NULL;
    memdb_entry *tparent = NULL;
    memdb_entry *src = NULL;
    int r;

    g_rec_mutex_lock(&m->apply_lock);
    if ((r = resolve_source(m, from, &src)) < 0)
        goto out;
    /* VMID rule (spec §6.2): a guest config may only be renamed onto a VMID registered
     * elsewhere when it is the same VMID (migration). */
    if (src->type == CFS_TYPE_REG && mdb_vmlist_conflicts(m, to)) {
        uint32_t from_vmid, to_vmid;
        if (!memdb_parse_vm_path(from, &from_vmid, NULL, NULL) ||
            !memdb_parse_vm_path(to, &to_vmid, NULL, NULL) || from_vmid != to_vmid) {
            r = -EEXIST;
            goto out;
        }
    }
    if (mdb_entry_is_lock_dir(m, src)) {
        r = -EACCES;
        goto out;
    }
    memdb_entry *target = mdb_lookup_path(m, to);
    if (target && target != src && mdb_entry_child_count(target) > 0) {
        r = -ENOTEMPTY;
        goto out;
    }
    if ((r = resolve_parent(m, to, &tparent, &tname)) < 0)
        goto out;
    if (!target && tparent->type != CFS_TYPE_DIR) {
        r = -ENOTDIR;
        goto out;
    }
    if (mdb_entry_child_count(src) > 0) {
        r = -ENOTEMPTY;
        goto out;
    }
    /* Cases the kernel never sends but a hostile peer could: refuse instead of
     * corrupting the tree. */
    if (memdb_name_is_bad(tname) || (target && target->inode == 0)) {
        r = -EACCES;
        goto out;
    }
    if (tparent == src) {
        r = -EINVAL;
        goto out;
    }

    src_path = mdb_entry_path(m, src);
    old_name = g_strdup(src->name);
    uint64_t old_parent = src->parent;
    memdb_entry *replaced = target && target != src ? target : NULL;
    replaced_path = replaced ? mdb_entry_path(m, replaced) : NULL;
    bool replaced_lock = replaced && mdb_entry_is_lock_dir(m, replaced);
    uint64_t replaced_parent = replaced ? replaced->parent : 0;

    g_rw_lock_writer_lock(&m->tree_lock);
    if (replaced)
        mdb_tree_remove(m, replaced, replaced_path);
    memdb_entry *sparent = mdb_entry_parent(m, src);
    mdb_entry_detach(sparent, src);
    g_free(src->name);
    src->name = g_strdup(tname);
    mdb_entry_attach(tparent, src);
    uint64_t version = mdb_root_bump(m, writer, mtime);
    src->version = version;
    src->writer = writer;
    src->mtime = mtime;
    if (src->type == CFS_TYPE_REG) {
        mdb_vmlist_remove_path(m, src_path);
        mdb_vmlist_register_path(m, to, version);
    }
    g_rw_lock_writer_unlock(&m->tree_lock);
    if (replaced_lock)
        g_hash_table_remove(m->locks, replaced_path);
    if (mdb_entry_is_lock_dir(m, src)) {
        g_autofree char *lpath = mdb_entry_path(m, src);
        mdb_lock_record_set(m, lpath, src);
    }

    mdb_mark_dirty(m, src);
    mdb_notify(m, MEMDB_CHANGE_RENAME_FROM, src_path, src, old_parent, old_name);
    if (replaced)
        mdb_notify(m, MEMDB_CHANGE_DELETE, replaced_path, replaced, replaced_parent,
               replaced->name);
    mdb_notify(m, MEMDB_CHANGE_RENAME_TO, to, src, src->parent, src->name);
    mdb_entry_free(replaced);
    wlog_record rec = {.type = WLOG_OP_RENAME, .path = from, .to = to};
    r = mdb_persist_op(m, &rec, 0);
out:
    g_rec_mutex_unlock(&m->apply_lock);
    return r;
}

int memdb_mtime(memdb *m, const char *path, uint32_t writer, uint32_t mtime)
{
    g_autofree char *name = NULL;
    memdb_entry *parent = NULL;
    int r;

    g_rec_mutex_lock(&m->apply_lock);
    if ((r = resolve_target(m, path, &parent, &name)) < 0)
        goto out;
    memdb_entry *e = mdb_entry_child(parent, name);
    if (!e) {
        r = -ENOENT;
        goto out;
    }
    bool is_lock = mdb_entry_is_lock_dir(m, e);
    if (is_lock && (mtime < e->mtime || writer != e->writer)) {
        r = -EACCES;
        goto out;
    }

    g_rw_lock_writer_lock(&m->tree_lock);
    uint64_t version = mdb_root_bump(m, writer, mtime);
    e->version = version;
    e->writer = writer;
    e->mtime = mtime;
    g_rw_lock_writer_unlock(&m->tree_lock);
    if (is_lock) {
        g_autofree char *lpath = mdb_entry_path(m, e);
        mdb_lock_record_set(m, lpath, e);
    }

    mdb_mark_dirty(m, e);
    mdb_notify(m, MEMDB_CHANGE_MTIME, path, e, parent->inode, e->name);
    wlog_record rec = {.type = WLOG_OP_MTIME, .path = path, .mtime = mtime};
    r = mdb_persist_op(m, &rec, 0);
out:
    g_rec_mutex_unlock(&m->apply_lock);
    return r;
}


/* ---------------------------------------------------------------------------------- */
/* readers */

int memdb_getattr(memdb *m, uint64_t inode, memdb_attr *ret_attr)
{
    int r = -ENOENT;
    g_rw_lock_reader_lock(&m->tree_lock);
    memdb_entry *e = mdb_get(m, inode);
    if (e) {
        mdb_entry_attr(e, ret_attr);
        r = 0;
    }
    g_rw_lock_reader_unlock(&m->tree_lock);
    return r;
}

int memdb_lookup(memdb *m, uint64_t parent, const char *name, memdb_attr *ret_attr)
{
    int r = -ENOENT;
    g_rw_lock_reader_lock(&m->tree_lock);
    memdb_entry *p = mdb_get(m, parent);
    memdb_entry *e = p ? mdb_entry_child(p, name) : NULL;
    if (e) {
        mdb_entry_attr(e, ret_attr);
        r = 0;
    } else if (p && p->type != CFS_TYPE_DIR) {
        r = -ENOTDIR;
    }
    g_rw_lock_reader_unlock(&m->tree_lock);
    return r;
}

int memdb_lookup_path(memdb *m, const char *path, memdb_attr *ret_attr)
{
    int r = -ENOENT;
    g_rw_lock_reader_lock(&m->tree_lock);
    memdb_entry *e = mdb_lookup_path(m, path);
    if (e) {
        mdb_entry_attr(e, ret_attr);
        r = 0;
    }
    g_rw_lock_reader_unlock(&m->tree_lock);
    return r;
}

ssize_t memdb_read(memdb *m, uint64_t inode, void *buf, size_t len, uint64_t offset)
{
    ssize_t r;
    g_rw_lock_reader_lock(&m->tree_lock);
    memdb_entry *e = mdb_get(m, inode);
    if (!e) {
        r = -ENOENT;
    } else if (e->type != CFS_TYPE_REG) {
        r = -EISDIR;
    } else if (offset >= e->size) {
        r = 0;
    } else {
        size_t n = MIN(len, e->size - offset);
        memcpy(buf, e->data + offset, n);
        r = (ssize_t)n;
    }
    g_rw_lock_reader_unlock(&m->tree_lock);
    return r;
}

int memdb_read_path(memdb *m, const char *path, GBytes **ret_data)
{
    int r = -ENOENT;
    g_rw_lock_reader_lock(&m->tree_lock);
    memdb_entry *e = mdb_lookup_path(m, path);
    if (e && e->type == CFS_TYPE_REG) {
        *ret_data = g_bytes_new(e->data, e->size);
        r = 0;
    }
    g_rw_lock_reader_unlock(&m->tree_lock);
    return r;
}

static void memdb_dirent_clear(gpointer p)
{
    g_free(((memdb_dirent *)p)->name);
}

int memdb_list(memdb *m, uint64_t inode, GArray **ret_entries)
{
    int r = 0;
    g_rw_lock_reader_lock(&m->tree_lock);
    memdb_entry *e = mdb_get(m, inode);
    if (!e) {
        r = -ENOENT;
    } else if (e->type != CFS_TYPE_DIR) {
        r = -ENOTDIR;
    } else {
        guint n = mdb_entry_child_count(e);
        GArray *arr = g_array_sized_new(FALSE, FALSE, sizeof(memdb_dirent), n);
        g_array_set_clear_func(arr, memdb_dirent_clear);
        if (n) {
            GHashTableIter it;
            gpointer value;
            g_hash_table_iter_init(&it, e->children);
            while (g_hash_table_iter_next(&it, NULL, &value)) {
                memdb_entry *c = value;
                memdb_dirent d = {.inode = c->inode, .type = c->type, .name = g_strdup(c->name)};
                g_array_append_val(arr, d);
            }
        }
        *ret_entries = arr;
    }
    g_rw_lock_reader_unlock(&m->tree_lock);
    return r;
}

char *memdb_path(memdb *m, uint64_t inode)
{
    char *path = NULL;
    g_rw_lock_reader_lock(&m->tree_lock);
    memdb_entry *e = mdb_get(m, inode);
    if (e)
        path = mdb_entry_path(m, e);
    g_rw_lock_reader_unlock(&m->tree_lock);
    return path;
}

GArray *memdb_inodes(memdb *m)
{
    g_rw_lock_reader_lock(&m->tree_lock);
    GArray *arr = g_array_sized_new(FALSE, FALSE, sizeof(uint64_t), g_hash_table_size(m->index));
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, m->index);
    while (g_hash_table_iter_next(&it, &key, NULL))
        g_array_append_val(arr, *(uint64_t *)key);
    g_rw_lock_reader_unlock(&m->tree_lock);
    return arr;
}

void memdb_usage(memdb *m, uint64_t *ret_bytes, uint64_t *ret_entries)
{
    g_rw_lock_reader_lock(&m->tree_lock);
    *ret_bytes = m->total_bytes;
    *ret_entries = g_hash_table_size(m->index);
    g_rw_lock_reader_unlock(&m->tree_lock);
}

void memdb_version(memdb *m, uint64_t *ret_version, uint32_t *ret_writer, uint32_t *ret_mtime)
{
    g_rw_lock_reader_lock(&m->tree_lock);
    if (ret_version)
        *ret_version = m->root->version;
    if (ret_writer)
        *ret_writer = m->root->writer;
    if (ret_mtime)
        *ret_mtime = m->root->mtime;
    g_rw_lock_reader_unlock(&m->tree_lock);
}
