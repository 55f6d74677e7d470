"""Cluster-wide locks (spec §7) and the periodic verification (spec §10.14) on a
3-node lab whose pmxcfs runs with a 4 s lock timeout and a 3 s verification interval."""
import time

from cfsutil import op, wait_converged
from pvelab import wait_for

LOCK_TIMEOUT = 4
LAB_OPTIONS = {"pmxcfs_args": f"--lock-timeout {LOCK_TIMEOUT} --verify-interval 3"}
NODES = ["n1", "n2", "n3"]


def syslog(lab, node):
    p = lab.log_dir(node) / "syslog"
    return p.read_text(errors="replace") if p.exists() else ""


def unlock_requests_until_gone(lab, node, path, created, limit, nodes=NODES):
    """Send unlock requests (utime 0) every 0.25 s until the lock is gone on every
    node of @nodes; returns the time it took since @created."""
    while True:
        res = op(lab, node, "utime", path, 0)
        assert res in ("EACCES", "ENOENT", "ok"), res
        if not any(op(lab, n, "exists", path) for n in nodes):
            return time.monotonic() - created
        assert time.monotonic() - created < limit, f"{path} still held after {limit}s"
        time.sleep(0.25)


def test_lock_acquire_is_exclusive(module_lab):
    lab = module_lab
    assert op(lab, "n1", "makedirs", "priv/lock") == "ok"
    name = f"priv/lock/excl-{time.monotonic_ns()}"
    assert op(lab, "n2", "mkdir", name) == "ok"
    assert op(lab, "n3", "mkdir", name) == "EEXIST"
    assert op(lab, "n1", "rename", name, name + "x") == "EACCES"
    assert op(lab, "n2", "rmdir", name) == "ok"
    assert op(lab, "n3", "mkdir", name) == "ok"
    assert op(lab, "n3", "rmdir", name) == "ok"


def test_lock_expires_only_after_timeout_via_lowest_node(module_lab):
    lab = module_lab
    assert op(lab, "n1", "makedirs", "priv/lock") == "ok"
    name = f"priv/lock/exp-{time.monotonic_ns()}"
    marker = f"lock '{name}' expired - sending unlock"
    assert op(lab, "n2", "mkdir", name) == "ok"
    created = time.monotonic()
    # not expired: the request is refused and the lock stays everywhere
    assert op(lab, "n3", "utime", name, 0) == "EACCES"
    wait_converged(lab, NODES)
    assert all(op(lab, n, "exists", name) for n in NODES)
    took = unlock_requests_until_gone(lab, "n3", name, created, LOCK_TIMEOUT + 10)
    assert took > LOCK_TIMEOUT, f"lock released after {took:.2f}s < {LOCK_TIMEOUT}s"
    wait_for(lambda: marker in syslog(lab, "n1"), 5, "n1's unlock log line")
    assert marker not in syslog(lab, "n2") and marker not in syslog(lab, "n3")
    # the lock can be taken again at once
    assert op(lab, "n3", "mkdir", name) == "ok"
    assert op(lab, "n3", "rmdir", name) == "ok"


def test_refreshed_lock_does_not_expire(module_lab):
    lab = module_lab
    assert op(lab, "n1", "makedirs", "priv/lock") == "ok"
    name = f"priv/lock/ref-{time.monotonic_ns()}"
    assert op(lab, "n2", "mkdir", name) == "ok"
    start = time.monotonic()
    while time.monotonic() - start < 2.5 * LOCK_TIMEOUT:
        assert op(lab, "n2", "utime", name) == "ok"  # refresh by the holder
        assert op(lab, "n3", "utime", name, 0) == "EACCES"
        # only the holder may refresh; mtime may not go back
        assert op(lab, "n3", "utime", name) == "EACCES"
        assert op(lab, "n2", "utime", name, 1) == "EACCES"
        time.sleep(0.5)
    assert all(op(lab, n, "exists", name) for n in NODES)
    assert op(lab, "n2", "rmdir", name) == "ok"


def test_lowest_node_gone_next_lowest_decides(module_lab):
    lab = module_lab
    assert op(lab, "n1", "makedirs", "priv/lock") == "ok"
    wait_converged(lab, NODES)
    lab.poweroff("n1")
    try:  # the module lab is not healed: n1 must come back for the next test
        lab.wait_quorate(["n2", "n3"])
        name = f"priv/lock/low-{time.monotonic_ns()}"
        assert op(lab, "n3", "mkdir", name) == "ok"
        created = time.monotonic()
        took = unlock_requests_until_gone(lab, "n3", name, created, LOCK_TIMEOUT + 10,
                                          nodes=["n2", "n3"])
        assert took > LOCK_TIMEOUT
        marker = f"lock '{name}' expired - sending unlock"
        wait_for(lambda: marker in syslog(lab, "n2"), 5, "n2's unlock log line")
        assert marker not in syslog(lab, "n3")
    finally:
        lab.poweron("n1")
    lab.wait_quorate(NODES)
    wait_converged(lab, NODES)


def test_periodic_verification(module_lab):
    lab = module_lab
    wait_for(lambda: "data verification successful" in syslog(lab, "n1"), 20,
             "a successful verification on n1")
    # every member verified, not only the requester
    wait_for(lambda: all("data verification successful" in syslog(lab, n) for n in NODES), 20,
             "a successful verification on every node")
