/*
 * memdb-tables: the tables memdb derives from the tree: the VM list (spec §6) and the
 * lock table with each lock's local first-seen time (spec §7).  The VM list is changed
 * under the apply lock and the tree write lock and read under the tree lock; the lock
 * table belongs to the apply lock alone.
 */
#include "pmxcfs/memdb-private.h"

#include <errno.h>
#include <string.h>

/* ---------------------------------------------------------------------------------- */
/* VM list (spec §6) */

void mdb_vm_record_free(gpointer p)
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
bool mdb_vmlist_conflicts(memdb *m, const char *path)
{
    uint32_t vmid;
    vm_type type;
    g_autofree char *node = NULL;
    if (!memdb_parse_vm_path(path, &vmid, &type, &node))
        return false;
    vm_record *r = g_hash_table_lookup(m->vmlist, GUINT_TO_POINTER(vmid));
    return r && (r->type != type || strcmp(r->node, node) != 0);
}

void mdb_vmlist_register_path(memdb *m, const char *path, uint64_t tree_version)
{
    uint32_t vmid;
    vm_type type;
    g_autofree char *node = NULL;
    if (memdb_parse_vm_path(path, &vmid, &type, &node))
        vmlist_register(m, vmid, type, node, tree_version);
}

void mdb_vmlist_remove_path(memdb *m, const char *path)
{
    uint32_t vmid;
    vm_type type;
    g_autofree char *node = NULL;
    if (memdb_parse_vm_path(path, &vmid, &type, &node))
        vmlist_remove(m, vmid, type, node);
}

static char *vm_record_path(const vm_record *r)
{
    return g_strdup_printf("nodes/%s/%s/%u.conf", r->node, mdb_vm_kind_dir(r->type), r->vmid);
}

/*
 * Rebuild the VM list from the tree (spec §6.3).  Duplicates keep the copy with the
 * highest tree version, deterministic on every node (W14: the reference refuses to
 * start).  @bump: increment the list version (not at database open, see below).
 */
void mdb_vmlist_rebuild(memdb *m, bool bump)
{
    uint64_t saved_version = m->vmlist_version;
    g_hash_table_remove_all(m->vmlist);
    memdb_entry *nodes = mdb_entry_child(m->root, "nodes");
    if (nodes && nodes->type == CFS_TYPE_DIR && nodes->children) {
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, nodes->children);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
            memdb_entry *node = value;
            if (node->type != CFS_TYPE_DIR || !node->children ||
                !mdb_name_is_ldh(node->name, strlen(node->name)))
                continue;
            for (vm_type type = VMTYPE_QEMU; type <= VMTYPE_LXC; type++) {
                memdb_entry *kind = mdb_entry_child(node, mdb_vm_kind_dir(type));
                if (!kind || kind->type != CFS_TYPE_DIR || !kind->children)
                    continue;
                GHashTableIter it2;
                gpointer v2;
                g_hash_table_iter_init(&it2, kind->children);
                while (g_hash_table_iter_next(&it2, NULL, &v2)) {
                    memdb_entry *conf = v2;
                    uint32_t vmid;
                    if (conf->type != CFS_TYPE_REG ||
                        !mdb_vm_conf_name_parse(conf->name, strlen(conf->name), &vmid))
                        continue;
                    vm_record *old = g_hash_table_lookup(m->vmlist, GUINT_TO_POINTER(vmid));
                    if (old) {
                        g_autofree char *old_path = vm_record_path(old);
                        g_autofree char *new_path = mdb_entry_path(m, conf);
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

static void memdb_vm_config_clear(gpointer p)
{
    g_bytes_unref(((memdb_vm_config *)p)->data);
}

static void vm_config_append(memdb *m, GArray *arr, const vm_record *r)
{
    g_autofree char *path = vm_record_path(r);
    memdb_entry *e = mdb_lookup_path(m, path);
    if (!e || e->type != CFS_TYPE_REG)
        return;
    memdb_vm_config c = {.vmid = r->vmid, .data = g_bytes_new(e->data, e->size)};
    g_array_append_val(arr, c);
}

int memdb_vm_configs(memdb *m, uint32_t vmid, GArray **ret_configs)
{
    int r = 0;
    g_rw_lock_reader_lock(&m->tree_lock);
    GArray *arr = g_array_new(FALSE, FALSE, sizeof(memdb_vm_config));
    g_array_set_clear_func(arr, memdb_vm_config_clear);
    if (vmid) {
        vm_record *rec = g_hash_table_lookup(m->vmlist, GUINT_TO_POINTER(vmid));
        if (rec)
            vm_config_append(m, arr, rec);
        else
            r = -ENOENT;
    } else {
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, m->vmlist);
        while (g_hash_table_iter_next(&it, NULL, &value))
            vm_config_append(m, arr, value);
    }
    g_rw_lock_reader_unlock(&m->tree_lock);
    if (r < 0)
        g_array_unref(arr);
    else
        *ret_configs = arr;
    return r;
}

/* ---------------------------------------------------------------------------------- */
/* lock table (spec §7) */

void mdb_lock_record_set(memdb *m, const char *path, const memdb_entry *e)
{
    lock_record *r = g_new0(lock_record, 1);
    mdb_entry_checksum(e, r->checksum);
    r->ltime = mdb_now(m);
    g_hash_table_replace(m->locks, g_strdup(path), r);
}

/* Rebuild from the lock directories in the tree, keeping the first-seen time of every
 * lock whose checksum is unchanged (W6). */
void mdb_locks_rebuild(memdb *m, GHashTable *previous)
{
    GHashTable *old = m->locks;
    m->locks = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    if (!previous)
        previous = old;
    memdb_entry *priv = mdb_entry_child(m->root, "priv");
    memdb_entry *lock = priv ? mdb_entry_child(priv, "lock") : NULL;
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
            mdb_entry_checksum(e, r->checksum);
            lock_record *prev = g_hash_table_lookup(previous, path);
            if (prev && memcmp(prev->checksum, r->checksum, 32) == 0)
                r->ltime = prev->ltime;
            else
                r->ltime = mdb_now(m);
            g_hash_table_replace(m->locks, g_steal_pointer(&path), r);
        }
    }
    g_hash_table_destroy(old);
}

int memdb_lock_checksum(memdb *m, const char *path, uint8_t ret_checksum[32])
{
    int r = -ENOENT;
    g_rw_lock_reader_lock(&m->tree_lock);
    memdb_entry *e = mdb_lookup_path(m, path);
    if (e && mdb_entry_is_lock_dir(m, e)) {
        mdb_entry_checksum(e, ret_checksum);
        r = 0;
    }
    g_rw_lock_reader_unlock(&m->tree_lock);
    return r;
}

bool memdb_lock_expired(memdb *m, const char *path, const uint8_t checksum[32])
{
    g_rec_mutex_lock(&m->apply_lock);
    uint64_t now = mdb_now(m);
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

