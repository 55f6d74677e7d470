/*
 * status: RAM-only daemon status and the JSON virtual files.
 *
 * The observed-file table is a fixed array in the reference's order (it is the order
 * of `.version`); counters live next to it and are only touched under `lock`.  The
 * JSON layouts are byte-exact copies of the reference formats (spec §2.3-2.6), which
 * Perl clients parse; entry order inside objects is ours to choose.
 */
#include "pmxcfs/status.h"

#include <string.h>
#include <time.h>

/* The 43 observed paths, in the order `.version` prints them (spec §2.2). */
static const char *const observed_paths[] = {
    "corosync.conf",
    "corosync.conf.new",
    "storage.cfg",
    "user.cfg",
    "domains.cfg",
    "notifications.cfg",
    "priv/notifications.cfg",
    "priv/shadow.cfg",
    "priv/acme/plugins.cfg",
    "priv/tfa.cfg",
    "priv/token.cfg",
    "priv/wg-keys.cfg",
    "datacenter.cfg",
    "vzdump.cron",
    "vzdump.conf",
    "jobs.cfg",
    "ha/crm_commands",
    "ha/manager_status",
    "ha/resources.cfg",
    "ha/rules.cfg",
    "ha/groups.cfg",
    "ha/fence.cfg",
    "status.cfg",
    "replication.cfg",
    "ceph.conf",
    "sdn/vnets.cfg",
    "sdn/zones.cfg",
    "sdn/controllers.cfg",
    "sdn/subnets.cfg",
    "sdn/ipams.cfg",
    "sdn/mac-cache.json",
    "sdn/pve-ipam-state.json",
    "sdn/dns.cfg",
    "sdn/fabrics.cfg",
    "sdn/route-maps.cfg",
    "sdn/prefix-lists.cfg",
    "sdn/.running-config",
    "virtual-guest/cpu-models.conf",
    "virtual-guest/profiles.cfg",
    "firewall/cluster.fw",
    "mapping/directory.cfg",
    "mapping/pci.cfg",
    "mapping/usb.cfg",
};
#define OBSERVED_COUNT G_N_ELEMENTS(observed_paths)

struct cfs_status {
    GMutex lock;
    char *nodename;
    uint32_t starttime;
    bool quorate;
    uint32_t clinfo_version;
    uint32_t observed[OBSERVED_COUNT];
    GHashTable *observed_index; /* path -> index + 1 */
    memdb *memdb;
};

cfs_status *cfs_status_new(const char *nodename, memdb *m)
{
    cfs_status *st = g_new0(cfs_status, 1);
    g_mutex_init(&st->lock);
    st->nodename = g_strdup(nodename);
    st->starttime = (uint32_t)time(NULL);
    st->memdb = m;
    st->observed_index = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < OBSERVED_COUNT; i++)
        g_hash_table_insert(st->observed_index, (gpointer)observed_paths[i],
                            GUINT_TO_POINTER(i + 1));
    return st;
}

void cfs_status_free(cfs_status *st)
{
    if (!st)
        return;
    g_hash_table_destroy(st->observed_index);
    g_free(st->nodename);
    g_mutex_clear(&st->lock);
    g_free(st);
}

const char *cfs_status_nodename(cfs_status *st)
{
    return st->nodename;
}

uint32_t cfs_status_starttime(cfs_status *st)
{
    return st->starttime;
}

void cfs_status_set_quorate(cfs_status *st, bool quorate)
{
    g_mutex_lock(&st->lock);
    st->quorate = quorate;
    g_mutex_unlock(&st->lock);
}

bool cfs_status_is_quorate(cfs_status *st)
{
    g_mutex_lock(&st->lock);
    bool q = st->quorate;
    g_mutex_unlock(&st->lock);
    return q;
}

void cfs_status_path_changed(cfs_status *st, const char *path)
{
    guint idx = GPOINTER_TO_UINT(g_hash_table_lookup(st->observed_index, path));
    if (!idx)
        return;
    g_mutex_lock(&st->lock);
    st->observed[idx - 1]++;
    g_mutex_unlock(&st->lock);
}

void cfs_status_bump_all(cfs_status *st)
{
    g_mutex_lock(&st->lock);
    for (guint i = 0; i < OBSERVED_COUNT; i++)
        st->observed[i]++;
    g_mutex_unlock(&st->lock);
}

uint32_t cfs_status_path_version(cfs_status *st, const char *path)
{
    guint idx = GPOINTER_TO_UINT(g_hash_table_lookup(st->observed_index, path));
    if (!idx)
        return 0;
    g_mutex_lock(&st->lock);
    uint32_t v = st->observed[idx - 1];
    g_mutex_unlock(&st->lock);
    return v;
}

char *cfs_status_version_json(cfs_status *st)
{
    GString *s = g_string_sized_new(2048);
    uint64_t vmlist_version = memdb_vmlist_version(st->memdb);
    g_mutex_lock(&st->lock);
    g_string_append_printf(s, "{\n\"starttime\": %u,\n\"clinfo\": %u,\n\"vmlist\": %" G_GUINT64_FORMAT
                              ",\n",
                           st->starttime, st->clinfo_version, vmlist_version);
    for (guint i = 0; i < OBSERVED_COUNT; i++)
        g_string_append_printf(s, "\"%s\": %u,\n", observed_paths[i], st->observed[i]);
    /* The key/value store of the local node (empty until the status layer has keys). */
    g_string_append_printf(s, "\"kvstore\": {\n\"%s\": {\n}\n}\n}\n", st->nodename);
    g_mutex_unlock(&st->lock);
    return g_string_free(s, FALSE);
}

char *cfs_status_members_json(cfs_status *st)
{
    g_mutex_lock(&st->lock);
    char *s = g_strdup_printf("{\n\"nodename\": \"%s\",\n\"version\": %u\n}\n", st->nodename,
                              st->clinfo_version);
    g_mutex_unlock(&st->lock);
    return s;
}

static gint vm_cmp_decimal(gconstpointer a, gconstpointer b)
{
    char x[16], y[16];
    g_snprintf(x, sizeof(x), "%u", ((const memdb_vm *)a)->vmid);
    g_snprintf(y, sizeof(y), "%u", ((const memdb_vm *)b)->vmid);
    return strcmp(x, y);
}

char *cfs_status_vmlist_json(cfs_status *st)
{
    uint64_t version = 0;
    g_autoptr(GArray) vms = memdb_vmlist_snapshot(st->memdb, &version);
    GString *s = g_string_sized_new(64 + (gsize)vms->len * 64);
    g_string_append_printf(s, "{\n\"version\": %" G_GUINT64_FORMAT, version);
    if (vms->len) {
        /* The reference prints the ids as sorted strings ("100" < "99"). */
        g_array_sort(vms, vm_cmp_decimal);
        g_string_append(s, ",\n\"ids\": {\n");
        for (guint i = 0; i < vms->len; i++) {
            memdb_vm *vm = &g_array_index(vms, memdb_vm, i);
            g_string_append_printf(s,
                                   "%s\"%u\": { \"node\": \"%s\", \"type\": \"%s\", \"version\": "
                                   "%" G_GUINT64_FORMAT " }",
                                   i ? ",\n" : "", vm->vmid, vm->node,
                                   memdb_vm_type_name(vm->type), vm->version);
        }
        g_string_append(s, "}");
    }
    g_string_append(s, "\n\n}\n");
    return g_string_free(s, FALSE);
}

char *cfs_status_clusterlog_json(cfs_status *st)
{
    (void)st;
    return g_strdup("{\n\"data\": [\n]\n}\n");
}

char *cfs_status_rrd_dump(cfs_status *st)
{
    (void)st;
    return g_strdup("");
}
