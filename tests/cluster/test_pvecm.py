"""pvecm on standalone lab nodes (issue 5): create, join over SSH, status, nodes,
delnode, expected, every refusal of bad input, and the roll-back of failed or killed joins.

The module lab starts three standalone nodes (sshd with a shared root key, pmxcfs in
local mode, no corosync).  The tests run in file order and build on each other: n1
creates the cluster, the bad-input and killed-join tests leave n2/n3 standalone (which
each test checks), then n2 and n3 join concurrently and the remaining tests work on the
3-node cluster.  Every wait is bounded; timings of `pvecm add` are printed (pytest -s)."""
import gzip
import os
import re
import sqlite3
import tempfile
import threading
import time

import pytest

from cfsutil import db_checksum, db_path, op, sh, wait_converged
from pvelab import wait_for

LAB_OPTIONS = {"n": 3, "standalone": True, "watchdog": False}
NODES = ["n1", "n2", "n3"]
SUCCESS = re.compile(r"^successfully added node '(n\d)' to cluster\.$", re.M)


@pytest.fixture(scope="module")
def clab(module_lab):
    if not module_lab.binary("pvecm") or not module_lab.binary("pmxcfs"):
        pytest.skip("pvecm or pmxcfs is not built")
    return module_lab


def run(lab, node, *argv, env=None, timeout=240):
    return lab.exec(node, list(argv), env=env, timeout=timeout)


def pvecm(lab, node, *args, env=None, timeout=240):
    return run(lab, node, "pvecm", *args, env=env, timeout=timeout)


def ok(p):
    assert p.returncode == 0, f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p


def refused(p, message):
    assert p.returncode != 0, f"unexpectedly succeeded:\n{p.stdout}{p.stderr}"
    assert message in p.stderr, f"expected {message!r} in:\n{p.stderr}"
    return p


def standalone_state(lab, node):
    """Everything a failed join must leave as it was."""
    out = sh(lab, node, "for f in /etc/corosync/authkey /etc/corosync/corosync.conf "
                        "/etc/pve/corosync.conf /var/lib/pve-cluster/.pvecm-join; do "
                        "test -e $f && echo $f; done; node-service is-active corosync || true")
    return {
        "checksum": db_checksum(db_path(lab, node))[0],
        "mounted": lab.mounted(node),
        "files": sorted(line for line in out.split() if line.startswith("/")),
        "corosync": out.split()[-1],
    }


def assert_standalone(lab, node, before):
    after = standalone_state(lab, node)
    assert after == before, f"{node} changed: {before} -> {after}"
    assert after["mounted"] and after["files"] == [] and after["corosync"] == "inactive"
    assert lab.quorum(node) is None


def members(lab, node):
    q = lab.quorum(node)
    return sorted(q["members"]) if q else None


def pve_quorate(lab, node):
    return sh(lab, node, "stat -c %A /etc/pve/local").startswith("lrwx")


# --------------------------------------------------------------------------- concurrency


def test_concurrent_joins_get_distinct_ids(make_lab):
    """Two nodes join through the same member at once: both succeed, one after the other
    (the join lock), with different node ids."""
    lab = make_lab(3, standalone=True, watchdog=False)
    if not lab.binary("pvecm"):
        pytest.skip("pvecm is not built")
    ok(pvecm(lab, "n1", "create", "lab"))
    results, times = {}, {}

    def join(node):
        t0 = time.monotonic()
        results[node] = pvecm(lab, node, "add", "n1")
        times[node] = time.monotonic() - t0

    threads = [threading.Thread(target=join, args=(n,)) for n in ("n2", "n3")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for node in ("n2", "n3"):
        assert SUCCESS.search(ok(results[node]).stdout).group(1) == node
    print(f"\nconcurrent pvecm add -> quorate: n2 {times['n2']:.1f}s, n3 {times['n3']:.1f}s")
    lab.wait_quorate(NODES, timeout=60, members=3)
    conf = sh(lab, "n1", "cat /etc/pve/corosync.conf")
    ids = {m.group(1): int(m.group(2))
           for m in re.finditer(r"name: (n\d)\n\s+nodeid: (\d+)", conf)}
    assert ids["n1"] == 1 and sorted(ids.values()) == [1, 2, 3], conf
    wait_converged(lab, NODES, timeout=30)
    assert sh(lab, "n1", "ls -A /etc/pve/priv/lock").split() == []


# --------------------------------------------------------------------------- create


def test_create_refuses_invalid_cluster_names(clab):
    before = standalone_state(clab, "n1")
    for name, msg in (("bad name", "only letters, digits and '-'"),
                      ("lab!", "only letters, digits and '-'"),
                      ("a-very-long-cluster", "1 to 15 characters"),
                      ("", "1 to 15 characters")):
        refused(pvecm(clab, "n1", "create", name), msg)
    refused(pvecm(clab, "n1", "create", "lab", "--link0", "10.99.0.2"),
            "cannot use IP '10.99.0.2', not found on local node")
    refused(pvecm(clab, "n1", "create", "lab", "--votes", "0"), "expected a positive integer")
    assert_standalone(clab, "n1", before)


def test_add_to_a_standalone_member_is_refused(clab):
    before = standalone_state(clab, "n2")
    refused(pvecm(clab, "n2", "add", "n1"), "is this node part of a cluster?")
    assert_standalone(clab, "n2", before)


def test_create(clab):
    p = ok(pvecm(clab, "n1", "create", "lab"))
    assert "Writing corosync config to /etc/pve/corosync.conf" in p.stdout
    conf = sh(clab, "n1", "cat /etc/pve/corosync.conf")
    assert conf == sh(clab, "n1", "cat /etc/corosync/corosync.conf")
    assert conf == (
        "logging {\n  debug: off\n  to_syslog: yes\n}\n\n"
        "nodelist {\n  node {\n    name: n1\n    nodeid: 1\n    quorum_votes: 1\n"
        "    ring0_addr: 10.99.0.1\n  }\n}\n\n"
        "quorum {\n  provider: corosync_votequorum\n}\n\n"
        "totem {\n  cluster_name: lab\n  config_version: 1\n  interface {\n"
        "    linknumber: 0\n  }\n  ip_version: ipv4-6\n  link_mode: passive\n"
        "  secauth: on\n  version: 2\n}\n\n")
    assert sh(clab, "n1", "stat -c '%a %U %s' /etc/corosync/authkey").split() == \
        ["400", "root", "256"]
    assert sh(clab, "n1", "ls /etc/pve/nodes/n1").split() == \
        ["lxc", "openvz", "priv", "qemu-server"]
    assert clab.quorate("n1") and members(clab, "n1") == [1]
    assert pve_quorate(clab, "n1")
    refused(pvecm(clab, "n1", "create", "other"),
            "cluster config '/etc/pve/corosync.conf' already exists")


# --------------------------------------------------------------------------- bad input


def test_add_bad_member_and_addresses(clab):
    before = standalone_state(clab, "n2")
    refused(pvecm(clab, "n2", "add", "nosuch"), "unknown cluster member 'nosuch'")
    refused(pvecm(clab, "n2", "add", "10.99.0.77"), "unable to connect to '10.99.0.77' over SSH")
    refused(pvecm(clab, "n2", "add", "n2"), "'n2' is this node")
    p = refused(pvecm(clab, "n2", "add", "n1", "--link0", "10.99.0.3"),
                "Check if node may join a cluster failed!")
    assert "* link0: cannot use IP '10.99.0.3', not found on local node!" in p.stderr
    refused(pvecm(clab, "n2", "add", "n1", "--link0", "10.99.0.2,bogus=1"), "invalid link")
    assert_standalone(clab, "n2", before)


def test_add_with_wrong_ssh_key(clab):
    before = standalone_state(clab, "n2")
    sh(clab, "n2", "mv /root/.ssh/id_ed25519 /root/.ssh/lab-key && "
                   "mv /root/.ssh/id_ed25519.pub /root/.ssh/lab-key.pub && "
                   "ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519")
    try:
        p = refused(pvecm(clab, "n2", "add", "n1"), "unable to connect to 'n1' over SSH")
        assert "Permission denied" in p.stderr
    finally:
        sh(clab, "n2", "mv /root/.ssh/lab-key /root/.ssh/id_ed25519 && "
                       "mv /root/.ssh/lab-key.pub /root/.ssh/id_ed25519.pub")
    assert_standalone(clab, "n2", before)
    assert "name: n2" not in sh(clab, "n1", "cat /etc/pve/corosync.conf")


def test_addnode_refuses_duplicates(clab):
    ver = sh(clab, "n1", "grep config_version /etc/pve/corosync.conf")
    refused(pvecm(clab, "n1", "addnode", "n1", "--link0", "10.99.0.9"),
            "can't add existing node 'n1'")
    refused(pvecm(clab, "n1", "addnode", "n9", "--link0", "10.99.0.1"),
            "corosync: address '10.99.0.1' already used by node 'n1'")
    refused(pvecm(clab, "n1", "addnode", "n9", "--link0", "10.99.0.9", "--nodeid", "1"),
            "nodeid 1 already used by node 'n1'")
    refused(pvecm(clab, "n1", "addnode", "n9", "--link0", "10.99.0.9", "--link1", "10.98.0.9"),
            "link 1 is not configured in this cluster")
    refused(pvecm(clab, "n1", "addnode", "bad_name"), "invalid node name 'bad_name'")
    # ... and the same refusal reaches a joining node through SSH
    before = standalone_state(clab, "n2")
    refused(pvecm(clab, "n2", "add", "n1", "--link0", "10.99.0.2", env={"PVECM_NODENAME": "n1"}),
            "can't add existing node 'n1'")
    assert_standalone(clab, "n2", before)
    assert sh(clab, "n1", "grep config_version /etc/pve/corosync.conf") == ver
    assert sh(clab, "n1", "ls /etc/pve/nodes").split() == ["n1"]
    assert sh(clab, "n1", "ls -A /etc/pve/priv/lock 2>/dev/null || true").split() == []


def test_delnode_refuses_self_and_unknown(clab):
    ver = sh(clab, "n1", "grep config_version /etc/pve/corosync.conf")
    refused(pvecm(clab, "n1", "delnode", "n1"), "Cannot delete myself from cluster!")
    refused(pvecm(clab, "n1", "delnode", "n7"), "Node/IP: n7 is not a known host of the cluster.")
    assert sh(clab, "n1", "grep config_version /etc/pve/corosync.conf") == ver


# --------------------------------------------------------------------------- killed joins


def reset_member(lab, node):
    """After a join of `node` died: make n1 a quorate one-node cluster again."""
    wait_for(lambda: members(lab, "n1") == [1], 30, f"{node} to leave n1's membership")
    if not lab.quorate("n1"):
        ok(pvecm(lab, "n1", "expected", "1"))
    wait_for(lambda: pve_quorate(lab, "n1"), 30, "n1 to be writable")
    ok(pvecm(lab, "n1", "delnode", node))
    assert f"name: {node}" not in sh(lab, "n1", "cat /etc/pve/corosync.conf")
    wait_for(lambda: lab.quorate("n1") and members(lab, "n1") == [1], 30,
             "n1 to be a quorate one-node cluster again")


@pytest.mark.parametrize("point", ["addnode", "moved", "started"])
def test_killed_join_is_rolled_back(clab, point):
    before = standalone_state(clab, "n2")
    p = pvecm(clab, "n2", "add", "n1", env={"PVECM_TEST_KILL_AT": point})
    assert p.returncode in (-9, 137), f"join was not killed: {p.returncode}\n{p.stdout}{p.stderr}"
    assert "node 'n2' added with nodeid 2" in p.stdout
    state = sh(clab, "n2", "cat /var/lib/pve-cluster/.pvecm-join/state")
    assert "node=n2" in state and "member=n1" in state
    # The next pvecm command (any) rolls the join back.
    r = pvecm(clab, "n2", "nodes")
    assert "found an interrupted join of node 'n2' to the cluster of 'n1'" in r.stderr
    assert "roll-back done" in r.stderr
    assert_standalone(clab, "n2", before)
    assert "interrupted join" not in pvecm(clab, "n2", "nodes").stderr  # done once
    reset_member(clab, "n2")


def test_member_without_quorum(clab):
    """A member that lost quorum (it waits for a joiner that never came) refuses joins."""
    p = pvecm(clab, "n2", "add", "n1", env={"PVECM_TEST_KILL_AT": "addnode"})
    assert p.returncode in (-9, 137)
    assert "roll-back done" in pvecm(clab, "n2", "nodes").stderr
    wait_for(lambda: not clab.quorate("n1"), 30, "n1 to lose quorum (expects n2)")
    before = standalone_state(clab, "n3")
    t0 = time.monotonic()
    refused(pvecm(clab, "n3", "add", "n1"), "cluster not ready - no quorum?")
    assert time.monotonic() - t0 < 60
    assert_standalone(clab, "n3", before)
    reset_member(clab, "n2")


# --------------------------------------------------------------------------- joins


def timed_join(lab, node, member="n1"):
    t0 = time.monotonic()
    p = ok(pvecm(lab, node, "add", member))
    took = time.monotonic() - t0
    assert SUCCESS.search(p.stdout).group(1) == node
    assert "waiting for quorum...OK" in p.stdout
    return took


def test_join_n2_backs_up_its_database(clab):
    sh(clab, "n2", "echo standalone-n2 > /etc/pve/marker.txt")
    before = db_checksum(db_path(clab, "n2"))[0]
    took = timed_join(clab, "n2")
    print(f"\npvecm add (n2 -> 2 nodes): {took:.1f}s to quorate")
    assert clab.quorate("n2") and members(clab, "n2") == [1, 2]
    assert pve_quorate(clab, "n2")
    # the standalone database was backed up (gzip'ed SQL dump) and replaced
    backups = sorted((clab.node_dir("n2") / "pve-cluster" / "backup").glob("config-*.sql.gz"))
    assert backups, "no backup on n2"
    with tempfile.TemporaryDirectory() as tmp:
        restored = os.path.join(tmp, "restored.db")
        con = sqlite3.connect(restored)
        con.executescript(gzip.decompress(backups[-1].read_bytes()).decode())
        con.close()
        assert db_checksum(restored)[0] == before
    assert op(clab, "n2", "exists", "marker.txt") is False
    assert sh(clab, "n2", "stat -c '%a %U' /etc/corosync/authkey").split() == ["400", "root"]
    assert sh(clab, "n2", "cmp /etc/corosync/authkey <(ssh n1 cat /etc/corosync/authkey) "
                          "&& echo same") == "same\n"
    assert sh(clab, "n2", "ls -A /etc/pve/priv/lock").split() == []


def test_join_n3(clab):
    took = timed_join(clab, "n3")
    print(f"\npvecm add (n3 -> 3 nodes): {took:.1f}s to quorate")
    clab.wait_quorate(NODES, timeout=60, members=3)
    conf = sh(clab, "n1", "cat /etc/pve/corosync.conf")
    assert sorted(int(x) for x in re.findall(r"nodeid: (\d+)", conf)) == [1, 2, 3]
    assert "config_version: " in conf
    wait_converged(clab, NODES, timeout=30)
    if clab.binary("pmxcfs-ctl"):
        # addnode's cluster log entries, replicated to every node
        def logged():
            log = run(clab, "n3", "pmxcfs-ctl", "clusterlog", "-n", "200").stdout
            return all(f"adding node {n} to cluster" in log for n in ("n2", "n3"))
        wait_for(logged, 30, "the cluster log entries of both joins on n3")


def test_pve_is_shared(clab):
    assert op(clab, "n3", "put", "shared.txt", "from n3\n") == "ok"
    wait_converged(clab, NODES)
    for node in NODES:
        assert op(clab, node, "read", "shared.txt") == "from n3\n"
        assert sorted(op(clab, node, "listdir", "nodes")) == NODES


def test_status_and_nodes_match_quorumtool(clab):
    for node in NODES:
        nodes = ok(pvecm(clab, node, "nodes")).stdout
        assert nodes == sh(clab, node, "corosync-quorumtool -l")
        assert f" {node} (local)\n" in nodes
        status = ok(pvecm(clab, node, "status")).stdout
        head, _, tail = status.partition("\n\nQuorum information\n")
        ver = re.search(r"config_version: (\d+)", sh(clab, node, "cat /etc/pve/corosync.conf"))
        assert head == ("Cluster information\n-------------------\n"
                        "Name:             lab\n"
                        f"Config Version:   {ver.group(1)}\n"
                        "Transport:        knet\nSecure auth:      on")
        tool = sh(clab, node, "corosync-quorumtool -siH")
        strip = re.compile(r"^Date: .*$", re.M)
        assert strip.sub("", "Quorum information\n" + tail) == strip.sub("", tool)
        assert "Quorate:          Yes" in tail


def test_status_without_corosync(clab):
    sh(clab, "n3", "node-service stop corosync")
    try:
        p = pvecm(clab, "n3", "status")
        assert p.returncode == 1 and "Cannot initialize CMAP service" in p.stderr
        assert p.stdout.startswith("Cluster information\n")
    finally:
        sh(clab, "n3", "node-service start corosync")
    clab.wait_quorate(NODES, timeout=60, members=3)


def test_expected_makes_an_isolated_node_writable(clab):
    clab.isolate("n2")
    try:
        wait_for(lambda: not clab.quorate("n2"), 60, "isolated n2 to lose quorum")
        wait_for(lambda: not pve_quorate(clab, "n2"), 30, "/etc/pve on n2 to be read-only")
        assert pvecm(clab, "n2", "status").returncode == 2
        assert op(clab, "n2", "put", "iso.txt", "x") == "EACCES"
        refused(pvecm(clab, "n2", "expected", "0"), "expected a positive number")
        ok(pvecm(clab, "n2", "expected", "1"))
        wait_for(lambda: pve_quorate(clab, "n2"), 30, "/etc/pve on n2 to be writable")
        assert op(clab, "n2", "put", "iso.txt", "x") == "ok"
        assert "Expected votes:   1" in ok(pvecm(clab, "n2", "status")).stdout
        assert op(clab, "n2", "unlink", "iso.txt") == "ok"
    finally:
        clab.rejoin("n2")
    clab.wait_quorate(NODES, timeout=60, members=3)


def test_delnode_shrinks_the_cluster(clab):
    assert "Expected votes:   3" in ok(pvecm(clab, "n1", "status")).stdout
    clab.poweroff("n3")
    clab.wait_quorate(["n1", "n2"], timeout=60, members=2)
    ok(pvecm(clab, "n1", "delnode", "n3"))
    conf = sh(clab, "n2", "cat /etc/pve/corosync.conf")
    assert "name: n3" not in conf and "name: n2" in conf

    def shrunk():
        q = clab.quorum("n1")
        return q and q["expected_votes"] == 2 and q["quorate"]
    wait_for(shrunk, 30, "expected votes on n1 to follow the node list (2)")
    assert "Quorum:           2" in ok(pvecm(clab, "n2", "status")).stdout
    assert op(clab, "n1", "exists", "nodes/n3") is True  # the node directory stays
    if clab.binary("pmxcfs-ctl"):
        log = run(clab, "n2", "pmxcfs-ctl", "clusterlog", "-n", "200").stdout
        assert "removed node n3 from cluster" in log
    # quorum follows the new node list: n2 alone is not quorate any more (2 of 2 needed)
    clab.poweroff("n2")
    wait_for(lambda: not clab.quorate("n1"), 60, "n1 alone to lose quorum")
    assert clab.quorum("n1")["expected_votes"] == 2
    clab.poweron("n2")
    clab.wait_quorate(["n1", "n2"], timeout=60, members=2)
    refused(pvecm(clab, "n1", "delnode", "n3"), "Node/IP: n3 is not a known host")
