"""Fixtures for file-system tests on a real pmxcfs mount.

Every test gets its own pmxcfs instance on temporary paths (mount point, database,
runtime directory, pid file), started in daemon mode: the start command returns only
once the file system is mounted, so no polling is needed.  Needs root and /dev/fuse.
"""
import os
import select
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

BUILD = Path(os.environ.get("BUILD_ROOT", Path(__file__).resolve().parents[2] / "build"))
PMXCFS = Path(os.environ.get("PMXCFS_BIN", BUILD / "pmxcfs" / "pmxcfs"))
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pmxcfs-reference"
NODE = "testnode"


def mounted(path):
    with open("/proc/mounts") as f:
        return any(line.split()[1] == str(path) for line in f)


def mounts_below(base):
    """Mount points below @base, innermost first."""
    with open("/proc/mounts") as f:
        return sorted((mp for mp in (line.split()[1] for line in f)
                       if mp.startswith(f"{base}/")), reverse=True)


class Cfs:
    """One pmxcfs instance on private paths."""

    def __init__(self, base: Path, nodename=NODE):
        self.base = base
        self.mnt = base / "mnt"
        self.dbdir = base / "db"
        self.db = self.dbdir / "config.db"
        self.rundir = base / "run"
        self.pidfile = base / "pmxcfs.pid"
        self.nodename = nodename
        self.pid = None
        # a private IPC name: test runs of other checkouts share this network namespace
        self.ipc_service = f"pve2-test-{os.getpid()}-{base.name}-{id(self) & 0xffff:x}"
        self.mnt.mkdir(parents=True, exist_ok=True)

    def args(self, extra=()):
        return [str(PMXCFS), "--mountpoint", str(self.mnt), "--database", str(self.db),
                "--rundir", str(self.rundir), "--pidfile", str(self.pidfile),
                "--nodename", self.nodename, "--corosync-conf", str(self.base / "no-corosync.conf"),
                "--ipc-service", self.ipc_service, *extra]

    def start(self, extra=("-l",), check=True):
        """Start in daemon mode; returns the CompletedProcess of the start command."""
        p = subprocess.run(self.args(extra), capture_output=True, text=True, timeout=60)
        if p.returncode == 0:  # also when the test expected a failure: teardown stops it
            self.pid = int(self.pidfile.read_text())
        if check:
            assert p.returncode == 0, f"pmxcfs failed to start: {p.stderr}"
            assert mounted(self.mnt), "pmxcfs reported ready but nothing is mounted"
        return p

    def wait_exit(self, timeout=10.0):
        """Wait until the daemon process is gone (pidfd: no polling)."""
        try:
            fd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            return True
        try:
            r, _, _ = select.select([fd], [], [], timeout)
            return bool(r)
        finally:
            os.close(fd)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signal the daemon and wait until it has exited.  Whatever it left mounted
        stays, for the test to check (the fixture detaches it at the end)."""
        if self.pid is None:
            return
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass
        assert self.wait_exit(timeout), f"pmxcfs {self.pid} did not exit within {timeout}s"
        self.pid = None

    def path(self, rel=""):
        return os.path.join(self.mnt, rel)


@pytest.fixture
def cfs_factory():
    # Not pytest's tmp_path: its parents are 0700, and permission tests need other users
    # to reach the mount point.
    base = Path(tempfile.mkdtemp(prefix="pmxcfs-fs-"))
    base.chmod(0o755)
    made = []

    def make(sub="a", nodename=NODE):
        c = Cfs(base / sub, nodename)
        made.append(c)
        return c

    yield make
    problems = []
    for c in made:
        try:
            try:
                c.stop()
            except AssertionError:
                c.stop(signal.SIGKILL)
        except AssertionError as e:
            problems.append(str(e))
    # dead FUSE mounts of killed daemons, mounts a failed test did not undo
    for mp in mounts_below(base):
        subprocess.run(["umount", "-l", mp], check=False)
    if mounts_below(base):
        problems.append(f"mounts remain below {base}, not removing it")
    else:
        shutil.rmtree(base, ignore_errors=True)
    assert not problems, "; ".join(problems)


@pytest.fixture
def cfs(cfs_factory):
    """A started local-mode pmxcfs on a fresh database."""
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        pytest.skip("needs root and /dev/fuse")
    c = cfs_factory()
    c.start()
    return c
