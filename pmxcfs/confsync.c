/*
 * confsync: corosync.conf from the tree to the host, coalesced and asynchronous.
 *
 * State (`pending`, `notify`, the timer source) is protected by `lock` because
 * triggers come from the service thread and from start-up code; the timer callback and
 * the reload child watch run on the service context only.
 */
#include "pmxcfs/confsync.h"

#include <errno.h>
#include <string.h>

#include "lib/atomic-file.h"

#define G_LOG_DOMAIN_CONFSYNC "dcdb"
/* Coalescing delay for triggers (W27) and delay before asking corosync to reload. */
#define CONFSYNC_SETTLE_MS 500
#define CONFSYNC_RELOAD_DELAY_MS 1000

struct confsync {
    memdb *m;
    char *host_path;
    GMainContext *ctx;
    char **reload_argv;
    GMutex lock;
    GSource *settle;
    bool notify;
    GSource *reload;
};

uint64_t confsync_parse_version(const char *text, size_t len)
{
    static const char key[] = "config_version";
    const char *end = text + len;
    for (const char *p = text; p + sizeof(key) - 1 <= end; p++) {
        if (memcmp(p, key, sizeof(key) - 1) != 0)
            continue;
        const char *q = p + sizeof(key) - 1;
        while (q < end && g_ascii_isspace(*q))
            q++;
        if (q >= end || *q != ':')
            continue;
        q++;
        while (q < end && g_ascii_isspace(*q))
            q++;
        if (q >= end || !g_ascii_isdigit(*q))
            continue;
        uint64_t v = 0;
        while (q < end && g_ascii_isdigit(*q) && v < UINT64_MAX / 10)
            v = v * 10 + (uint64_t)(*q++ - '0');
        return v;
    }
    return 0;
}

int confsync_check(confsync *cs, uint64_t *ret_old_version)
{
    g_autoptr(GBytes) data = NULL;
    if (ret_old_version)
        *ret_old_version = 0;
    if (memdb_read_path(cs->m, "corosync.conf", &data) < 0 || g_bytes_get_size(data) == 0)
        return 0;
    gsize len;
    const char *text = g_bytes_get_data(data, &len);
    uint64_t version = confsync_parse_version(text, len);
    if (version == 0) {
        g_log(G_LOG_DOMAIN_CONFSYNC, G_LOG_LEVEL_WARNING, "unable to parse cluster config_version");
        return 0;
    }
    g_autofree char *host = NULL;
    gsize hlen = 0;
    g_autoptr(GError) err = NULL;
    uint64_t old_version = 0;
    if (g_file_get_contents(cs->host_path, &host, &hlen, &err)) {
        old_version = confsync_parse_version(host, hlen);
    } else if (!g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
        g_log(G_LOG_DOMAIN_CONFSYNC, G_LOG_LEVEL_WARNING, "unable to read '%s': %s",
              cs->host_path, err->message);
    }
    if (ret_old_version)
        *ret_old_version = old_version;
    if (host && hlen == len && memcmp(host, text, len) == 0)
        return 0;
    if (version < old_version) {
        g_log(G_LOG_DOMAIN_CONFSYNC, G_LOG_LEVEL_WARNING, "local corosync.conf is newer");
        return 0;
    }
    int r = atomic_file_write(cs->host_path, text, len, 0644, 0, 0);
    if (r < 0) {
        g_log(G_LOG_DOMAIN_CONFSYNC, G_LOG_LEVEL_CRITICAL, "unable to write '%s': %s",
              cs->host_path, g_strerror(-r));
        return r;
    }
    g_log(G_LOG_DOMAIN_CONFSYNC, G_LOG_LEVEL_MESSAGE,
          "wrote new corosync config '%s' (version = %" G_GUINT64_FORMAT ")", cs->host_path,
          version);
    return 1;
}

static void reload_child_done(GPid pid, gint status, gpointer user_data)
{
    (void)user_data;
    g_autoptr(GError) err = NULL;
    if (!g_spawn_check_wait_status(status, &err))
        g_log(G_LOG_DOMAIN_CONFSYNC, G_LOG_LEVEL_WARNING, "corosync-cfgtool -R failed: %s",
              err->message);
    g_spawn_close_pid(pid);
}

static gboolean reload_now(gpointer user_data)
{
    confsync *cs = user_data;
    g_mutex_lock(&cs->lock);
    g_clear_pointer(&cs->reload, g_source_unref);
    g_mutex_unlock(&cs->lock);
    GPid pid = 0;
    g_autoptr(GError) err = NULL;
    if (!g_spawn_async(NULL, cs->reload_argv, NULL,
                       G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                           G_SPAWN_STDOUT_TO_DEV_NULL,
                       NULL, NULL, &pid, &err)) {
        g_log(G_LOG_DOMAIN_CONFSYNC, G_LOG_LEVEL_WARNING, "unable to run '%s': %s",
              cs->reload_argv[0], err->message);
        return G_SOURCE_REMOVE;
    }
    GSource *w = g_child_watch_source_new(pid);
    g_source_set_callback(w, (GSourceFunc)(void (*)(void))reload_child_done, NULL, NULL);
    g_source_attach(w, cs->ctx);
    g_source_unref(w);
    return G_SOURCE_REMOVE;
}

static gboolean settle_done(gpointer user_data)
{
    confsync *cs = user_data;
    g_mutex_lock(&cs->lock);
    bool notify = cs->notify;
    cs->notify = false;
    g_clear_pointer(&cs->settle, g_source_unref);
    g_mutex_unlock(&cs->lock);

    uint64_t old_version = 0;
    int r = confsync_check(cs, &old_version);
    if (r == 1 && notify && old_version > 0) {
        g_mutex_lock(&cs->lock);
        if (!cs->reload) {
            cs->reload = g_timeout_source_new(CONFSYNC_RELOAD_DELAY_MS);
            g_source_set_callback(cs->reload, reload_now, cs, NULL);
            g_source_attach(cs->reload, cs->ctx);
        }
        g_mutex_unlock(&cs->lock);
    }
    return G_SOURCE_REMOVE;
}

void confsync_trigger(confsync *cs, bool notify)
{
    g_mutex_lock(&cs->lock);
    cs->notify |= notify;
    if (cs->settle) {
        g_source_destroy(cs->settle);
        g_source_unref(cs->settle);
    }
    cs->settle = g_timeout_source_new(CONFSYNC_SETTLE_MS);
    g_source_set_callback(cs->settle, settle_done, cs, NULL);
    g_source_attach(cs->settle, cs->ctx);
    g_mutex_unlock(&cs->lock);
}

confsync *confsync_new(memdb *m, const char *host_path, GMainContext *ctx,
                       const char *const *reload_argv)
{
    static const char *const default_argv[] = {"corosync-cfgtool", "-R", NULL};
    confsync *cs = g_new0(confsync, 1);
    cs->m = m;
    cs->host_path = g_strdup(host_path);
    cs->ctx = g_main_context_ref(ctx);
    cs->reload_argv = g_strdupv((char **)(reload_argv ? reload_argv : default_argv));
    g_mutex_init(&cs->lock);
    return cs;
}

void confsync_free(confsync *cs)
{
    if (!cs)
        return;
    if (cs->settle) {
        g_source_destroy(cs->settle);
        g_source_unref(cs->settle);
    }
    if (cs->reload) {
        g_source_destroy(cs->reload);
        g_source_unref(cs->reload);
    }
    g_main_context_unref(cs->ctx);
    g_strfreev(cs->reload_argv);
    g_free(cs->host_path);
    g_mutex_clear(&cs->lock);
    g_free(cs);
}
