/*
 * pvecm-status: status, nodes and expected.
 *
 * Column layout of the membership table, as corosync-quorumtool prints it: node id
 * right-aligned in 10 columns (or 0x%08x), votes right-aligned in 10 columns, then the
 * name, with " (local)" after this node.
 */
#include "quorum/pvecm-status.h"

#include <corosync/votequorum.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quorum/cluster-conf.h"

static void append_nodeid(GString *out, uint32_t id, bool hex)
{
    if (hex)
        g_string_append_printf(out, "0x%08x", id);
    else
        g_string_append_printf(out, "%10u", id);
}

static void append_members(GString *out, const cs_membership *m, bool hex, bool ip)
{
    g_string_append(out, "Membership information\n"
                         "----------------------\n"
                         "    Nodeid      Votes Name\n");
    for (unsigned i = 0; i < m->members->len; i++) {
        const cs_member *mem = &g_array_index(m->members, cs_member, i);
        const char *name = ip ? mem->addr : mem->name;
        append_nodeid(out, mem->nodeid, hex);
        g_string_append_printf(out, " %10u %s%s\n", mem->votes, name ? name : "(null)",
                               mem->nodeid == m->local_nodeid ? " (local)" : "");
    }
}

char *pvecm_status_format_members(const cs_membership *m, bool hex, bool ip)
{
    GString *out = g_string_new("\n");
    append_members(out, m, hex, ip);
    return g_string_free(out, FALSE);
}

char *pvecm_status_format_quorum(const cs_membership *m, bool hex, bool ip, time_t now)
{
    GString *out = g_string_new(NULL);
    char date[64] = "";
    struct tm tm;
    if (localtime_r(&now, &tm))
        strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
    g_string_append_printf(out,
                           "Quorum information\n"
                           "------------------\n"
                           "Date:             %s\n"
                           "Quorum provider:  %s\n"
                           "Nodes:            %u\n"
                           "Node ID:          ",
                           date, m->quorum_provider ? m->quorum_provider : "corosync_votequorum",
                           m->members->len);
    if (hex)
        g_string_append_printf(out, "0x%08x\n", m->local_nodeid);
    else
        g_string_append_printf(out, "%u\n", m->local_nodeid);
    g_string_append_printf(out,
                           "Ring ID:          %x.%" G_GINT64_MODIFIER "x\n"
                           "Quorate:          %s\n"
                           "\n"
                           "Votequorum information\n"
                           "----------------------\n"
                           "Expected votes:   %u\n"
                           "Highest expected: %u\n"
                           "Total votes:      %u\n"
                           "Quorum:           %u %s\n"
                           "Flags:            ",
                           m->ring_nodeid, m->ring_seq, m->quorate ? "Yes" : "No",
                           m->expected_votes, m->highest_expected, m->total_votes, m->quorum,
                           m->quorate ? " " : "Activity blocked");
    static const struct {
        uint32_t flag;
        const char *name;
    } flags[] = {
        {VOTEQUORUM_INFO_TWONODE, "2Node"},
        {VOTEQUORUM_INFO_QUORATE, "Quorate"},
        {VOTEQUORUM_INFO_WAIT_FOR_ALL, "WaitForAll"},
        {VOTEQUORUM_INFO_LAST_MAN_STANDING, "LastManStanding"},
        {VOTEQUORUM_INFO_AUTO_TIE_BREAKER, "AutoTieBreaker"},
        {VOTEQUORUM_INFO_ALLOW_DOWNSCALE, "AllowDownscale"},
        {VOTEQUORUM_INFO_QDEVICE_REGISTERED, "Qdevice"},
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(flags); i++)
        if (m->flags & flags[i].flag)
            g_string_append_printf(out, "%s ", flags[i].name);
    g_string_append(out, "\n\n");
    append_members(out, m, hex, ip);
    return g_string_free(out, FALSE);
}

/* Take a snapshot or print the reason why not (corosync-quorumtool's wording first). */
static cs_membership *snapshot_or_complain(void)
{
    cs_membership *m = NULL;
    int r = cs_membership_query(&m);
    if (r == -ENOTCONN) {
        fprintf(stderr, "Cannot initialize CMAP service (is corosync running?)\n");
        return NULL;
    }
    if (r < 0) {
        fprintf(stderr, "unable to read the quorum state from corosync: %s\n", g_strerror(-r));
        return NULL;
    }
    return m;
}

static bool require_conf(const pvecm_env *env)
{
    g_autoptr(GError) err = NULL;
    if (pvecm_conf_check_exists(env, &err))
        return true;
    fprintf(stderr, "%s\n", err->message);
    return false;
}

int pvecm_status_run(pvecm_env *env)
{
    if (!require_conf(env))
        return 1;
    g_autoptr(GError) err = NULL;
    g_autoptr(corosync_conf_item) conf = pvecm_conf_read(env, false, &err);
    if (!conf) {
        fprintf(stderr, "%s\n", err->message);
    } else {
        const char *name = cluster_conf_cluster_name(conf);
        const char *version = corosync_conf_get(conf, "totem.config_version");
        const char *transport = corosync_conf_get(conf, "totem.transport");
        const char *secauth = corosync_conf_get(conf, "totem.secauth");
        printf("Cluster information\n"
               "-------------------\n"
               "%-17s %s\n%-17s %s\n%-17s %s\n%-17s %s\n\n",
               "Name:", name ? name : "UNKNOWN?", "Config Version:", version ? version : "-1",
               "Transport:", transport ? transport : "knet",
               "Secure auth:", secauth ? secauth : "off");
        fflush(stdout);
    }
    g_autoptr(cs_membership) m = snapshot_or_complain();
    if (!m)
        return 1;
    g_autofree char *text = pvecm_status_format_quorum(m, true, true, time(NULL));
    fputs(text, stdout);
    return m->quorate ? 0 : PVECM_EXIT_NOT_QUORATE;
}

int pvecm_nodes_run(pvecm_env *env)
{
    if (!require_conf(env))
        return 1;
    g_autoptr(cs_membership) m = snapshot_or_complain();
    if (!m)
        return 1;
    g_autofree char *text = pvecm_status_format_members(m, false, false);
    fputs(text, stdout);
    return 0;
}

int pvecm_expected_run(pvecm_env *env, const char *value)
{
    if (!require_conf(env))
        return 1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = value && g_ascii_isdigit(*value) ? strtoull(value, &end, 10) : 0;
    if (!end || *end || errno || v < 1 || v > UINT32_MAX) {
        fprintf(stderr, "invalid expected votes '%s': expected a positive number\n",
                value ? value : "");
        return 1;
    }
    int r = cs_membership_set_expected((uint32_t)v);
    if (r == -ENOTCONN) {
        fprintf(stderr, "Cannot initialize CMAP service (is corosync running?)\n");
        return 1;
    }
    if (r == -EINVAL) {
        g_autoptr(cs_membership) m = NULL;
        if (cs_membership_query(&m) == 0)
            fprintf(stderr,
                    "Unable to set expected votes to %llu: corosync refused the value "
                    "(total votes are %u; expected votes must give a quorum that the current "
                    "votes can reach)\n",
                    v, m->total_votes);
        else
            fprintf(stderr, "Unable to set expected votes to %llu: corosync refused the value\n",
                    v);
        return 1;
    }
    if (r < 0) {
        fprintf(stderr, "Unable to set expected votes to %llu: %s\n", v, g_strerror(-r));
        return 1;
    }
    return 0;
}
