/*
 * wdmux-device: the watchdog device the mux keeps alive (fence.md 4.4, 4.5).
 *
 * One code path for every backend: the device is opened by path and fed by writing one
 * byte per tick, which the Linux watchdog API and the lab's emulated watchdog (a FIFO
 * served by watchdog-emu) both take as a keepalive.  Real devices also get the
 * watchdog ioctls (set and read back the timeout, identity, capability check); an
 * emulated device must be a FIFO and gets none.
 *
 * Invariants:
 * - the only clean stop is wdmux_device_close_clean() ('V', then close); every other
 *   way the descriptor goes away (wdmux_device_free(), process exit) leaves the
 *   watchdog running, so the node resets one device timeout later;
 * - a real device without magic-close support is accepted only when nowayout is on,
 *   because closing it would otherwise silently stop the watchdog.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef struct {
    int fd;
    char *path;
    bool emulated;
    char *identity; /* driver identity ("emulated watchdog" for a FIFO) */
    guint32 firmware_version;
    bool magic_close;      /* the driver honours 'V' before close */
    bool nowayout;         /* the watchdog core cannot stop this device at all */
    bool timeout_settable; /* FALSE: the driver keeps its own timeout */
    gint64 timeout_ms;     /* effective timeout (read back from the driver) */
    unsigned failures;     /* consecutive keepalive failures */
} wdmux_device;

#define WDMUX_DEVICE_ERROR (wdmux_device_error_quark())
GQuark wdmux_device_error_quark(void);

typedef enum {
    WDMUX_DEVICE_ERROR_OPEN,    /* "watchdog open: ..." */
    WDMUX_DEVICE_ERROR_TIMEOUT, /* "watchdog set timeout: ..." */
    WDMUX_DEVICE_ERROR_INFO,    /* "read watchdog info: ..." */
    WDMUX_DEVICE_ERROR_UNSAFE,  /* no magic close and nowayout off */
} wdmux_device_error;

/*
 * TRUE when @path names the kernel's watchdog device family (/dev/watchdog,
 * /dev/watchdogN): only for those does a missing node mean "load the module".
 */
bool wdmux_device_path_is_kernel(const char *path);

/*
 * Open the device at @path and prepare it.  Real device: set @timeout_ms (whole
 * seconds) when the driver allows it, read the effective timeout and the identity, and
 * refuse an unsafe driver; every refusal after the open magic-closes the device first.
 * Emulated (@emulated): @path must be a FIFO with a reader (watchdog-emu); it is opened
 * non-blocking and the timeout is taken as given.  The first keepalive is sent before
 * returning, since the emulated watchdog arms on its first byte.  On failure returns
 * FALSE with the reference message in @error.
 */
gboolean wdmux_device_open(const char *path, bool emulated, gint64 timeout_ms,
                           wdmux_device **ret_device, GError **error);

/*
 * Send one keepalive.  Returns 0 or a negative errno; counts consecutive failures in
 * d->failures (reset on success).
 */
int wdmux_device_keepalive(wdmux_device *d);

/*
 * Clean stop: write 'V', close, free.  Only for a terminate request with no armed
 * client.  Returns 0 or the negative errno of the write (the device is closed anyway).
 */
int wdmux_device_close_clean(wdmux_device *d);

/* Close WITHOUT stopping the watchdog and free.  NULL-safe. */
void wdmux_device_free(wdmux_device *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(wdmux_device, wdmux_device_free)
