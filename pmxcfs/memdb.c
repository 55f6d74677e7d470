/*
 * memdb: the in-RAM tree, its version scheme, and write-through to SQLite.
 *
 * Locking: `apply_lock` (recursive) serialises every mutation and every database
 * transaction; `tree_lock` (rw) is taken for writing only while pointers and bytes
 * change, so readers never wait for SQLite.  An apply function validates against the
 * tree (no tree lock needed: only apply-lock holders mutate), publishes the change in
 * RAM, writes its rows and commits.  A failed commit reloads the tree from the
 * database, so RAM equals disk again.
 *
 * Entries are owned by `index` (inode -> entry); a directory's `children` table maps
 * names to the same entries without owning them.  The root (inode 0) carries the
 * global version, writer and mtime.
 */
#include "pmxcfs/memdb.h"

#include <errno.h>
#include <string.h>

#include "pmxcfs/database.h"
#include "pmxcfs/wire.h"
#include "pmxcfs/wlog.h"

#define G_LOG_DOMAIN_MEMDB "database"

typedef struct memdb_entry memdb_entry;
struct memdb_entry {
    uint64_t inode;
    uint64_t parent;
    uint64_t version;
    uint32_t writer;
    uint32_t mtime;
    uint32_t size;
    uint32_t capacity; /* allocated bytes of data (files) */
    uint8_t type;
    char *name;
    union {
        GHashTable *children; /* directories: name -> entry, created on first child */
        uint8_t *data;        /* files */
    };
};

typedef struct lock_record {
    uint8_t checksum[32];
    uint64_t ltime;
} lock_record;

typedef struct vm_record {
    uint32_t vmid;
    vm_type type;
    uint64_t version;      /* process-local entry version */
    uint64_t tree_version; /* version of the config entry: decides duplicates (W14) */
    char *node;
} vm_record;

struct memdb {
    GRecMutex apply_lock;
    GRWLock tree_lock;

    GHashTable *index; /* uint64 inode -> memdb_entry (owned) */
    memdb_entry *root;
    uint64_t total_bytes;

    database *db;
    char *db_path;
    bool in_batch;
    int batch_error;

    /* write log (wlog.h): files whose data is newer in RAM+log than in SQLite */
    wlog *wlog;
    GHashTable *dirty; /* memdb_entry * set */
    bool wlog_stopped;
    GThread *flusher;
    GMutex flusher_lock;
    GCond flusher_cond;
    bool flusher_stop;

    GHashTable *vmlist; /* vmid -> vm_record (owned) */
    uint64_t vmlist_version;
    uint64_t vm_counter;

    GHashTable *locks; /* path -> lock_record (owned) */

    memdb_options opts;
};

static void wlog_replay_all(memdb *m);
static int txn_ensure(memdb *m);
static int txn_commit(memdb *m);
static gpointer flusher_main(gpointer data);
static void entry_reserve(memdb_entry *e, uint32_t size);

/* Merging the write log into SQLite happens at the latest when it holds this much. */
#define WLOG_MERGE_BYTES (16u << 20)

/* ---------------------------------------------------------------------------------- */
/* entries */

static memdb_entry *entry_new(uint64_t inode, uint64_t parent, uint64_t version,
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

static void entry_free(memdb_entry *e)
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

static guint entry_child_count(const memdb_entry *e)
{
    return e->type == CFS_TYPE_DIR && e->children ? g_hash_table_size(e->children) : 0;
}

static memdb_entry *entry_child(const memdb_entry *dir, const char *name)
{
    if (dir->type != CFS_TYPE_DIR || !dir->children)
        return NULL;
    return g_hash_table_lookup(dir->children, name);
}

static void entry_attach(memdb_entry *dir, memdb_entry *e)
{
    if (!dir->children)
        dir->children = g_hash_table_new(g_str_hash, g_str_equal);
    e->parent = dir->inode;
    g_hash_table_replace(dir->children, e->name, e);
}

static void entry_detach(memdb_entry *dir, memdb_entry *e)
{
    if (dir->children)
        g_hash_table_remove(dir->children, e->name);
}

static void entry_attr(const memdb_entry *e, memdb_attr *ret)
{
    ret->inode = e->inode;
    ret->parent = e->parent;
    ret->version = e->version;
    ret->writer = e->writer;
    ret->mtime = e->mtime;
    ret->size = e->type == CFS_TYPE_DIR ? 0 : e->size;
    ret->type = e->type;
}

static memdb_entry *memdb_get(memdb *m, uint64_t inode)
{
    return g_hash_table_lookup(m->index, &inode);
}

static memdb_entry *entry_parent(memdb *m, const memdb_entry *e)
{
    return e->inode == 0 ? NULL : memdb_get(m, e->parent);
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
        return entry_child(dir, buf);
    }
    g_autofree char *copy = g_strndup(name, len);
    return entry_child(dir, copy);
}

static memdb_entry *lookup_path(memdb *m, const char *path)
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
static bool name_is_ldh(const char *s, size_t len)
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

static bool vm_kind_parse(const char *s, size_t len, vm_type *ret)
{
    if (len == 11 && memcmp(s, "qemu-server", 11) == 0)
        *ret = VMTYPE_QEMU;
    else if (len == 6 && memcmp(s, "openvz", 6) == 0)
        *ret = VMTYPE_OPENVZ;
    else if (len == 3 && memcmp(s, "lxc", 3) == 0)
        *ret = VMTYPE_LXC;
    else
        return false;
    return true;
}

/* "<vmid>.conf": decimal without leading zero, at most 2^32 - 1. */
static bool vm_conf_name_parse(const char *s, size_t len, uint32_t *ret_vmid)
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
        !name_is_ldh(c[1].comp, c[1].len))
        return false;
    vm_type type;
    uint32_t vmid;
    if (!vm_kind_parse(c[2].comp, c[2].len, &type) ||
        !vm_conf_name_parse(c[3].comp, c[3].len, &vmid))
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
static char *entry_path(memdb *m, const memdb_entry *e)
{
    if (e->inode == 0)
        return g_strdup("");
    GPtrArray *names = g_ptr_array_new();
    const memdb_entry *cur = e;
    while (cur && cur->inode != 0) {
        g_ptr_array_add(names, cur->name);
        cur = entry_parent(m, cur);
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
static bool entry_is_lock_parent(memdb *m, const memdb_entry *e)
{
    if (e->type != CFS_TYPE_DIR || e->inode == 0 || strcmp(e->name, "lock") != 0)
        return false;
    const memdb_entry *p = entry_parent(m, e);
    return p && p->inode != 0 && p->parent == 0 && strcmp(p->name, "priv") == 0;
}

static bool entry_is_lock_dir(memdb *m, const memdb_entry *e)
{
    if (e->type != CFS_TYPE_DIR || e->inode == 0)
        return false;
    const memdb_entry *p = entry_parent(m, e);
    return p && entry_is_lock_parent(m, p);
}

/* ---------------------------------------------------------------------------------- */
/* digests */

/* Feed the per-entry digest input (spec §8.2), optionally preceded by the inode. */
static void digest_feed(GChecksum *ck, const memdb_attr *a, const char *name, const void *data,
                        bool with_inode)
{
    uint8_t fixed[8 + 29];
    uint8_t *p = fixed;
    if (with_inode) {
        wire_put_u64(p, a->inode);
        p += 8;
    }
    uint32_t size = a->type == CFS_TYPE_DIR ? 0 : a->size;
    wire_put_u64(p, a->version);
    wire_put_u32(p + 8, a->writer);
    wire_put_u32(p + 12, a->mtime);
    wire_put_u32(p + 16, size);
    p[20] = a->type;
    wire_put_u64(p + 21, a->parent);
    p += 29;
    g_checksum_update(ck, fixed, (gssize)(p - fixed));
    g_checksum_update(ck, (const guchar *)name, (gssize)strlen(name));
    if (a->type == CFS_TYPE_REG && size > 0)
        g_checksum_update(ck, data, size);
}

static void checksum_get(GChecksum *ck, uint8_t ret[32])
{
    gsize len = 32;
    g_checksum_get_digest(ck, ret, &len);
}

void memdb_entry_digest(const memdb_attr *attr, const char *name, const void *data,
                        uint8_t ret_digest[32])
{
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    digest_feed(ck, attr, name, data, false);
    checksum_get(ck, ret_digest);
    g_checksum_free(ck);
}

static void entry_checksum(const memdb_entry *e, uint8_t ret[32])
{
    memdb_attr a;
    entry_attr(e, &a);
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    digest_feed(ck, &a, e->name, e->type == CFS_TYPE_REG ? e->data : NULL, true);
    checksum_get(ck, ret);
    g_checksum_free(ck);
}

static gint entry_cmp_inode(gconstpointer a, gconstpointer b)
{
    const memdb_entry *x = *(memdb_entry *const *)a;
    const memdb_entry *y = *(memdb_entry *const *)b;
    return x->inode < y->inode ? -1 : x->inode > y->inode;
}

/* All entries sorted by inode; caller holds at least the read lock. */
static GPtrArray *entries_sorted(memdb *m)
{
    GPtrArray *arr = g_ptr_array_sized_new(g_hash_table_size(m->index));
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, m->index);
    while (g_hash_table_iter_next(&it, NULL, &value))
        g_ptr_array_add(arr, value);
    g_ptr_array_sort(arr, entry_cmp_inode);
    return arr;
}

static GBytes *index_encode_tree(GHashTable *index, memdb_entry *root);

GBytes *memdb_encode_index(memdb *m)
{
    g_rw_lock_reader_lock(&m->tree_lock);
    GBytes *b = index_encode_tree(m->index, m->root);
    g_rw_lock_reader_unlock(&m->tree_lock);
    return b;
}

void memdb_compute_checksum(memdb *m, uint8_t ret_checksum[32])
{
    g_rw_lock_reader_lock(&m->tree_lock);
    GPtrArray *arr = entries_sorted(m);
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    for (guint i = 0; i < arr->len; i++) {
        memdb_entry *e = g_ptr_array_index(arr, i);
        memdb_attr a;
        entry_attr(e, &a);
        digest_feed(ck, &a, e->name, e->type == CFS_TYPE_REG ? e->data : NULL, true);
    }
    g_rw_lock_reader_unlock(&m->tree_lock);
    checksum_get(ck, ret_checksum);
    g_checksum_free(ck);
    g_ptr_array_free(arr, TRUE);
}

/* ---------------------------------------------------------------------------------- */
/* clock, notifications */

static uint64_t memdb_now(memdb *m)
{
    if (m->opts.now)
        return m->opts.now(m->opts.now_data);
    return (uint64_t)(g_get_monotonic_time() / G_USEC_PER_SEC);
}

static void notify(memdb *m, memdb_change_kind kind, const char *path, const memdb_entry *e,
                   uint64_t parent, const char *name)
{
    if (!m->opts.on_change)
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
/* VM list (spec §6) */

static void vm_record_free(gpointer p)
{
    vm_record *r = p;
    g_free(r->node);
    g_free(r);
}

static void vmlist_register(memdb *m, uint32_t vmid, vm_type type, const char *node,
                            uint64_t tree_version)
{
    vm_record *r = g_new0(vm_record, 1);
    r->vmid = vmid;
    r->type = type;
    r->node = g_strdup(node);
    r->version = ++m->vm_counter;
    r->tree_version = tree_version;
    g_hash_table_replace(m->vmlist, GUINT_TO_POINTER(vmid), r);
    m->vmlist_version++;
}

/* Remove @vmid if it is registered for exactly this node and type. */
static void vmlist_remove(memdb *m, uint32_t vmid, vm_type type, const char *node)
{
    vm_record *r = g_hash_table_lookup(m->vmlist, GUINT_TO_POINTER(vmid));
    if (!r || r->type != type || strcmp(r->node, node) != 0)
        return;
    g_hash_table_remove(m->vmlist, GUINT_TO_POINTER(vmid));
    m->vmlist_version++;
}

/* EEXIST if @path is a guest config whose VMID is registered elsewhere (spec §6.2). */
static bool vmlist_conflicts(memdb *m, const char *path)
{
    uint32_t vmid;
    vm_type type;
    g_autofree char *node = NULL;
    if (!memdb_parse_vm_path(path, &vmid, &type, &node))
        return false;
    vm_record *r = g_hash_table_lookup(m->vmlist, GUINT_TO_POINTER(vmid));
    return r && (r->type != type || strcmp(r->node, node) != 0);
}

static void vmlist_register_path(memdb *m, const char *path, uint64_t tree_version)
{
    uint32_t vmid;
    vm_type type;
    g_autofree char *node = NULL;
    if (memdb_parse_vm_path(path, &vmid, &type, &node))
        vmlist_register(m, vmid, type, node, tree_version);
}

static void vmlist_remove_path(memdb *m, const char *path)
{
    uint32_t vmid;
    vm_type type;
    g_autofree char *node = NULL;
    if (memdb_parse_vm_path(path, &vmid, &type, &node))
        vmlist_remove(m, vmid, type, node);
}

static const char *vm_kind_dir(vm_type type)
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

static char *vm_record_path(const vm_record *r)
{
    return g_strdup_printf("nodes/%s/%s/%u.conf", r->node, vm_kind_dir(r->type), r->vmid);
}

/*
 * Rebuild the VM list from the tree (spec §6.3).  Duplicates keep the copy with the
 * highest tree version, deterministic on every node (W14: the reference refuses to
 * start).  @bump: increment the list version (not at database open, see below).
 */
static void vmlist_rebuild(memdb *m, bool bump)
{
    uint64_t saved_version = m->vmlist_version;
    g_hash_table_remove_all(m->vmlist);
    memdb_entry *nodes = entry_child(m->root, "nodes");
    if (nodes && nodes->type == CFS_TYPE_DIR && nodes->children) {
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, nodes->children);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
            memdb_entry *node = value;
            if (node->type != CFS_TYPE_DIR || !node->children ||
                !name_is_ldh(node->name, strlen(node->name)))
                continue;
            static const char *const kinds[] = {"qemu-server", "openvz", "lxc"};
            for (size_t k = 0; k < G_N_ELEMENTS(kinds); k++) {
                memdb_entry *kind = entry_child(node, kinds[k]);
                if (!kind || kind->type != CFS_TYPE_DIR || !kind->children)
                    continue;
                vm_type type;
                vm_kind_parse(kinds[k], strlen(kinds[k]), &type);
                GHashTableIter it2;
                gpointer v2;
                g_hash_table_iter_init(&it2, kind->children);
                while (g_hash_table_iter_next(&it2, NULL, &v2)) {
                    memdb_entry *conf = v2;
                    uint32_t vmid;
                    if (conf->type != CFS_TYPE_REG ||
                        !vm_conf_name_parse(conf->name, strlen(conf->name), &vmid))
                        continue;
                    vm_record *old = g_hash_table_lookup(m->vmlist, GUINT_TO_POINTER(vmid));
                    if (old) {
                        g_autofree char *old_path = vm_record_path(old);
                        g_autofree char *new_path = entry_path(m, conf);
                        bool replace = conf->version > old->tree_version;
                        g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_CRITICAL,
                              "detected duplicate VMID %u: '%s' and '%s' - using '%s'", vmid,
                              old_path, new_path, replace ? new_path : old_path);
                        if (!replace)
                            continue;
                    }
                    vmlist_register(m, vmid, type, node->name, conf->version);
                }
            }
        }
    }
    /* At database open the list version stays 0: the reference shows "vmlist": 0 until
     * the first guest is registered (fixtures/errno-table.json, probe steps 71/82). */
    m->vmlist_version = bump ? saved_version + 1 : 0;
}

uint64_t memdb_vmlist_version(memdb *m)
{
    g_rw_lock_reader_lock(&m->tree_lock);
    uint64_t v = m->vmlist_version;
    g_rw_lock_reader_unlock(&m->tree_lock);
    return v;
}

static void memdb_vm_clear(gpointer p)
{
    g_free(((memdb_vm *)p)->node);
}

GArray *memdb_vmlist_snapshot(memdb *m, uint64_t *ret_version)
{
    g_rw_lock_reader_lock(&m->tree_lock);
    GArray *arr = g_array_sized_new(FALSE, FALSE, sizeof(memdb_vm), g_hash_table_size(m->vmlist));
    g_array_set_clear_func(arr, memdb_vm_clear);
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, m->vmlist);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        vm_record *r = value;
        memdb_vm vm = {.vmid = r->vmid, .type = r->type, .version = r->version,
                       .node = g_strdup(r->node)};
        g_array_append_val(arr, vm);
    }
    if (ret_version)
        *ret_version = m->vmlist_version;
    g_rw_lock_reader_unlock(&m->tree_lock);
    return arr;
}

char *memdb_vm_config_path(memdb *m, uint32_t vmid)
{
    char *path = NULL;
    g_rw_lock_reader_lock(&m->tree_lock);
    vm_record *r = g_hash_table_lookup(m->vmlist, GUINT_TO_POINTER(vmid));
    if (r)
        path = vm_record_path(r);
    g_rw_lock_reader_unlock(&m->tree_lock);
    return path;
}

/* ---------------------------------------------------------------------------------- */
/* lock table (spec §7) */

static void lock_record_set(memdb *m, const char *path, const memdb_entry *e)
{
    lock_record *r = g_new0(lock_record, 1);
    entry_checksum(e, r->checksum);
    r->ltime = memdb_now(m);
    g_hash_table_replace(m->locks, g_strdup(path), r);
}

/* Rebuild from the lock directories in the tree, keeping the first-seen time of every
 * lock whose checksum is unchanged (W6). */
static void locks_rebuild(memdb *m)
{
    GHashTable *old = m->locks;
    m->locks = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    memdb_entry *priv = entry_child(m->root, "priv");
    memdb_entry *lock = priv ? entry_child(priv, "lock") : NULL;
    if (lock && lock->type == CFS_TYPE_DIR && lock->children) {
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, lock->children);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
            memdb_entry *e = value;
            if (e->type != CFS_TYPE_DIR)
                continue;
            g_autofree char *path = g_strdup_printf(CFS_LOCK_DIR "/%s", e->name);
            lock_record *r = g_new0(lock_record, 1);
            entry_checksum(e, r->checksum);
            lock_record *prev = g_hash_table_lookup(old, path);
            if (prev && memcmp(prev->checksum, r->checksum, 32) == 0)
                r->ltime = prev->ltime;
            else
                r->ltime = memdb_now(m);
            g_hash_table_replace(m->locks, g_steal_pointer(&path), r);
        }
    }
    g_hash_table_destroy(old);
}

int memdb_lock_checksum(memdb *m, const char *path, uint8_t ret_checksum[32])
{
    int r = -ENOENT;
    g_rw_lock_reader_lock(&m->tree_lock);
    memdb_entry *e = lookup_path(m, path);
    if (e && entry_is_lock_dir(m, e)) {
        entry_checksum(e, ret_checksum);
        r = 0;
    }
    g_rw_lock_reader_unlock(&m->tree_lock);
    return r;
}

bool memdb_lock_expired(memdb *m, const char *path, const uint8_t checksum[32])
{
    g_rec_mutex_lock(&m->apply_lock);
    uint64_t now = memdb_now(m);
    uint32_t timeout = m->opts.lock_timeout ? m->opts.lock_timeout : CFS_LOCK_TIMEOUT;
    bool expired = false;
    lock_record *r = g_hash_table_lookup(m->locks, path);
    if (!r || memcmp(r->checksum, checksum, 32) != 0) {
        r = g_new0(lock_record, 1);
        memcpy(r->checksum, checksum, 32);
        r->ltime = now;
        g_hash_table_replace(m->locks, g_strdup(path), r);
    } else if (now > r->ltime && now - r->ltime > timeout) {
        expired = true;
    }
    g_rec_mutex_unlock(&m->apply_lock);
    return expired;
}

guint memdb_lock_count(memdb *m)
{
    g_rec_mutex_lock(&m->apply_lock);
    guint n = g_hash_table_size(m->locks);
    g_rec_mutex_unlock(&m->apply_lock);
    return n;
}

/* ---------------------------------------------------------------------------------- */
/* loading */

typedef struct load_state {
    memdb *m;
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
    memdb_entry *e = entry_new(row->inode, row->parent, row->version, row->writer, row->mtime,
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
    load_state st = {.m = m, .entries = g_ptr_array_new(), .errors = g_string_new(NULL)};
    GHashTable *index = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                              (GDestroyNotify)entry_free);
    int r = database_load(m->db, load_row, &st, error);
    if (r < 0) {
        g_ptr_array_set_free_func(st.entries, (GDestroyNotify)entry_free);
        goto fail;
    }

    memdb_entry *root = entry_new(0, 0, st.have_version ? st.version : 1, st.writer, st.mtime,
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
        if (entry_child(p, e->name)) {
            load_error(&st, "found entry with duplicate name", e->inode, e->parent, e->name,
                       e->version, e->mtime);
            continue;
        }
        entry_attach(p, e);
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
    int r = memdb_load(m, &index, &root, &bytes, &have_version, error);
    if (r < 0) {
        g_rec_mutex_unlock(&m->apply_lock);
        return r;
    }
    g_rw_lock_writer_lock(&m->tree_lock);
    GHashTable *old = m->index;
    m->index = index;
    m->root = root;
    m->total_bytes = bytes;
    g_hash_table_remove_all(m->dirty);
    wlog_replay_all(m);
    vmlist_rebuild(m, true);
    locks_rebuild(m);
    g_rw_lock_writer_unlock(&m->tree_lock);
    if (old)
        g_hash_table_destroy(old);
    notify(m, MEMDB_CHANGE_RELOAD, NULL, NULL, 0, NULL);
    g_rec_mutex_unlock(&m->apply_lock);
    return 0;
}

memdb *memdb_open(const char *db_path, const memdb_options *options, bool *ret_created,
                  GError **error)
{
    g_autoptr(memdb) m = g_new0(memdb, 1);
    g_rec_mutex_init(&m->apply_lock);
    g_rw_lock_init(&m->tree_lock);
    if (options)
        m->opts = *options;
    m->db_path = g_strdup(db_path);
    m->vmlist = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, vm_record_free);
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
    m->wlog = wlog_open(db_path, error);
    if (!m->wlog)
        return NULL;
    if (have_version) {
        wlog_replay_all(m);
        if (g_hash_table_size(m->dirty) > 0 || wlog_size(m->wlog) > 0) {
            /* Merge now; if that fails (disk full) the log stays and keeps the data,
             * and the merge is retried at the next transaction. */
            int r = txn_ensure(m);
            if (r == 0)
                r = txn_commit(m);
            if (r < 0)
                g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_WARNING,
                      "cannot merge the write log into '%s' yet: %s, ignoring", db_path,
                      g_strerror(-r));
        }
    } else if (wlog_truncate(m->wlog) < 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "cannot reset the write log");
        return NULL;
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
    vmlist_rebuild(m, false);
    locks_rebuild(m);
    if (m->opts.flush_interval_ms) {
        g_mutex_init(&m->flusher_lock);
        g_cond_init(&m->flusher_cond);
        m->flusher = g_thread_new("memdb-flush", flusher_main, m);
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
    if (m->db && m->wlog && m->dirty && g_hash_table_size(m->dirty) > 0)
        memdb_flush(m);
    wlog_free(m->wlog);
    if (m->dirty)
        g_hash_table_destroy(m->dirty);
    database_free(m->db);
    if (m->index)
        g_hash_table_destroy(m->index);
    if (m->vmlist)
        g_hash_table_destroy(m->vmlist);
    if (m->locks)
        g_hash_table_destroy(m->locks);
    g_rec_mutex_clear(&m->apply_lock);
    g_rw_lock_clear(&m->tree_lock);
    g_free(m->db_path);
    g_free(m);
}

/* ---------------------------------------------------------------------------------- */
/* transactions */

/* Make sure a transaction is open for the rows of the current operation. */
static int txn_ensure(memdb *m)
{
    if (database_in_transaction(m->db))
        return 0;
    return database_begin(m->db);
}

static int persist_entry(memdb *m, const memdb_entry *e);
static int persist_version(memdb *m);

/*
 * Commit the open transaction together with every file whose data is only in the write
 * log, then empty the log.  On failure the transaction is rolled back.
 */
static int txn_commit(memdb *m)
{
    int r = 0;
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, m->dirty);
    while (r == 0 && g_hash_table_iter_next(&it, &key, NULL))
        r = persist_entry(m, key);
    if (r == 0)
        r = persist_version(m);
    if (r == 0)
        r = database_commit(m->db);
    else
        database_rollback(m->db);
    if (r < 0)
        return r;
    g_hash_table_remove_all(m->dirty);
    if (wlog_truncate(m->wlog) < 0)
        g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_WARNING,
              "cannot truncate the write log, ignoring (its records are in the database)");
    return 0;
}

/* After a failed transaction: RAM back to database + log, -EIO for the operation(s). */
static int txn_failed(memdb *m, int r, const char *what)
{
    g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_CRITICAL, "%s: %s", what, g_strerror(-r));
    if (database_in_transaction(m->db))
        database_rollback(m->db);
    g_autoptr(GError) err = NULL;
    if (memdb_reload(m, &err) < 0)
        g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_CRITICAL, "reload after %s failed: %s", what,
              err->message);
    return -EIO;
}

/*
 * Finish an applied operation: outside a batch, commit now.  A failed commit (or a
 * failed BEGIN) reloads RAM from the database and turns the result into -EIO.
 */
static int txn_finish(memdb *m, int result, int txn_error)
{
    if (txn_error < 0 && !m->in_batch)
        return txn_failed(m, txn_error, "database write failed");
    if (txn_error < 0) {
        if (m->batch_error == 0)
            m->batch_error = txn_error;
        return result;
    }
    if (m->in_batch)
        return result;
    int r = txn_commit(m);
    if (r < 0)
        return txn_failed(m, r, "database commit failed");
    return result;
}

void memdb_batch_begin(memdb *m)
{
    g_rec_mutex_lock(&m->apply_lock);
    g_return_if_fail(!m->in_batch);
    m->in_batch = true;
    m->batch_error = 0;
}

int memdb_batch_commit(memdb *m)
{
    int r = m->batch_error;
    m->in_batch = false;
    m->batch_error = 0;
    if (r == 0 && database_in_transaction(m->db))
        r = txn_commit(m);
    if (r < 0)
        r = txn_failed(m, r, "batch commit failed");
    g_rec_mutex_unlock(&m->apply_lock);
    return r;
}

int memdb_flush(memdb *m)
{
    g_rec_mutex_lock(&m->apply_lock);
    int r = 0;
    if (!m->in_batch && g_hash_table_size(m->dirty) > 0) {
        r = txn_ensure(m);
        if (r == 0)
            r = txn_commit(m);
        if (r < 0)
            r = txn_failed(m, r, "write log merge failed");
    }
    g_rec_mutex_unlock(&m->apply_lock);
    return r;
}

static gpointer flusher_main(gpointer data)
{
    memdb *m = data;
    g_mutex_lock(&m->flusher_lock);
    while (!m->flusher_stop) {
        gint64 until = g_get_monotonic_time() + (gint64)m->opts.flush_interval_ms * 1000;
        g_cond_wait_until(&m->flusher_cond, &m->flusher_lock, until);
        if (m->flusher_stop)
            break;
        g_mutex_unlock(&m->flusher_lock);
        memdb_flush(m);
        g_mutex_lock(&m->flusher_lock);
    }
    g_mutex_unlock(&m->flusher_lock);
    return NULL;
}

/* Apply one replayed write-log record; false stops the replay (not our continuation). */
static bool wlog_apply(void *user_data, const wlog_record *rec)
{
    memdb *m = user_data;
    if (rec->version <= m->root->version)
        return true; /* already in the database */
    memdb_entry *e = memdb_get(m, rec->inode);
    if (rec->version != m->root->version + 1 || !e || e->type != CFS_TYPE_REG ||
        (uint64_t)rec->offset + rec->len > CFS_MAX_FILE_SIZE ||
        rec->new_size > CFS_MAX_FILE_SIZE) {
        m->wlog_stopped = true;
        return false;
    }
    uint32_t old_size = e->size;
    uint32_t end = rec->offset + rec->len;
    uint32_t new_size = (rec->flags & WLOG_FLAG_TRUNCATE) ? end : MAX(old_size, end);
    if (new_size != rec->new_size) {
        m->wlog_stopped = true;
        return false;
    }
    entry_reserve(e, new_size);
    if (rec->offset > old_size)
        memset(e->data + old_size, 0, rec->offset - old_size);
    if (rec->len)
        memcpy(e->data + rec->offset, rec->data, rec->len);
    e->size = new_size;
    m->total_bytes = m->total_bytes - old_size + new_size;
    e->version = rec->version;
    e->writer = rec->writer;
    e->mtime = rec->mtime;
    m->root->version = rec->version;
    m->root->writer = rec->writer;
    m->root->mtime = rec->mtime;
    g_hash_table_add(m->dirty, e);
    return true;
}

/* Replay the write log onto the tree just loaded from the database. */
static void wlog_replay_all(memdb *m)
{
    uint64_t before = m->root->version;
    uint64_t bad = 0;
    m->wlog_stopped = false;
    wlog_replay(m->wlog, wlog_apply, m, &bad);
    uint64_t applied = m->root->version - before;
    if (applied)
        g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_MESSAGE,
              "replayed %" G_GUINT64_FORMAT " writes from the write log", applied);
    if (bad || m->wlog_stopped)
        g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_WARNING,
              "discarding the rest of the write log: it does not continue version %" G_GUINT64_FORMAT
              "%s, ignoring",
              m->root->version, bad ? " (torn record)" : "");
}

/* Bump the global version for an operation; returns the new version. */
static uint64_t root_bump(memdb *m, uint32_t writer, uint32_t mtime)
{
    m->root->version++;
    m->root->writer = writer;
    m->root->mtime = mtime;
    return m->root->version;
}

static int persist_version(memdb *m)
{
    return database_put_version(m->db, m->root->version, m->root->writer, m->root->mtime,
                                CFS_TYPE_REG);
}

static int persist_entry(memdb *m, const memdb_entry *e)
{
    return database_put(m->db, e->inode, e->parent, e->version, e->writer, e->mtime, e->type,
                        e->name, e->type == CFS_TYPE_REG ? e->data : NULL,
                        e->type == CFS_TYPE_REG ? e->size : 0);
}

/* ---------------------------------------------------------------------------------- */
/* apply operations */

/* Create a file or directory; shared by create and mkdir. */
static int memdb_create_entry(memdb *m, const char *path, uint8_t type, uint32_t writer,
                              uint32_t mtime)
{
    g_autofree char *name = NULL;
    memdb_entry *parent = NULL;
    int r;

    g_rec_mutex_lock(&m->apply_lock);
    if ((r = resolve_parent(m, path, &parent, &name)) < 0)
        goto out;
    if (parent->type != CFS_TYPE_DIR) {
        r = -ENOTDIR;
        goto out;
    }
    if (memdb_name_is_bad(name)) {
        r = -EACCES;
        goto out;
    }
    if (type == CFS_TYPE_REG && vmlist_conflicts(m, path)) {
        r = -EEXIST;
        goto out;
    }
    if (entry_child(parent, name)) {
        r = -EEXIST;
        goto out;
    }

    int txn = txn_ensure(m);
    g_rw_lock_writer_lock(&m->tree_lock);
    uint64_t version = root_bump(m, writer, mtime);
    memdb_entry *e = entry_new(version, parent->inode, version, writer, mtime, type, name);
    entry_attach(parent, e);
    g_hash_table_insert(m->index, &e->inode, e);
    if (type == CFS_TYPE_REG)
        vmlist_register_path(m, path, version);
    g_rw_lock_writer_unlock(&m->tree_lock);
    if (type == CFS_TYPE_DIR && entry_is_lock_parent(m, parent)) {
        g_autofree char *lpath = entry_path(m, e);
        lock_record_set(m, lpath, e);
    }

    if (txn == 0)
        txn = persist_entry(m, e);
    if (txn == 0)
        txn = persist_version(m);
    notify(m, MEMDB_CHANGE_CREATE, path, e, parent->inode, e->name);
    r = txn_finish(m, 0, txn);
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
static void entry_reserve(memdb_entry *e, uint32_t size)
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
    if ((r = resolve_parent(m, path, &parent, &name)) < 0)
        goto out;
    if (parent->type != CFS_TYPE_DIR) {
        r = -ENOTDIR;
        goto out;
    }
    if (memdb_name_is_bad(name)) {
        r = -EACCES;
        goto out;
    }
    if (vmlist_conflicts(m, path)) {
        r = -EEXIST;
        goto out;
    }
    memdb_entry *e = entry_child(parent, name);
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
    entry_reserve(e, new_size);
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
    uint64_t version = root_bump(m, writer, mtime);
    e->version = version;
    e->writer = writer;
    e->mtime = mtime;
    vmlist_register_path(m, path, version);
    g_rw_lock_writer_unlock(&m->tree_lock);

    /* The data goes to the write log; SQLite catches up at the next transaction. */
    wlog_record rec = {
        .version = version,
        .writer = writer,
        .mtime = mtime,
        .inode = e->inode,
        .offset = (uint32_t)offset,
        .len = (uint32_t)len,
        .new_size = new_size,
        .flags = truncate ? WLOG_FLAG_TRUNCATE : 0,
        .data = data,
    };
    int txn = wlog_append(m->wlog, &rec);
    g_hash_table_add(m->dirty, e);
    notify(m, MEMDB_CHANGE_WRITE, path, e, parent->inode, e->name);
    if (txn == 0 && (m->in_batch || wlog_size(m->wlog) < WLOG_MERGE_BYTES)) {
        r = (int)len;
        goto out;
    }
    /* the log is full, or failing: merge into SQLite now */
    if (txn < 0)
        g_log(G_LOG_DOMAIN_MEMDB, G_LOG_LEVEL_WARNING,
              "write log append failed: %s, writing to the database", g_strerror(-txn));
    r = txn_finish(m, (int)len, txn_ensure(m));
out:
    g_rec_mutex_unlock(&m->apply_lock);
    return r;
}

/* Unlink @e from the tree and account for it; the caller frees it later. */
static void tree_remove(memdb *m, memdb_entry *e, const char *path)
{
    memdb_entry *parent = entry_parent(m, e);
    if (parent)
        entry_detach(parent, e);
    g_hash_table_steal(m->index, &e->inode);
    g_hash_table_remove(m->dirty, e);
    if (e->type == CFS_TYPE_REG) {
        m->total_bytes -= e->size;
        vmlist_remove_path(m, path);
    }
}

int memdb_delete(memdb *m, const char *path, uint32_t writer, uint32_t mtime)
{
    g_autofree char *epath = NULL;
    int r = 0;

    g_rec_mutex_lock(&m->apply_lock);
    memdb_entry *e = lookup_path(m, path);
    if (!e) {
        r = -ENOENT;
        goto out;
    }
    if (e->inode == 0) {
        r = -EACCES;
        goto out;
    }
    if (entry_child_count(e) > 0) {
        r = -ENOTEMPTY;
        goto out;
    }

    epath = entry_path(m, e);
    bool was_lock = entry_is_lock_dir(m, e);
    uint64_t parent_inode = e->parent;
    int txn = txn_ensure(m);
    g_rw_lock_writer_lock(&m->tree_lock);
    tree_remove(m, e, epath);
    root_bump(m, writer, mtime);
    g_rw_lock_writer_unlock(&m->tree_lock);
    if (was_lock)
        g_hash_table_remove(m->locks, epath);

    if (txn == 0)
        txn = database_delete(m->db, e->inode);
    if (txn == 0)
        txn = persist_version(m);
    notify(m, MEMDB_CHANGE_DELETE, epath, e, parent_inode, e->name);
    entry_free(e);
    r = txn_finish(m, 0, txn);
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
    int r = 0;

    g_rec_mutex_lock(&m->apply_lock);
    memdb_entry *src = lookup_path(m, from);
    if (!src) {
        r = -ENOENT;
        goto out;
    }
    if (src->inode == 0) {
        r = -EACCES;
        goto out;
    }
    /* VMID rule (spec §6.2): a guest config may only be renamed onto a VMID registered
     * elsewhere when it is the same VMID (migration). */
    if (src->type == CFS_TYPE_REG && vmlist_conflicts(m, to)) {
        uint32_t from_vmid, to_vmid;
        if (!memdb_parse_vm_path(from, &from_vmid, NULL, NULL) ||
            !memdb_parse_vm_path(to, &to_vmid, NULL, NULL) || from_vmid != to_vmid) {
            r = -EEXIST;
            goto out;
        }
    }
    if (entry_is_lock_dir(m, src)) {
        r = -EACCES;
        goto out;
    }
    memdb_entry *target = lookup_path(m, to);
    if (target && target != src && entry_child_count(target) > 0) {
        r = -ENOTEMPTY;
        goto out;
    }
    if ((r = resolve_parent(m, to, &tparent, &tname)) < 0)
        goto out;
    if (!target && tparent->type != CFS_TYPE_DIR) {
        r = -ENOTDIR;
        goto out;
    }
    if (entry_child_count(src) > 0) {
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

    src_path = entry_path(m, src);
    old_name = g_strdup(src->name);
    uint64_t old_parent = src->parent;
    memdb_entry *replaced = target && target != src ? target : NULL;
    replaced_path = replaced ? entry_path(m, replaced) : NULL;
    bool replaced_lock = replaced && entry_is_lock_dir(m, replaced);
    uint64_t replaced_parent = replaced ? replaced->parent : 0;

    int txn = txn_ensure(m);
    g_rw_lock_writer_lock(&m->tree_lock);
    if (replaced)
        tree_remove(m, replaced, replaced_path);
    memdb_entry *sparent = entry_parent(m, src);
    entry_detach(sparent, src);
    g_free(src->name);
    src->name = g_strdup(tname);
    entry_attach(tparent, src);
    uint64_t version = root_bump(m, writer, mtime);
    src->version = version;
    src->writer = writer;
    src->mtime = mtime;
    if (src->type == CFS_TYPE_REG) {
        vmlist_remove_path(m, src_path);
        vmlist_register_path(m, to, version);
    }
    g_rw_lock_writer_unlock(&m->tree_lock);
    if (replaced_lock)
        g_hash_table_remove(m->locks, replaced_path);
    if (entry_is_lock_dir(m, src)) {
        g_autofree char *lpath = entry_path(m, src);
        lock_record_set(m, lpath, src);
    }

    if (txn == 0 && replaced)
        txn = database_delete(m->db, replaced->inode);
    if (txn == 0)
        txn = database_put_meta(m->db, src->inode, src->parent, src->version, src->writer,
                                src->mtime, src->name);
    if (txn == 0)
        txn = persist_version(m);
    notify(m, MEMDB_CHANGE_RENAME_FROM, src_path, src, old_parent, old_name);
    if (replaced)
        notify(m, MEMDB_CHANGE_DELETE, replaced_path, replaced, replaced_parent,
               replaced->name);
    notify(m, MEMDB_CHANGE_RENAME_TO, to, src, src->parent, src->name);
    entry_free(replaced);
    r = txn_finish(m, 0, txn);
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
    if ((r = resolve_parent(m, path, &parent, &name)) < 0)
        goto out;
    if (parent->type != CFS_TYPE_DIR) {
        r = -ENOTDIR;
        goto out;
    }
    if (memdb_name_is_bad(name)) {
        r = -EACCES;
        goto out;
    }
    memdb_entry *e = entry_child(parent, name);
    if (!e) {
        r = -ENOENT;
        goto out;
    }
    bool is_lock = entry_is_lock_dir(m, e);
    if (is_lock && (mtime < e->mtime || writer != e->writer)) {
        r = -EACCES;
        goto out;
    }

    int txn = txn_ensure(m);
    g_rw_lock_writer_lock(&m->tree_lock);
    uint64_t version = root_bump(m, writer, mtime);
    e->version = version;
    e->writer = writer;
    e->mtime = mtime;
    g_rw_lock_writer_unlock(&m->tree_lock);
    if (is_lock) {
        g_autofree char *lpath = entry_path(m, e);
        lock_record_set(m, lpath, e);
    }

    if (txn == 0)
        txn = database_put_meta(m->db, e->inode, e->parent, e->version, e->writer, e->mtime,
                                e->name);
    if (txn == 0)
        txn = persist_version(m);
    notify(m, MEMDB_CHANGE_MTIME, path, e, parent->inode, e->name);
    r = txn_finish(m, 0, txn);
out:
    g_rec_mutex_unlock(&m->apply_lock);
    return r;
}


/* ---------------------------------------------------------------------------------- */
/* resync (spec §9.6, §10.13) */

int memdb_entry_copy(memdb *m, uint64_t inode, memdb_attr *ret_attr, char **ret_name,
                     GBytes **ret_data)
{
    int r = -ENOENT;
    g_rw_lock_reader_lock(&m->tree_lock);
    memdb_entry *e = memdb_get(m, inode);
    if (e) {
        entry_attr(e, ret_attr);
        *ret_name = g_strdup(e->name);
        *ret_data = e->type == CFS_TYPE_REG && e->size ? g_bytes_new(e->data, e->size) : NULL;
        r = 0;
    }
    g_rw_lock_reader_unlock(&m->tree_lock);
    return r;
}

void memdb_update_free(memdb_update *u)
{
    if (!u)
        return;
    g_free(u->name);
    if (u->data)
        g_bytes_unref(u->data);
    g_free(u);
}

/* Encode the index of an arbitrary tree (same layout as memdb_encode_index). */
static GBytes *index_encode_tree(GHashTable *index, memdb_entry *root)
{
    GPtrArray *arr = g_ptr_array_sized_new(g_hash_table_size(index));
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, index);
    while (g_hash_table_iter_next(&it, NULL, &value))
        g_ptr_array_add(arr, value);
    g_ptr_array_sort(arr, entry_cmp_inode);
    uint32_t count = arr->len;
    size_t bytes = 32 + (size_t)40 * count;
    uint8_t *buf = g_malloc(bytes);
    memdb_entry *last = g_ptr_array_index(arr, count - 1);
    wire_put_u64(buf, root->version);
    wire_put_u64(buf + 8, last->inode);
    wire_put_u32(buf + 16, root->writer);
    wire_put_u32(buf + 20, root->mtime);
    wire_put_u32(buf + 24, count);
    wire_put_u32(buf + 28, (uint32_t)bytes);
    for (uint32_t i = 0; i < count; i++) {
        memdb_entry *e = g_ptr_array_index(arr, i);
        memdb_attr a;
        entry_attr(e, &a);
        uint8_t *p = buf + 32 + (size_t)40 * i;
        wire_put_u64(p, e->inode);
        memdb_entry_digest(&a, e->name, e->type == CFS_TYPE_REG ? e->data : NULL, p + 8);
    }
    g_ptr_array_free(arr, TRUE);
    return g_bytes_new_take(buf, bytes);
}

static memdb_entry *entry_from_update(const memdb_update *u)
{
    memdb_entry *e = entry_new(u->attr.inode, u->attr.parent, u->attr.version, u->attr.writer,
                               u->attr.mtime, u->attr.type, u->name ? u->name : "");
    if (u->attr.type == CFS_TYPE_REG && u->data && g_bytes_get_size(u->data)) {
        gsize len;
        const void *p = g_bytes_get_data(u->data, &len);
        e->data = g_memdup2(p, len);
        e->size = e->capacity = (uint32_t)len;
    }
    return e;
}

/* A new entry object for an unchanged entry, sharing the old entry's data buffer. */
static memdb_entry *entry_share(const memdb_entry *old)
{
    memdb_entry *e = entry_new(old->inode, old->parent, old->version, old->writer, old->mtime,
                               old->type, old->name);
    if (old->type == CFS_TYPE_REG) {
        e->data = old->data;
        e->size = old->size;
        e->capacity = old->capacity;
    }
    return e;
}

int memdb_sync_commit(memdb *m, GBytes *leader_index, GPtrArray *updates,
                      memdb_sync_stats *ret_stats, GError **error)
{
    gsize ilen;
    const uint8_t *idx = g_bytes_get_data(leader_index, &ilen);
    if (ilen < 32 || wire_get_u32(idx + 28) != ilen ||
        ilen != 32 + (gsize)40 * wire_get_u32(idx + 24)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "leader index has a bad length");
        return -EINVAL;
    }
    uint32_t count = wire_get_u32(idx + 24);
    memdb_sync_stats stats = {0};
    int r = 0;

    g_rec_mutex_lock(&m->apply_lock);
    GHashTable *byinode = g_hash_table_new(g_int64_hash, g_int64_equal);
    for (guint i = 0; i < updates->len; i++) {
        memdb_update *u = g_ptr_array_index(updates, i);
        g_hash_table_replace(byinode, &u->attr.inode, u);
    }
    GHashTable *index = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                              (GDestroyNotify)entry_free);
    GPtrArray *shared = g_ptr_array_new(); /* pairs: old, new */
    memdb_entry *root = NULL;

    for (uint32_t i = 0; i < count && r == 0; i++) {
        uint64_t inode = wire_get_u64(idx + 32 + (size_t)40 * i);
        memdb_update *u = g_hash_table_lookup(byinode, &inode);
        memdb_entry *old = memdb_get(m, inode);
        memdb_entry *e;
        if (u) {
            if ((u->attr.type != CFS_TYPE_DIR && u->attr.type != CFS_TYPE_REG) ||
                (inode == 0 && u->attr.type != CFS_TYPE_DIR)) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                            "update for inode %" G_GUINT64_FORMAT " has a bad type", inode);
                r = -EINVAL;
                break;
            }
            e = entry_from_update(u);
            if (old)
                stats.overwritten++;
            else
                stats.added++;
        } else if (old) {
            e = entry_share(old);
            g_ptr_array_add(shared, old);
            g_ptr_array_add(shared, e);
        } else {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                        "no update received for missing inode %" G_GUINT64_FORMAT, inode);
            r = -EINVAL;
            break;
        }
        if (g_hash_table_contains(index, &e->inode)) {
            entry_free(e);
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "duplicate inode in index");
            r = -EINVAL;
            break;
        }
        g_hash_table_insert(index, &e->inode, e);
        if (inode == 0)
            root = e;
    }
    if (r == 0 && !root) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "leader index has no root");
        r = -EINVAL;
    }
    /* link the new tree */
    if (r == 0) {
        root->name[0] = '\0';
        root->parent = 0;
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, index);
        while (r == 0 && g_hash_table_iter_next(&it, NULL, &value)) {
            memdb_entry *e = value;
            if (e->inode == 0)
                continue;
            memdb_entry *p = g_hash_table_lookup(index, &e->parent);
            if (!p || p->type != CFS_TYPE_DIR || entry_child(p, e->name) ||
                memdb_name_is_bad(e->name)) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                            "received tree is inconsistent at inode %" G_GUINT64_FORMAT
                            " ('%s')",
                            e->inode, e->name);
                r = -EINVAL;
                break;
            }
            entry_attach(p, e);
        }
    }
    if (r == 0) {
        g_autoptr(GBytes) mine = index_encode_tree(index, root);
        if (!g_bytes_equal(mine, leader_index)) {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                        "new index does not match master index");
            r = -EINVAL;
        }
    }
    /* which local entries disappear */
    GPtrArray *removed = g_ptr_array_new();
    if (r == 0) {
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, m->index);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
            memdb_entry *old = value;
            if (!g_hash_table_contains(index, &old->inode))
                g_ptr_array_add(removed, old);
        }
        stats.removed = removed->len;
        /* A replaced entry whose local version is not older than the leader's, and whose
         * name, place or content differ, was a divergent local change (the same inode
         * number was used on both sides).  Equal content with another mtime (two nodes
         * importing the same corosync.conf) is not a loss. */
        for (guint i = 0; i < updates->len && !stats.local_changes_lost; i++) {
            memdb_update *u = g_ptr_array_index(updates, i);
            memdb_entry *old = memdb_get(m, u->attr.inode);
            if (!old || u->attr.inode == 0 || old->version < u->attr.version)
                continue;
            gsize ulen = u->data ? g_bytes_get_size(u->data) : 0;
            bool same = old->type == u->attr.type && old->parent == u->attr.parent &&
                        strcmp(old->name, u->name ? u->name : "") == 0 &&
                        (old->type == CFS_TYPE_DIR ||
                         (old->size == ulen &&
                          (ulen == 0 || memcmp(old->data, g_bytes_get_data(u->data, NULL),
                                               ulen) == 0)));
            if (!same)
                stats.local_changes_lost = true;
        }
    }
    /* persist: one transaction */
    if (r == 0) {
        r = txn_ensure(m);
        for (guint i = 0; r == 0 && i < removed->len; i++)
            r = database_delete(m->db, ((memdb_entry *)removed->pdata[i])->inode);
        for (guint i = 0; r == 0 && i < updates->len; i++) {
            memdb_update *u = g_ptr_array_index(updates, i);
            if (u->attr.inode == 0)
                continue;
            memdb_entry *e = g_hash_table_lookup(index, &u->attr.inode);
            if (e)
                r = persist_entry(m, e);
        }
        if (r == 0)
            r = database_put_version(m->db, root->version, root->writer, root->mtime,
                                     root->type);
        if (r == 0)
            r = database_commit(m->db);
        else if (database_in_transaction(m->db))
            database_rollback(m->db);
        if (r < 0)
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO,
                        "database commit of the resync failed: %s", g_strerror(-r));
    }
    g_ptr_array_free(removed, TRUE);

    if (r == 0) {
        /* publish: the old entries give their shared data to the new ones */
        for (guint i = 0; i < shared->len; i += 2) {
            memdb_entry *old = shared->pdata[i];
            if (old->type == CFS_TYPE_REG) {
                old->data = NULL;
                old->capacity = 0;
            }
        }
        uint64_t bytes = 0;
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, index);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
            memdb_entry *e = value;
            if (e->type == CFS_TYPE_REG)
                bytes += e->size;
        }
        g_rw_lock_writer_lock(&m->tree_lock);
        GHashTable *old_index = m->index;
        m->index = index;
        m->root = root;
        m->total_bytes = bytes;
        vmlist_rebuild(m, true);
        locks_rebuild(m);
        g_rw_lock_writer_unlock(&m->tree_lock);
        g_hash_table_destroy(old_index);
        notify(m, MEMDB_CHANGE_RELOAD, NULL, NULL, 0, NULL);
        if (ret_stats)
            *ret_stats = stats;
    } else {
        for (guint i = 1; i < shared->len; i += 2) {
            memdb_entry *e = shared->pdata[i];
            if (e->type == CFS_TYPE_REG)
                e->data = NULL;
        }
        g_hash_table_destroy(index);
    }
    g_ptr_array_free(shared, TRUE);
    g_hash_table_destroy(byinode);
    g_rec_mutex_unlock(&m->apply_lock);
    return r;
}

/* ---------------------------------------------------------------------------------- */
/* readers */

int memdb_getattr(memdb *m, uint64_t inode, memdb_attr *ret_attr)
{
    int r = -ENOENT;
    g_rw_lock_reader_lock(&m->tree_lock);
    memdb_entry *e = memdb_get(m, inode);
    if (e) {
        entry_attr(e, ret_attr);
        r = 0;
    }
    g_rw_lock_reader_unlock(&m->tree_lock);
    return r;
}

int memdb_lookup(memdb *m, uint64_t parent, const char *name, memdb_attr *ret_attr)
{
    int r = -ENOENT;
    g_rw_lock_reader_lock(&m->tree_lock);
    memdb_entry *p = memdb_get(m, parent);
    memdb_entry *e = p ? entry_child(p, name) : NULL;
    if (e) {
        entry_attr(e, ret_attr);
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
    memdb_entry *e = lookup_path(m, path);
    if (e) {
        entry_attr(e, ret_attr);
        r = 0;
    }
    g_rw_lock_reader_unlock(&m->tree_lock);
    return r;
}

ssize_t memdb_read(memdb *m, uint64_t inode, void *buf, size_t len, uint64_t offset)
{
    ssize_t r;
    g_rw_lock_reader_lock(&m->tree_lock);
    memdb_entry *e = memdb_get(m, inode);
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
    memdb_entry *e = lookup_path(m, path);
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
    memdb_entry *e = memdb_get(m, inode);
    if (!e) {
        r = -ENOENT;
    } else if (e->type != CFS_TYPE_DIR) {
        r = -ENOTDIR;
    } else {
        guint n = entry_child_count(e);
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
    memdb_entry *e = memdb_get(m, inode);
    if (e)
        path = entry_path(m, e);
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
