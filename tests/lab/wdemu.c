/*
 * wdemu: fence-action parsing and the emulated watchdog's state machine
 * (fence.md 4.5).  See wdemu.h for the semantics it mirrors.
 */
#include "tests/lab/wdemu.h"

#include <string.h>

G_DEFINE_QUARK(wdemu_error_quark, wdemu_error)

void wdemu_action_free(wdemu_action *a)
{
    if (!a)
        return;
    g_free(a->command);
    g_free(a);
}

static gboolean action_invalid(GError **error, const char *spec, const char *why)
{
    g_set_error(error, WDEMU_ERROR, WDEMU_ERROR_ACTION, "invalid fence action '%s': %s", spec, why);
    return FALSE;
}

gboolean wdemu_action_parse(const char *spec, wdemu_action **ret_action, GError **error)
{
    g_autoptr(wdemu_action) a = g_new0(wdemu_action, 1);

    if (strcmp(spec, "log-only") == 0) {
        a->kind = WDEMU_ACTION_LOG_ONLY;
    } else if (g_str_has_prefix(spec, "kill-pidns:")) {
        const char *num = spec + strlen("kill-pidns:");
        guint64 pid = 0;
        /* pid 1 would be the host's init: never a lab node. */
        if (!g_ascii_string_to_unsigned(num, 10, 2, G_MAXINT32, &pid, NULL))
            return action_invalid(error, spec, "expected kill-pidns:<pid> with a pid above 1");
        a->kind = WDEMU_ACTION_KILL_PIDNS;
        a->pid = (pid_t)pid;
    } else if (g_str_has_prefix(spec, "exec:")) {
        const char *cmd = spec + strlen("exec:");
        if (!*cmd || strspn(cmd, " \t") == strlen(cmd))
            return action_invalid(error, spec, "expected exec:<command line>");
        a->kind = WDEMU_ACTION_EXEC;
        a->command = g_strdup(cmd);
    } else {
        return action_invalid(error, spec, "expected kill-pidns:<pid>, exec:<command> or log-only");
    }
    *ret_action = g_steal_pointer(&a);
    return TRUE;
}

void wdemu_init(wdemu *w, gint64 timeout_ms)
{
    *w = (wdemu){.state = WDEMU_STOPPED, .timeout_ms = timeout_ms};
}

wdemu_state wdemu_feed(wdemu *w, const void *buf, size_t len, gint64 now_ms)
{
    wdemu_state before = w->state;
    if (len == 0)
        return before;

    if (before == WDEMU_RUNNING && w->keepalives > 0) {
        gint64 gap = now_ms - w->last_keepalive_ms;
        if (gap > w->max_gap_ms)
            w->max_gap_ms = gap;
    }
    w->keepalives++;
    w->last_keepalive_ms = now_ms;
    w->last_byte = ((const unsigned char *)buf)[len - 1];
    w->got_byte = true;
    w->deadline_ms = now_ms + w->timeout_ms;
    w->state = WDEMU_RUNNING;
    return before;
}

wdemu_state wdemu_eof(wdemu *w, gint64 now_ms)
{
    bool magic = w->got_byte && w->last_byte == 'V';
    w->got_byte = false;
    w->last_byte = 0;
    if (w->state == WDEMU_RUNNING && magic) {
        w->state = WDEMU_STOPPED;
        return w->state;
    }
    w->state = WDEMU_ORPHANED;
    w->deadline_ms = now_ms + w->timeout_ms;
    return w->state;
}

bool wdemu_expired(const wdemu *w, gint64 now_ms)
{
    return w->state != WDEMU_STOPPED && now_ms >= w->deadline_ms;
}

const char *wdemu_state_name(wdemu_state state)
{
    switch (state) {
    case WDEMU_STOPPED:
        return "stopped";
    case WDEMU_RUNNING:
        return "running";
    case WDEMU_ORPHANED:
        return "orphaned";
    }
    return "?";
}
