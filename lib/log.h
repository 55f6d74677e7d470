/*
 * log: process-wide logging setup for daemons and CLIs.
 *
 * Library modules never log; daemons and CLIs call log_setup() once and then use
 * GLib's structured logging (g_message, g_warning, g_critical, g_debug, or
 * g_log_structured with extra fields).  In the foreground, or when stderr is not the
 * journal, lines go to stderr as "[<domain>] <level>: <message>" (the reference's
 * shape, which operators grep for); otherwise they go to the journal with fields.
 * Debug messages are shown only while debug mode is on; it can be toggled at run time.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef enum {
    LOG_TARGET_AUTO = 0,   /* journal if stderr is connected to it, else syslog (/dev/log),
                              else stderr */
    LOG_TARGET_STDERR,     /* stderr only (CLIs, tests) */
    LOG_TARGET_JOURNAL,
    LOG_TARGET_STDERR_SYSLOG, /* daemons in the foreground: stderr and syslog */
} log_target;

/*
 * Install our GLib log writer.  @ident is the program name used as SYSLOG_IDENTIFIER.
 * May be called again (for example after daemonising) to change the target.
 */
void log_setup(const char *ident, log_target target, bool debug);

/* Turn debug messages on or off at run time (thread-safe). */
void log_set_debug(bool debug);
bool log_get_debug(void);
