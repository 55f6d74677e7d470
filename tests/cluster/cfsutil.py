"""Helpers for pmxcfs tests on the lab: shell scripts and file operations inside a
node, and the whole-tree checksum of a node's database (spec §8.3), read from the host.

The checksum is computed from the node's SQLite database (WAL included), so equal
checksums prove that the nodes' persisted trees are identical, byte for byte."""
import hashlib
import json
import sqlite3
import struct
import time

import pvelab

PY = pvelab.PYTHON

# Runs inside a node: apply a list of operations under /etc/pve and print a JSON list
# of results ("ok", an errno name, or a value).
_OPS = r'''
import errno, json, os, sys
res = []
for op in json.loads(sys.argv[1]):
    kind, path = op[0], "/etc/pve/" + op[1]
    try:
        if kind == "put":          # the PVE writer: temp file, one write, rename
            tmp = path + ".tmp." + str(os.getpid())
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            os.write(fd, op[2].encode()); os.close(fd); os.rename(tmp, path)
            res.append("ok")
        elif kind == "excl":       # O_EXCL create with content
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            os.write(fd, op[2].encode()); os.close(fd)
            res.append("ok")
        elif kind == "read":
            res.append(open(path).read())
        elif kind == "stat":
            st = os.lstat(path)
            res.append([st.st_ino, st.st_mode, st.st_size, int(st.st_mtime), st.st_uid, st.st_gid])
        elif kind == "mkdir":
            os.mkdir(path); res.append("ok")
        elif kind == "makedirs":
            os.makedirs(path, exist_ok=True); res.append("ok")
        elif kind == "rmdir":
            os.rmdir(path); res.append("ok")
        elif kind == "unlink":
            os.unlink(path); res.append("ok")
        elif kind == "rename":
            os.rename(path, "/etc/pve/" + op[2]); res.append("ok")
        elif kind == "utime":
            os.utime(path, (op[2], op[2]) if len(op) > 2 else None); res.append("ok")
        elif kind == "exists":
            res.append(os.path.exists(path))
        elif kind == "listdir":
            res.append(sorted(os.listdir(path)))
        else:
            res.append("bad-op")
    except OSError as e:
        res.append(errno.errorcode.get(e.errno, str(e.errno)))
print(json.dumps(res))
'''


def sh(lab, node, script, timeout=60):
    """Run a bash script in @node; assert success, return its stdout."""
    p = lab.exec(node, ["/bin/bash", "-c", script], timeout=timeout)
    assert p.returncode == 0, f"{node}: {script!r} exited {p.returncode}: {p.stderr}"
    return p.stdout


def ops(lab, node, operations, timeout=120):
    """Run a list of operations in @node; returns the list of results."""
    p = lab.exec(node, [PY, "-c", _OPS, json.dumps(operations)], timeout=timeout)
    assert p.returncode == 0, f"{node}: {p.stderr}"
    return json.loads(p.stdout)


def op(lab, node, *operation):
    return ops(lab, node, [list(operation)])[0]


def db_path(lab, node):
    return lab.node_dir(node) / "pve-cluster" / "config.db"


def db_checksum(path):
    """Whole-tree checksum (spec §8.3) and global version of a database file."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        rows = con.execute(
            "SELECT inode, parent, version, writer, mtime, type, name, data FROM tree "
            "ORDER BY inode").fetchall()
    finally:
        con.close()
    h = hashlib.sha256()
    version = None
    for inode, parent, ver, writer, mtime, typ, name, data in rows:
        if inode == 0:
            # the root: the global version record, as a directory with an empty name
            typ, name, data, version = 4, "", None, ver
        data = data or b""
        size = 0 if typ == 4 else len(data)
        h.update(struct.pack("<QQIIIBQ", inode, ver, writer & 0xffffffff,
                             mtime & 0xffffffff, size, typ & 0xff, parent))
        h.update(name.encode())
        if typ == 8 and size:
            h.update(data)
    return h.hexdigest(), version


def checksums(lab, nodes):
    return {n: db_checksum(db_path(lab, n)) for n in nodes}


def wait_converged(lab, nodes, timeout=30):
    """Wait until every node's database has the same checksum; returns it."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = checksums(lab, nodes)
        if len({c for c, _ in last.values()}) == 1:
            return next(iter(last.values()))
        if time.monotonic() > deadline:
            raise AssertionError(f"nodes did not converge within {timeout}s: {last}")
        time.sleep(0.2)

