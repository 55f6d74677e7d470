"""fencelab: throwaway lab nodes for watchdog-mux integration tests and benchmarks.

A node is a pid namespace (``unshare --pid --fork --mount-proc``) whose init is a
sleeper.  Its watchdog-mux and test clients run inside it (``nsenter``); its
watchdog-emu runs outside, in the host pid namespace, with ``kill-pidns:<init pid>``,
exactly as the lab does.  Every path (FIFO, socket, marker, status, logs) lives in a
per-node temporary directory, so nothing touches /run or any real watchdog device.

Waits are bounded and event-driven where the kernel offers an event: process exits are
awaited through pidfds; file and log appearances are polled with a deadline and a
message naming what was awaited.  Everything a node started is stopped by PID (pidfd)
in ``close()``, also when a test fails.
"""

import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time

MUX = os.environ.get("WDMUX_MUX", "")
EMU = os.environ.get("WDMUX_EMU", "")
CLIENT = os.environ.get("WDMUX_CLIENT", "")
CLOCKSTEP = os.environ.get("WDMUX_CLOCKSTEP", "")

SKIP = 77


class Skip(Exception):
    pass


def check_environment():
    """Raise Skip with a reason if these tests cannot run here."""
    if os.geteuid() != 0:
        raise Skip("needs root (pid namespaces, nsenter)")
    for tool in ("unshare", "nsenter"):
        if not shutil.which(tool):
            raise Skip(f"{tool} not found")
    if not hasattr(os, "pidfd_open"):
        raise Skip("python lacks os.pidfd_open")
    for name, path in (("watchdog-mux", MUX), ("watchdog-emu", EMU), ("test client", CLIENT)):
        if not path or not os.access(path, os.X_OK):
            raise Skip(f"{name} binary not found at '{path}' (run through meson test)")


def wait_for(predicate, timeout, what):
    """Poll predicate() until it returns a true value, at most timeout seconds."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(0.01)


def children_of(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            kids.append(int(entry))
    return kids


def child_of(pid, what, timeout=5.0):
    return wait_for(lambda: (children_of(pid) or [None])[0], timeout, f"the child of {what}")


def child_of_launcher(popen, what, timeout=5.0):
    """The host pid of the command a launcher (nsenter) started, or None if the
    launcher already exited (the command was short-lived and is gone)."""
    found = wait_for(lambda: children_of(popen.pid) or (popen.poll() is not None and [None]),
                     timeout, f"the child of {what}")
    return found[0]


def pidfd_wait(pidfd, timeout):
    """Wait until the process behind pidfd exits; return the monotonic time or None."""
    p = select.poll()
    p.register(pidfd, select.POLLIN)
    if p.poll(max(0, int(timeout * 1000))):
        return time.monotonic()
    return None


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHDOG_")}
    env.update(extra or {})
    return env


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


class Proc:
    """A process we started, signalled and awaited through a pidfd of the real target.

    For commands run inside a node, ``popen`` is the nsenter process and ``pid`` is
    its child (the command itself, seen from the host)."""

    def __init__(self, popen, pid, name):
        self.popen = popen
        self.pid = pid
        self.name = name
        self.closed = False
        # pid None: the command had already exited when we looked (nsenter reaped it).
        self.pidfd = None
        if pid is not None:
            try:
                self.pidfd = os.pidfd_open(pid)
            except ProcessLookupError:
                self.pidfd = None

    def signal(self, sig):
        if self.pidfd is None:
            return
        try:
            signal.pidfd_send_signal(self.pidfd, sig)
        except ProcessLookupError:
            pass

    def wait_exit(self, timeout):
        """Wait for the target to exit; return popen's exit status (nsenter passes the
        command's status through), or raise."""
        if self.pidfd is not None and pidfd_wait(self.pidfd, timeout) is None:
            raise AssertionError(f"{self.name} (PID {self.pid}) still running after {timeout} s")
        try:
            return self.popen.wait(timeout=timeout if self.pidfd is None else 5)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name}: still running after {timeout} s")

    def alive(self):
        if self.pidfd is None:
            return self.popen.poll() is None
        return pidfd_wait(self.pidfd, 0) is None

    def close(self):
        if self.closed:
            return
        self.closed = True
        if self.alive():
            self.signal(signal.SIGKILL)
            if self.pidfd is not None:
                pidfd_wait(self.pidfd, 5)
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        if self.popen.stdout:
            self.popen.stdout.close()
        if self.pidfd is not None:
            os.close(self.pidfd)


class Client(Proc):
    """wdmux-testclient inside a node; stdout lines are read with a deadline."""

    def __init__(self, popen, pid, name):
        super().__init__(popen, pid, name)
        self.lines = []
        self._buf = b""

    def _read_line(self, timeout):
        end = time.monotonic() + timeout
        fd = self.popen.stdout.fileno()
        while b"\n" not in self._buf:
            left = end - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                return None
            chunk = os.read(fd, 4096)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        text = line.decode(errors="replace")
        self.lines.append(text)
        return text

    def expect_line(self, prefix, timeout=5.0):
        end = time.monotonic() + timeout
        while True:
            for line in self.lines:
                if line.startswith(prefix):
                    return line
            line = self._read_line(max(0.0, end - time.monotonic()))
            if line is None:
                raise AssertionError(
                    f"{self.name}: no line starting with '{prefix}' within {timeout} s "
                    f"(got {self.lines!r})")

    def finish(self, timeout):
        status = self.wait_exit(timeout)
        while self._read_line(1.0) is not None:
            pass
        return status


class Node:
    """One lab node: pid namespace + watchdog-emu (outside) + watchdog-mux (inside)."""

    def __init__(self, name="n1", client_timeout="2", device_timeout="1", tick="250",
                 action=None, mux_args=(), mux_env=None, start_mux=True):
        self.name = name
        self.client_timeout = float(client_timeout)
        self.device_timeout = float(device_timeout)
        self.tick = int(tick) / 1000.0
        self.dir = tempfile.mkdtemp(prefix="wdmux-it-")
        self.fifo = os.path.join(self.dir, "wd.fifo")
        self.sock = os.path.join(self.dir, "mux.sock")
        self.marker = os.path.join(self.dir, "mux.active")
        self.status = os.path.join(self.dir, "mux.status")
        self.mux_log = os.path.join(self.dir, "mux.log")
        self.emu_log = os.path.join(self.dir, "emu.log")
        self.procs = []
        self.init = None
        self.emu = None
        self.mux = None
        self._unshare = None
        self._mux_timing = ["--client-timeout", str(client_timeout), "--device-timeout",
                            str(device_timeout), "--tick", str(tick)]
        try:
            self._start_init()
            self._start_emu(action or f"kill-pidns:{self.init.pid}")
            if start_mux:
                self.mux = self.start_mux(list(mux_args), env=mux_env)
                wait_for(lambda: os.path.exists(self.status), 10, "the mux status file")
        except BaseException:
            self.close()
            raise

    # -- processes ---------------------------------------------------------------

    def _start_init(self):
        # util-linux 2.38 prints a harmless sigprocmask complaint: keep it out of the
        # test output but on file.
        with open(os.path.join(self.dir, "unshare.log"), "ab") as err:
            self._unshare = subprocess.Popen(
                ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
                 "sleep", "infinity"], stdin=subprocess.DEVNULL, stderr=err)
        pid = child_of(self._unshare.pid, "unshare (node init)")
        self.init = Proc(self._unshare, pid, f"node {self.name} init")
        self.procs.append(self.init)
        # the init must be in its own pid namespace before anything enters it
        wait_for(lambda: os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid"),
                 5, "the node's pid namespace")

    def _start_emu(self, action, timeout=None):
        log = open(self.emu_log, "ab")
        popen = subprocess.Popen(
            [EMU, "--fifo", self.fifo, "--timeout", str(timeout or self.device_timeout),
             "--node", self.name, "--action", action],
            stdin=subprocess.DEVNULL, stderr=log, env=clean_env())
        log.close()
        self.emu = Proc(popen, popen.pid, f"watchdog-emu {self.name}")
        self.procs.append(self.emu)
        wait_for(lambda: os.path.exists(self.fifo) or not self.emu.alive(), 5,
                 "the emulated watchdog's FIFO")
        if not self.emu.alive():
            raise AssertionError(f"watchdog-emu exited early:\n{read_text(self.emu_log)}")

    def inside(self, argv, env=None, stdout=None, stderr=None):
        """Start argv inside the node; returns (popen of nsenter, host pid of argv)."""
        popen = subprocess.Popen(
            ["nsenter", "-t", str(self.init.pid), "-p", "-m", "--"] + argv,
            stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=clean_env(env))
        return popen, child_of_launcher(popen, f"nsenter ({argv[0]})")

    def mux_argv(self, extra=(), emulated=True, foreground=True):
        argv = [MUX, "--device", self.fifo, "--node", self.name,
                "--socket", self.sock, "--marker", self.marker, "--status-file", self.status,
                "--env-file", "/dev/null"] + self._mux_timing
        if emulated:
            argv.append("--emulated")
        if foreground:
            argv.append("--foreground")
        return argv + list(extra)

    def start_mux(self, extra=(), env=None, emulated=True, log=None, foreground=True):
        out = open(log or self.mux_log, "ab")
        popen, pid = self.inside(self.mux_argv(extra, emulated, foreground), env=env,
                                 stderr=out)
        out.close()
        p = Proc(popen, pid, f"watchdog-mux {self.name}")
        self.procs.append(p)
        return p

    def client(self, interval=250, duration=0, end="disarm", connections=1, expect_armed=True):
        argv = [CLIENT, "--socket", self.sock, "--interval", str(interval), "--duration",
                str(duration), "--end", end, "--connections", str(connections)]
        popen = subprocess.Popen(
            ["nsenter", "-t", str(self.init.pid), "-p", "-m", "--"] + argv,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=clean_env())
        c = Client(popen, child_of_launcher(popen, "nsenter (test client)"), "test client")
        self.procs.append(c)
        if expect_armed:
            c.expect_line("armed")
        return c

    # -- observations ------------------------------------------------------------

    def pids_inside(self, comm):
        """Host pids of the node's processes named comm."""
        ns = os.readlink(f"/proc/{self.init.pid}/ns/pid")
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if (read_text(f"/proc/{entry}/comm").strip() == comm
                        and os.readlink(f"/proc/{entry}/ns/pid") == ns):
                    found.append(int(entry))
            except OSError:
                continue
        return found

    def wait_dead(self, timeout):
        """Monotonic time the node's init died, or None if it is alive after timeout."""
        return pidfd_wait(self.init.pidfd, timeout)

    def assert_alive_for(self, seconds, why):
        died = self.wait_dead(seconds)
        if died is not None:
            raise AssertionError(f"node {self.name} was fenced, but {why}")

    def log_mux(self):
        return read_text(self.mux_log)

    def log_emu(self):
        return read_text(self.emu_log)

    def wait_log(self, which, needle, timeout=5.0):
        get = self.log_mux if which == "mux" else self.log_emu
        return wait_for(lambda: needle in get(), timeout, f"'{needle}' in the {which} log")

    def emu_stats(self):
        """Ask watchdog-emu for its keepalive statistics (SIGUSR1) and parse them."""
        before = self.log_emu().count("keepalive statistics:")
        self.emu.signal(signal.SIGUSR1)
        wait_for(lambda: self.log_emu().count("keepalive statistics:") > before, 5,
                 "watchdog-emu statistics")
        m = re.findall(r"keepalive statistics: (\d+) keepalives, max gap (\d+) ms",
                       self.log_emu())[-1]
        return int(m[0]), int(m[1])

    def dump(self):
        return (f"--- mux log ({self.mux_log})\n{self.log_mux()}"
                f"--- emu log ({self.emu_log})\n{self.log_emu()}")

    def close(self):
        # Kill the node first (everything inside dies with it), then the emulator.
        try:
            for p in reversed(self.procs):
                if p is not self.emu:
                    p.close()
            if self.emu and not self.emu.closed:
                if self.emu.alive():
                    self.emu.signal(signal.SIGTERM)
                    if pidfd_wait(self.emu.pidfd, 5) is None:
                        self.emu.signal(signal.SIGKILL)
                self.emu.close()
        finally:
            self.procs = []
            shutil.rmtree(self.dir, ignore_errors=True)
