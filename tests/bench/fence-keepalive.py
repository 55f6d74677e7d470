#!/usr/bin/python3
"""fence-keepalive: device keepalive regularity of watchdog-mux under client load.

    tests/bench/fence-keepalive.py [--runs 3] [--seconds 5] [--build DIR]   (as root)

The reference mux fed its device only when a one-second wait saw no event, so more than
one client event per second starved the keepalive (fence.md 2.8).  This benchmark runs
a node (tick 250 ms, device 1 s, client 2 s) twice per run: idle (one client writing
every 250 ms, the baseline measured in this run) and loaded (one client writing 1,000
times a second plus 50 clients every 10 ms).  watchdog-emu reports the longest gap
between two device keepalives; the ratio loaded / idle should stay close to 1, and
both must stay below the device timeout (otherwise the node would have been reset).
"""

import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from importlib import import_module  # noqa: E402

K_MS = 250


def measure(fencelab, loaded, seconds):
    node = fencelab.Node()
    try:
        ms = int(seconds * 1000)
        clients = [node.client(interval=250, duration=ms)]
        if loaded:
            clients.append(node.client(interval=1, duration=ms))
            clients.append(node.client(interval=10, duration=ms, connections=50))
        writes = 0
        for c in clients:
            if c.finish(seconds + 10) != 0:
                raise AssertionError(f"client failed: {c.lines}")
            writes += int(c.lines[-1].split("keepalives=")[1].split()[0])
        if node.wait_dead(0) is not None:
            raise AssertionError("node was fenced")
        count, max_gap = node.emu_stats()
        return max_gap, count, writes / seconds
    finally:
        node.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--build", default=os.environ.get("BUILD_DIR", os.path.join(TOP, "build")))
    args = ap.parse_args()
    delay = import_module("fence-delay")
    delay.setup_paths(args.build)
    import fencelab  # noqa: E402

    try:
        fencelab.check_environment()
    except fencelab.Skip as e:
        print(f"fence-keepalive: cannot run: {e}", file=sys.stderr)
        return 77

    idle, loaded = [], []
    for i in range(args.runs):
        idle.append(measure(fencelab, False, args.seconds))
        loaded.append(measure(fencelab, True, args.seconds))
        print(f"\rrun {i + 1}/{args.runs}  ", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    print(f"longest device keepalive gap, {args.runs} runs of {args.seconds:g} s "
          f"(tick {K_MS} ms, device timeout 1000 ms)")
    print(f"{'mode':<8} {'client writes/s':>16} {'min gap':>8} {'median':>8} {'max gap':>8}")
    for name, rows in (("idle", idle), ("loaded", loaded)):
        gaps = [r[0] for r in rows]
        rate = statistics.median(r[2] for r in rows)
        print(f"{name:<8} {rate:16.0f} {min(gaps):8d} {statistics.median(gaps):8.0f} "
              f"{max(gaps):8d}")
    ratio = statistics.median(r[0] for r in loaded) / statistics.median(r[0] for r in idle)
    print(f"loaded / idle median gap: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
