/*
 * cluster-conf: the cluster-level view of corosync.conf.
 *
 * Node entries are read fresh from the tree on every call (no cache), so a view can
 * never disagree with the tree it came from.  Changes check everything first and only
 * then touch the tree, which is how "nothing changes on failure" is kept.
 */
#include "quorum/cluster-conf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK(cluster_conf_error_quark, cluster_conf_error)

/* Parse a decimal number in [min, max]; false if @s is not exactly that. */
static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
    if (!s || !g_ascii_isdigit(*s))
        return false;
    char *end = NULL;
    errno = 0;
    guint64 v = g_ascii_strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *ret = v;
    return true;
}

bool cluster_conf_name_check(const char *name, GError **error)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > CLUSTER_CONF_NAME_MAX) {
        g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_INVALID,
                    "invalid cluster name '%s': it must have 1 to %d characters", name ? name : "",
                    CLUSTER_CONF_NAME_MAX);
        return false;
    }
    for (const char *p = name; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '-') {
            g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_INVALID,
                        "invalid cluster name '%s': only letters, digits and '-' are allowed",
                        name);
            return false;
        }
    }
    return true;
}

bool cluster_conf_nodename_check(const char *name, GError **error)
{
    size_t n = name ? strlen(name) : 0;
    bool ok = n > 0 && n <= CLUSTER_CONF_NODENAME_MAX && g_ascii_isalnum(name[0]) &&
              g_ascii_isalnum(name[n - 1]);
    for (size_t i = 0; ok && i < n; i++)
        ok = g_ascii_isalnum(name[i]) || name[i] == '-';
    if (!ok)
        g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_INVALID,
                    "invalid node name '%s': expected a host name (letters, digits and '-', "
                    "at most %d characters)",
                    name ? name : "", CLUSTER_CONF_NODENAME_MAX);
    return ok;
}

static bool address_valid(const char *a)
{
    if (!a || !*a)
        return false;
    if (g_hostname_is_ip_address(a))
        return true;
    /* a host name: dot-separated labels */
    g_auto(GStrv) labels = g_strsplit(a, ".", -1);
    for (unsigned i = 0; labels[i]; i++)
        if (!cluster_conf_nodename_check(labels[i], NULL))
            return false;
    return true;
}

void cluster_conf_link_clear(cluster_conf_link *link)
{
    g_clear_pointer(&link->address, g_free);
    link->priority = -1;
}

bool cluster_conf_link_parse(const char *spec, cluster_conf_link *ret, GError **error)
{
    g_auto(GStrv) parts = g_strsplit(spec ? spec : "", ",", -1);
    g_autofree char *address = NULL;
    int priority = -1;
    for (unsigned i = 0; parts[i]; i++) {
        char *p = g_strstrip(parts[i]);
        const char *eq = strchr(p, '=');
        if (!eq && i == 0) {
            address = g_strdup(p);
            continue;
        }
        g_autofree char *key = eq ? g_strndup(p, (gsize)(eq - p)) : g_strdup(p);
        const char *val = eq ? eq + 1 : "";
        uint64_t v;
        if (strcmp(key, "address") == 0 && !address) {
            address = g_strdup(val);
        } else if (strcmp(key, "priority") == 0 && priority < 0 &&
                   parse_u64(val, 0, CLUSTER_CONF_PRIORITY_MAX, &v)) {
            priority = (int)v;
        } else {
            g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_INVALID,
                        "invalid link '%s': expected '[address=]<IP or host>[,priority=<0-%d>]'",
                        spec, CLUSTER_CONF_PRIORITY_MAX);
            return false;
        }
    }
    if (!address_valid(address)) {
        g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_INVALID,
                    "invalid link '%s': '%s' is not an IP address or host name", spec,
                    address ? address : "");
        return false;
    }
    ret->address = g_steal_pointer(&address);
    ret->priority = priority;
    return true;
}

/* Fill the node entry @sec: name, nodeid, quorum_votes and a ringN_addr per given link. */
static void node_write(corosync_conf_item *sec, const char *name, uint32_t nodeid, uint32_t votes,
                       const cluster_conf_link *links)
{
    char buf[32];
    corosync_conf_set(sec, "name", name);
    g_snprintf(buf, sizeof(buf), "%u", nodeid);
    corosync_conf_set(sec, "nodeid", buf);
    g_snprintf(buf, sizeof(buf), "%u", votes);
    corosync_conf_set(sec, "quorum_votes", buf);
    for (unsigned l = 0; l < CLUSTER_CONF_MAX_LINKS; l++) {
        if (!links[l].address)
            continue;
        char key[32];
        g_snprintf(key, sizeof(key), "ring%u_addr", l);
        corosync_conf_set(sec, key, links[l].address);
    }
}

corosync_conf_item *cluster_conf_new(const char *cluster_name, const char *nodename,
                                     uint32_t nodeid, uint32_t votes,
                                     const cluster_conf_link *links)
{
    corosync_conf_item *root = corosync_conf_section_new("");
    corosync_conf_item *totem = corosync_conf_section_add(root, "totem");
    corosync_conf_set(totem, "cluster_name", cluster_name);
    corosync_conf_set(totem, "config_version", "0");
    corosync_conf_set(totem, "ip_version", "ipv4-6");
    corosync_conf_set(totem, "link_mode", "passive");
    corosync_conf_set(totem, "secauth", "on");
    corosync_conf_set(totem, "version", "2");
    for (unsigned i = 0; i < CLUSTER_CONF_MAX_LINKS; i++) {
        if (!links[i].address)
            continue;
        corosync_conf_item *iface = corosync_conf_section_add(totem, "interface");
        char buf[32];
        g_snprintf(buf, sizeof(buf), "%u", i);
        corosync_conf_set(iface, "linknumber", buf);
        if (links[i].priority >= 0) {
            g_snprintf(buf, sizeof(buf), "%d", links[i].priority);
            corosync_conf_set(iface, "knet_link_priority", buf);
        }
    }
    corosync_conf_item *nodelist = corosync_conf_section_add(root, "nodelist");
    node_write(corosync_conf_section_add(nodelist, "node"), nodename, nodeid, votes, links);
    corosync_conf_set(root, "quorum.provider", "corosync_votequorum");
    corosync_conf_set(root, "logging.debug", "off");
    corosync_conf_set(root, "logging.to_syslog", "yes");
    return root;
}

uint64_t cluster_conf_version(const corosync_conf_item *root)
{
    uint64_t v = 0;
    if (!parse_u64(corosync_conf_get(root, "totem.config_version"), 0, UINT64_MAX - 1, &v))
        return 0;
    return v;
}

void cluster_conf_version_bump(corosync_conf_item *root)
{
    char buf[32];
    g_snprintf(buf, sizeof(buf), "%" G_GUINT64_FORMAT, cluster_conf_version(root) + 1);
    corosync_conf_set(root, "totem.config_version", buf);
}

const char *cluster_conf_cluster_name(const corosync_conf_item *root)
{
    return corosync_conf_get(root, "totem.cluster_name");
}

/* Link number of a totem interface section, or -1 if invalid. */
static int interface_link(const corosync_conf_item *iface)
{
    const char *s = corosync_conf_get(iface, "linknumber");
    if (!s)
        s = corosync_conf_get(iface, "ringnumber");
    uint64_t v = 0;
    if (!s)
        return 0;
    if (!parse_u64(s, 0, CLUSTER_CONF_MAX_LINKS - 1, &v))
        return -1;
    return (int)v;
}

unsigned cluster_conf_links(const corosync_conf_item *root, bool *ret_links)
{
    memset(ret_links, 0, sizeof(bool) * CLUSTER_CONF_MAX_LINKS);
    g_autoptr(GPtrArray) ifaces =
        corosync_conf_sections(corosync_conf_section(root, "totem"), "interface");
    unsigned n = 0;
    for (unsigned i = 0; i < ifaces->len; i++) {
        int l = interface_link(ifaces->pdata[i]);
        if (l >= 0 && !ret_links[l]) {
            ret_links[l] = true;
            n++;
        }
    }
    if (n == 0) {
        ret_links[0] = true;
        n = 1;
    }
    return n;
}

static void node_read(corosync_conf_item *sec, cluster_conf_node *ret)
{
    memset(ret, 0, sizeof(*ret));
    ret->section = sec;
    for (unsigned i = 0; i < CLUSTER_CONF_MAX_LINKS; i++) {
        char key[32];
        g_snprintf(key, sizeof(key), "ring%u_addr", i);
        ret->addr[i] = corosync_conf_get(sec, key);
    }
    ret->name = corosync_conf_get(sec, "name");
    if (!ret->name)
        ret->name = ret->addr[0];
    uint64_t v;
    if (parse_u64(corosync_conf_get(sec, "nodeid"), 1, UINT32_MAX, &v))
        ret->nodeid = (uint32_t)v;
    const char *votes = corosync_conf_get(sec, "quorum_votes");
    ret->votes = 1;
    if (votes && parse_u64(votes, 0, UINT32_MAX, &v))
        ret->votes = (uint32_t)v;
}

GArray *cluster_conf_nodes(const corosync_conf_item *root)
{
    GArray *nodes = g_array_new(FALSE, TRUE, sizeof(cluster_conf_node));
    g_autoptr(GPtrArray) secs =
        corosync_conf_sections(corosync_conf_section(root, "nodelist"), "node");
    for (unsigned i = 0; i < secs->len; i++) {
        cluster_conf_node n;
        node_read(secs->pdata[i], &n);
        g_array_append_val(nodes, n);
    }
    return nodes;
}

static bool node_has_addr(const cluster_conf_node *n, const char *addr)
{
    for (unsigned l = 0; l < CLUSTER_CONF_MAX_LINKS; l++)
        if (n->addr[l] && strcmp(n->addr[l], addr) == 0)
            return true;
    return false;
}

const cluster_conf_node *cluster_conf_node_find(const GArray *nodes, const char *name)
{
    for (unsigned i = 0; i < nodes->len; i++) {
        const cluster_conf_node *n = &g_array_index(nodes, cluster_conf_node, i);
        if (n->name && strcmp(n->name, name) == 0)
            return n;
    }
    for (unsigned i = 0; i < nodes->len; i++) {
        const cluster_conf_node *n = &g_array_index(nodes, cluster_conf_node, i);
        if (node_has_addr(n, name))
            return n;
    }
    return NULL;
}

bool cluster_conf_validate(const corosync_conf_item *root, GError **error)
{
    const corosync_conf_item *totem = corosync_conf_section(root, "totem");
    if (!totem) {
        g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_INVALID,
                    "corosync.conf has no totem section");
        return false;
    }
    if (!cluster_conf_cluster_name(root)) {
        g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_INVALID,
                    "corosync.conf has no totem.cluster_name");
        return false;
    }
    uint64_t v;
    if (!parse_u64(corosync_conf_get(root, "totem.config_version"), 0, UINT64_MAX - 1, &v)) {
        g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_INVALID,
                    "corosync.conf: totem.config_version is missing or not a number");
        return false;
    }
    g_autoptr(GPtrArray) ifaces = corosync_conf_sections(totem, "interface");
    for (unsigned i = 0; i < ifaces->len; i++) {
        if (interface_link(ifaces->pdata[i]) < 0) {
            g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_INVALID,
                        "corosync.conf: invalid link number in totem interface (0 to %d)",
                        CLUSTER_CONF_MAX_LINKS - 1);
            return false;
        }
    }
    bool links[CLUSTER_CONF_MAX_LINKS];
    cluster_conf_links(root, links);
    g_autoptr(GArray) nodes = cluster_conf_nodes(root);
    if (nodes->len == 0) {
        g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_INVALID,
                    "corosync.conf has no nodelist entries");
        return false;
    }
    for (unsigned i = 0; i < nodes->len; i++) {
        const cluster_conf_node *n = &g_array_index(nodes, cluster_conf_node, i);
        if (!n->name) {
            g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_INVALID,
                        "corosync.conf: node entry %u has neither name nor ring0_addr", i + 1);
            return false;
        }
        if (n->nodeid == 0) {
            g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_INVALID,
                        "corosync.conf: node '%s' has no valid nodeid", n->name);
            return false;
        }
        for (unsigned l = 0; l < CLUSTER_CONF_MAX_LINKS; l++) {
            if (links[l] && !n->addr[l]) {
                g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_INVALID,
                            "corosync.conf: node '%s' has no address for link %u (ring%u_addr)",
                            n->name, l, l);
                return false;
            }
        }
        for (unsigned j = 0; j < i; j++) {
            const cluster_conf_node *o = &g_array_index(nodes, cluster_conf_node, j);
            if (strcmp(o->name, n->name) == 0 || o->nodeid == n->nodeid) {
                g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_INVALID,
                            "corosync.conf: nodes '%s' and '%s' share a %s", o->name, n->name,
                            o->nodeid == n->nodeid ? "nodeid" : "name");
                return false;
            }
            for (unsigned l = 0; l < CLUSTER_CONF_MAX_LINKS; l++) {
                if (n->addr[l] && node_has_addr(o, n->addr[l])) {
                    g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_INVALID,
                                "corosync.conf: nodes '%s' and '%s' share the address '%s'",
                                o->name, n->name, n->addr[l]);
                    return false;
                }
            }
        }
    }
    return true;
}

bool cluster_conf_node_add(corosync_conf_item *root, const char *name, uint32_t nodeid,
                           uint32_t votes, const cluster_conf_link *links, bool force,
                           uint32_t *ret_nodeid, GError **error)
{
    if (!cluster_conf_nodename_check(name, error))
        return false;
    corosync_conf_item *nodelist = corosync_conf_section(root, "nodelist");
    if (!nodelist) {
        g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_INVALID,
                    "corosync.conf has no nodelist section");
        return false;
    }
    bool conf_links[CLUSTER_CONF_MAX_LINKS];
    cluster_conf_links(root, conf_links);
    for (unsigned l = 0; l < CLUSTER_CONF_MAX_LINKS; l++) {
        if (conf_links[l] && !links[l].address) {
            g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_INVALID,
                        "missing address for link %u of the new node (the cluster uses link "
                        "%u: pass --link%u)",
                        l, l, l);
            return false;
        }
        if (!conf_links[l] && links[l].address) {
            g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_INVALID,
                        "link %u is not configured in this cluster", l);
            return false;
        }
    }
    g_autoptr(GArray) nodes = cluster_conf_nodes(root);
    const cluster_conf_node *old = NULL;
    for (unsigned i = 0; i < nodes->len; i++) {
        const cluster_conf_node *n = &g_array_index(nodes, cluster_conf_node, i);
        if (n->name && strcmp(n->name, name) == 0)
            old = n;
    }
    if (old) {
        if (!force || (nodeid && nodeid != old->nodeid) || (votes && votes != old->votes)) {
            g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_EXISTS,
                        "can't add existing node '%s'%s", name,
                        force ? " (nodeid or votes differ)" : "");
            return false;
        }
        nodeid = old->nodeid;
        votes = old->votes;
    }
    for (unsigned i = 0; i < nodes->len; i++) {
        const cluster_conf_node *n = &g_array_index(nodes, cluster_conf_node, i);
        if (n == old)
            continue;
        for (unsigned l = 0; l < CLUSTER_CONF_MAX_LINKS; l++) {
            if (links[l].address && node_has_addr(n, links[l].address)) {
                g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_EXISTS,
                            "corosync: address '%s' already used by node '%s'", links[l].address,
                            n->name ? n->name : "?");
                return false;
            }
        }
        if (nodeid && n->nodeid == nodeid) {
            g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_EXISTS,
                        "nodeid %u already used by node '%s'", nodeid, n->name ? n->name : "?");
            return false;
        }
    }
    if (!nodeid) {
        nodeid = 1;
        for (bool used = true; used; nodeid += used) {
            used = false;
            for (unsigned i = 0; i < nodes->len && !used; i++)
                used = g_array_index(nodes, cluster_conf_node, i).nodeid == nodeid;
        }
    }
    if (!votes)
        votes = 1;

    /* All checks passed: now change the tree. */
    corosync_conf_item *sec;
    if (old) {
        sec = old->section;
        g_ptr_array_set_size(sec->items, 0);
    } else {
        sec = corosync_conf_section_add(nodelist, "node");
    }
    node_write(sec, name, nodeid, votes, links);
    *ret_nodeid = nodeid;
    return true;
}

bool cluster_conf_node_remove(corosync_conf_item *root, const char *name, char **ret_name,
                              uint32_t *ret_nodeid, GError **error)
{
    g_autoptr(GArray) nodes = cluster_conf_nodes(root);
    const cluster_conf_node *n = cluster_conf_node_find(nodes, name);
    if (!n) {
        g_set_error(error, CLUSTER_CONF_ERROR, CLUSTER_CONF_ERROR_NOT_FOUND,
                    "Node/IP: %s is not a known host of the cluster.", name);
        return false;
    }
    *ret_name = g_strdup(n->name);
    *ret_nodeid = n->nodeid;
    corosync_conf_remove(corosync_conf_section(root, "nodelist"), n->section);
    return true;
}
