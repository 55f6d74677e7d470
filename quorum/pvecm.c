/*
 * pvecm: the Proxmox VE cluster manager command line (spec cluster.md).
 *
 * This file owns only the command line: the command table, option parsing in the PVE
 * CLI style (`--name value`, `--name=value`, `-name value`; a boolean option may be
 * followed by 0/1), the help texts, and the dispatch.  Before any command except help
 * and keygen it rolls back a join that was interrupted (pvecm-join), so that a killed
 * `pvecm add` never leaves the node half-joined.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/section-config.h"
#include "quorum/pvecm-cluster.h"
#include "quorum/pvecm-join.h"
#include "quorum/pvecm-status.h"

#define EXIT_USAGE 2

typedef enum {
    OPT_BOOL,
    OPT_STRING,
    OPT_UINT,
} opt_kind;

typedef struct opt_spec {
    const char *name;
    opt_kind kind;
    const char *arg;
    const char *help;
} opt_spec;

typedef struct parsed {
    GHashTable *opts; /* name -> value ("1"/"0" for booleans) */
    GPtrArray *args;  /* positional arguments */
} parsed;

typedef int (*command_fn)(pvecm_env *env, parsed *p);

typedef struct command {
    const char *name;
    const char *args; /* synopsis of the positional arguments */
    unsigned nargs;
    const char *summary;
    const char *details;
    const opt_spec *opts;
    command_fn run;
    bool recover; /* roll back an interrupted join first */
} command;

#define LINK_OPTS                                                                               \
    {"link0", OPT_STRING, "[address=]<IP>[,priority=<N>]",                                      \
     "Address of corosync link 0 of the node (default: the address its name resolves to)."},    \
        {"link1", OPT_STRING, "<link>", "Further corosync links (same format as link0)."},      \
        {"link2", OPT_STRING, "<link>", "Link 2."}, {"link3", OPT_STRING, "<link>", "Link 3."}, \
        {"link4", OPT_STRING, "<link>", "Link 4."}, {"link5", OPT_STRING, "<link>", "Link 5."}, \
        {"link6", OPT_STRING, "<link>", "Link 6."},                                             \
    {                                                                                           \
        "link7", OPT_STRING, "<link>", "Link 7."                                                \
    }

static const opt_spec create_opts[] = {
    LINK_OPTS,
    {"nodeid", OPT_UINT, "<N>", "Node id of this node (default 1)."},
    {"votes", OPT_UINT, "<N>", "Quorum votes of this node (default 1)."},
    {NULL, 0, NULL, NULL},
};

static const opt_spec add_opts[] = {
    LINK_OPTS,
    {"nodeid", OPT_UINT, "<N>", "Node id for this node (default: the lowest free id)."},
    {"votes", OPT_UINT, "<N>", "Quorum votes of this node (default 1)."},
    {"force", OPT_BOOL, NULL,
     "Join even if the checks fail (existing authkey or cluster config, guests, running "
     "corosync, non-local address); re-add a node name the cluster already has."},
    {"use_ssh", OPT_BOOL, NULL, "Accepted for compatibility: joining always uses SSH."},
    {NULL, 0, NULL, NULL},
};

static const opt_spec addnode_opts[] = {
    LINK_OPTS,
    {"nodeid", OPT_UINT, "<N>", "Node id (default: the lowest free id, starting at 1)."},
    {"votes", OPT_UINT, "<N>", "Quorum votes (default 1)."},
    {"force", OPT_BOOL, NULL, "Replace an existing entry of that name (same id and votes)."},
    {"new_node_ip", OPT_STRING, "<IP>", "Deprecated alias of --link0."},
    {"output-format", OPT_STRING, "text|json",
     "json prints {nodeid, corosync_conf, corosync_authkey_base64, warnings} for the joining "
     "node (what 'pvecm add' uses)."},
    {NULL, 0, NULL, NULL},
};

static const opt_spec no_opts[] = {{NULL, 0, NULL, NULL}};

static int cmd_help(pvecm_env *env, parsed *p);
static int cmd_create(pvecm_env *env, parsed *p);
static int cmd_add(pvecm_env *env, parsed *p);
static int cmd_addnode(pvecm_env *env, parsed *p);
static int cmd_delnode(pvecm_env *env, parsed *p);
static int cmd_status(pvecm_env *env, parsed *p);
static int cmd_nodes(pvecm_env *env, parsed *p);
static int cmd_expected(pvecm_env *env, parsed *p);
static int cmd_keygen(pvecm_env *env, parsed *p);

static const command commands[] = {
    {"add", "<hostname>", 1, "Adds the current node to an existing cluster.",
     "Joins this standalone node to the cluster of <hostname> (a member) over SSH with key\n"
     "authentication as root: runs 'pvecm addnode' there, installs the authkey and\n"
     "corosync.conf it returns, backs up and replaces the local database, starts corosync\n"
     "and pmxcfs and waits for quorum.  A failed or interrupted join is rolled back.",
     add_opts, cmd_add, true},
    {"addnode", "<node>", 1, "Adds a node to the cluster configuration (run on a member).",
     "Adds <node> to corosync.conf with the lowest free node id (or --nodeid) under the\n"
     "configuration locks, creates its directories in /etc/pve and writes corosync.conf with\n"
     "config_version + 1.  Needs quorum.",
     addnode_opts, cmd_addnode, true},
    {"create", "<clustername>", 1, "Generate new cluster configuration.",
     "Creates the authkey if missing, writes corosync.conf (config_version 1) with this node\n"
     "as the only member, creates the node directories and restarts pmxcfs and corosync in\n"
     "cluster mode.  Cluster names: letters, digits and '-', at most 15 characters.",
     create_opts, cmd_create, true},
    {"delnode", "<node>", 1, "Removes a node from the cluster configuration.",
     "Removes <node> (a name or an address) from corosync.conf and stops its corosync if it\n"
     "is still a member.  Needs quorum; cannot remove this node; /etc/pve/nodes/<node> is\n"
     "kept.",
     no_opts, cmd_delnode, true},
    {"expected", "<expected>", 1, "Tells corosync a new value of expected votes.",
     "Sets the expected votes of votequorum (like 'corosync-quorumtool -e'), for example\n"
     "'pvecm expected 1' to make an isolated node writable again.",
     no_opts, cmd_expected, true},
    {"keygen", "<filename>", 1, "Generate new cryptographic key for corosync.",
     "Writes a new random 256-byte key to <filename> (mode 0400, root); an existing file is\n"
     "never replaced.",
     no_opts, cmd_keygen, false},
    {"nodes", "", 0, "Displays the local view of the cluster nodes.",
     "The membership list, as 'corosync-quorumtool -l' shows it.", no_opts, cmd_nodes, true},
    {"status", "", 0, "Displays the local view of the cluster status.",
     "Cluster name, config version, transport and secure auth from /etc/pve/corosync.conf,\n"
     "then the quorum information as 'corosync-quorumtool -siH' shows it.  Exit status 2\n"
     "when this node is not quorate.",
     no_opts, cmd_status, true},
    {"help", "[<command>]", 0, "Get help about specified command.", NULL, no_opts, cmd_help, false},
};

static const command *command_find(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void print_usage_line(FILE *f, const command *c, bool first)
{
    fprintf(f, "%s pvecm %s%s%s%s\n", first ? "USAGE:" : "      ", c->name, *c->args ? " " : "",
            c->args, c->opts[0].name ? " [OPTIONS]" : "");
}

static void print_command_help(FILE *f, const command *c)
{
    print_usage_line(f, c, true);
    fprintf(f, "\n  %s\n", c->summary);
    if (c->details) {
        g_auto(GStrv) lines = g_strsplit(c->details, "\n", -1);
        fprintf(f, "\n");
        for (unsigned i = 0; lines[i]; i++)
            fprintf(f, "  %s\n", lines[i]);
    }
    if (c->opts[0].name)
        fprintf(f, "\n");
    for (const opt_spec *o = c->opts; o->name; o++) {
        /* --link1..--link7 share one entry */
        if (g_str_has_prefix(o->name, "link") && o->name[4] >= '2' && o->name[4] <= '7')
            continue;
        const char *arg = o->arg ? o->arg : (o->kind == OPT_BOOL ? "<boolean>" : "<value>");
        fprintf(f, "  --%s%s %s\n", o->name, strcmp(o->name, "link1") == 0 ? " .. --link7" : "",
                arg);
        g_auto(GStrv) words = g_strsplit(o->help, " ", -1);
        unsigned col = 0;
        for (unsigned i = 0; words[i]; i++) {
            if (col == 0 || col + strlen(words[i]) + 1 > 76) {
                fprintf(f, "%s             %s", col ? "\n" : "", words[i]);
                col = 13 + (unsigned)strlen(words[i]);
            } else {
                fprintf(f, " %s", words[i]);
                col += 1 + (unsigned)strlen(words[i]);
            }
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\nSee pvecm(1).\n");
}

static void print_usage(FILE *f)
{
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        print_usage_line(f, &commands[i], i == 0);
    fprintf(f, "\n'pvecm help <command>' or 'pvecm <command> --help' describes a command.\n");
}

static const opt_spec *opt_find(const command *c, const char *name)
{
    for (const opt_spec *o = c->opts; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

/* Parse argv[0..argc) of command @c; 0, 1 for --help shown, or -1 (message printed). */
static int parse_args(const command *c, int argc, char **argv, parsed *p)
{
    bool only_args = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (only_args || a[0] != '-' || a[1] == '\0' || g_ascii_isdigit(a[1])) {
            g_ptr_array_add(p->args, g_strdup(a));
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_args = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_command_help(stdout, c);
            return 1;
        }
        const char *name = a + (a[1] == '-' ? 2 : 1);
        g_autofree char *key = NULL;
        const char *value = NULL;
        const char *eq = strchr(name, '=');
        key = eq ? g_strndup(name, (gsize)(eq - name)) : g_strdup(name);
        if (eq)
            value = eq + 1;
        const opt_spec *o = opt_find(c, key);
        if (!o) {
            fprintf(stderr, "pvecm %s: unknown option '%s'\nTry 'pvecm %s --help'.\n", c->name, a,
                    c->name);
            return -1;
        }
        if (o->kind == OPT_BOOL) {
            if (!value && i + 1 < argc && section_config_parse_bool(argv[i + 1]) >= 0)
                value = argv[++i];
            int b = value ? section_config_parse_bool(value) : 1;
            if (b < 0) {
                fprintf(stderr, "pvecm %s: invalid boolean '%s' for --%s\n", c->name, value, key);
                return -1;
            }
            g_hash_table_replace(p->opts, g_strdup(key), g_strdup(b ? "1" : "0"));
            continue;
        }
        if (!value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "pvecm %s: option --%s needs a value\n", c->name, key);
                return -1;
            }
            value = argv[++i];
        }
        if (o->kind == OPT_UINT) {
            char *end = NULL;
            errno = 0;
            unsigned long long v = g_ascii_isdigit(*value) ? strtoull(value, &end, 10) : 0;
            if (!end || *end || errno || v < 1 || v > UINT32_MAX) {
                fprintf(stderr,
                        "pvecm %s: invalid value '%s' for --%s: expected a positive "
                        "integer\n",
                        c->name, value, key);
                return -1;
            }
        }
        if (g_hash_table_contains(p->opts, key)) {
            fprintf(stderr, "pvecm %s: option --%s given twice\n", c->name, key);
            return -1;
        }
        g_hash_table_replace(p->opts, g_strdup(key), g_strdup(value));
    }
    if (p->args->len != c->nargs && !(strcmp(c->name, "help") == 0 && p->args->len <= 1)) {
        fprintf(stderr, "pvecm %s: %s\nUsage: pvecm %s %s\n", c->name,
                p->args->len < c->nargs ? "missing argument" : "too many arguments", c->name,
                c->args);
        return -1;
    }
    return 0;
}

static uint32_t opt_uint(parsed *p, const char *name)
{
    const char *v = g_hash_table_lookup(p->opts, name);
    return v ? (uint32_t)strtoull(v, NULL, 10) : 0;
}

static bool opt_bool(parsed *p, const char *name)
{
    const char *v = g_hash_table_lookup(p->opts, name);
    return v && strcmp(v, "1") == 0;
}

/* Fill the node options; false after printing an error. */
static bool node_opts_get(parsed *p, pvecm_node_opts *o)
{
    memset(o, 0, sizeof(*o));
    for (unsigned i = 0; i < CLUSTER_CONF_MAX_LINKS; i++)
        o->links[i].priority = -1;
    for (unsigned i = 0; i < CLUSTER_CONF_MAX_LINKS; i++) {
        char name[16];
        g_snprintf(name, sizeof(name), "link%u", i);
        const char *v = g_hash_table_lookup(p->opts, name);
        if (i == 0 && !v)
            v = g_hash_table_lookup(p->opts, "new_node_ip");
        g_autoptr(GError) err = NULL;
        if (v && !cluster_conf_link_parse(v, &o->links[i], &err)) {
            fprintf(stderr, "--%s: %s\n", name, err->message);
            pvecm_node_opts_clear(o);
            return false;
        }
    }
    o->nodeid = opt_uint(p, "nodeid");
    o->votes = opt_uint(p, "votes");
    o->force = opt_bool(p, "force");
    const char *fmt = g_hash_table_lookup(p->opts, "output-format");
    if (fmt && strcmp(fmt, "json") != 0 && strcmp(fmt, "text") != 0) {
        fprintf(stderr, "--output-format: expected 'text' or 'json', got '%s'\n", fmt);
        pvecm_node_opts_clear(o);
        return false;
    }
    o->json = fmt && strcmp(fmt, "json") == 0;
    return true;
}

static const char *arg(parsed *p, unsigned i)
{
    return i < p->args->len ? p->args->pdata[i] : NULL;
}

static int cmd_help(pvecm_env *env, parsed *p)
{
    const char *name = arg(p, 0);
    if (!name) {
        print_usage(stdout);
        return 0;
    }
    const command *c = command_find(name);
    if (!c) {
        fprintf(stderr, "pvecm help: unknown command '%s'\n", name);
        return EXIT_USAGE;
    }
    print_command_help(stdout, c);
    return 0;
}

static int cmd_create(pvecm_env *env, parsed *p)
{
    pvecm_node_opts o;
    if (!node_opts_get(p, &o))
        return EXIT_USAGE;
    int rc = pvecm_create_run(env, arg(p, 0), &o);
    pvecm_node_opts_clear(&o);
    return rc;
}

static int cmd_add(pvecm_env *env, parsed *p)
{
    pvecm_node_opts o;
    if (!node_opts_get(p, &o))
        return EXIT_USAGE;
    int rc = pvecm_add_run(env, arg(p, 0), &o);
    pvecm_node_opts_clear(&o);
    return rc;
}

static int cmd_addnode(pvecm_env *env, parsed *p)
{
    pvecm_node_opts o;
    if (!node_opts_get(p, &o))
        return EXIT_USAGE;
    int rc = pvecm_addnode_run(env, arg(p, 0), &o);
    pvecm_node_opts_clear(&o);
    return rc;
}

static int cmd_delnode(pvecm_env *env, parsed *p)
{
    return pvecm_delnode_run(env, arg(p, 0));
}

static int cmd_status(pvecm_env *env, parsed *p)
{
    return pvecm_status_run(env);
}

static int cmd_nodes(pvecm_env *env, parsed *p)
{
    return pvecm_nodes_run(env);
}

static int cmd_expected(pvecm_env *env, parsed *p)
{
    return pvecm_expected_run(env, arg(p, 0));
}

static int cmd_keygen(pvecm_env *env, parsed *p)
{
    return pvecm_keygen_run(env, arg(p, 0));
}

int main(int argc, char **argv)
{
    log_setup("pvecm", LOG_TARGET_STDERR, g_getenv("PVECM_DEBUG") != NULL);
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_usage(stdout);
        return 0;
    }
    const command *c = command_find(argv[1]);
    if (!c) {
        fprintf(stderr, "pvecm: unknown command '%s'\n", argv[1]);
        print_usage(stderr);
        return EXIT_USAGE;
    }
    g_autoptr(pvecm_env) env = NULL;
    parsed p = {
        .opts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
        .args = g_ptr_array_new_with_free_func(g_free),
    };
    int rc = parse_args(c, argc - 2, argv + 2, &p);
    if (rc != 0) {
        rc = rc > 0 ? 0 : EXIT_USAGE;
        goto out;
    }
    env = pvecm_env_new();
    if (c->recover && pvecm_join_recover(env) != 0) {
        rc = 1;
        goto out;
    }
    rc = c->run(env, &p);
out:
    g_hash_table_unref(p.opts);
    g_ptr_array_unref(p.args);
    return rc;
}
