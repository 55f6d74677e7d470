/*
 * wdmux-log: one helper that turns a printf-style message into a structured GLib log
 * record with the mux's journal fields (WDMUX_NODE, WDMUX_BACKEND, WDMUX_CLIENT_PID).
 * lib/log.c decides where the record goes (stderr in the foreground, else journal).
 */
#include "fence/wdmux-log.h"

#include <stdarg.h>
#include <stdio.h>

#define G_LOG_DOMAIN_MUX "watchdog-mux"

static char log_node[256] = "";
static char log_backend[16] = "";

void wdmux_log_set_context(const char *node, const char *backend)
{
    g_strlcpy(log_node, node ? node : "", sizeof(log_node));
    g_strlcpy(log_backend, backend ? backend : "", sizeof(log_backend));
}

static const char *log_priority(GLogLevelFlags level)
{
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
        return "3";
    if (level & G_LOG_LEVEL_WARNING)
        return "4";
    if (level & G_LOG_LEVEL_MESSAGE)
        return "5";
    if (level & G_LOG_LEVEL_INFO)
        return "6";
    return "7";
}

void wdmux_log(GLogLevelFlags level, pid_t pid, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);

    char pidbuf[24];
    snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
    GLogField fields[] = {
        {"GLIB_DOMAIN", G_LOG_DOMAIN_MUX, -1},
        {"PRIORITY", log_priority(level), -1},
        {"MESSAGE", msg, -1},
        {"WDMUX_NODE", log_node, -1},
        {"WDMUX_BACKEND", log_backend, -1},
        {"WDMUX_CLIENT_PID", pidbuf, -1},
    };
    g_log_structured_array(level, fields,
                           pid > 0 ? G_N_ELEMENTS(fields) : G_N_ELEMENTS(fields) - 1);
}
