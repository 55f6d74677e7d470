"""The pmxcfs daemon: start-up failures, shutdown, single instance, crash durability and
duplicate VMIDs (spec §9.5, §13; issue: durability and bad input)."""
import hashlib
import os
import signal
import sqlite3
import subprocess
import threading
import time

import pytest

from conftest import FIXTURES, PMXCFS, mounted

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root and /dev/fuse")


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def error_lines(proc):
    return [line for line in proc.stderr.splitlines() if line.strip()]


def test_unknown_argument_exits_255():
    p = subprocess.run([str(PMXCFS), "--no-such-option"], capture_output=True, text=True)
    assert p.returncode == 255
    assert "no-such-option" in p.stderr
    p = subprocess.run([str(PMXCFS), "extra"], capture_output=True, text=True)
    assert p.returncode == 255


def test_help():
    p = subprocess.run([str(PMXCFS), "--help"], capture_output=True, text=True)
    assert p.returncode == 0
    for opt in ("--foreground", "--local", "--debug"):
        assert opt in p.stdout


def test_clean_shutdown(cfs):
    flag = cfs.rundir / "cfs-restart-flag"
    assert not flag.exists(), "the restart flag must be gone while running"
    assert cfs.pidfile.read_text() == f"{cfs.pid}\n"
    t = time.monotonic()
    cfs.stop(signal.SIGTERM)
    took = time.monotonic() - t
    assert not mounted(cfs.mnt)
    assert flag.exists() and (flag.stat().st_mode & 0o777) == 0o440 and flag.stat().st_gid == 33
    assert not cfs.pidfile.exists()
    assert took < 5, f"shutdown took {took:.2f}s"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP])
def test_other_signals_unmount(cfs, sig):
    cfs.stop(sig)
    assert not mounted(cfs.mnt)


def test_corrupt_database(cfs_factory):
    c = cfs_factory()
    c.dbdir.mkdir(parents=True)
    c.db.write_bytes(b"this is not a database" * 500)
    before = sha(c.db)
    p = c.start(check=False)
    assert p.returncode != 0
    lines = error_lines(p)
    assert len(lines) == 1 and "database" in lines[0], lines
    assert sha(c.db) == before
    assert not mounted(c.mnt)


def test_truncated_database(cfs_factory):
    c = cfs_factory()
    c.dbdir.mkdir(parents=True)
    data = (FIXTURES / "config.db").read_bytes()
    c.db.write_bytes(data[: len(data) // 2])
    before = sha(c.db)
    p = c.start(check=False)
    assert p.returncode != 0
    assert len(error_lines(p)) == 1, p.stderr
    assert sha(c.db) == before


def test_invalid_rows_refuse_start(cfs_factory):
    c = cfs_factory()
    c.dbdir.mkdir(parents=True)
    data = (FIXTURES / "config.db").read_bytes()
    c.db.write_bytes(data)
    con = sqlite3.connect(c.db)
    con.execute("INSERT INTO tree VALUES (99, 12345, 99, 0, 1, 8, 'orphan', NULL)")
    con.commit()
    con.close()
    before = sha(c.db)
    p = c.start(check=False)
    assert p.returncode != 0
    lines = error_lines(p)
    assert any("missing directory inode" in line for line in lines), p.stderr
    assert sha(c.db) == before


def test_unwritable_database_directory(cfs_factory):
    c = cfs_factory()
    c.dbdir.mkdir(parents=True)
    # a read-only bind mount: even root cannot create files there
    subprocess.run(["mount", "--bind", str(c.dbdir), str(c.dbdir)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(c.dbdir)], check=True)
    try:
        p = c.start(check=False)
    finally:
        subprocess.run(["umount", str(c.dbdir)], check=True)
    assert p.returncode != 0
    lines = error_lines(p)
    assert len(lines) == 1, p.stderr
    assert not mounted(c.mnt)


def test_second_instance_refused(cfs, cfs_factory):
    # same database directory, other mount point
    other = cfs_factory("b")
    other.db = cfs.db
    other.dbdir = cfs.dbdir
    t = time.monotonic()
    p = other.start(check=False)
    assert p.returncode != 0
    assert "another instance" in p.stderr
    assert len(error_lines(p)) == 1
    assert time.monotonic() - t >= 9  # 11 tries, 1 s apart
    assert mounted(cfs.mnt)


def test_busy_mountpoint(cfs_factory):
    c = cfs_factory()
    subprocess.run(["mount", "-t", "tmpfs", "none", str(c.mnt)], check=True)
    holder = subprocess.Popen(["sleep", "60"], cwd=str(c.mnt))
    try:
        p = c.start(check=False)
    finally:
        holder.kill()
        holder.wait()
        subprocess.run(["umount", str(c.mnt)], check=False)
    assert p.returncode != 0
    lines = error_lines(p)
    assert len(lines) == 1 and "busy" in lines[0], lines
    assert not c.db.exists()


def test_stale_mount_is_replaced(cfs):
    """A crashed daemon leaves a dead FUSE mount; the next start cleans it up."""
    os.kill(cfs.pid, signal.SIGKILL)
    assert cfs.wait_exit()
    cfs.pid = None
    assert mounted(cfs.mnt)
    cfs.start()
    assert os.listdir(cfs.path()) is not None


def test_duplicate_vmids_start_anyway(cfs_factory):
    """W14: the reference refuses to start; we log both paths and pick the newest."""
    c = cfs_factory()
    c.start()
    for d in ("nodes/a/qemu-server", "nodes/b/lxc"):
        os.makedirs(c.path(d))
    with open(c.path("nodes/a/qemu-server/100.conf"), "w") as f:
        f.write("a\n")
    with open(c.path("nodes/b/lxc/101.conf"), "w") as f:
        f.write("b\n")
    c.stop()
    con = sqlite3.connect(c.db)
    con.execute("UPDATE tree SET name = '100.conf' WHERE name = '101.conf'")
    con.commit()
    con.close()
    p = subprocess.Popen(c.args(("-l", "-f")), stderr=subprocess.PIPE, text=True)
    c.pid = p.pid
    crit = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = p.stderr.readline()
        if not line:
            break
        if "duplicate VMID" in line:
            crit.append(line)
        if "mounted" in line:
            break
    assert len(crit) == 1, crit
    assert "nodes/a/qemu-server/100.conf" in crit[0] and "nodes/b/lxc/100.conf" in crit[0]
    assert "crit" in crit[0]
    import json
    ids = json.loads(open(c.path(".vmlist")).read())["ids"]
    assert ids["100"] == {"node": "b", "type": "lxc", "version": ids["100"]["version"]}
    c.stop()
    p.wait(timeout=10)


def test_crash_durability(cfs):
    """kill -9 in the middle of a write storm: every acknowledged change survives.

    The storm runs for a few seconds, so background merges of the operation log into
    the database happen during it; writers also rewrite files in place, replace files by
    rename and delete files, and each acknowledged final state is checked."""
    os.mkdir(cfs.path("storm"))
    # name -> the states it may be in after the crash: one after an acknowledged change,
    # several while a change is in flight (O_TRUNC then write are two operations)
    acked = {}
    lock = threading.Lock()
    stop = threading.Event()

    def note(name, *states):
        with lock:
            acked[name] = set(states)

    def writer(wid):
        i = 0
        while not stop.is_set():
            name = f"storm/w{wid}-{i}.cfg"
            data = f"{wid}:{i}:".encode() + os.urandom(64).hex().encode()
            tmp = cfs.path(f"{name}.tmp.{wid}")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
                os.write(fd, data)
                os.close(fd)
                os.rename(tmp, cfs.path(name))
                note(name, data)
                if i % 3 == 1:  # rewrite the previous file in place, with O_TRUNC
                    prev = f"storm/w{wid}-{i - 1}.cfg"
                    with lock:
                        old = next(iter(acked[prev]))
                    note(prev, old, b"", data[:20])
                    fd = os.open(cfs.path(prev), os.O_WRONLY | os.O_TRUNC)
                    os.write(fd, data[:20])
                    os.close(fd)
                    note(prev, data[:20])
                if i % 5 == 4:  # delete an older one
                    old_name = f"storm/w{wid}-{i - 3}.cfg"
                    with lock:
                        before = acked[old_name]
                    note(old_name, None, *before)
                    os.unlink(cfs.path(old_name))
                    note(old_name, None)
            except OSError:
                return
            i += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    start = time.monotonic()
    deadline = start + 30
    while (len(acked) < 400 or time.monotonic() - start < 3.5) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(cfs.pid, signal.SIGKILL)
    assert cfs.wait_exit()
    cfs.pid = None
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(acked) >= 400, f"only {len(acked)} writes acknowledged before the kill"
    subprocess.run(["umount", "-l", str(cfs.mnt)], check=False)

    cfs.start()

    def state(n):
        return open(cfs.path(n), "rb").read() if os.path.exists(cfs.path(n)) else None
    missing = [(n, state(n), d) for n, d in acked.items() if state(n) not in d]
    assert not missing, f"{len(missing)} acknowledged changes lost, e.g. {missing[:3]}"
