"""File-system behaviour on a real local-mode mount: permissions, limits, VMIDs, locks,
symlinks, virtual files, statfs and modification times (pmxcfs spec §2-§7)."""
import ctypes
import errno
import json
import os
import sqlite3
import subprocess
import time

import pytest

from conftest import NODE

SCHEMA = ("CREATE TABLE tree (  inode INTEGER PRIMARY KEY NOT NULL,  parent INTEGER NOT NULL "
          "CHECK(typeof(parent)=='integer'),  version INTEGER NOT NULL "
          "CHECK(typeof(version)=='integer'),  writer INTEGER NOT NULL "
          "CHECK(typeof(writer)=='integer'),  mtime INTEGER NOT NULL "
          "CHECK(typeof(mtime)=='integer'),  type INTEGER NOT NULL "
          "CHECK(typeof(type)=='integer'),  name TEXT NOT NULL,  data BLOB)")


def errno_of(fn, *args):
    try:
        fn(*args)
    except OSError as e:
        return e.errno
    return 0


def put(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        return os.write(fd, data)
    finally:
        os.close(fd)


def get(path):
    with open(path, "rb") as f:
        return f.read()


def run_as(uid, gid, argv):
    def drop():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    return subprocess.run(argv, preexec_fn=drop, capture_output=True, text=True)


def make_db(path, rows, version):
    """A reference-schema database with the given (inode, parent, type, name, data) rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.execute(SCHEMA)
    con.execute("INSERT INTO tree VALUES (0, 0, ?, 0, 1000, 8, '__version__', NULL)", (version,))
    con.executemany("INSERT INTO tree VALUES (?, ?, ?, 0, 1000, ?, ?, ?)",
                    ((i, p, i, t, n, d) for (i, p, t, n, d) in rows))
    con.commit()
    con.close()


# ---------------------------------------------------------------------------------------


def test_modes_and_owner(cfs):
    m = cfs.path()
    os.makedirs(cfs.path(f"nodes/{NODE}/priv"))
    os.mkdir(cfs.path("priv"))
    put(cfs.path("storage.cfg"), b"x")
    put(cfs.path("priv/authkey.key"), b"k")
    put(cfs.path(f"nodes/{NODE}/priv/pve-ssl.key"), b"k")
    put(cfs.path("vps.mount"), b"#!/bin/sh\n")
    put(cfs.path("101.start"), b"#!/bin/sh\n")
    put(cfs.path("0101.start"), b"#!/bin/sh\n")
    expect = {
        "": 0o40755, "nodes": 0o40755, "priv": 0o40700, f"nodes/{NODE}/priv": 0o40700,
        "storage.cfg": 0o100640, "priv/authkey.key": 0o100600,
        # 0666 | owner-execute, masked with 0750
        f"nodes/{NODE}/priv/pve-ssl.key": 0o100600, "vps.mount": 0o100740,
        "101.start": 0o100740, "0101.start": 0o100640, ".version": 0o100440,
        ".debug": 0o100640,
    }
    for rel, mode in expect.items():
        st = os.lstat(os.path.join(m, rel))
        assert st.st_mode == mode, f"{rel}: {oct(st.st_mode)} != {oct(mode)}"
        assert st.st_uid == 0 and st.st_gid == 33, rel
    st = os.lstat(cfs.path("qemu-server"))
    assert st.st_mode == 0o120755
    assert os.readlink(cfs.path("qemu-server")) == f"nodes/{NODE}/qemu-server"
    assert os.readlink(cfs.path("lxc")) == f"nodes/{NODE}/lxc"
    assert os.readlink(cfs.path("openvz")) == f"nodes/{NODE}/openvz"
    # virtual entries have times 0, nlink 1
    st = os.stat(cfs.path(".members"))
    assert st.st_mtime == 0 and st.st_nlink == 1


def test_permissions_enforced_by_kernel(cfs):
    os.mkdir(cfs.path("priv"))
    put(cfs.path("storage.cfg"), b"public\n")
    put(cfs.path("priv/secret.cfg"), b"secret\n")
    # www-data (uid 33, gid 33): reads non-private files, not private ones, writes nothing
    r = run_as(33, 33, ["cat", cfs.path("storage.cfg")])
    assert r.returncode == 0 and r.stdout == "public\n", r.stderr
    assert run_as(33, 33, ["cat", cfs.path("priv/secret.cfg")]).returncode != 0
    assert run_as(33, 33, ["sh", "-c", f"echo x > {cfs.path('storage.cfg')}"]).returncode != 0
    assert run_as(33, 33, ["cat", cfs.path(".version")]).returncode == 0
    # anybody else: can traverse directories and list, cannot read files
    assert run_as(65534, 65534, ["cat", cfs.path("storage.cfg")]).returncode != 0
    assert run_as(65534, 65534, ["ls", cfs.path("")]).returncode == 0
    assert get(cfs.path("storage.cfg")) == b"public\n"


def test_chmod_chown_rules(cfs):
    os.mkdir(cfs.path("priv"))
    put(cfs.path("a.cfg"), b"x")
    put(cfs.path("priv/b.cfg"), b"x")
    assert errno_of(os.chmod, cfs.path("a.cfg"), 0o640) == 0
    assert errno_of(os.chmod, cfs.path("a.cfg"), 0o600) == errno.EPERM
    assert errno_of(os.chmod, cfs.path("priv/b.cfg"), 0o600) == 0
    assert errno_of(os.chmod, cfs.path("priv/b.cfg"), 0o640) == errno.EPERM
    assert errno_of(os.chown, cfs.path("a.cfg"), -1, 33) == 0
    assert errno_of(os.chown, cfs.path("a.cfg"), 0, -1) == 0
    assert errno_of(os.chown, cfs.path("a.cfg"), 0, 0) == errno.EPERM
    # `cp -p` of a root:www-data 0640 file keeps working (mode and owner are accepted)
    src = cfs.base / "src.cfg"
    src.write_text("content\n")
    os.chown(src, 0, 33)
    os.chmod(src, 0o640)
    subprocess.run(["cp", "-p", str(src), cfs.path("copied.cfg")], check=True)
    assert get(cfs.path("copied.cfg")) == b"content\n"
    assert os.stat(cfs.path("copied.cfg")).st_mode & 0o777 == 0o640


def test_names(cfs):
    long = "n" * 257
    assert errno_of(put, cfs.path(long), b"x") == errno.ENAMETOOLONG
    assert errno_of(os.mkdir, cfs.path(long)) == errno.ENAMETOOLONG
    put(cfs.path("short"), b"x")
    assert errno_of(os.rename, cfs.path("short"), cfs.path(long)) == errno.ENAMETOOLONG
    assert put(cfs.path("n" * 256), b"x") == 1
    # reserved names of virtual entries
    assert errno_of(os.rename, cfs.path("short"), cfs.path(".members")) == errno.EACCES
    assert errno_of(os.rename, cfs.path(".members"), cfs.path("x")) == errno.EACCES
    assert errno_of(os.unlink, cfs.path("local")) == errno.EACCES
    assert errno_of(os.stat, cfs.path(".version/x")) == errno.ENOTDIR
    assert errno_of(os.utime, cfs.path(".version"), (1, 1)) == errno.EACCES
    assert errno_of(os.truncate, cfs.path(".members"), 0) == errno.EIO
    assert errno_of(os.truncate, cfs.path(".debug"), 0) == 0


def test_virtual_files(cfs):
    os.makedirs(cfs.path(f"nodes/{NODE}/qemu-server"))
    v = json.loads(get(cfs.path(".version")))
    assert set(v) >= {"starttime", "clinfo", "vmlist", "corosync.conf", "mapping/usb.cfg",
                      "kvstore"}
    assert v["corosync.conf"] == 1 and v["storage.cfg"] == 1
    put(cfs.path("storage.cfg"), b"x")
    assert json.loads(get(cfs.path(".version")))["storage.cfg"] == 3
    text = get(cfs.path(".version")).decode()
    assert text.startswith('{\n"starttime": ') and text.endswith(f'"kvstore": {{\n"{NODE}": {{\n}}\n}}\n}}\n')
    assert get(cfs.path(".members")).decode() == f'{{\n"nodename": "{NODE}",\n"version": 0\n}}\n'
    assert get(cfs.path(".vmlist")) == b'{\n"version": 0\n\n}\n'
    put(cfs.path(f"nodes/{NODE}/qemu-server/100.conf"), b"name: a\n")
    assert get(cfs.path(".vmlist")).decode() == (
        '{\n"version": 2,\n"ids": {\n"100": { "node": "testnode", "type": "qemu", '
        '"version": 2 }}\n\n}\n')
    # the log starts with the daemon's own entry (spec §11.5)
    log = json.loads(get(cfs.path(".clusterlog")))["data"]
    assert [(e["user"], e["tag"], e["pri"], e["msg"], e["node"]) for e in log] == [
        ("root", "cluster", 6, "starting cluster log", NODE)]
    assert get(cfs.path(".rrd")) == b""
    # a snapshot per open handle: reads at any offset are consistent
    with open(cfs.path(".version"), "rb") as f:
        head = f.read(10)
        put(cfs.path("storage.cfg"), b"y")
        rest = f.read()
    assert json.loads(head + rest)["storage.cfg"] == 3
    # .debug accepts exactly "1\n" / "0\n" at offset 0
    assert put(cfs.path(".debug"), b"1\n") == 2
    assert get(cfs.path(".debug")) == b"1\n"
    assert errno_of(put, cfs.path(".debug"), b"x\n") == errno.EIO
    assert errno_of(put, cfs.path(".debug"), b"1") == errno.EIO
    assert put(cfs.path(".debug"), b"0\n") == 2
    assert errno_of(put, cfs.path(".vmlist"), b"x") == errno.EIO


def test_statfs_counts(cfs):
    v = os.statvfs(cfs.path())
    assert (v.f_bsize, v.f_blocks, v.f_files, v.f_namemax) == (4096, 32768, 262144, 256)
    assert v.f_bfree == 32768 and v.f_ffree == 262143
    os.mkdir(cfs.path("d"))
    put(cfs.path("d/f"), b"x" * 5000)
    v = os.statvfs(cfs.path())
    assert v.f_bfree == 32766 and v.f_ffree == 262141


def test_total_size_limit_enforced(cfs_factory):
    """128 MiB are enforced at submission with ENOSPC (W2); shrinking stays possible."""
    c = cfs_factory()
    mib = b"\0" * (1 << 20)
    rows = [(2 + i, 0, 8, f"f{i}", mib) for i in range(128)]
    make_db(c.db, rows, 200)
    c.start()
    v = os.statvfs(c.path())
    assert v.f_bfree == 0 and v.f_bavail == 0
    assert errno_of(put, c.path("new"), b"x") == errno.ENOSPC
    # creating an empty file and shrinking are allowed
    assert errno_of(os.close, os.open(c.path("empty"), os.O_CREAT | os.O_WRONLY)) == 0
    os.truncate(c.path("f0"), 10)
    assert put(c.path("new2"), b"y" * 100) == 100
    assert get(c.path("new2")) == b"y" * 100


def test_over_limit_database_is_accepted(cfs_factory):
    c = cfs_factory()
    mib = b"\1" * (1 << 20)
    make_db(c.db, [(2 + i, 0, 8, f"f{i}", mib) for i in range(130)], 200)
    c.start()
    v = os.statvfs(c.path())
    assert v.f_bfree == 0  # clamped, not negative
    assert get(c.path("f129")) == mib


def test_entry_limit_enforced(cfs_factory):
    c = cfs_factory()
    # 262142 entries + the root + one more = 262144
    rows = [(2, 0, 4, "d", None)] + [(3 + i, 2, 8, f"e{i}", None) for i in range(262141)]
    make_db(c.db, rows, 300000)
    c.start()
    assert os.statvfs(c.path()).f_ffree == 1
    put(c.path("last"), b"")
    assert os.statvfs(c.path()).f_ffree == 0
    assert errno_of(os.mkdir, c.path("more")) == errno.ENOSPC
    assert errno_of(put, c.path("more"), b"") == errno.ENOSPC
    os.unlink(c.path("d/e0"))
    os.mkdir(c.path("more"))


def test_vmids(cfs):
    n = f"nodes/{NODE}"
    for d in (f"{n}/qemu-server", f"{n}/lxc", "nodes/n2/qemu-server"):
        os.makedirs(cfs.path(d))
    put(cfs.path(f"{n}/qemu-server/100.conf"), b"name: a\n")
    assert errno_of(put, cfs.path(f"{n}/lxc/100.conf"), b"") == errno.EEXIST
    assert errno_of(put, cfs.path("nodes/n2/qemu-server/100.conf"), b"") == errno.EEXIST
    # the PVE writer: temp file + rename over the config
    tmp = cfs.path(f"{n}/qemu-server/100.conf.tmp.{os.getpid()}")
    put(tmp, b"name: b\n")
    os.rename(tmp, cfs.path(f"{n}/qemu-server/100.conf"))
    assert get(cfs.path("qemu-server/100.conf")) == b"name: b\n"
    # migration keeps the inode
    ino = os.stat(cfs.path(f"{n}/qemu-server/100.conf")).st_ino
    os.rename(cfs.path(f"{n}/qemu-server/100.conf"), cfs.path("nodes/n2/qemu-server/100.conf"))
    assert os.stat(cfs.path("nodes/n2/qemu-server/100.conf")).st_ino == ino
    ids = json.loads(get(cfs.path(".vmlist")))["ids"]
    assert ids["100"]["node"] == "n2"


def test_locks_local(cfs_factory):
    c = cfs_factory()
    c.start(extra=("-l", "--lock-timeout", "2"))
    os.makedirs(c.path("priv/lock"))
    lock = c.path("priv/lock/file-storage_cfg")
    os.mkdir(lock)
    assert errno_of(os.mkdir, lock) == errno.EEXIST
    assert errno_of(os.utime, lock, (0, 0)) == errno.EACCES  # not expired
    assert os.path.isdir(lock)
    os.utime(lock)  # refresh
    assert errno_of(os.utime, lock, (1, 1)) == errno.EACCES  # mtime only grows
    assert errno_of(os.rename, lock, lock + "2") == errno.EACCES
    # after the timeout an unlock request removes it, and a new mkdir succeeds at once
    deadline = time.monotonic() + 10
    while errno_of(os.utime, lock, (0, 0)) != 0:
        assert time.monotonic() < deadline, "lock did not expire within 10 s (timeout 2 s)"
        time.sleep(0.5)
    assert not os.path.exists(lock)
    os.mkdir(lock)
    os.rmdir(lock)


def test_mtimes(cfs):
    os.mkdir(cfs.path("d"))
    os.utime(cfs.path("d"), (0, 1000))
    t0 = int(time.time())
    put(cfs.path("d/f"), b"x")
    st = os.stat(cfs.path("d/f"))
    assert t0 - 1 <= st.st_mtime <= time.time() + 1
    assert st.st_atime == st.st_mtime == st.st_ctime
    # a directory's mtime does not change when its children change
    assert os.stat(cfs.path("d")).st_mtime == 1000
    # atime-only changes succeed without changing anything
    os.utime(cfs.path("d/f"), ns=(5 * 10**9, st.st_mtime_ns))
    assert os.stat(cfs.path("d/f")).st_mtime == st.st_mtime


def test_rename_flags_and_types(cfs):
    os.mkdir(cfs.path("d"))
    put(cfs.path("f"), b"x")
    assert errno_of(os.rmdir, cfs.path("f")) == errno.ENOTDIR
    assert errno_of(os.unlink, cfs.path("d")) == errno.EISDIR
    # renameat2(RENAME_NOREPLACE) cannot be expressed on the wire: EINVAL, nothing moved
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD, RENAME_NOREPLACE = -100, 1
    r = libc.renameat2(AT_FDCWD, cfs.path("f").encode(), AT_FDCWD, cfs.path("g").encode(),
                       RENAME_NOREPLACE)
    assert r == -1 and ctypes.get_errno() == errno.EINVAL
    assert os.path.exists(cfs.path("f")) and not os.path.exists(cfs.path("g"))


def test_chunked_writes_content(cfs):
    data = os.urandom(1 << 20)
    with open(cfs.path("chunks.bin"), "wb", buffering=0) as f:
        for i in range(0, len(data), 4096):
            f.write(data[i:i + 4096])
    assert get(cfs.path("chunks.bin")) == data
    # the same through dd with small blocks
    src = cfs.base / "src.bin"
    src.write_bytes(data[:100000])
    subprocess.run(["dd", f"if={src}", f"of={cfs.path('dd.bin')}", "bs=512", "status=none"],
                   check=True)
    assert get(cfs.path("dd.bin")) == data[:100000]


def test_persistence_across_restart(cfs):
    os.makedirs(cfs.path("a/b"))
    put(cfs.path("a/b/c.cfg"), b"persist\n")
    os.rename(cfs.path("a/b/c.cfg"), cfs.path("a/c.cfg"))
    before = {p: get(cfs.path(p)) for p in ("a/c.cfg",)}
    cfs.stop()
    cfs.start()
    for p, d in before.items():
        assert get(cfs.path(p)) == d
    assert not os.path.exists(cfs.path("a/b/c.cfg"))
