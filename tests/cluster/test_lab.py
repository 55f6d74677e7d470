"""Smoke tests of the lab itself (tests/lab): nodes, exec, network cuts, power,
teardown, standalone mode.  Every wait is bounded and says what it waited for."""

import json
import os
import signal
import subprocess

import pytest

import pvelab
from cfsutil import sh
from conftest import BUILD_DIR, REPO, lab_name, _Labs

LAB_CMD = str(REPO / "tests" / "lab" / "lab")
NODES = ["n1", "n2", "n3"]
# The module lab (standalone mode tests at the end); the session lab is a cluster.
LAB_OPTIONS = {"n": 3, "standalone": True}


def pmxcfs_expected(lab):
    st = lab.state()
    return st["pmxcfs"] and lab.binary("pmxcfs") is not None


def cli(lab, *args, timeout=120):
    env = dict(os.environ, BUILD_DIR=str(BUILD_DIR))
    return subprocess.run([LAB_CMD, "--name", lab.name, *args], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def processes_in_mntns(mntns):
    return pvelab._pids_in_ns("mnt", [mntns])


# ---------------------------------------------------------------- session lab


def test_up_gives_quorate_nodes_that_resolve_each_other(lab):
    assert lab.nodes == NODES
    names = set()
    for node in NODES:
        q = lab.quorum(node)
        assert q and q["quorate"], f"{node} not quorate: {q}"
        assert sorted(q["members"]) == [1, 2, 3], f"{node} members {q['members']}"
        names.add(sh(lab, node, "hostname").strip())
        for other in NODES:
            out = sh(lab, node, f"getent hosts {other}").split()
            assert out[:2] == [pvelab.node_addr(other), other], f"{node} resolves {out}"
        assert lab.mounted(node) == pmxcfs_expected(lab), f"/etc/pve on {node}"
    assert names == set(NODES)


def test_exec_runs_inside_the_right_node(lab):
    assert "inet 10.99.0.2/24" in sh(lab, "n2", "ip -4 -o addr show dev eth0")
    assert sh(lab, "n2", "ip -o link show | wc -l").strip() == "2"  # lo + eth0 only
    init = sh(lab, "n2", "tr '\\0' ' ' < /proc/1/cmdline")
    assert "node-init" in init and init.split()[-1] == "n2", init
    env = sh(lab, "n3", "echo $PVE_SERVICE_CTL; command -v node-service")
    assert env.split() == ["node-service", "/usr/local/sbin/node-service"]
    # Exit status passes through, in the API and in the command.
    assert lab.exec("n1", ["sh", "-c", "exit 7"]).returncode == 7
    p = cli(lab, "exec", "n3", "sh", "-c", "hostname; exit 5")
    assert (p.returncode, p.stdout) == (5, "n3\n"), p.stderr
    # Private /run and /etc per node.
    sh(lab, "n1", "echo one > /run/lab-probe && echo one > /etc/lab-probe")
    for node in ("n2", "n3"):
        assert lab.exec(node, ["test", "-e", "/run/lab-probe"]).returncode == 1
        assert lab.exec(node, ["test", "-e", "/etc/lab-probe"]).returncode == 1
    assert not os.path.exists("/etc/lab-probe")
    sh(lab, "n1", "rm /run/lab-probe /etc/lab-probe")
    # Nodes reach each other over the bridge: n1 talks to n3's sshd.
    banner = sh(lab, "n1", "exec 3<>/dev/tcp/n3/22; head -c 4 <&3")
    assert banner == "SSH-"
    # Services run by pid file inside the node.
    assert lab.exec("n2", ["node-service", "status", "corosync"]).returncode == 0
    assert lab.exec("n2", ["node-service", "status", "nosuch"]).returncode == 5


def test_node_service_restarts_corosync(lab):
    old = sh(lab, "n3", "cat /run/corosync.pid").strip()
    sh(lab, "n3", "node-service restart corosync.service")
    new = sh(lab, "n3", "node-service status corosync")
    assert new.startswith("corosync: active (running)") and not new.endswith(f" {old}\n")
    lab.wait_quorate(NODES, timeout=30, members=3)
    sh(lab, "n3", "node-service stop corosync")
    assert lab.exec("n3", ["node-service", "is-active", "corosync"]).returncode == 3
    assert lab.quorum("n3") is None
    sh(lab, "n3", "node-service start corosync")
    lab.wait_quorate(NODES, timeout=30, members=3)


def test_status_command(lab):
    p = cli(lab, "status")
    assert p.returncode == 0, p.stderr
    rows = [line.split() for line in p.stdout.splitlines()[2:]]
    assert [r[0] for r in rows] == NODES, p.stdout
    for r in rows:
        # NODE ADDRESS RUNNING PID FENCED QUORATE MEMBERS /etc/pve ISOLATED
        assert (r[2], r[4], r[5], r[6], r[8]) == ("yes", "no", "yes", "3", "no"), p.stdout


def test_isolate_and_rejoin(lab):
    try:
        lab.isolate("n3")
        assert lab.isolated("n3") is True
        pvelab.wait_for(lambda: not lab.quorate("n3"), 30, "isolated n3 to lose quorum")
        lab.wait_quorate(["n1", "n2"], timeout=30, members=2)
        assert not lab.quorate("n3")
    finally:
        lab.rejoin("n3")
    assert lab.isolated("n3") is False
    lab.wait_quorate(NODES, timeout=30, members=3)


def test_poweroff_kills_every_process_and_poweron_restores(lab):
    sh(lab, "n2", "echo kept > /var/lib/pve-cluster/lab-marker")
    before = lab.boot_info("n2")
    assert len(lab.node_processes("n2")) >= 2  # init and corosync at least
    assert processes_in_mntns(before["mntns"])
    try:
        lab.poweroff("n2")
        assert not lab.running("n2")
        assert lab.node_processes("n2") == []
        assert processes_in_mntns(before["mntns"]) == []
        assert lab.quorum("n2") is None
        with pytest.raises(pvelab.LabError, match="not running"):
            lab.exec("n2", ["true"])
        lab.wait_quorate(["n1", "n3"], timeout=30, members=2)
        assert lab.status()[1]["fenced"] is False
    finally:
        lab.poweron("n2")
    after = lab.boot_info("n2")
    assert after["init"] != before["init"]
    lab.wait_quorate(NODES, timeout=30, members=3)
    assert lab.mounted("n2") == pmxcfs_expected(lab)
    assert sh(lab, "n2", "cat /var/lib/pve-cluster/lab-marker") == "kept\n"
    sh(lab, "n2", "rm /var/lib/pve-cluster/lab-marker")


def test_heal_restores_isolated_and_stopped_nodes(lab):
    lab.isolate("n1")
    lab.poweroff("n3")
    assert lab.heal() == ["rejoin n1", "poweron n3"]
    assert [s["running"] and s["quorate"] and s["members"] == 3 and not s["isolated"]
            for s in lab.status()] == [True, True, True]
    assert lab.heal() == []


# ---------------------------------------------------------------- fresh labs


def test_up_twice_and_down_twice_are_safe(make_lab):
    lab = make_lab(2)
    inits = [lab.boot_info(n)["init"] for n in lab.nodes]
    pidns = [lab.boot_info(n)["pidns"] for n in lab.nodes]
    lab.up(2)
    assert [lab.boot_info(n)["init"] for n in lab.nodes] == inits  # nothing restarted
    with pytest.raises(pvelab.LabError, match="already up with 2 nodes"):
        lab.up(3)
    lab.down()
    assert lab.leftovers(pidns) == []
    assert not any(x.startswith(lab.name + "-") for x in os.listdir("/run/netns"))
    lab.down()
    p = cli(lab, "down")
    assert p.returncode == 0, p.stderr
    assert lab.leftovers(pidns) == []


def test_up_recovers_from_an_interrupted_run():
    name = lab_name("int")
    labs = _Labs()
    lab = pvelab.Lab(name=name, build_dir=BUILD_DIR)
    labs.labs.append(lab)
    try:
        lab.down()
        env = dict(os.environ, BUILD_DIR=str(BUILD_DIR))
        proc = subprocess.Popen([LAB_CMD, "--name", name, "up", "2"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            pvelab.wait_for(lambda: lab.state() or proc.poll() is not None, 30,
                            "the interrupted 'lab up' to write its state")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        lab.up(2)
        lab.wait_quorate(["n1", "n2"], timeout=30, members=2)
        pidns = [lab.boot_info(n)["pidns"] for n in lab.nodes]
        lab.down()
        assert lab.leftovers(pidns) == []
    finally:
        labs.stop()


def test_watchdog_fences_a_node_whose_mux_dies(make_lab):
    if not all(os.access(BUILD_DIR / p, os.X_OK)
               for p in (pvelab.NODE_BINARIES["watchdog-mux"], pvelab.EMU_BINARY)):
        pytest.skip("watchdog-mux or watchdog-emu is not built yet")
    lab = make_lab(1, wd_device_timeout=2)
    assert lab.boot_info("n1")["emu"], "watchdog-emu was not started"
    assert lab.exec("n1", ["node-service", "status", "watchdog-mux"]).returncode == 0
    pid = int(sh(lab, "n1", "cat /run/watchdog-mux.lab.pid"))
    sh(lab, "n1", f"kill -9 {pid}")
    pvelab.wait_for(lambda: not lab.running("n1"), 20, "the watchdog to fence n1")
    assert lab.fenced("n1")
    assert lab.node_processes("n1") == []
    lab.poweron("n1")
    assert not lab.fenced("n1")


# ---------------------------------------------------------------- standalone mode


def test_standalone_nodes_have_root_ssh_between_them(module_lab):
    lab = module_lab
    for src, dst in (("n1", "n2"), ("n2", "n3"), ("n3", "n1"), ("n2", "n1")):
        out = sh(lab, src, f"ssh -o BatchMode=yes {dst} 'hostname; echo $PVE_SERVICE_CTL'")
        assert out.split() == [dst, "node-service"], f"ssh {src} -> {dst}: {out}"
    out = sh(lab, "n2", "scp -q -o BatchMode=yes n1:/etc/hostname /root/from-n1 && "
                        "cat /root/from-n1")
    assert out == "n1\n"
    for node in NODES:
        assert lab.exec(node, ["test", "-e", "/etc/corosync/corosync.conf"]).returncode == 1
        assert lab.exec(node, ["node-service", "status", "corosync"]).returncode == 3
        assert lab.quorum(node) is None
        assert lab.mounted(node) == pmxcfs_expected(lab)
    assert json.loads((lab.dir / "state.json").read_text())["standalone"] is True


def test_standalone_pmxcfs_restarts_cleanly(module_lab):
    lab = module_lab
    if not pmxcfs_expected(lab):
        pytest.skip("pmxcfs is not built yet")
    sh(lab, "n1", "echo kept > /etc/pve/lab-restart-probe")
    p = lab.exec("n1", ["node-service", "restart", "pve-cluster"], timeout=60)
    # A daemon that inherited an ignored SIGTERM from the node's init would need
    # node-service's SIGKILL fallback.
    assert p.returncode == 0 and "ignored SIGTERM" not in p.stderr, p.stderr
    assert lab.mounted("n1")
    assert sh(lab, "n1", "cat /etc/pve/lab-restart-probe") == "kept\n"
    sh(lab, "n1", "rm /etc/pve/lab-restart-probe")


def test_standalone_nodes_form_a_cluster_with_pvecm(module_lab):
    lab = module_lab
    if not lab.binary("pvecm") or not pmxcfs_expected(lab):
        pytest.skip("pvecm or pmxcfs is not built yet")
    sh(lab, "n1", "pvecm create lab", timeout=60)
    lab.wait_quorate(["n1"], timeout=30, members=1)
    for node in ("n2", "n3"):
        sh(lab, node, "pvecm add n1", timeout=90)
    lab.wait_quorate(NODES, timeout=60, members=3)
