/*
 * pmxcfs-ctl: command-line client of the pmxcfs IPC service `pve2`.
 *
 * One subcommand per request of spec §12.4: read the status files, get and set status
 * keys, log to and dump the cluster log, read configuration files and guest config
 * properties, verify API tokens.  Output is the raw response data (values set with
 * the Perl convention lose their trailing NUL unless --raw is given).  Exit status: 0
 * success, 1 the request failed (the message names the errno), 2 usage error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pmxcfs/cfs-limits.h"
#include "pmxcfs/ipc-client.h"

#define EXIT_USAGE 2

static char *opt_service;
static gint64 opt_buffer_size;
static int opt_timeout = 30;

typedef struct command {
    const char *name;
    const char *args;
    const char *summary;
    int (*run)(cfs_client *c, int argc, char **argv);
} command;

static int fail(const char *what, int r)
{
    fprintf(stderr, "pmxcfs-ctl: %s: %s (error %d)\n", what, g_strerror(-r), r);
    return EXIT_FAILURE;
}

G_GNUC_PRINTF(1, 2) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "pmxcfs-ctl: %s\nTry 'pmxcfs-ctl --help'.\n", msg);
    return EXIT_USAGE;
}

static void write_out(const void *data, size_t len)
{
    if (len && fwrite(data, 1, len, stdout) != len)
        fprintf(stderr, "pmxcfs-ctl: write error: %s\n", g_strerror(errno));
}

/* Print response data; drop one trailing NUL unless @raw. */
static void print_data(GBytes *b, bool raw)
{
    gsize len = 0;
    const char *d = b ? g_bytes_get_data(b, &len) : NULL;
    if (!raw && len && d[len - 1] == '\0')
        len--;
    write_out(d, len);
}

/* Parse the options of a subcommand; argv[0] is the subcommand name. */
static bool sub_parse(const char *name, const char *params, GOptionEntry *entries, int *argc,
                      char ***argv)
{
    g_autofree char *pstr = g_strdup_printf("%s %s", name, params);
    g_autoptr(GOptionContext) ctx = g_option_context_new(pstr);
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) err = NULL;
    if (!g_option_context_parse(ctx, argc, argv, &err)) {
        fprintf(stderr, "pmxcfs-ctl %s: %s\n", name, err->message);
        return false;
    }
    return true;
}

static GOptionEntry no_entries[] = {{NULL, 0, 0, 0, NULL, NULL, NULL}};

static int run_simple(cfs_client *c, int32_t id, const char *what, int argc, char **argv)
{
    if (!sub_parse(what, "", no_entries, &argc, &argv))
        return EXIT_USAGE;
    if (argc != 1)
        return usage_error("%s takes no arguments", what);
    g_autoptr(GBytes) data = NULL;
    int r = cfs_client_get_simple(c, id, &data);
    if (r < 0)
        return fail(what, r);
    print_data(data, id != CFS_IPC_GET_RRD_DUMP);
    return 0;
}

static int cmd_version(cfs_client *c, int argc, char **argv)
{
    return run_simple(c, CFS_IPC_GET_FS_VERSION, "version", argc, argv);
}

static int cmd_members(cfs_client *c, int argc, char **argv)
{
    return run_simple(c, CFS_IPC_GET_CLUSTER_INFO, "members", argc, argv);
}

static int cmd_vmlist(cfs_client *c, int argc, char **argv)
{
    return run_simple(c, CFS_IPC_GET_GUEST_LIST, "vmlist", argc, argv);
}

static int cmd_rrd(cfs_client *c, int argc, char **argv)
{
    return run_simple(c, CFS_IPC_GET_RRD_DUMP, "rrd", argc, argv);
}

static int cmd_get_status(cfs_client *c, int argc, char **argv)
{
    gboolean raw = FALSE;
    GOptionEntry entries[] = {
        {"raw", 0, 0, G_OPTION_ARG_NONE, &raw, "Print the value exactly, trailing NUL included",
         NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    if (!sub_parse("get-status", "KEY [NODE]", entries, &argc, &argv))
        return EXIT_USAGE;
    if (argc < 2 || argc > 3)
        return usage_error("%s needs KEY and optionally NODE", "get-status");
    g_autoptr(GBytes) value = NULL;
    int r = cfs_client_get_status(c, argv[1], argc > 2 ? argv[2] : NULL, &value);
    if (r < 0)
        return fail("get-status", r);
    print_data(value, raw);
    return 0;
}

static int cmd_set_status(cfs_client *c, int argc, char **argv)
{
    gboolean raw = FALSE;
    GOptionEntry entries[] = {
        {"raw", 0, 0, G_OPTION_ARG_NONE, &raw,
         "Send the value exactly (default: with a trailing NUL, like PVE::Cluster)", NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    if (!sub_parse("set-status", "KEY [VALUE|-]", entries, &argc, &argv))
        return EXIT_USAGE;
    if (argc < 2 || argc > 3)
        return usage_error("%s needs KEY and optionally VALUE", "set-status");
    g_autoptr(GByteArray) value = g_byte_array_new();
    if (argc == 3) {
        if (strcmp(argv[2], "-") == 0) {
            char buf[4096];
            size_t n;
            while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
                g_byte_array_append(value, (guint8 *)buf, (guint)n);
        } else {
            g_byte_array_append(value, (guint8 *)argv[2], (guint)strlen(argv[2]));
        }
        if (!raw)
            g_byte_array_append(value, (const guint8 *)"", 1);
    }
    int r = cfs_client_set_status(c, argv[1], value->data, value->len);
    if (r < 0)
        return fail("set-status", r);
    return 0;
}

static int parse_priority(const char *s)
{
    static const char *const names[] = {"emerg",   "alert",  "crit", "err",
                                        "warning", "notice", "info", "debug"};
    for (int i = 0; i < 8; i++)
        if (g_ascii_strcasecmp(s, names[i]) == 0)
            return i;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end && *end == '\0' && end != s && v >= 0 && v <= 255)
        return (int)v;
    return -1;
}

static int cmd_log(cfs_client *c, int argc, char **argv)
{
    char *pri = NULL, *ident = NULL, *tag = NULL;
    GOptionEntry entries[] = {
        {"priority", 'p', 0, G_OPTION_ARG_STRING, &pri,
         "Syslog priority 0-7 or name (default info)", "PRI"},
        {"ident", 'i', 0, G_OPTION_ARG_STRING, &ident, "User of the entry (default root@pam)",
         "USER"},
        {"tag", 't', 0, G_OPTION_ARG_STRING, &tag, "Tag of the entry (default pmxcfs-ctl)", "TAG"},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    if (!sub_parse("log", "MESSAGE", entries, &argc, &argv))
        return EXIT_USAGE;
    g_autofree char *p = pri, *i = ident, *t = tag;
    if (argc != 2)
        return usage_error("%s needs exactly one MESSAGE argument", "log");
    int prio = p ? parse_priority(p) : 6;
    if (prio < 0)
        return usage_error("invalid priority '%s'", p);
    int r = cfs_client_log(c, (uint8_t)prio, i ? i : "root@pam", t ? t : "pmxcfs-ctl", argv[1]);
    if (r < 0)
        return fail("log", r);
    return 0;
}

static int cmd_clusterlog(cfs_client *c, int argc, char **argv)
{
    int max = 0;
    char *user = NULL;
    GOptionEntry entries[] = {
        {"max", 'n', 0, G_OPTION_ARG_INT, &max, "At most N entries (default 50)", "N"},
        {"user", 'u', 0, G_OPTION_ARG_STRING, &user, "Only entries of this user", "USER"},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    if (!sub_parse("clusterlog", "", entries, &argc, &argv))
        return EXIT_USAGE;
    g_autofree char *u = user;
    if (argc != 1 || max < 0)
        return usage_error("%s takes only --max and --user", "clusterlog");
    g_autoptr(GBytes) json = NULL;
    int r = cfs_client_get_cluster_log(c, (uint32_t)max, u, &json);
    if (r < 0)
        return fail("clusterlog", r);
    print_data(json, false);
    return 0;
}

static int cmd_get_config(cfs_client *c, int argc, char **argv)
{
    if (!sub_parse("get-config", "PATH", no_entries, &argc, &argv))
        return EXIT_USAGE;
    if (argc != 2)
        return usage_error("%s needs exactly one PATH argument", "get-config");
    g_autoptr(GBytes) data = NULL;
    int r = cfs_client_get_config(c, argv[1], &data);
    if (r < 0)
        return fail("get-config", r);
    print_data(data, true);
    return 0;
}

static bool parse_vmid(const char *s, uint32_t *ret)
{
    char *end = NULL;
    unsigned long long v = g_ascii_strtoull(s, &end, 10);
    if (!*s || !end || *end || v > G_MAXUINT32)
        return false;
    *ret = (uint32_t)v;
    return true;
}

static int guest_props(cfs_client *c, int argc, char **argv, bool multi)
{
    const char *name = multi ? "guest-properties" : "guest-property";
    char *vmid_s = NULL;
    GOptionEntry entries[] = {
        {"vmid", 0, 0, G_OPTION_ARG_STRING, &vmid_s, "Only this guest (default: all)", "VMID"},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    if (!sub_parse(name, multi ? "PROPERTY..." : "PROPERTY", entries, &argc, &argv))
        return EXIT_USAGE;
    g_autofree char *vs = vmid_s;
    uint32_t vmid = 0;
    if (vs && !parse_vmid(vs, &vmid))
        return usage_error("invalid VMID '%s'", vs);
    if (argc < 2 || (!multi && argc != 2) || argc - 1 > 255)
        return usage_error("%s: wrong number of properties", name);
    g_autoptr(GBytes) json = NULL;
    int r = multi ? cfs_client_get_guest_properties(c, vmid, (const char *const *)argv + 1,
                                                    (size_t)argc - 1, &json)
                  : cfs_client_get_guest_property(c, vmid, argv[1], &json);
    if (r < 0)
        return fail(name, r);
    print_data(json, false);
    return 0;
}

static int cmd_guest_property(cfs_client *c, int argc, char **argv)
{
    return guest_props(c, argc, argv, false);
}

static int cmd_guest_properties(cfs_client *c, int argc, char **argv)
{
    return guest_props(c, argc, argv, true);
}

static int cmd_verify_token(cfs_client *c, int argc, char **argv)
{
    if (!sub_parse("verify-token", "TOKEN", no_entries, &argc, &argv))
        return EXIT_USAGE;
    if (argc != 2)
        return usage_error("%s needs exactly one TOKEN argument", "verify-token");
    int r = cfs_client_verify_token(c, argv[1]);
    if (r < 0)
        return fail("verify-token", r);
    return 0;
}

static const command commands[] = {
    {"version", "", "the .version JSON (GET_FS_VERSION)", cmd_version},
    {"members", "", "the .members JSON (GET_CLUSTER_INFO)", cmd_members},
    {"vmlist", "", "the .vmlist JSON (GET_GUEST_LIST)", cmd_vmlist},
    {"rrd", "", "the RRD dump (GET_RRD_DUMP)", cmd_rrd},
    {"get-status", "[--raw] KEY [NODE]", "a status value of this or another node", cmd_get_status},
    {"set-status", "[--raw] KEY [VALUE|-]", "set (or without VALUE delete) a status value",
     cmd_set_status},
    {"log", "[-p PRI] [-i USER] [-t TAG] MESSAGE", "add a cluster log entry", cmd_log},
    {"clusterlog", "[-n MAX] [-u USER]", "the cluster log as JSON, newest first", cmd_clusterlog},
    {"get-config", "PATH", "a file below /etc/pve, read through IPC", cmd_get_config},
    {"guest-property", "[--vmid N] PROPERTY", "a property of guest configs (request 11)",
     cmd_guest_property},
    {"guest-properties", "[--vmid N] PROPERTY...", "several properties (request 13)",
     cmd_guest_properties},
    {"verify-token", "'USER!TOKENID SECRET'", "check an API token against priv/token.cfg",
     cmd_verify_token},
};

static char *commands_help(void)
{
    GString *s = g_string_new("Commands:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        g_autofree char *synopsis = g_strdup_printf("%s %s", commands[i].name, commands[i].args);
        g_string_append_printf(s, "  %-44s %s\n", synopsis, commands[i].summary);
    }
    g_string_append(s, "\nEach command accepts --help.  See pmxcfs-ctl(1).");
    return g_string_free(s, FALSE);
}

int main(int argc, char **argv)
{
    GOptionEntry entries[] = {
        {"service", 's', 0, G_OPTION_ARG_STRING, &opt_service,
         "IPC service name (default " CFS_IPC_SERVICE ")", "NAME"},
        {"buffer-size", 'b', 0, G_OPTION_ARG_INT64, &opt_buffer_size,
         "Message buffer in bytes (default 2 MiB; PVE::IPCC uses 1048576)", "BYTES"},
        {"timeout", 0, 0, G_OPTION_ARG_INT, &opt_timeout,
         "Seconds to wait for a response, 0 = forever (default 30)", "SECONDS"},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("COMMAND [ARGS...]");
    g_option_context_set_summary(ctx, "Talk to the pmxcfs IPC service (the one PVE tools use).");
    g_autofree char *desc = commands_help();
    g_option_context_set_description(ctx, desc);
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_strict_posix(ctx, TRUE);
    g_autoptr(GError) err = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "pmxcfs-ctl: %s\n", err->message);
        return EXIT_USAGE;
    }
    if (argc < 2)
        return usage_error("%s", "missing COMMAND");
    const command *cmd = NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            cmd = &commands[i];
    if (!cmd)
        return usage_error("unknown command '%s'", argv[1]);
    if (opt_buffer_size < 0 || opt_buffer_size > 64 * 1024 * 1024 || opt_timeout < 0)
        return usage_error("%s", "invalid --buffer-size or --timeout");

    /* subcommand --help needs no connection (option parsing exits before using it) */
    for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return cmd->run(NULL, argc - 1, argv + 1);

    g_autoptr(cfs_client) c = NULL;
    int r = cfs_client_connect(opt_service, (size_t)opt_buffer_size,
                               opt_timeout ? opt_timeout * 1000 : -1, &c);
    g_autofree char *service = opt_service;
    if (r < 0) {
        fprintf(stderr, "pmxcfs-ctl: unable to connect to IPC service '%s': %s (error %d)\n",
                service ? service : CFS_IPC_SERVICE, g_strerror(-r), r);
        return EXIT_FAILURE;
    }
    return cmd->run(c, argc - 1, argv + 1);
}
