"""pvecm without a cluster: usage and argument errors, keygen, and the roll-back of an
interrupted join against temporary directories and a fake service controller.

The paths pvecm uses are redirected with PVECM_PVE_DIR, PVECM_COROSYNC_DIR, PVECM_DB_DIR
and PVECM_LOCK_FILE, and PVE_SERVICE_CTL points to a script that records its calls, so
nothing on this machine is touched.  $PVECM is the binary under test."""
import fcntl
import os
import stat
import subprocess

import pytest

PVECM = os.environ.get("PVECM") or os.path.join(
    os.environ.get("BUILD_ROOT", "build"), "quorum", "pvecm")
COMMANDS = ["add", "addnode", "create", "delnode", "expected", "keygen", "nodes", "status",
            "help"]


@pytest.fixture
def node(tmp_path):
    """A fake node: directories, a recording service controller, the environment."""
    for d in ("pve", "corosync", "db", "lock"):
        (tmp_path / d).mkdir()
    log = tmp_path / "ctl.log"
    ctl = tmp_path / "ctl"
    ctl.write_text(f"#!/bin/sh\necho \"$*\" >> {log}\nexit 0\n")
    ctl.chmod(0o755)
    env = dict(os.environ,
               PVECM_PVE_DIR=str(tmp_path / "pve"),
               PVECM_COROSYNC_DIR=str(tmp_path / "corosync"),
               PVECM_DB_DIR=str(tmp_path / "db"),
               PVECM_LOCK_FILE=str(tmp_path / "lock" / "pvecm.lock"),
               PVECM_NODENAME="n2",
               PVE_SERVICE_CTL=str(ctl))
    env.pop("PVECM_TEST_KILL_AT", None)

    class Node:
        path = tmp_path
        ctl_log = log

        @staticmethod
        def run(*args):
            return subprocess.run([PVECM, *args], env=env, text=True, capture_output=True,
                                  timeout=60)

        @staticmethod
        def calls():
            return log.read_text().splitlines() if log.exists() else []
    return Node


def test_help_lists_every_command():
    p = subprocess.run([PVECM, "--help"], text=True, capture_output=True)
    assert p.returncode == 0
    for c in COMMANDS:
        assert f"pvecm {c}" in p.stdout
    for c in COMMANDS:
        p = subprocess.run([PVECM, c, "--help"], text=True, capture_output=True)
        assert p.returncode == 0 and p.stdout.startswith(f"USAGE: pvecm {c}"), c
    p = subprocess.run([PVECM, "help", "add"], text=True, capture_output=True)
    assert p.returncode == 0 and "--link0" in p.stdout and "--force" in p.stdout


@pytest.mark.parametrize("argv,message", [
    ([], "USAGE: pvecm"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["status", "extra"], "too many arguments"),
    (["create"], "missing argument"),
    (["create", "x", "--bogus", "1"], "unknown option '--bogus'"),
    (["create", "x", "--nodeid"], "option --nodeid needs a value"),
    (["create", "x", "--nodeid", "0"], "expected a positive integer"),
    (["create", "x", "--votes", "abc"], "expected a positive integer"),
    (["add", "n1", "--force", "maybe", "x"], "too many arguments"),
    (["create", "x", "--link0", "1.2.3.4,priority=999"], "invalid link"),
    (["create", "x", "--nodeid", "2", "--nodeid", "3"], "given twice"),
    (["addnode", "n3", "--output-format", "yaml"], "expected 'text' or 'json'"),
    (["help", "nosuch"], "unknown command 'nosuch'"),
])
def test_usage_errors(node, argv, message):
    p = node.run(*argv)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert message in p.stderr
    assert node.calls() == []


def test_bad_values_change_nothing(node):
    for name in ("bad name", "x" * 16, "a_b"):
        p = node.run("create", name)
        assert p.returncode == 1 and "invalid cluster name" in p.stderr
    for argv in (["status"], ["nodes"], ["expected", "1"], ["delnode", "n1"],
                 ["addnode", "n3", "--link0", "10.0.0.3"]):
        p = node.run(*argv)
        assert p.returncode == 1, argv
        assert "does not exist - is this node part of a cluster?" in p.stderr, argv
    (node.path / "pve" / "corosync.conf").write_text("totem {\n}\n")
    p = node.run("expected", "abc")
    assert p.returncode == 1 and "invalid expected votes 'abc'" in p.stderr
    p = node.run("add", "no-such-host.invalid")
    assert p.returncode == 1 and "unknown cluster member" in p.stderr
    assert sorted(os.listdir(node.path / "corosync")) == []
    assert sorted(os.listdir(node.path / "db")) == []
    assert node.calls() == []


@pytest.mark.skipif(os.geteuid() != 0, reason="keygen writes a root-owned key (needs root)")
def test_keygen(node):
    key = node.path / "keys" / "authkey"
    p = node.run("keygen", str(key))
    assert p.returncode == 0, p.stderr
    st = os.stat(key)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_size) == (0o400, 0, 256)
    data = key.read_bytes()
    p = node.run("keygen", str(key))
    assert p.returncode == 1 and f"key file '{key}' already exists" in p.stderr
    assert key.read_bytes() == data
    assert sorted(os.listdir(key.parent)) == ["authkey"]  # no temporary file left
    other = node.path / "keys" / "other"
    assert node.run("keygen", str(other)).returncode == 0
    assert other.read_bytes() != data


def write_join_state(node, phase, had_authkey=False):
    jdir = node.path / "db" / ".pvecm-join"
    jdir.mkdir()
    (jdir / "state").write_text(
        f"[join]\nnode=n2\nmember=n1\nphase={phase}\ncorosync_active=false\n"
        f"had_authkey={'true' if had_authkey else 'false'}\nhad_corosync_conf=false\n"
        "nodeid=2\n")
    return jdir


def test_interrupted_join_rolled_back_by_next_command(node):
    jdir = write_join_state(node, "switching")
    (jdir / "config.db").write_bytes(b"old database")
    (node.path / "db" / "config.db").write_bytes(b"new database")
    (node.path / "db" / "config.db-wal").write_bytes(b"new wal")
    (node.path / "corosync" / "authkey").write_bytes(b"k" * 256)
    (node.path / "corosync" / "corosync.conf").write_text("totem {\n}\n")
    p = node.run("nodes")
    assert "found an interrupted join of node 'n2' to the cluster of 'n1' (phase switching)" \
        in p.stderr
    assert "roll-back done" in p.stderr and "pvecm delnode n2" in p.stderr
    assert (node.path / "db" / "config.db").read_bytes() == b"old database"
    assert sorted(os.listdir(node.path / "db")) == ["config.db"]
    assert sorted(os.listdir(node.path / "corosync")) == []
    assert node.calls() == ["stop pve-cluster", "stop corosync", "start pve-cluster"]
    # done once: the next command finds nothing to do
    p = node.run("nodes")
    assert "found an interrupted join" not in p.stderr
    assert len(node.calls()) == 3


def test_rollback_keeps_forced_files(node):
    jdir = write_join_state(node, "switching", had_authkey=True)
    (jdir / "authkey.saved").write_bytes(b"old key")
    (node.path / "corosync" / "authkey").write_bytes(b"cluster key")
    (node.path / "db" / "config.db").write_bytes(b"untouched: never moved")
    node.run("status")
    assert (node.path / "corosync" / "authkey").read_bytes() == b"old key"
    assert (node.path / "db" / "config.db").read_bytes() == b"untouched: never moved"
    assert not jdir.exists()


def test_rollback_before_local_changes_touches_no_service(node):
    write_join_state(node, "added")
    (node.path / "db" / "config.db").write_bytes(b"db")
    p = node.run("status")
    assert "(phase added)" in p.stderr and "roll-back done" in p.stderr
    assert node.calls() == []
    assert sorted(os.listdir(node.path / "db")) == ["config.db"]


def test_failed_rollback_is_retried(node):
    jdir = write_join_state(node, "switching")
    (jdir / "config.db").write_bytes(b"old")
    ctl = node.path / "ctl"
    ctl.write_text(f"#!/bin/sh\necho \"$*\" >> {node.ctl_log}\n"
                   "[ \"$1\" = stop ] && [ \"$2\" = corosync ] && exit 1\nexit 0\n")
    p = node.run("nodes")
    assert p.returncode == 1 and "roll-back: unable to stop corosync" in p.stderr
    assert (jdir / "state").exists() and (jdir / "config.db").read_bytes() == b"old"
    ctl.write_text(f"#!/bin/sh\necho \"$*\" >> {node.ctl_log}\nexit 0\n")
    p = node.run("nodes")
    assert "roll-back done" in p.stderr
    assert (node.path / "db" / "config.db").read_bytes() == b"old"
    assert not jdir.exists()


def test_no_rollback_while_a_join_holds_the_lock(node):
    write_join_state(node, "switching")
    lock = open(node.path / "lock" / "pvecm.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        p = node.run("nodes")
        assert "found an interrupted join" not in p.stderr
        assert (node.path / "db" / ".pvecm-join" / "state").exists()
        assert node.calls() == []
    finally:
        lock.close()
