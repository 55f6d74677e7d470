/*
 * test-wdmux-device: the device backend, exercised only through FIFOs (nothing here may
 * ever open a real watchdog): the emulated open and its refusals, the bytes of the first
 * keepalive, keepalives and the clean stop, the unclean close, failure counting, and a
 * non-emulated open of a FIFO, which must fail at the ioctls and magic-close.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fence/wdmux-device.h"
#include "tests/unit/check-main.h"

typedef struct {
    char *dir;
    char *fifo;
    int reader;
} fifo_dev;

static void fifo_dev_make(fifo_dev *f, bool with_reader)
{
    f->dir = g_dir_make_tmp("wdmux-device-XXXXXX", NULL);
    ck_assert_ptr_nonnull(f->dir);
    f->fifo = g_build_filename(f->dir, "wd.fifo", NULL);
    ck_assert_int_eq(mkfifo(f->fifo, 0600), 0);
    f->reader = with_reader ? open(f->fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC) : -1;
    if (with_reader)
        ck_assert_int_ge(f->reader, 0);
}

static void fifo_dev_drop(fifo_dev *f)
{
    if (f->reader >= 0)
        close(f->reader);
    g_unlink(f->fifo);
    g_rmdir(f->dir);
    g_free(f->fifo);
    g_free(f->dir);
}

/* Read what is available now, then whether the writer is gone (end of file). */
static GString *fifo_read(int fd, bool *ret_eof)
{
    GString *s = g_string_new(NULL);
    *ret_eof = false;
    for (;;) {
        char buf[64];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            g_string_append_len(s, buf, n);
            continue;
        }
        if (n == 0)
            *ret_eof = true;
        else
            ck_assert_int_eq(errno, EAGAIN);
        return s;
    }
}

START_TEST(test_kernel_paths)
{
    ck_assert(wdmux_device_path_is_kernel("/dev/watchdog"));
    ck_assert(wdmux_device_path_is_kernel("/dev/watchdog0"));
    ck_assert(wdmux_device_path_is_kernel("/dev/watchdog12"));
    ck_assert(!wdmux_device_path_is_kernel("/dev/watchdogx"));
    ck_assert(!wdmux_device_path_is_kernel("/run/lab/watchdog"));
    ck_assert(!wdmux_device_path_is_kernel("/dev/watchdo"));
}
END_TEST

START_TEST(test_emulated_refuses_non_fifo)
{
    g_autoptr(GError) error = NULL;
    wdmux_device *d = NULL;

    ck_assert(!wdmux_device_open("/nonexistent/wd.fifo", true, 1000, &d, &error));
    ck_assert(g_error_matches(error, WDMUX_DEVICE_ERROR, WDMUX_DEVICE_ERROR_OPEN));
    ck_assert(g_str_has_prefix(error->message, "watchdog open: "));
    g_clear_error(&error);

    /* A character device is refused before it is opened (never a real watchdog). */
    ck_assert(!wdmux_device_open("/dev/null", true, 1000, &d, &error));
    ck_assert_ptr_nonnull(strstr(error->message, "must be a FIFO"));
    g_clear_error(&error);

    fifo_dev f;
    fifo_dev_make(&f, false);
    ck_assert(!wdmux_device_open(f.fifo, true, 1000, &d, &error));
    ck_assert_ptr_nonnull(strstr(error->message, "no watchdog-emu is serving this FIFO"));
    ck_assert_ptr_null(d);
    fifo_dev_drop(&f);
}
END_TEST

START_TEST(test_emulated_keepalive_and_clean_stop)
{
    fifo_dev f;
    fifo_dev_make(&f, true);
    g_autoptr(GError) error = NULL;
    wdmux_device *d = NULL;
    bool eof = false;

    ck_assert_msg(wdmux_device_open(f.fifo, true, 1500, &d, &error), "%s",
                  error ? error->message : "");
    ck_assert(d->emulated);
    ck_assert(d->magic_close);
    ck_assert_int_eq(d->timeout_ms, 1500);
    ck_assert_str_eq(d->identity, "emulated watchdog");
    ck_assert_int_eq(fcntl(d->fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

    g_autoptr(GString) first = fifo_read(f.reader, &eof);
    ck_assert_uint_eq(first->len, 1); /* the open arms the emulator at once */
    ck_assert_int_eq(first->str[0], '\0');
    ck_assert(!eof);

    ck_assert_int_eq(wdmux_device_keepalive(d), 0);
    ck_assert_int_eq(wdmux_device_keepalive(d), 0);
    g_autoptr(GString) two = fifo_read(f.reader, &eof);
    ck_assert_uint_eq(two->len, 2);
    ck_assert_mem_eq(two->str, "\0\0", 2);

    ck_assert_int_eq(wdmux_device_close_clean(d), 0);
    g_autoptr(GString) last = fifo_read(f.reader, &eof);
    ck_assert_uint_eq(last->len, 1);
    ck_assert_int_eq(last->str[0], 'V');
    ck_assert(eof);
    fifo_dev_drop(&f);
}
END_TEST

START_TEST(test_free_is_unclean)
{
    fifo_dev f;
    fifo_dev_make(&f, true);
    wdmux_device *d = NULL;
    bool eof = false;

    ck_assert(wdmux_device_open(f.fifo, true, 1000, &d, NULL));
    wdmux_device_free(d);
    g_autoptr(GString) got = fifo_read(f.reader, &eof);
    ck_assert_uint_eq(got->len, 1);
    ck_assert_int_eq(got->str[0], '\0'); /* no 'V' before the end of file */
    ck_assert(eof);
    wdmux_device_free(NULL);
    ck_assert_int_eq(wdmux_device_close_clean(NULL), 0);
    fifo_dev_drop(&f);
}
END_TEST

START_TEST(test_keepalive_failures_counted)
{
    signal(SIGPIPE, SIG_IGN);
    fifo_dev f;
    fifo_dev_make(&f, true);
    wdmux_device *d = NULL;

    ck_assert(wdmux_device_open(f.fifo, true, 1000, &d, NULL));
    close(f.reader); /* the emulator died */
    f.reader = -1;
    ck_assert_int_eq(wdmux_device_keepalive(d), -EPIPE);
    ck_assert_int_eq(wdmux_device_keepalive(d), -EPIPE);
    ck_assert_uint_eq(d->failures, 2);

    /* a new reader: the next keepalive succeeds and resets the count */
    f.reader = open(f.fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    ck_assert_int_ge(f.reader, 0);
    ck_assert_int_eq(wdmux_device_keepalive(d), 0);
    ck_assert_uint_eq(d->failures, 0);
    wdmux_device_free(d);
    fifo_dev_drop(&f);
}
END_TEST

START_TEST(test_keepalive_never_blocks)
{
    fifo_dev f;
    fifo_dev_make(&f, true);
    wdmux_device *d = NULL;

    ck_assert(wdmux_device_open(f.fifo, true, 1000, &d, NULL));
    /* Nobody reads: the pipe fills and the write fails instead of hanging the mux. */
    int r = 0;
    for (int i = 0; i < 1000000 && r == 0; i++)
        r = wdmux_device_keepalive(d);
    ck_assert_int_eq(r, -EAGAIN);
    ck_assert_uint_eq(d->failures, 1);
    wdmux_device_free(d);
    fifo_dev_drop(&f);
}
END_TEST

START_TEST(test_real_open_of_fifo_fails_and_stops)
{
    fifo_dev f;
    fifo_dev_make(&f, true);
    g_autoptr(GError) error = NULL;
    wdmux_device *d = NULL;
    bool eof = false;

    ck_assert(!wdmux_device_open(f.fifo, false, 10000, &d, &error));
    ck_assert_ptr_null(d);
    ck_assert(g_error_matches(error, WDMUX_DEVICE_ERROR, WDMUX_DEVICE_ERROR_INFO));
    ck_assert_msg(g_str_has_prefix(error->message, "read watchdog info: "), "%s", error->message);
    ck_assert_ptr_nonnull(strstr(error->message, "--emulated"));
    /* Refused after the open: magic close, as the reference does. */
    g_autoptr(GString) got = fifo_read(f.reader, &eof);
    ck_assert_uint_eq(got->len, 1);
    ck_assert_int_eq(got->str[0], 'V');
    ck_assert(eof);
    fifo_dev_drop(&f);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("wdmux-device");
    TCase *tc;

#define ADD(name)             \
    tc = tcase_create(#name); \
    tcase_add_test(tc, name); \
    suite_add_tcase(s, tc)

    ADD(test_kernel_paths);
    ADD(test_emulated_refuses_non_fifo);
    ADD(test_emulated_keepalive_and_clean_stop);
    ADD(test_free_is_unclean);
    ADD(test_keepalive_failures_counted);
    ADD(test_keepalive_never_blocks);
    ADD(test_real_open_of_fifo_fails_and_stops);
    return s;
}
