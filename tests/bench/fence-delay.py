#!/usr/bin/python3
"""fence-delay: how long after a failure a node is fenced (watchdog-mux + watchdog-emu).

    tests/bench/fence-delay.py [--runs 20] [--build DIR]      (as root)

Each run builds a fresh throwaway node (pid namespace, watchdog-emu outside, watchdog-mux
inside; see tests/fence/fencelab.py) with short timeouts (client W = 2 s, device
Dv = 1 s, tick K = 250 ms) and measures, from the failure to the death of the node's
init:

  baseline      a bare writer feeding watchdog-emu is SIGKILLed: the device stage
                alone (Dv after the kernel-style release ping), measured in this run;
  client-kill   an armed client is SIGKILLed (unclean disconnect);
  mux-kill      watchdog-mux itself is SIGKILLed;
  silent        an armed client never writes (expiry after W).

It prints min / median / max per scenario, the ratio of each median to the baseline
median, and the worst case allowed by the timing invariant for that scenario.
"""

import argparse
import os
import signal
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))

W, DV, K = 2.0, 1.0, 0.25


def setup_paths(build):
    os.environ.setdefault("WDMUX_MUX", os.path.join(build, "fence", "watchdog-mux"))
    os.environ.setdefault("WDMUX_EMU", os.path.join(build, "tests", "lab", "watchdog-emu"))
    os.environ.setdefault("WDMUX_CLIENT", os.path.join(build, "fence", "wdmux-testclient"))
    sys.path.insert(0, os.path.join(TOP, "tests", "fence"))


def run_baseline(fencelab):
    """A plain writer process inside the node feeds the FIFO; SIGKILL it."""
    node = fencelab.Node(start_mux=False)
    try:
        feeder = ("import os,time\n"
                  f"fd=os.open({node.fifo!r}, os.O_WRONLY)\n"
                  "while True:\n os.write(fd, b'\\0'); time.sleep(0.25)\n")
        popen, pid = node.inside(["/usr/bin/python3", "-c", feeder])
        p = fencelab.Proc(popen, pid, "feeder")
        node.procs.append(p)
        node.wait_log("emu", "watchdog started")
        node.assert_alive_for(0.3, "the feeder runs")
        t0 = time.monotonic()
        p.signal(signal.SIGKILL)
        died = node.wait_dead(DV + 3)
        if died is None:
            raise AssertionError("baseline: node not fenced")
        return died - t0
    finally:
        node.close()


def run_client_kill(fencelab):
    node = fencelab.Node()
    try:
        c = node.client(interval=250)
        node.assert_alive_for(0.6, "the client feeds")
        t0 = time.monotonic()
        c.signal(signal.SIGKILL)
        died = node.wait_dead(W + DV + 3)
        if died is None:
            raise AssertionError("client-kill: node not fenced")
        return died - t0
    finally:
        node.close()


def run_mux_kill(fencelab):
    node = fencelab.Node()
    try:
        node.client(interval=250)
        node.assert_alive_for(0.6, "the client feeds")
        t0 = time.monotonic()
        node.mux.signal(signal.SIGKILL)
        died = node.wait_dead(DV + 3)
        if died is None:
            raise AssertionError("mux-kill: node not fenced")
        return died - t0
    finally:
        node.close()


def run_silent(fencelab):
    node = fencelab.Node()
    try:
        node.client(interval=0)
        t0 = time.monotonic()
        died = node.wait_dead(W + K + DV + 3)
        if died is None:
            raise AssertionError("silent: node not fenced")
        return died - t0
    finally:
        node.close()


SCENARIOS = [
    # name, function, worst case allowed by the design (seconds)
    ("baseline", run_baseline, DV),
    ("client-kill", run_client_kill, DV),
    ("mux-kill", run_mux_kill, DV),
    ("silent", run_silent, W + K + DV),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--build", default=os.environ.get("BUILD_DIR", os.path.join(TOP, "build")))
    ap.add_argument("--scenario", action="append", choices=[s[0] for s in SCENARIOS],
                    help="only these scenarios (repeatable; the baseline always runs)")
    args = ap.parse_args()
    setup_paths(args.build)
    import fencelab  # noqa: E402

    try:
        fencelab.check_environment()
    except fencelab.Skip as e:
        print(f"fence-delay: cannot run: {e}", file=sys.stderr)
        return 77

    chosen = [s for s in SCENARIOS if s[0] == "baseline" or not args.scenario or
              s[0] in args.scenario]
    results = {}
    for name, func, _ in chosen:
        samples = []
        for i in range(args.runs):
            samples.append(func(fencelab))
            print(f"\r{name}: run {i + 1}/{args.runs}  ", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        results[name] = samples

    print(f"fencing delay, {args.runs} runs each (W={W:g} s, Dv={DV:g} s, K={K * 1000:g} ms)")
    print(f"{'scenario':<12} {'min':>8} {'median':>8} {'max':>8} {'vs baseline':>12} {'bound':>8}")
    base = statistics.median(results["baseline"])
    for name, _, bound in chosen:
        s = results[name]
        med = statistics.median(s)
        print(f"{name:<12} {min(s):8.3f} {med:8.3f} {max(s):8.3f} {med / base:11.2f}x "
              f"{bound:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
