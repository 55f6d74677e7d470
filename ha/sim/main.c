/*
 * ha-simulator: run a scenario directory through the CRM, LRM and manager logic on
 * simulated hardware with a discrete clock (ha.md §9) and write the log and final
 * status files to <dir>/status/.
 *
 * Exit status: 0 ran (and matched with --compare), 1 log mismatch or aborted run,
 * 2 input error.
 */
#include "ha/sim/hardware.h"

#include <stdlib.h>
#include <string.h>

static gboolean opt_quiet;
static gboolean opt_compare;
static gboolean opt_update_expect;
static gboolean opt_persist_last_online;
static char *opt_profile;
static char *opt_timing;

static GOptionEntry entries[] = {
    {"quiet", 'q', 0, G_OPTION_ARG_NONE, &opt_quiet, "do not echo the log to stdout", NULL},
    {"compare", 'c', 0, G_OPTION_ARG_NONE, &opt_compare,
     "compare status/log with log.expect (exit 1 on a difference)", NULL},
    {"update-expect", 0, 0, G_OPTION_ARG_NONE, &opt_update_expect,
     "write log.expect from this run when it does not exist", NULL},
    {"profile", 'p', 0, G_OPTION_ARG_STRING, &opt_profile,
     "timing profile: default (reference, the only one matching reference logs), balanced, fast",
     "NAME"},
    {"timing", 't', 0, G_OPTION_ARG_STRING, &opt_timing,
     "ha-timing property string, e.g. 'profile=fast,fence-delay=2' (overrides --profile)", "PROP"},
    {"persist-last-online", 0, 0, G_OPTION_ARG_NONE, &opt_persist_last_online,
     "improvement I-2: persist the fence-delay clock across master changes", NULL},
    {NULL},
};

static int compare_logs(const char *dir)
{
    g_autofree char *exp_path = g_build_filename(dir, "log.expect", NULL);
    g_autofree char *log_path = g_build_filename(dir, "status", "log", NULL);
    g_autofree char *exp = NULL, *got = NULL;
    if (!g_file_get_contents(exp_path, &exp, NULL, NULL)) {
        g_printerr("ha-simulator: no '%s' to compare with\n", exp_path);
        return 2;
    }
    if (!g_file_get_contents(log_path, &got, NULL, NULL)) {
        g_printerr("ha-simulator: cannot read '%s'\n", log_path);
        return 2;
    }
    g_auto(GStrv) el = g_strsplit(exp, "\n", -1);
    g_auto(GStrv) gl = g_strsplit(got, "\n", -1);
    for (int i = 0;; i++) {
        if (!el[i] && !gl[i])
            return 0;
        if (!el[i] || !gl[i] || strcmp(el[i], gl[i]) != 0) {
            g_printerr("ha-simulator: log differs at line %d\n  expected: %s\n  got:      %s\n", i + 1,
                       el[i] ? el[i] : "<end>", gl[i] ? gl[i] : "<end>");
            return 1;
        }
    }
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("<scenario-dir>");
    g_option_context_set_summary(
        ctx, "Run an HA scenario directory (cmdlist, hardware_status, service_config, ...) through\n"
             "the HA manager logic on simulated nodes and write <dir>/status/log in the\n"
             "reference simulator's log format, plus the final status files.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) err = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        g_printerr("ha-simulator: %s\n", err->message);
        return 2;
    }
    if (argc != 2) {
        g_autofree char *help = g_option_context_get_help(ctx, TRUE, NULL);
        g_printerr("%s", help);
        return 2;
    }
    ha_timing timing;
    if (opt_timing) {
        if (!ha_timing_parse(opt_timing, &timing, &err)) {
            g_printerr("ha-simulator: %s\n", err->message);
            return 2;
        }
    } else if (ha_timing_profile(opt_profile ? opt_profile : "default", &timing) < 0) {
        g_printerr("ha-simulator: unknown timing profile '%s'\n", opt_profile);
        return 2;
    } else if (!ha_timing_check(&timing, &err)) {
        g_printerr("ha-simulator: %s\n", err->message);
        return 2;
    }
    const char *dir = argv[1];
    g_autoptr(sim_hw) hw = NULL;
    if (sim_hw_load(dir, &timing, opt_quiet, &hw, &err) < 0) {
        g_printerr("ha-simulator: %s\n", err->message);
        return 2;
    }
    for (guint i = 0; i < hw->nodes->len; i++) {
        sim_node *n = g_ptr_array_index(hw->nodes, i);
        n->crm_env.env.persist_last_online = opt_persist_last_online;
        n->lrm_env.env.persist_last_online = opt_persist_last_online;
    }
    int r = sim_hw_run(hw);
    if (sim_hw_write_status(hw, &err) < 0) {
        g_printerr("ha-simulator: failed to write status files: %s\n", err->message);
        return 2;
    }
    g_clear_pointer(&hw, sim_hw_free); /* flushes the log */
    if (opt_update_expect) {
        g_autofree char *exp_path = g_build_filename(dir, "log.expect", NULL);
        g_autofree char *log_path = g_build_filename(dir, "status", "log", NULL);
        g_autofree char *got = NULL;
        if (!g_file_test(exp_path, G_FILE_TEST_EXISTS) &&
            g_file_get_contents(log_path, &got, NULL, NULL))
            g_file_set_contents(exp_path, got, -1, NULL);
    }
    if (opt_compare)
        return compare_logs(dir);
    return r < 0 ? 1 : 0;
}
