"""Partition storm: random nodes are isolated and rejoined again and again while a
writer runs on every node.  At the end all nodes hold identical trees (whole-tree
checksums of their databases) and no write acknowledged by a node of the majority was
lost.  A write counts as a majority write when its node was not isolated at any moment
between the start and the end of the write() / rename() calls."""
import json
import random
import subprocess
import time

from cfsutil import PY, op, ops, wait_converged

NODES = ["n1", "n2", "n3"]
STORM_SECONDS = 40

_WRITER = r'''
import errno, json, os, sys, time
d, node, until = sys.argv[1], sys.argv[2], float(sys.argv[3])
i = 0
while time.time() < until:
    name = f"{d}/{node}-{i}"
    data = f"{node}:{i}:" + "x" * (i % 200)
    t0 = time.time()
    try:
        tmp = f"/etc/pve/{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        os.write(fd, data.encode()); os.close(fd)
        os.rename(tmp, f"/etc/pve/{name}")
        res = "ok"
    except OSError as e:
        res = errno.errorcode.get(e.errno, str(e.errno))
    print(json.dumps([t0, time.time(), name, data, res]), flush=True)
    i += 1
    if res != "ok":
        time.sleep(0.05)
'''


def test_partition_storm(lab):
    d = f"storm-{time.monotonic_ns()}"
    assert op(lab, "n1", "mkdir", d) == "ok"
    wait_converged(lab, NODES)
    until = time.time() + STORM_SECONDS
    writers = {n: lab.popen(n, [PY, "-c", _WRITER, d, n, str(until)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for n in NODES}
    isolations = {n: [] for n in NODES}  # [start, end] wall-clock intervals
    rng = random.Random(4711)
    rounds = 0
    try:
        while time.time() < until - 6:
            node = rng.choice(NODES)
            start = time.time()
            lab.isolate(node)
            time.sleep(rng.uniform(1.0, 4.0))
            lab.rejoin(node)
            isolations[node].append([start, time.time()])
            lab.wait_quorate(NODES, timeout=60)
            rounds += 1
            time.sleep(rng.uniform(0.5, 2.0))
    finally:
        for n in NODES:
            lab.rejoin(n)
    results = {}
    for n, p in writers.items():
        out, err = p.communicate(timeout=STORM_SECONDS + 120)
        assert p.returncode == 0, f"writer on {n} failed: {err}"
        results[n] = [json.loads(line) for line in out.splitlines()]
    lab.wait_quorate(NODES, timeout=60)
    checksum, version = wait_converged(lab, NODES, timeout=60)

    acked = []
    for n in NODES:
        for t0, t1, name, data, res in results[n]:
            if res != "ok":
                continue
            if any(t0 <= e and t1 >= s for s, e in isolations[n]):
                continue  # overlapped an isolation of its node: not a majority write
            acked.append((name, data))
    assert rounds >= 5, f"only {rounds} isolation rounds ran"
    assert len(acked) > 100, f"only {len(acked)} majority writes were acknowledged"
    names = [name for name, _ in acked]
    got = ops(lab, "n2", [["read", name] for name in names], timeout=300)
    lost = [(name, want, have) for (name, want), have in zip(acked, got) if have != want]
    assert not lost, f"{len(lost)} acknowledged majority writes lost, e.g. {lost[:3]}"
    total = sum(len(r) for r in results.values())
    print(f"{rounds} isolations, {total} writes attempted, {len(acked)} majority writes "
          f"acknowledged and present, final version {version}")
