/*
 * pvecm-cluster: create, addnode, delnode, keygen.
 *
 * conf_change() is the one place that sequences a change of corosync.conf: local lock,
 * read, cluster lock (more than one node), read again, change the tree in memory (all
 * checks), side effects that must precede the new file (node directories), write,
 * unlock.  A failure before the write undoes the side effects, so a refused change
 * leaves no trace.
 */
#include "quorum/pvecm-cluster.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

#include "lib/net.h"
#include "quorum/authkey.h"
#include "quorum/cs-membership.h"

void pvecm_node_opts_clear(pvecm_node_opts *o)
{
    for (unsigned i = 0; i < CLUSTER_CONF_MAX_LINKS; i++)
        cluster_conf_link_clear(&o->links[i]);
}

bool pvecm_wait_pve_quorate(const pvecm_env *env, int timeout_s)
{
    int64_t deadline = g_get_monotonic_time() + (int64_t)timeout_s * G_USEC_PER_SEC;
    while (!pvecm_pve_quorate(env)) {
        if (g_get_monotonic_time() >= deadline)
            return false;
        g_usleep(100 * 1000);
    }
    return true;
}

bool pvecm_links_default(const cluster_conf_link *links, const char *name,
                         cluster_conf_link *ret_links, char **ret_fallback)
{
    memcpy(ret_links, links, sizeof(*links) * CLUSTER_CONF_MAX_LINKS);
    *ret_fallback = NULL;
    for (unsigned i = 0; i < CLUSTER_CONF_MAX_LINKS; i++)
        if (links[i].address)
            return true;
    *ret_fallback = net_resolve_address(name);
    ret_links[0].address = *ret_fallback;
    ret_links[0].priority = -1;
    return *ret_fallback != NULL;
}

/* ------------------------------------------------------------------ conf_change */

typedef bool (*conf_change_fn)(pvecm_env *env, corosync_conf_item *root, void *data,
                               GError **error);

/*
 * Run @fn on the current corosync.conf under the locks and write the result.  @fn may
 * return false (with @error) to refuse; nothing is written then.  @undo (may be NULL)
 * runs whenever the change did not complete, to remove @fn's side effects.
 */
static bool conf_change(pvecm_env *env, conf_change_fn fn, conf_change_fn undo, void *data,
                        GError **error)
{
    if (!pvecm_lock_local(env, PVECM_LOCK_TIMEOUT_S, error))
        return false;
    g_autoptr(corosync_conf_item) root = pvecm_conf_read(env, true, error);
    if (!root)
        return false;
    g_autoptr(GArray) nodes = cluster_conf_nodes(root);
    bool cluster_lock = nodes->len > 1;
    if (cluster_lock) {
        if (!pvecm_lock_cluster(env, PVECM_CONF_LOCK, PVECM_LOCK_TIMEOUT_S, NULL, error))
            return false;
        /* another node may have changed the file while we waited for the lock */
        corosync_conf_item_free(root);
        root = pvecm_conf_read(env, true, error);
    }
    bool ok = root && fn(env, root, data, error);
    if (ok)
        ok = pvecm_conf_write(env, root, error);
    if (!ok && root && undo)
        undo(env, root, data, NULL);
    if (cluster_lock)
        pvecm_lock_cluster_release(env, PVECM_CONF_LOCK);
    return ok;
}

/* ------------------------------------------------------------------ create */

/* Undo what create did before the services were restarted. */
static void create_undo(const pvecm_env *env, bool wrote_pve_conf, bool created_authkey)
{
    g_autofree char *pve_conf = pvecm_pve_path(env, "corosync.conf");
    g_autofree char *host_conf = pvecm_corosync_path(env, "corosync.conf");
    g_autofree char *authkey = pvecm_corosync_path(env, "authkey");
    if (wrote_pve_conf && unlink(pve_conf) < 0 && errno != ENOENT)
        fprintf(stderr, "unable to remove '%s': %s\n", pve_conf, g_strerror(errno));
    unlink(host_conf);
    if (created_authkey)
        unlink(authkey);
}

int pvecm_create_run(pvecm_env *env, const char *clustername, const pvecm_node_opts *o)
{
    g_autoptr(GError) err = NULL;
    if (!cluster_conf_name_check(clustername, &err) ||
        !cluster_conf_nodename_check(env->nodename, &err)) {
        fprintf(stderr, "%s\n", err->message);
        return 1;
    }
    cluster_conf_link links[CLUSTER_CONF_MAX_LINKS];
    g_autofree char *fallback = NULL;
    if (!pvecm_links_default(o->links, env->nodename, links, &fallback)) {
        fprintf(stderr,
                "Unable to resolve node name '%s' to a non-loopback IP address - missing "
                "entry in '/etc/hosts' or DNS? (or pass --link0)\n",
                env->nodename);
        return 1;
    }
    for (unsigned i = 0; i < CLUSTER_CONF_MAX_LINKS; i++) {
        if (links[i].address && !pvecm_address_is_local(links[i].address, &err)) {
            fprintf(stderr, "link%u: %s\n", i, err->message);
            return 1;
        }
    }
    if (!pvecm_pve_check_writable(env, &err)) {
        fprintf(stderr, "%s\n", err->message);
        return 1;
    }
    if (!pvecm_lock_local(env, PVECM_LOCK_TIMEOUT_S, &err)) {
        fprintf(stderr, "%s\n", err->message);
        return 1;
    }
    g_autofree char *pve_conf = pvecm_pve_path(env, "corosync.conf");
    if (pvecm_conf_exists(env)) {
        fprintf(stderr, "cluster config '%s' already exists\n", pve_conf);
        return 1;
    }
    g_autofree char *authkey = pvecm_corosync_path(env, "authkey");
    bool created_authkey = false;
    if (!g_file_test(authkey, G_FILE_TEST_EXISTS)) {
        g_mkdir_with_parents(env->corosync_dir, 0755);
        int r = authkey_generate(authkey);
        if (r < 0) {
            fprintf(stderr, "unable to create authentication key '%s': %s\n", authkey,
                    g_strerror(-r));
            return 1;
        }
        created_authkey = true;
        printf("Writing corosync key to %s.\n", authkey);
    }
    if (!pvecm_node_dirs_create(env, env->nodename, NULL, &err)) {
        fprintf(stderr, "%s\n", err->message);
        create_undo(env, false, created_authkey);
        return 1;
    }
    g_autoptr(corosync_conf_item) conf = cluster_conf_new(
        clustername, env->nodename, o->nodeid ? o->nodeid : 1, o->votes ? o->votes : 1, links);
    printf("Writing corosync config to %s\n", pve_conf);
    if (!pvecm_conf_write(env, conf, &err)) {
        fprintf(stderr, "%s\n", err->message);
        create_undo(env, false, created_authkey);
        return 1;
    }
    /* pmxcfs only propagates in cluster mode: install the host copy ourselves, so that
       corosync can start right after pmxcfs (which then finds identical bytes) */
    g_autofree char *text = corosync_conf_write(conf);
    g_autofree char *host_conf = pvecm_corosync_path(env, "corosync.conf");
    if (!pvecm_file_write(host_conf, text, strlen(text), 0644, &err)) {
        fprintf(stderr, "%s\n", err->message);
        create_undo(env, true, created_authkey);
        return 1;
    }
    printf("Restart corosync and cluster filesystem\n");
    fflush(stdout);
    if (!pvecm_service(env, "restart", "pve-cluster", &err) ||
        !pvecm_service(env, "restart", "corosync", &err)) {
        fprintf(stderr, "%s\n", err->message);
        fprintf(stderr,
                "the cluster configuration is written but the services did not start; fix the "
                "cause and run '%s restart pve-cluster corosync' (to undo: stop both, start "
                "'pmxcfs -l', delete %s, stop it, delete %s and start pve-cluster)\n",
                env->service_ctl, pve_conf, host_conf);
        return 1;
    }
    if (!pvecm_wait_pve_quorate(env, PVECM_CREATE_QUORUM_WAIT_S)) {
        fprintf(stderr,
                "the new cluster did not become quorate within %d s; see "
                "'pvecm status' and the corosync log\n",
                PVECM_CREATE_QUORUM_WAIT_S);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ addnode */

typedef struct addnode_ctx {
    const char *node;
    const pvecm_node_opts *o;
    uint32_t nodeid;
    GPtrArray *created_dirs; /* directories this run created, to undo */
} addnode_ctx;

static bool addnode_change(pvecm_env *env, corosync_conf_item *root, void *data, GError **error)
{
    addnode_ctx *c = data;
    if (!cluster_conf_node_add(root, c->node, c->o->nodeid, c->o->votes, c->o->links, c->o->force,
                               &c->nodeid, error))
        return false;
    /* the node directories must exist before the new node syncs */
    return pvecm_node_dirs_create(env, c->node, c->created_dirs, error);
}

static bool addnode_undo(pvecm_env *env, corosync_conf_item *root, void *data, GError **error)
{
    addnode_ctx *c = data;
    for (unsigned i = c->created_dirs->len; i-- > 0;)
        rmdir(c->created_dirs->pdata[i]);
    return true;
}

static void print_addnode_json(const pvecm_env *env, uint32_t nodeid, const char *join_lock)
{
    g_autofree char *conf_path = pvecm_pve_path(env, "corosync.conf");
    g_autofree char *key_path = pvecm_corosync_path(env, "authkey");
    g_autofree char *conf = NULL, *key = NULL;
    gsize keylen = 0;
    g_autoptr(GError) err = NULL;
    if (!g_file_get_contents(conf_path, &conf, NULL, &err) ||
        !g_file_get_contents(key_path, &key, &keylen, &err)) {
        fprintf(stderr, "node added, but unable to read the cluster files: %s\n", err->message);
        return;
    }
    g_autofree char *key64 = g_base64_encode((const guchar *)key, keylen);
    memset(key, 0, keylen);
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "nodeid");
    json_builder_add_int_value(b, nodeid);
    json_builder_set_member_name(b, "corosync_conf");
    json_builder_add_string_value(b, conf);
    json_builder_set_member_name(b, "corosync_authkey_base64");
    json_builder_add_string_value(b, key64);
    json_builder_set_member_name(b, "join_lock");
    json_builder_add_string_value(b, join_lock);
    json_builder_set_member_name(b, "warnings");
    json_builder_begin_array(b);
    json_builder_end_array(b);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *text = json_to_string(root, FALSE);
    printf("%s\n", text);
}

/* Whether an older join lock than ours (@ino) exists; sends unlock requests to them. */
static bool join_lock_older_exists(const pvecm_env *env, const char *ours, ino_t ino)
{
    g_autofree char *lockdir = pvecm_pve_path(env, "priv/lock");
    g_autoptr(GDir) d = g_dir_open(lockdir, 0, NULL);
    const char *name;
    bool older = false;
    while (d && (name = g_dir_read_name(d))) {
        if (!g_str_has_prefix(name, PVECM_JOIN_LOCK_PREFIX) || strcmp(name, ours) == 0)
            continue;
        g_autofree char *p = g_build_filename(lockdir, name, NULL);
        struct stat st;
        if (stat(p, &st) < 0 || st.st_ino > ino)
            continue;
        older = true;
        struct utimbuf zero = {0, 0};
        (void)utime(p, &zero); /* frees it if its join died more than 120 s ago */
    }
    return older;
}

/*
 * Take the join lock @name: ours exists (mkdir, or left by an earlier attempt of the
 * same node) and no older join lock exists.  Waits up to PVECM_JOIN_LOCK_TIMEOUT_S.
 */
static bool join_lock_acquire(const pvecm_env *env, const char *name, GError **error)
{
    g_autofree char *lockdir = pvecm_pve_path(env, "priv/lock");
    g_autofree char *path = g_build_filename(lockdir, name, NULL);
    int64_t deadline = g_get_monotonic_time() + PVECM_JOIN_LOCK_TIMEOUT_S * G_USEC_PER_SEC;
    bool told = false;
    for (;;) {
        bool created = false;
        int e = 0;
        if (mkdir(lockdir, 0700) < 0 && errno != EEXIST)
            e = errno;
        else if (mkdir(path, 0700) == 0)
            created = true;
        else if (errno != EEXIST)
            e = errno;
        struct stat st;
        if (!e && stat(path, &st) < 0)
            e = errno;
        if (!e && !join_lock_older_exists(env, name, st.st_ino))
            return true;
        if (e && e != EACCES) {
            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
                        "can't acquire cluster lock '%s': %s", name, g_strerror(e));
            return false;
        }
        if (created)
            rmdir(path); /* let the older join go first; queue again behind it */
        if (g_get_monotonic_time() >= deadline) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "can't acquire cluster lock '%s': %s", name,
                        e == EACCES ? "no quorum!"
                                    : "another join did not finish (got lock request timeout)");
            return false;
        }
        if (!told) {
            fprintf(stderr, "waiting for %s (at most %d s)...\n",
                    e == EACCES ? "quorum" : "another join to finish", PVECM_JOIN_LOCK_TIMEOUT_S);
            told = true;
        }
        g_usleep(500 * 1000);
    }
}

int pvecm_addnode_run(pvecm_env *env, const char *node, const pvecm_node_opts *o)
{
    g_autoptr(GError) err = NULL;
    if (!pvecm_conf_check_exists(env, &err) || !cluster_conf_nodename_check(node, &err)) {
        fprintf(stderr, "%s\n", err->message);
        return 1;
    }
    pvecm_node_opts eff = *o;
    g_autofree char *fallback = NULL;
    if (!pvecm_links_default(o->links, node, eff.links, &fallback)) {
        fprintf(stderr, "cannot resolve node name '%s' and no --link0 given\n", node);
        return 1;
    }
    if (!pvecm_pve_mounted(env)) {
        fprintf(stderr, "%s is not mounted - is pve-cluster (pmxcfs) running?\n", env->pve_dir);
        return 1;
    }
    if (!pvecm_pve_quorate(env)) {
        fprintf(stderr, "waiting for quorum (at most %d s)...\n", PVECM_ADDNODE_QUORUM_WAIT_S);
        if (!pvecm_wait_pve_quorate(env, PVECM_ADDNODE_QUORUM_WAIT_S)) {
            fprintf(stderr, "cluster not ready - no quorum?\n");
            return 1;
        }
    }
    /* one join at a time, cluster-wide (see PVECM_JOIN_LOCK_PREFIX) */
    g_autofree char *join_lock = g_strconcat(PVECM_JOIN_LOCK_PREFIX, node, NULL);
    if (!join_lock_acquire(env, join_lock, &err)) {
        fprintf(stderr, "%s\n", err->message);
        return 1;
    }
    addnode_ctx c = {
        .node = node, .o = &eff, .created_dirs = g_ptr_array_new_with_free_func(g_free)};
    bool ok = conf_change(env, addnode_change, addnode_undo, &c, &err);
    g_ptr_array_unref(c.created_dirs);
    if (!ok) {
        pvecm_lock_cluster_release(env, join_lock);
        fprintf(stderr, "%s\n", err->message);
        return 1;
    }
    pvecm_cluster_log("notice", "adding node %s to cluster", node);
    if (o->json) {
        /* the joining node releases the join lock once it is in the cluster */
        print_addnode_json(env, c.nodeid, join_lock);
    } else {
        pvecm_lock_cluster_release(env, join_lock);
        printf("added node '%s' with nodeid %u to the cluster\n", node, c.nodeid);
    }
    return 0;
}

/* ------------------------------------------------------------------ delnode */

typedef struct delnode_ctx {
    const char *node;
    char *name;
    uint32_t nodeid;
} delnode_ctx;

static bool delnode_change(pvecm_env *env, corosync_conf_item *root, void *data, GError **error)
{
    delnode_ctx *c = data;
    g_autoptr(GArray) nodes = cluster_conf_nodes(root);
    const cluster_conf_node *n = cluster_conf_node_find(nodes, c->node);
    if (n && strcmp(n->name, env->nodename) == 0) {
        g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_INVALID,
                    "Cannot delete myself from cluster!");
        return false;
    }
    return cluster_conf_node_remove(root, c->node, &c->name, &c->nodeid, error);
}

int pvecm_delnode_run(pvecm_env *env, const char *node)
{
    g_autoptr(GError) err = NULL;
    if (!pvecm_conf_check_exists(env, &err) || !pvecm_pve_check_writable(env, &err)) {
        fprintf(stderr, "%s\n", err->message);
        return 1;
    }
    delnode_ctx c = {.node = node};
    if (!conf_change(env, delnode_change, NULL, &c, &err)) {
        fprintf(stderr, "%s\n", err->message);
        g_free(c.name);
        return 1;
    }
    pvecm_cluster_log("notice", "removed node %s from cluster", c.name);
    /* a join of that node that never finished leaves its join lock behind */
    g_autofree char *join_lock = g_strconcat(PVECM_JOIN_LOCK_PREFIX, c.name, NULL);
    g_autofree char *lock_rel = g_build_filename("priv/lock", join_lock, NULL);
    g_autofree char *lock_path = pvecm_pve_path(env, lock_rel);
    if (rmdir(lock_path) == 0)
        printf("removed the unfinished join lock of node '%s'\n", c.name);
    /* If the deleted node still runs corosync, it is told to shut down: it would
       otherwise stay in the membership with the old configuration. */
    g_autoptr(cs_membership) m = NULL;
    bool member = false;
    if (cs_membership_query(&m) == 0) {
        for (unsigned i = 0; i < m->members->len; i++)
            member |= g_array_index(m->members, cs_member, i).nodeid == c.nodeid;
    }
    if (member) {
        g_autofree char *id = g_strdup_printf("%u", c.nodeid);
        const char *argv[] = {"corosync-cfgtool", "-k", id, NULL};
        g_autofree char *out = NULL, *errout = NULL;
        int rc = pvecm_run(argv, NULL, &out, &errout, &err);
        if (rc != 0)
            fprintf(stderr, "warning: unable to stop corosync on node %u: %s\n", c.nodeid,
                    rc < 0 ? err->message : g_strstrip(errout));
        else
            printf("Killing node %u\n", c.nodeid);
    }
    g_free(c.name);
    return 0;
}

/* ------------------------------------------------------------------ keygen */

int pvecm_keygen_run(pvecm_env *env, const char *filename)
{
    (void)env;
    if (geteuid() != 0) {
        fprintf(stderr, "Error: Authorization key must be generated as root user.\n");
        return 1;
    }
    g_autofree char *dir = g_path_get_dirname(filename);
    if (g_mkdir_with_parents(dir, 0755) < 0) {
        fprintf(stderr, "unable to create directory '%s': %s\n", dir, g_strerror(errno));
        return 1;
    }
    int r = authkey_generate(filename);
    if (r == -EEXIST) {
        fprintf(stderr, "key file '%s' already exists\n", filename);
        return 1;
    }
    if (r < 0) {
        fprintf(stderr, "unable to write key file '%s': %s\n", filename, g_strerror(-r));
        return 1;
    }
    printf("Writing corosync key to %s.\n", filename);
    return 0;
}
