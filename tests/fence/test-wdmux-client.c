/*
 * test-wdmux-client: the client library against a plain listening socket standing in
 * for the mux: the exact bytes each call puts on the wire, end-of-file behaviour,
 * detection of a connection the mux closed, and the socket path overrides.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fence/wdmux-client.h"
#include "tests/unit/check-main.h"

typedef struct {
    char *dir;
    char *path;
    int listen_fd;
} fake_mux;

static void fake_mux_start(fake_mux *m)
{
    m->dir = g_dir_make_tmp("wdmux-client-XXXXXX", NULL);
    ck_assert_ptr_nonnull(m->dir);
    m->path = g_build_filename(m->dir, "mux.sock", NULL);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    g_strlcpy(addr.sun_path, m->path, sizeof(addr.sun_path));
    m->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(m->listen_fd, 0);
    ck_assert_int_eq(bind(m->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    ck_assert_int_eq(listen(m->listen_fd, 8), 0);
}

static void fake_mux_stop(fake_mux *m)
{
    close(m->listen_fd);
    g_unlink(m->path);
    g_rmdir(m->dir);
    g_free(m->path);
    g_free(m->dir);
}

static int fake_mux_accept(fake_mux *m)
{
    int fd = accept(m->listen_fd, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    return fd;
}

/* Read everything until end of file (bounded wait of 5 s). */
static GString *read_to_eof(int fd)
{
    GString *s = g_string_new(NULL);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ck_assert_msg(poll(&p, 1, 5000) == 1, "no end of file within 5 s");
        char buf[256];
        ssize_t n = read(fd, buf, sizeof(buf));
        ck_assert_int_ge(n, 0);
        if (n == 0)
            return s;
        g_string_append_len(s, buf, n);
    }
}

START_TEST(test_open_no_mux)
{
    wdmux_client *c = NULL;
    ck_assert_int_eq(wdmux_client_open("/nonexistent/watchdog-mux.sock", &c), -ENOENT);
    ck_assert_ptr_null(c);

    /* a socket file nobody listens on */
    fake_mux m;
    fake_mux_start(&m);
    close(m.listen_fd);
    m.listen_fd = open("/dev/null", O_RDONLY);
    ck_assert_int_eq(wdmux_client_open(m.path, &c), -ECONNREFUSED);
    ck_assert_ptr_null(c);
    fake_mux_stop(&m);

    g_autofree char *longpath = g_strnfill(200, 'x');
    ck_assert_int_eq(wdmux_client_open(longpath, &c), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_keepalive_then_disarm)
{
    fake_mux m;
    fake_mux_start(&m);
    wdmux_client *c = NULL;
    ck_assert_int_eq(wdmux_client_open(m.path, &c), 0);
    int peer = fake_mux_accept(&m);

    int fd = wdmux_client_fd(c);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

    ck_assert_int_eq(wdmux_client_keepalive(c), 0);
    ck_assert_int_eq(wdmux_client_keepalive(c), 0);
    ck_assert_int_eq(wdmux_client_disarm(c), 0);

    g_autoptr(GString) got = read_to_eof(peer);
    ck_assert_uint_eq(got->len, 3);
    ck_assert_mem_eq(got->str, "\0\0V", 3);
    close(peer);
    fake_mux_stop(&m);
}
END_TEST

START_TEST(test_abort_and_free_send_nothing)
{
    fake_mux m;
    fake_mux_start(&m);
    wdmux_client *c = NULL;

    ck_assert_int_eq(wdmux_client_open(m.path, &c), 0);
    int peer = fake_mux_accept(&m);
    ck_assert_int_eq(wdmux_client_keepalive(c), 0);
    wdmux_client_abort(c);
    g_autoptr(GString) got = read_to_eof(peer);
    ck_assert_uint_eq(got->len, 1);
    ck_assert_int_eq(got->str[0], '\0');
    close(peer);

    /* a forgotten client is a fence request, never a silent disarm */
    {
        g_autoptr(wdmux_client) c2 = NULL;
        ck_assert_int_eq(wdmux_client_open(m.path, &c2), 0);
        peer = fake_mux_accept(&m);
    }
    g_autoptr(GString) got2 = read_to_eof(peer);
    ck_assert_uint_eq(got2->len, 0);
    close(peer);

    wdmux_client_abort(NULL);
    wdmux_client_free(NULL);
    ck_assert_int_eq(wdmux_client_disarm(NULL), 0);
    ck_assert_int_eq(wdmux_client_fd(NULL), -1);
    fake_mux_stop(&m);
}
END_TEST

START_TEST(test_forget_in_child)
{
    fake_mux m;
    fake_mux_start(&m);
    wdmux_client *c = NULL;
    ck_assert_int_eq(wdmux_client_open(m.path, &c), 0);
    int peer = fake_mux_accept(&m);

    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        wdmux_client_forget_in_child(c);
        _exit(0);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* The child wrote nothing and the parent's connection is still open. */
    struct pollfd p = {.fd = peer, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 100), 0);
    ck_assert_int_eq(wdmux_client_disarm(c), 0);
    g_autoptr(GString) got = read_to_eof(peer);
    ck_assert_uint_eq(got->len, 1);
    ck_assert_int_eq(got->str[0], 'V');
    close(peer);
    fake_mux_stop(&m);
}
END_TEST

START_TEST(test_mux_closed_connection)
{
    fake_mux m;
    fake_mux_start(&m);
    wdmux_client *c = NULL;
    ck_assert_int_eq(wdmux_client_open(m.path, &c), 0);
    /* what the mux does to a rejected client (too many, uid) or when it dies */
    close(fake_mux_accept(&m));

    /* No SIGPIPE either: the test would die of it. */
    int r = wdmux_client_keepalive(c);
    ck_assert_msg(r == -ECONNRESET || r == -EPIPE, "keepalive returned %d", r);
    int fd = wdmux_client_fd(c);
    r = wdmux_client_disarm(c);
    ck_assert_msg(r == -ECONNRESET || r == -EPIPE, "disarm returned %d", r);
    /* a failed disarm still closes the connection */
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
    ck_assert_int_eq(errno, EBADF);
    fake_mux_stop(&m);
}
END_TEST

START_TEST(test_mux_not_reading)
{
    fake_mux m;
    fake_mux_start(&m);
    wdmux_client *c = NULL;
    ck_assert_int_eq(wdmux_client_open(m.path, &c), 0);
    int peer = fake_mux_accept(&m);

    int r = 0;
    int sent = 0;
    for (; sent < 10 * 1000 * 1000 && r == 0; sent++)
        r = wdmux_client_keepalive(c);
    ck_assert_int_eq(r, -EAGAIN);
    ck_assert_int_gt(sent, 1);
    wdmux_client_abort(c);
    close(peer);
    fake_mux_stop(&m);
}
END_TEST

START_TEST(test_paths_from_environment)
{
    unsetenv("WATCHDOG_MUX_SOCKET");
    unsetenv("WATCHDOG_MUX_STATUS");
    ck_assert_str_eq(wdmux_socket_path(), "/run/watchdog-mux.sock");
    ck_assert_str_eq(wdmux_status_path(), "/run/watchdog-mux.status");
    setenv("WATCHDOG_MUX_SOCKET", "/run/lab/node1.sock", 1);
    setenv("WATCHDOG_MUX_STATUS", "", 1);
    ck_assert_str_eq(wdmux_socket_path(), "/run/lab/node1.sock");
    ck_assert_str_eq(wdmux_status_path(), "/run/watchdog-mux.status");
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("wdmux-client");
    TCase *tc;

#define ADD(name)             \
    tc = tcase_create(#name); \
    tcase_add_test(tc, name); \
    suite_add_tcase(s, tc)

    ADD(test_open_no_mux);
    ADD(test_keepalive_then_disarm);
    ADD(test_abort_and_free_send_nothing);
    ADD(test_forget_in_child);
    ADD(test_mux_closed_connection);
    ADD(test_mux_not_reading);
    ADD(test_paths_from_environment);
    return s;
}
