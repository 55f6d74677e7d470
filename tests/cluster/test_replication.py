"""pmxcfs replication on a real 3-node corosync lab (issue: cluster mode).

Every test starts from the shared session lab (healed after each test) unless it needs
special pmxcfs options.  Convergence is checked with the whole-tree checksum of every
node's database (spec §8.3), so "equal" means byte for byte."""
import json
import random
import re
import subprocess
import time

from cfsutil import PY, db_path, op, ops, wait_converged
from pvelab import wait_for

NODES = ["n1", "n2", "n3"]


def uniq(prefix):
    return f"{prefix}-{time.monotonic_ns()}"


def test_write_visible_everywhere(lab):
    d = uniq("rep")
    assert ops(lab, "n1", [["mkdir", d], ["put", f"{d}/a.cfg", "hello world\n"]]) == ["ok", "ok"]
    wait_converged(lab, NODES)
    stats = {n: op(lab, n, "stat", f"{d}/a.cfg") for n in NODES}
    assert len({json.dumps(s) for s in stats.values()}) == 1, stats
    ino, mode, size, mtime, uid, gid = stats["n1"]
    assert (mode & 0o777, size, uid, gid) == (0o640, 12, 0, 33)
    for n in NODES:
        assert op(lab, n, "read", f"{d}/a.cfg") == "hello world\n"


def test_operations_replicate(lab):
    d = uniq("ops")
    r = ops(lab, "n2", [["mkdir", d], ["mkdir", f"{d}/sub"], ["put", f"{d}/sub/f", "x"],
                        ["rename", f"{d}/sub/f", f"{d}/g"], ["rmdir", f"{d}/sub"],
                        ["utime", f"{d}/g", 1000000000]])
    assert r == ["ok"] * 6
    wait_converged(lab, NODES)
    for n in NODES:
        assert op(lab, n, "listdir", d) == ["g"]
        assert op(lab, n, "stat", f"{d}/g")[3] == 1000000000


def _race(lab, work):
    """Run the operation list of every node ({node: [[path, data], ...]}) at the same
    moment; returns {node: results}."""
    procs = {n: lab.popen(n, [PY, "-c", _RACE, json.dumps(operations)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n, operations in work.items()}
    results = {}
    for n, p in procs.items():
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, f"{n}: {err}"
        results[n] = json.loads(out)
    return results


_RACE = r'''
import errno, json, os, sys
res = []
for path, data in json.loads(sys.argv[1]):
    try:
        fd = os.open("/etc/pve/" + path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        os.write(fd, data.encode()); os.close(fd)
        res.append("ok")
    except OSError as e:
        res.append(errno.errorcode[e.errno])
print(json.dumps(res))
'''


def test_concurrent_create_one_winner(lab):
    d = uniq("race")
    assert op(lab, "n1", "mkdir", d) == "ok"
    wait_converged(lab, NODES)
    names = [f"{d}/f{i}" for i in range(60)]
    res = _race(lab, {n: [[x, "x"] for x in names] for n in ("n2", "n3")})
    for i, name in enumerate(names):
        outcomes = [res[n][i] for n in ("n2", "n3")]
        assert sorted(outcomes) == ["EEXIST", "ok"], (name, outcomes)
    wait_converged(lab, NODES)


def test_concurrent_create_content_of_winner(lab):
    d = uniq("race2")
    assert op(lab, "n1", "mkdir", d) == "ok"
    wait_converged(lab, NODES)
    names = [f"{d}/f{i}" for i in range(40)]
    results = _race(lab, {n: [[x, n] for x in names] for n in ("n1", "n3")})
    wait_converged(lab, NODES)
    contents = ops(lab, "n2", [["read", x] for x in names])
    for i, name in enumerate(names):
        winners = [n for n in ("n1", "n3") if results[n][i] == "ok"]
        assert len(winners) == 1, (name, results["n1"][i], results["n3"][i])
        assert contents[i] == winners[0]


def test_vmid_conflicts_decided_identically(lab):
    for n in NODES:
        assert op(lab, "n1", "makedirs", f"nodes/{n}/qemu-server") == "ok"
    wait_converged(lab, NODES)
    base = 1000 + random.randrange(100000) * 10
    vmids = [base + i for i in range(20)]
    res = _race(lab, {n: [[f"nodes/{n}/qemu-server/{v}.conf", n] for v in vmids]
                      for n in ("n2", "n3")})
    wait_converged(lab, NODES)
    lists = {n: json.loads(op(lab, n, "read", ".vmlist")) for n in NODES}
    for i, v in enumerate(vmids):
        winners = [n for n in ("n2", "n3") if res[n][i] == "ok"]
        assert len(winners) == 1, (v, res["n2"][i], res["n3"][i])
        for n in NODES:
            assert lists[n]["ids"][str(v)]["node"] == winners[0], (n, v)


def test_restarted_node_catches_up(lab):
    lab.poweroff("n3")
    d = uniq("catchup")
    assert op(lab, "n1", "mkdir", d) == "ok"
    r = ops(lab, "n1", [["put", f"{d}/f{i}", f"content {i}\n" * 20] for i in range(200)])
    assert r == ["ok"] * 200
    lab.poweron("n3")
    wait_converged(lab, NODES)
    assert op(lab, "n3", "read", f"{d}/f199") == "content 199\n" * 20


def test_fresh_node_syncs_whole_tree(lab):
    lab.poweroff("n3")
    d = uniq("fresh")
    assert op(lab, "n1", "mkdir", d) == "ok"
    assert ops(lab, "n2", [["put", f"{d}/f{i}", str(i)] for i in range(50)]) == ["ok"] * 50
    db = db_path(lab, "n3")
    for suffix in ("", "-wal", "-shm"):
        p = db.with_name(db.name + suffix)
        if p.exists():
            p.unlink()
    lab.poweron("n3")
    wait_converged(lab, NODES)
    assert op(lab, "n3", "listdir", d) == sorted(f"f{i}" for i in range(50))


def test_poweroff_one_node_others_keep_writing(lab):
    lab.poweroff("n2")
    lab.wait_quorate(["n1", "n3"])
    d = uniq("two")
    assert ops(lab, "n1", [["mkdir", d], ["put", f"{d}/a", "1"]]) == ["ok", "ok"]
    assert op(lab, "n3", "put", f"{d}/b", "2") == "ok"
    lab.poweron("n2")
    wait_converged(lab, NODES)
    assert op(lab, "n2", "read", f"{d}/b") == "2"


def test_isolated_node_read_only_then_converges(lab):
    d = uniq("iso")
    assert ops(lab, "n1", [["mkdir", d], ["put", f"{d}/before", "x"]]) == ["ok", "ok"]
    wait_converged(lab, NODES)
    lab.isolate("n3")
    wait_for(lambda: not lab.quorate("n3"), 30, "n3 to lose quorum")
    wait_for(lambda: op(lab, "n3", "stat", "local")[1] & 0o200 == 0, 10,
             "the write bit of /etc/pve/local to follow quorum")
    assert op(lab, "n3", "put", f"{d}/minority", "no") == "EACCES"
    assert op(lab, "n3", "mkdir", f"{d}/x") == "EACCES"
    assert op(lab, "n3", "read", f"{d}/before") == "x"  # reads keep working
    mode = op(lab, "n3", "stat", "corosync.conf")[1] & 0o777
    assert mode == 0o440
    lab.wait_quorate(["n1", "n2"])
    assert ops(lab, "n1", [["put", f"{d}/majority{i}", str(i)] for i in range(20)]) == ["ok"] * 20
    lab.rejoin("n3")
    lab.wait_quorate(NODES)
    wait_converged(lab, NODES)
    assert op(lab, "n3", "read", f"{d}/majority19") == "19"
    assert op(lab, "n3", "stat", "local")[1] & 0o200


def test_discarded_local_changes_reach_the_cluster_log(lab):
    """W22: when a resync throws away changes a node made on its own (an operator forced
    quorum on a cut-off node), the leader's state wins and every node's cluster log says
    so, not only the local syslog."""
    d = uniq("w22")
    assert op(lab, "n1", "mkdir", d) == "ok"
    wait_converged(lab, NODES)
    lab.isolate("n3")
    wait_for(lambda: not lab.quorate("n3"), 30, "n3 to lose quorum")
    r = lab.exec("n3", ["corosync-quorumtool", "-e", "1"], timeout=10)
    assert r.returncode == 0, r.stderr
    lab.wait_quorate(["n3"])
    wait_for(lambda: op(lab, "n3", "put", f"{d}/minority", "n3") == "ok", 15,
             "n3 to accept a write once forced quorate")
    lab.wait_quorate(["n1", "n2"])
    # more changes on the majority side: its version is higher, so it leads the resync
    assert ops(lab, "n1", [["put", f"{d}/majority{i}", str(i)] for i in range(20)]) == ["ok"] * 20
    lab.rejoin("n3")
    lab.wait_quorate(NODES, members=3)
    wait_converged(lab, NODES)
    assert op(lab, "n3", "read", f"{d}/minority") == "ENOENT"
    assert op(lab, "n3", "read", f"{d}/majority19") == "19"
    ctl = str(lab.binary("pmxcfs-ctl"))

    def logged(node):
        p = lab.exec(node, [ctl, "clusterlog", "-n", "200"], timeout=30)
        assert p.returncode == 0, f"{node}: pmxcfs-ctl clusterlog: {p.stderr}"
        return [e for e in json.loads(p.stdout)["data"]
                if "discarded local changes" in e["msg"] and e["node"] == "n3"]
    for node in NODES:
        wait_for(lambda: logged(node), 20, f"{node}: the resync entry of n3 in the cluster log")
    m = re.search(r"removed (\d+) and replaced (\d+) entries", logged("n1")[0]["msg"])
    # n3's file goes; its inode number may be taken by one of the majority's files, so it
    # counts as removed or as replaced
    assert m and int(m.group(1)) + int(m.group(2)) >= 1, logged("n1")
    # the forced expected votes do not outlive the partition
    wait_for(lambda: lab.quorum("n3")["expected_votes"] == 3, 20, "n3: expected votes 3 again")


def test_corosync_conf_propagates(lab):
    conf = op(lab, "n1", "read", "corosync.conf")
    ver = int(re.search(r"config_version\s*:\s*(\d+)", conf).group(1))
    newconf = re.sub(r"config_version\s*:\s*\d+", f"config_version: {ver + 1}", conf)
    assert op(lab, "n1", "put", "corosync.conf.new", newconf) == "ok"
    assert op(lab, "n1", "rename", "corosync.conf.new", "corosync.conf") == "ok"

    def host_conf_updated():
        return all(f"config_version: {ver + 1}" in (lab.node_dir(n) / "corosync" /
                                                      "corosync.conf").read_text()
                   for n in NODES)
    wait_for(host_conf_updated, 15, "/etc/corosync/corosync.conf on every node")
    # the originating node asked corosync to reload: the running config follows
    def reloaded():
        p = lab.exec("n2", ["corosync-cmapctl", "-g", "totem.config_version"])
        return p.returncode == 0 and p.stdout.strip().endswith(f"= {ver + 1}")
    wait_for(reloaded, 15, "corosync to reload the new config_version")


def test_corosync_restart_reconnects(lab):
    pid_before = lab.exec("n2", ["cat", "/run/pve-cluster.pid"]).stdout.strip()
    r = lab.exec("n2", ["node-service", "restart", "corosync"], timeout=60)
    assert r.returncode == 0, r.stderr
    t0 = time.monotonic()
    lab.wait_quorate(NODES)
    wait_for(lambda: op(lab, "n2", "stat", "local")[1] & 0o200, 20, "n2 writable again")
    d = uniq("reconn")
    wait_for(lambda: op(lab, "n2", "mkdir", d) == "ok", 20, "a write on n2 to succeed")
    took = time.monotonic() - t0
    assert lab.exec("n2", ["cat", "/run/pve-cluster.pid"]).stdout.strip() == pid_before
    wait_converged(lab, NODES)
    print(f"writable {took:.2f}s after corosync came back")


def test_stop_and_start_in_cluster_mode(lab):
    """SIGTERM ends a cluster-mode pmxcfs quickly and cleanly; a restart rejoins."""
    t = time.monotonic()
    r = lab.exec("n2", ["node-service", "stop", "pve-cluster"], timeout=30)
    took = time.monotonic() - t
    assert r.returncode == 0, r.stderr
    assert took < 5, f"stopping pmxcfs took {took:.1f}s"
    assert not lab.mounted("n2")
    assert "exit proxmox configuration filesystem" in (lab.log_dir("n2") / "syslog").read_text()
    d = uniq("stopped")
    assert op(lab, "n1", "put", d, "while n2 was stopped") == "ok"
    r = lab.exec("n2", ["node-service", "start", "pve-cluster"], timeout=60)
    assert r.returncode == 0, r.stderr
    wait_converged(lab, NODES)
    assert op(lab, "n2", "read", d) == "while n2 was stopped"
