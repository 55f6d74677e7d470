"""The status layer on a real 3-node cluster (issue 4, pmxcfs spec §2.3-2.7, §11, §12):
every virtual file and IPC call on every node, status values set on one node visible on
all, the cluster log replicated and merged after a partition heals, node addresses from
the `nodeip` broadcast, and online flags following poweroff/poweron.

Every wait is bounded and names what it waited for."""
import json

import pytest

import pvelab
from conftest import BUILD_DIR

NODES = ["n1", "n2", "n3"]
CTL = str(BUILD_DIR / "pmxcfs" / "pmxcfs-ctl")
WAIT = 20


def ctl(lab, node, *args, check=True, input=None):
    p = lab.exec(node, [CTL, "--timeout", "20", *args], input=input, timeout=60)
    if check:
        assert p.returncode == 0, f"{node}: pmxcfs-ctl {args}: {p.stderr}"
    return p


def read(lab, node, name):
    p = lab.exec(node, ["cat", f"/etc/pve/{name}"])
    assert p.returncode == 0, f"{node}: cat /etc/pve/{name}: {p.stderr}"
    return p.stdout


def members(lab, node):
    return json.loads(read(lab, node, ".members"))


def clusterlog(lab, node, n=200):
    return json.loads(ctl(lab, node, "clusterlog", "-n", str(n)).stdout)["data"]


def wait(pred, what, timeout=WAIT):
    return pvelab.wait_for(pred, timeout, what)


@pytest.fixture
def up(lab):
    """The session lab with pmxcfs running; skip when it was started without pmxcfs."""
    if not all(lab.mounted(n) for n in NODES):
        pytest.skip("the lab runs without pmxcfs")
    return lab


def all_online(lab, node):
    m = members(lab, node)
    return all(m.get("nodelist", {}).get(n, {}).get("online") == 1 for n in NODES)


def test_members(up):
    for node in NODES:
        wait(lambda: all_online(up, node), f"{node}: all nodes online in .members")
        wait(lambda: all("ip" in v for v in members(up, node)["nodelist"].values()),
             f"{node}: every node's address known")
        m = members(up, node)
        assert m["nodename"] == node
        # other tests of the session may have raised config_version: compare with cmap
        p = up.exec(node, ["corosync-cmapctl", "-g", "totem.config_version"], check=True)
        config_version = int(p.stdout.split("=")[-1])
        assert m["cluster"] == {"name": "lab", "version": config_version, "nodes": 3,
                                "quorate": 1}
        assert {k: (v["id"], v["ip"]) for k, v in m["nodelist"].items()} == {
            n: (i + 1, pvelab.node_addr(n)) for i, n in enumerate(NODES)}
        assert m["version"] >= 2  # cmap read + membership at least
        # the IPC answer is the same document
        assert ctl(up, node, "members").stdout == read(up, node, ".members")


def test_virtual_files_and_ipc_on_all_nodes(up):
    ctl(up, "n1", "set-status", "kv/files", "x")
    up.exec("n1", ["mkdir", "-p", "/etc/pve/nodes/n1/qemu-server"], check=True)
    up.exec("n1", ["sh", "-c", "printf 'name: t\\nlock: backup\\n' > "
                   "/etc/pve/nodes/n1/qemu-server/4242.conf"], check=True)
    for node in NODES:
        wait(lambda: "4242" in json.loads(read(up, node, ".vmlist")).get("ids", {}),
             f"{node}: VM 4242 in .vmlist")
        for cmd, name in (("version", ".version"), ("vmlist", ".vmlist")):
            ipc = json.loads(ctl(up, node, cmd).stdout)
            fs = json.loads(read(up, node, name))
            if cmd == "version":
                # counters may move between the two reads; the shape must not
                assert set(ipc) == set(fs) and ipc["starttime"] == fs["starttime"]
            else:
                assert ipc == fs
        v = json.loads(read(up, node, ".vmlist"))["ids"]["4242"]
        assert (v["node"], v["type"]) == ("n1", "qemu")
        props = json.loads(ctl(up, node, "guest-property", "--vmid", "4242", "lock").stdout)
        assert props == {"4242": {"lock": "backup"}}
        assert "lock: backup" in ctl(up, node, "get-config",
                                     "nodes/n1/qemu-server/4242.conf").stdout
        json.loads(read(up, node, ".clusterlog"))
        read(up, node, ".rrd")
        assert read(up, node, ".debug") in ("0\n", "1\n")
    up.exec("n1", ["rm", "/etc/pve/nodes/n1/qemu-server/4242.conf"], check=True)


def test_status_values_visible_on_all(up):
    for i, node in enumerate(NODES):
        ctl(up, node, "set-status", "kv/test", f"value-of-{node}")
    for reader in NODES:
        for i, writer in enumerate(NODES):
            want = f"value-of-{writer}"
            wait(lambda: ctl(up, reader, "get-status", "kv/test", writer,
                             check=False).stdout == want,
                 f"{reader} sees kv/test of {writer}")
        kv = json.loads(read(up, reader, ".version"))["kvstore"]
        assert list(kv)[0] == reader  # the local node first
        assert all("kv/test" in kv[w] for w in NODES), kv
    # updates bump the version everywhere; deletes remove the key everywhere
    ctl(up, "n2", "set-status", "kv/test", "again")
    wait(lambda: ctl(up, "n3", "get-status", "kv/test", "n2", check=False).stdout == "again",
         "n3 sees the update of n2")
    assert json.loads(read(up, "n3", ".version"))["kvstore"]["n2"]["kv/test"] >= 1
    ctl(up, "n2", "set-status", "kv/test")
    wait(lambda: ctl(up, "n1", "get-status", "kv/test", "n2", check=False).returncode == 1,
         "n1 sees kv/test of n2 deleted")
    # RRD values travel too, but are not readable as status values
    ctl(up, "n1", "set-status", "rrd/pve2-node/n1", "1700000000:0.25:8")
    for node in NODES:
        wait(lambda: "pve2-node/n1:1700000000:0.25:8\n" in read(up, node, ".rrd"),
             f"{node}: RRD value of n1 in .rrd")
    assert ctl(up, "n3", "get-status", "rrd/pve2-node/n1", "n1", check=False).returncode == 1


def log_msgs(lab, node):
    return [(e["node"], e["msg"]) for e in clusterlog(lab, node)]


def test_cluster_log_replicated(up):
    ctl(up, "n2", "log", "-i", "tester@pam", "-t", "lab", "replicated entry")
    for node in NODES:
        wait(lambda: ("n2", "replicated entry") in log_msgs(up, node),
             f"{node}: entry of n2 in the cluster log")
        entries = clusterlog(up, node)
        mine = [e for e in entries if e["msg"] == "replicated entry"]
        assert len(mine) == 1 and mine[0]["user"] == "tester@pam" and mine[0]["tag"] == "lab"
        with_user = json.loads(ctl(up, node, "clusterlog", "-u", "tester@pam").stdout)["data"]
        assert [e["msg"] for e in with_user] == ["replicated entry"]
        # the daemon's start entries of all three nodes arrived through the state merge
        starts = {e["node"] for e in entries if e["msg"] == "starting cluster log"}
        assert starts == set(NODES), starts
    assert json.loads(read(up, "n3", ".clusterlog"))["data"][0]["msg"] == "replicated entry"


def test_cluster_log_merged_after_partition(up):
    up.isolate("n3")
    wait(lambda: members(up, "n1")["nodelist"]["n3"]["online"] == 0,
         "n1 sees n3 offline after the cut")
    ctl(up, "n1", "log", "written on the majority side")
    ctl(up, "n3", "log", "written on the isolated node")
    wait(lambda: ("n1", "written on the majority side") in log_msgs(up, "n2"),
         "n2 has the entry of n1")
    assert ("n1", "written on the majority side") not in log_msgs(up, "n3")
    assert ("n3", "written on the isolated node") not in log_msgs(up, "n1")
    up.rejoin("n3")
    want = {("n1", "written on the majority side"), ("n3", "written on the isolated node")}
    for node in NODES:
        wait(lambda: want <= set(log_msgs(up, node)), f"{node}: both sides' entries merged",
             timeout=40)
        msgs = log_msgs(up, node)
        for entry in want:
            assert msgs.count(entry) == 1, f"{node}: {entry} {msgs.count(entry)} times"
        wait(lambda: all_online(up, node), f"{node}: all online again")


def test_online_flags_follow_power(up):
    up.poweroff("n3")
    for node in ("n1", "n2"):
        wait(lambda: members(up, node)["nodelist"]["n3"]["online"] == 0,
             f"{node}: n3 offline after poweroff")
        m = members(up, node)
        assert m["nodelist"]["n1"]["online"] == 1 and m["nodelist"]["n2"]["online"] == 1
        assert m["cluster"]["quorate"] == 1
    version = members(up, "n1")["version"]
    up.poweron("n3")
    for node in NODES:
        wait(lambda: all_online(up, node), f"{node}: n3 online after poweron", timeout=40)
    assert members(up, "n1")["version"] > version
    # the restarted daemon announces its address again
    wait(lambda: members(up, "n1")["nodelist"]["n3"].get("ip") == pvelab.node_addr("n3"),
         "n1 knows n3's address")
    m3 = members(up, "n3")
    assert m3["nodelist"]["n3"]["ip"] == pvelab.node_addr("n3")
