/*
 * wdmux-device: open, check, feed and stop the watchdog device (fence.md 2.2, 4.4).
 *
 * Real devices go through the Linux watchdog ioctls; the error texts are the
 * reference's ("watchdog open", "watchdog set timeout", "read watchdog info") so
 * operators' searches keep working.  Emulated devices are FIFOs: opening one blocks
 * until a reader exists, so it is opened non-blocking (ENXIO = nobody serves it), and
 * it stays non-blocking so a stalled emulator can never block the mux.
 */
#include "fence/wdmux-device.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/watchdog.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fence/wdmux-defs.h"

G_DEFINE_QUARK(wdmux_device_error_quark, wdmux_device_error)

/* The legacy /dev/watchdog misc device (major 10, minor 130, WATCHDOG_MINOR). */
#define DEVICE_MISC_MAJOR 10
#define DEVICE_MISC_MINOR 130

bool wdmux_device_path_is_kernel(const char *path)
{
    const char *rest = NULL;
    if (!g_str_has_prefix(path, WDMUX_DEVICE_PATH))
        return false;
    rest = path + strlen(WDMUX_DEVICE_PATH);
    for (; *rest; rest++)
        if (!g_ascii_isdigit(*rest))
            return false;
    return true;
}

void wdmux_device_free(wdmux_device *d)
{
    if (!d)
        return;
    if (d->fd >= 0)
        close(d->fd);
    g_free(d->path);
    g_free(d->identity);
    g_free(d);
}

int wdmux_device_close_clean(wdmux_device *d)
{
    if (!d)
        return 0;
    int r = 0;
    if (d->fd >= 0) {
        char magic = WDMUX_MAGIC_BYTE;
        if (write(d->fd, &magic, 1) != 1)
            r = errno ? -errno : -EIO;
        close(d->fd);
        d->fd = -1;
    }
    wdmux_device_free(d);
    return r;
}

int wdmux_device_keepalive(wdmux_device *d)
{
    char byte = WDMUX_KEEPALIVE_BYTE;
    ssize_t w = write(d->fd, &byte, 1);
    if (w == 1) {
        d->failures = 0;
        return 0;
    }
    d->failures++;
    return w < 0 ? -errno : -EIO;
}

/* Read the watchdog core's nowayout attribute for the device behind @fd. */
static bool device_nowayout(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode))
        return false;

    g_autofree char *path = NULL;
    if (major(st.st_rdev) == DEVICE_MISC_MAJOR && minor(st.st_rdev) == DEVICE_MISC_MINOR)
        path = g_strdup("/sys/class/watchdog/watchdog0/nowayout");
    else
        path =
            g_strdup_printf("/sys/dev/char/%u:%u/nowayout", major(st.st_rdev), minor(st.st_rdev));
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return false;
    return text[0] == '1';
}

static gboolean device_fail(wdmux_device *d, GError **error, wdmux_device_error code,
                            const char *fmt, ...) G_GNUC_PRINTF(4, 5);

static gboolean device_fail(wdmux_device *d, GError **error, wdmux_device_error code,
                            const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, WDMUX_DEVICE_ERROR, code, msg);
    /* Refusing after the open: stop the device again, as the reference does. */
    char magic = WDMUX_MAGIC_BYTE;
    ssize_t w = write(d->fd, &magic, 1); /* best effort: we are failing anyway */
    (void)w;
    close(d->fd);
    d->fd = -1;
    return FALSE;
}

static gboolean device_open_emulated(wdmux_device *d, GError **error)
{
    struct stat st;
    if (stat(d->path, &st) < 0) {
        g_set_error(error, WDMUX_DEVICE_ERROR, WDMUX_DEVICE_ERROR_OPEN, "watchdog open: %s: %s",
                    d->path, g_strerror(errno));
        return FALSE;
    }
    /* Never open a real device in emulated mode: no ioctl checks would protect it. */
    if (!S_ISFIFO(st.st_mode)) {
        g_set_error(error, WDMUX_DEVICE_ERROR, WDMUX_DEVICE_ERROR_OPEN,
                    "watchdog open: %s: an emulated device must be a FIFO served by "
                    "watchdog-emu",
                    d->path);
        return FALSE;
    }
    d->fd = open(d->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (d->fd < 0) {
        int e = errno;
        g_set_error(error, WDMUX_DEVICE_ERROR, WDMUX_DEVICE_ERROR_OPEN, "watchdog open: %s: %s%s",
                    d->path, g_strerror(e),
                    e == ENXIO ? " (no watchdog-emu is serving this FIFO)" : "");
        return FALSE;
    }
    d->identity = g_strdup("emulated watchdog");
    d->magic_close = true;
    return TRUE;
}

static gboolean device_open_real(wdmux_device *d, gint64 timeout_ms, GError **error)
{
    /* Non-blocking so that a path that is not a device (a FIFO nobody reads) fails at
     * once instead of hanging; the watchdog core ignores the flag. */
    d->fd = open(d->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (d->fd < 0) {
        g_set_error(error, WDMUX_DEVICE_ERROR, WDMUX_DEVICE_ERROR_OPEN, "watchdog open: %s",
                    g_strerror(errno));
        return FALSE;
    }

    struct watchdog_info info;
    memset(&info, 0, sizeof(info));
    if (ioctl(d->fd, WDIOC_GETSUPPORT, &info) < 0)
        return device_fail(d, error, WDMUX_DEVICE_ERROR_INFO, "read watchdog info: %s%s",
                           g_strerror(errno),
                           errno == ENOTTY ? " (not a watchdog device; a watchdog-emu FIFO "
                                             "needs --emulated)"
                                           : "");
    char identity[sizeof(info.identity) + 1];
    memcpy(identity, info.identity, sizeof(info.identity));
    identity[sizeof(info.identity)] = '\0';
    d->identity = g_strdup(identity);
    d->firmware_version = info.firmware_version;
    d->magic_close = (info.options & WDIOF_MAGICCLOSE) != 0;
    d->timeout_settable = (info.options & WDIOF_SETTIMEOUT) != 0;

    int seconds = (int)(timeout_ms / 1000);
    if (d->timeout_settable && ioctl(d->fd, WDIOC_SETTIMEOUT, &seconds) < 0)
        return device_fail(d, error, WDMUX_DEVICE_ERROR_TIMEOUT, "watchdog set timeout: %s",
                           g_strerror(errno));
    /* Drivers round; the effective value is what the driver reports back. */
    int effective = 0;
    if (ioctl(d->fd, WDIOC_GETTIMEOUT, &effective) == 0 && effective > 0)
        d->timeout_ms = (gint64)effective * 1000;
    else if (d->timeout_settable && seconds > 0)
        d->timeout_ms = (gint64)seconds * 1000;
    else
        return device_fail(d, error, WDMUX_DEVICE_ERROR_TIMEOUT,
                           "watchdog set timeout: driver '%s' reports no timeout", d->identity);

    if (!d->magic_close) {
        d->nowayout = device_nowayout(d->fd);
        if (!d->nowayout)
            return device_fail(d, error, WDMUX_DEVICE_ERROR_UNSAFE,
                               "watchdog driver '%s' cannot be safely closed (no magic close, "
                               "nowayout off)",
                               d->identity);
    }
    return TRUE;
}

gboolean wdmux_device_open(const char *path, bool emulated, gint64 timeout_ms,
                           wdmux_device **ret_device, GError **error)
{
    g_autoptr(wdmux_device) d = g_new0(wdmux_device, 1);
    d->fd = -1;
    d->path = g_strdup(path);
    d->emulated = emulated;
    d->timeout_ms = timeout_ms;

    if (emulated) {
        if (!device_open_emulated(d, error))
            return FALSE;
    } else if (!device_open_real(d, timeout_ms, error)) {
        return FALSE;
    }
    /* An opened kernel watchdog is already running; the emulated one arms on a byte. */
    (void)wdmux_device_keepalive(d);
    *ret_device = g_steal_pointer(&d);
    return TRUE;
}
