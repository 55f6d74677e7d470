/*
 * log: GLib structured log writer shared by every daemon and CLI.
 *
 * Owns three process-wide settings (ident, target, debug flag), set by log_setup()
 * and read by the writer on every message.  The debug flag is an atomic so that
 * `.debug` writes in pmxcfs can flip it from any thread.
 */
#include "lib/log.h"

#include <stdio.h>
#include <syslog.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char log_ident[64] = "pve";
static log_target log_current_target = LOG_TARGET_AUTO;
static gint log_debug_flag;

static const char *log_level_name(GLogLevelFlags level)
{
    if (level & G_LOG_LEVEL_ERROR)
        return "crit";
    if (level & G_LOG_LEVEL_CRITICAL)
        return "crit";
    if (level & G_LOG_LEVEL_WARNING)
        return "warning";
    if (level & G_LOG_LEVEL_MESSAGE)
        return "notice";
    if (level & G_LOG_LEVEL_INFO)
        return "info";
    return "debug";
}

static int log_syslog_priority(GLogLevelFlags level)
{
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
        return LOG_CRIT;
    if (level & G_LOG_LEVEL_WARNING)
        return LOG_WARNING;
    if (level & G_LOG_LEVEL_MESSAGE)
        return LOG_NOTICE;
    if (level & G_LOG_LEVEL_INFO)
        return LOG_INFO;
    return LOG_DEBUG;
}

static bool log_syslog_available(void)
{
    static gsize checked;
    static bool available;
    if (g_once_init_enter(&checked)) {
        available = g_file_test("/dev/log", G_FILE_TEST_EXISTS);
        if (available)
            openlog(log_ident, LOG_PID, LOG_DAEMON);
        g_once_init_leave(&checked, 1);
    }
    return available;
}

static GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                                   gpointer user_data)
{
    if ((level & G_LOG_LEVEL_DEBUG) && !g_atomic_int_get(&log_debug_flag))
        return G_LOG_WRITER_HANDLED;

    if (log_current_target == LOG_TARGET_JOURNAL ||
        (log_current_target == LOG_TARGET_AUTO && g_log_writer_is_journald(fileno(stderr)))) {
        GLogField extended[n_fields + 1];
        memcpy(extended, fields, n_fields * sizeof(GLogField));
        extended[n_fields] = (GLogField){"SYSLOG_IDENTIFIER", log_ident, -1};
        if (g_log_writer_journald(level, extended, n_fields + 1, user_data) ==
            G_LOG_WRITER_HANDLED)
            return G_LOG_WRITER_HANDLED;
        /* no journal available: fall back to stderr */
    }

    const char *domain = NULL;
    const char *message = NULL;
    for (gsize i = 0; i < n_fields; i++) {
        if (strcmp(fields[i].key, "GLIB_DOMAIN") == 0)
            domain = fields[i].value;
        else if (strcmp(fields[i].key, "MESSAGE") == 0)
            message = fields[i].value;
    }
    bool to_syslog = log_current_target == LOG_TARGET_STDERR_SYSLOG ||
                     (log_current_target == LOG_TARGET_AUTO && !isatty(fileno(stderr)));
    if (to_syslog && log_syslog_available()) {
        /* the reference's shape: "[<domain>] <level>: <message>" */
        syslog(log_syslog_priority(level), "[%s] %s: %s", domain ? domain : "main",
               log_level_name(level), message ? message : "");
        if (log_current_target == LOG_TARGET_AUTO)
            return G_LOG_WRITER_HANDLED;
    }

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
    flockfile(stderr);
    fprintf(stderr, "%s.%03ld %s[%d]: [%s] %s: %s\n", stamp, ts.tv_nsec / 1000000, log_ident,
            (int)getpid(), domain ? domain : "main", log_level_name(level),
            message ? message : "");
    funlockfile(stderr);
    return G_LOG_WRITER_HANDLED;
}

void log_setup(const char *ident, log_target target, bool debug)
{
    static gsize installed;

    g_strlcpy(log_ident, ident, sizeof(log_ident));
    log_current_target = target;
    g_atomic_int_set(&log_debug_flag, debug ? 1 : 0);
    if (g_once_init_enter(&installed)) {
        g_log_set_writer_func(log_writer, NULL, NULL);
        g_once_init_leave(&installed, 1);
    }
}

void log_set_debug(bool debug)
{
    g_atomic_int_set(&log_debug_flag, debug ? 1 : 0);
}

bool log_get_debug(void)
{
    return g_atomic_int_get(&log_debug_flag) != 0;
}
