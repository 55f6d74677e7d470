#!/usr/bin/python3
"""watchdog-mux integration tests: the real mux against the real emulated watchdog.

Usage: mux-integration.py CASE     (meson registers one test per case)
       mux-integration.py --list

Each node is a throwaway pid namespace (see fencelab.py) with the fast-profile
timeouts: client W = 2 s, device Dv = 1 s, tick K = 250 ms.  "Fenced" means the
emulated watchdog SIGKILLed the node's init.  Timing assertions keep a tolerance of at
least one tick.  Exit status: 0 pass, 1 fail, 77 skip (not root).
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fencelab  # noqa: E402
from fencelab import Node, wait_for, read_text  # noqa: E402

W, DV, K = 2.0, 1.0, 0.25
SCHED = 0.5  # scheduling slack on a shared 2-core machine, on top of one tick


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def check_in(needle, text, what):
    check(needle in text, f"expected '{needle}' in the {what}")


def check_between(value, low, high, what):
    check(low <= value <= high, f"{what} = {value:.3f} s, expected within [{low:.3f}, {high:.3f}]")
    print(f"{what}: {value:.3f} s (bounds {low:.3f} .. {high:.3f})")


# -- cases -----------------------------------------------------------------------------

def case_keepalive_keeps_node(node):
    c = node.client(interval=250, duration=int(3 * W * 1000), end="disarm")
    # While it runs, the published status shows one healthy client.
    wait_for(lambda: '"state" : "ok"' in read_text(node.status), 3, "the client in the status")
    node.assert_alive_for(3 * W + K, "a client kept writing for three client timeouts")
    check(c.finish(5) == 0, f"client failed: {c.lines}")
    node.wait_log("mux", "has disconnected cleanly")
    node.assert_alive_for(DV + 2 * K, "the client disarmed cleanly")
    check("expired" not in node.log_emu(), "emulated watchdog fired")


def case_kill_client_fences(node):
    c = node.client(interval=250)
    node.assert_alive_for(1.0, "the client is feeding")
    t0 = time.monotonic()
    c.signal(signal.SIGKILL)
    died = node.wait_dead(W + DV + 1)
    check(died is not None, f"node not fenced within client + device timeout + 1 s after "
                            f"SIGKILL of the client\n{node.dump()}")
    # Updates stop at the disconnect; the last keepalive was at most one tick earlier.
    check_between(died - t0, DV - K - 0.05, DV + K + SCHED, "fencing delay after client SIGKILL")
    log = node.log_mux()
    check(re.search(r"client \(PID \d+\) did not stop watchdog - disable watchdog updates", log),
          "mux did not log the unclean disconnect")
    check_in("watchdog updates disabled - node will be reset in", log, "mux log")
    check_in("emulated watchdog expired on node 'n1' - executing fence action 'kill-pidns:",
             node.log_emu(), "emu log")


def case_clean_disarm(node):
    c = node.client(interval=250, duration=1000, end="disarm")
    check(c.finish(5) == 0, f"client failed: {c.lines}")
    node.wait_log("mux", "all watchdog client connections to the multiplexer closed")
    check(not os.path.exists(node.marker), "active marker still present after the clean disarm")
    # An unclean end would fence within Dv (+ tick); a silent one within W + K + Dv.
    node.assert_alive_for(W + K + DV + SCHED, "the client disarmed with 'V'")
    check(re.search(r"client \(PID \d+\) has disconnected cleanly\. Removing it gracefully from "
                    r"the watch", node.log_mux()), "no clean-disconnect line")
    check('"clients" : [ ]' in read_text(node.status) or '"clients" : []' in
          read_text(node.status), "status still lists a client")
    check("expired" not in node.log_emu(), "emulated watchdog fired")


def case_silent_client_fences(node):
    c = node.client(interval=0)  # connects (armed) and never writes
    t0 = time.monotonic()
    died = node.wait_dead(W + K + DV + 2)
    check(died is not None, f"node not fenced after a silent client\n{node.dump()}")
    # Expiry is seen on the first tick with age > W, the device was fed one tick before.
    check_between(died - t0, W + DV - K - 0.1, W + K + DV + SCHED, "fencing delay of a silent client")
    log = node.log_mux()
    warn = log.find("watchdog is about to expire")
    exp = log.find("watchdog expired - disable watchdog updates")
    check(0 <= warn < exp, "expected the warning before the expiry in the mux log")
    c.close()


def case_kill_mux_fences(node):
    node.client(interval=250)
    node.assert_alive_for(0.5, "the client is feeding")
    t0 = time.monotonic()
    node.mux.signal(signal.SIGKILL)
    died = node.wait_dead(DV + 2)
    check(died is not None, f"node not fenced after SIGKILL of the mux\n{node.dump()}")
    # The emulator's release ping restarts the deadline when the mux's descriptor closes.
    check_between(died - t0, DV - 0.05, DV + K + SCHED, "fencing delay after mux SIGKILL")
    check_in("writer closed without magic 'V'", node.log_emu(), "emu log")


def case_chatty_clients_no_starvation(node):
    secs = 2 * W
    chatty = node.client(interval=1, duration=int(secs * 1000), end="disarm")
    crowd = node.client(interval=10, duration=int(secs * 1000), end="disarm", connections=50)
    node.assert_alive_for(secs + K, "every client was feeding")
    check(chatty.finish(5) == 0, f"chatty client failed: {chatty.lines}")
    check(crowd.finish(5) == 0, f"crowd client failed: {crowd.lines}")
    sent = int(re.search(r"keepalives=(\d+)", chatty.lines[-1]).group(1))
    crowd_sent = int(re.search(r"keepalives=(\d+)", crowd.lines[-1]).group(1))
    print(f"chatty client: {sent} writes in {secs:.0f} s ({sent / secs:.0f}/s); "
          f"50 clients: {crowd_sent} writes ({crowd_sent / secs:.0f}/s)")
    check(sent >= 500 * secs, f"the chatty client managed only {sent} writes: no real load")
    count, max_gap = node.emu_stats()
    print(f"device keepalives: {count}, longest gap {max_gap} ms (tick {K * 1000:.0f} ms)")
    # fence.md 4.9: the keepalive is not delayed by more than one tick.
    check(max_gap <= 2 * K * 1000, f"keepalive gap {max_gap} ms exceeds two ticks")
    check("tick delayed" not in node.log_mux(), "mux reported a delayed tick")
    node.wait_log("mux", "all watchdog client connections to the multiplexer closed")


def case_restart_refused_while_armed(node):
    c = node.client(interval=250, duration=3000, end="disarm")
    wait_for(lambda: os.path.isdir(node.marker), 3, "the active marker")
    second = node.start_mux(log=os.path.join(node.dir, "mux2.log"))
    status = second.wait_exit(5)
    log2 = read_text(os.path.join(node.dir, "mux2.log"))
    check(status == 1, f"second mux exited with {status}, expected 1")
    check_in("watchdog active - unable to restart watchdog-mux", log2, "second mux log")
    check(node.mux.alive() and os.path.exists(node.sock), "the first mux lost its socket")
    other = node.client(interval=100, duration=300, end="disarm")
    check(other.finish(5) == 0, f"a new client could not use the first mux: {other.lines}")
    check(c.finish(5) == 0, f"client failed: {c.lines}")
    node.assert_alive_for(DV + 2 * K, "both clients disarmed")


def case_max_clients(node):
    # --max-clients 3 is passed by the runner (see CASES)
    a = node.client(interval=250, duration=2500, end="disarm", connections=3)
    b = node.client(interval=100, duration=2000, end="disarm")
    check(b.finish(5) == 3, f"the fourth connection was not rejected: {b.lines}")
    check(any(re.match(r"keepalive-failed 0 (ECONNRESET|EPIPE)", l) for l in b.lines),
          f"rejected client saw {b.lines}")
    check(re.search(r"rejected client \(PID \d+\) - too many clients", node.log_mux()),
          "no rejection line in the mux log")
    node.assert_alive_for(DV + 2 * K, "a rejected client is not a fence")
    check(a.finish(5) == 0, f"the three admitted connections failed: {a.lines}")
    node.assert_alive_for(DV + 2 * K, "all admitted clients disarmed")


def case_uid_rejected(node):
    # --allow-uid 1234 is passed by the runner: root (uid 0) is not allowed.
    b = node.client(interval=100, duration=1500, end="disarm")
    check(b.finish(5) == 3, f"the client was not rejected: {b.lines}")
    check(re.search(r"rejected client \(PID \d+, UID 0\)", node.log_mux()), "no rejection line")
    check(not os.path.exists(node.marker), "a rejected client created the active marker")
    node.assert_alive_for(DV + 2 * K, "a rejected client is never armed")


def case_sigterm_without_clients(node):
    node.mux.signal(signal.SIGTERM)
    check(node.mux.wait_exit(5) == 0, "mux did not exit 0 on SIGTERM")
    check_in("clean exit", node.log_mux(), "mux log")
    node.wait_log("emu", "magic close: watchdog stopped")
    node.assert_alive_for(DV + 2 * K, "the mux stopped the device cleanly")
    check(not os.path.exists(node.sock) and not os.path.exists(node.status),
          "socket or status file left behind")


def case_sigterm_with_clients(node):
    node.client(interval=250)
    t0 = time.monotonic()
    node.mux.signal(signal.SIGTERM)
    died = node.wait_dead(DV + 2)
    check(died is not None, f"node not fenced after SIGTERM with an armed client\n{node.dump()}")
    check_between(died - t0, DV - K - 0.05, DV + K + SCHED, "fencing delay after SIGTERM with clients")
    check_in("exit watchdog-mux with active connections", node.log_mux(), "mux log")
    check(os.path.isdir(node.marker), "the active marker must stay (a restart must be refused)")


def case_sighup_ignored(node):
    node.mux.signal(signal.SIGHUP)
    node.wait_log("mux", "got SIGHUP - ignored")
    c = node.client(interval=100, duration=500, end="disarm")
    check(c.finish(5) == 0, f"client failed after SIGHUP: {c.lines}")
    check(node.mux.alive(), "mux exited on SIGHUP")
    node.assert_alive_for(DV + 2 * K, "SIGHUP changes nothing")


def case_daemonize(node):
    # Without --foreground the launcher returns once the mux is set up; the detached
    # daemon keeps serving and still stops the device cleanly on SIGTERM.
    launcher = node.start_mux(foreground=False)
    check(launcher.wait_exit(5) == 0, "the launching process did not exit 0")
    wait_for(lambda: os.path.exists(node.status), 5, "the daemon's status file")
    pids = wait_for(lambda: node.pids_inside("watchdog-mux"), 5, "the detached mux")
    check(len(pids) == 1, f"expected one watchdog-mux in the node, found {pids}")
    daemon = fencelab.Proc(subprocess.Popen(["true"]), pids[0], "detached watchdog-mux")
    node.procs.append(daemon)
    c = node.client(interval=100, duration=500, end="disarm")
    check(c.finish(5) == 0, f"client of the detached mux failed: {c.lines}")
    daemon.signal(signal.SIGTERM)
    check(fencelab.pidfd_wait(daemon.pidfd, 5) is not None, "detached mux ignored SIGTERM")
    check_in("clean exit", node.log_mux(), "mux log")
    node.wait_log("emu", "magic close: watchdog stopped")
    node.assert_alive_for(DV + 2 * K, "the detached mux stopped the device cleanly")


def case_real_device_path_refused(node):
    # Without --emulated the FIFO gets the watchdog ioctls, which a FIFO refuses: the mux
    # must exit 1 and stop the device it opened with 'V'.
    p = node.start_mux(emulated=False)
    check(p.wait_exit(5) == 1, "mux accepted a FIFO as a real watchdog")
    check_in("read watchdog info: ", node.log_mux(), "mux log")
    node.wait_log("emu", "magic close: watchdog stopped")
    node.assert_alive_for(DV + 2 * K, "the refusing mux stopped the device")


def case_wall_clock_step(node):
    # The runner preloads clockstep: +1 h after 1 s, -2 h after 3 s (mux process only).
    c = node.client(interval=250, duration=5000, end="disarm")
    node.assert_alive_for(5.0 + K, "wall-clock steps must not expire anyone")
    check(c.finish(5) == 0, f"client failed: {c.lines}")
    log = node.log_mux()
    check_in("clockstep: wall clock stepped by +3600 s", log, "mux log (shim active?)")
    check_in("clockstep: wall clock stepped by -7200 s", log, "mux log (shim active?)")
    check("about to expire" not in log, "a wall-clock step warned a healthy client")
    # After the backward step a silent client must still expire on time.
    s = node.client(interval=0)
    t0 = time.monotonic()
    died = node.wait_dead(W + K + DV + 2)
    check(died is not None, f"silent client not fenced after a backward clock step\n{node.dump()}")
    check_between(died - t0, W + DV - K - 0.1, W + K + DV + SCHED, "fencing delay after clock steps")
    s.close()


def case_emu_exec_action(_node):
    with tempfile.TemporaryDirectory(prefix="wdmux-it-") as d:
        fifo, marker, log = (os.path.join(d, n) for n in ("wd.fifo", "fenced", "emu.log"))
        with open(log, "ab") as out:
            emu = subprocess.Popen(
                [fencelab.EMU, "--fifo", fifo, "--timeout", "0.5", "--node", "nodeX",
                 "--action", f'exec:echo "$WATCHDOG_NODE" > {marker}'], stderr=out)
        try:
            wait_for(lambda: os.path.exists(fifo), 5, "the FIFO")
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.write(fd, b"\0")
            os.close(fd)  # no 'V': the deadline keeps running
            t0 = time.monotonic()
            rc = emu.wait(timeout=5)
            elapsed = time.monotonic() - t0
        finally:
            if emu.poll() is None:
                emu.kill()
                emu.wait()
        text = read_text(log)
        check(rc == 0, f"watchdog-emu exited {rc}:\n{text}")
        check_between(elapsed, 0.45, 0.5 + SCHED, "exec action after the writer closed")
        check(read_text(marker) == "nodeX\n", f"marker holds {read_text(marker)!r}")
        check_in("fence action exited with status 0", text, "emu log")
        check(not os.path.exists(fifo), "the FIFO was left behind")


def case_emu_target_exits(_node):
    with tempfile.TemporaryDirectory(prefix="wdmux-it-") as d:
        fifo, log = os.path.join(d, "wd.fifo"), os.path.join(d, "emu.log")
        sleeper = subprocess.Popen(["sleep", "60"])
        with open(log, "ab") as out:
            emu = subprocess.Popen(
                [fencelab.EMU, "--fifo", fifo, "--timeout", "1", "--node", "n1",
                 "--action", f"kill-pidns:{sleeper.pid}"], stderr=out)
        try:
            wait_for(lambda: os.path.exists(fifo), 5, "the FIFO")
            sleeper.kill()  # the lab powered the node off
            sleeper.wait()
            rc = emu.wait(timeout=3)
        finally:
            for p in (sleeper, emu):
                if p.poll() is None:
                    p.kill()
                    p.wait()
        check(rc == 0, f"watchdog-emu exited {rc}")
        check_in("exited on its own - watchdog-emu exits", read_text(log), "emu log")

        # a target that does not exist is refused at startup
        r = subprocess.run([fencelab.EMU, "--fifo", fifo, "--timeout", "1", "--node", "n1",
                            "--action", "kill-pidns:999999999"], capture_output=True, text=True)
        check(r.returncode == 2 or r.returncode == 1, f"bad target accepted: {r.returncode}")


def case_emu_new_writer_continues(_node):
    with tempfile.TemporaryDirectory(prefix="wdmux-it-") as d:
        fifo, log = os.path.join(d, "wd.fifo"), os.path.join(d, "emu.log")
        with open(log, "ab") as out:
            emu = subprocess.Popen([fencelab.EMU, "--fifo", fifo, "--timeout", "1", "--node",
                                    "n1", "--action", "log-only"], stderr=out)
        try:
            wait_for(lambda: os.path.exists(fifo), 5, "the FIFO")
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.write(fd, b"\0")
            os.close(fd)  # writer 1 leaves without 'V' (a dead mux)
            wait_for(lambda: "writer closed without magic" in read_text(log), 2, "orphaned state")
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # a restarted mux
            for _ in range(10):
                os.write(fd, b"\0")
                time.sleep(0.2)  # the feeding pace itself, not synchronisation
            os.write(fd, b"V")
            os.close(fd)
            wait_for(lambda: "magic close: watchdog stopped" in read_text(log), 2, "clean stop")
            check(emu.poll() is None, "watchdog-emu fired although fed")
            # A hung-up FIFO must not make it spin: its CPU time stays small.
            with open(f"/proc/{emu.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            check(cpu < 0.5, f"watchdog-emu used {cpu:.2f} s of CPU")
            emu.send_signal(signal.SIGTERM)
            check(emu.wait(timeout=5) == 0, "watchdog-emu did not exit 0 on SIGTERM")
        finally:
            if emu.poll() is None:
                emu.kill()
                emu.wait()
        text = read_text(log)
        check_in("watchdog fed again by a new writer", text, "emu log")
        check("expired" not in text, "emulated watchdog fired")


def case_config_errors(_node):
    mux, emu = fencelab.MUX, fencelab.EMU
    with tempfile.TemporaryDirectory(prefix="wdmux-it-") as d:
        # Never the real device: every run names a FIFO path in the temp dir.
        base = [mux, "--foreground", "--device", os.path.join(d, "none.fifo"),
                "--socket", os.path.join(d, "s"), "--marker", os.path.join(d, "m"),
                "--status-file", os.path.join(d, "st"), "--env-file", "/dev/null"]
        env = fencelab.clean_env()

        def run(argv, extra_env=None):
            e = dict(env)
            e.update(extra_env or {})
            return subprocess.run(argv, capture_output=True, text=True, env=e, timeout=10)

        r = run([mux, "--help"])
        check(r.returncode == 0 and "--client-timeout" in r.stdout, "mux --help")
        r = run([emu, "--help"])
        check(r.returncode == 0 and "--action" in r.stdout, "emu --help")
        r = run(base + ["--no-such-option"])
        check(r.returncode == 2, f"unknown option: {r.returncode}")
        r = run(base + ["--emulated", "--client-timeout", "abc"])
        check(r.returncode == 1 and "WATCHDOG_MUX_CLIENT_TIMEOUT: invalid value 'abc'" in r.stderr,
              f"bad client timeout: {r.returncode} {r.stderr}")
        r = run(base + ["--device-timeout", "0.5"])
        check(r.returncode == 1 and "whole seconds" in r.stderr, f"fractional device: {r.stderr}")
        r = run(base + ["--emulated"], {"WATCHDOG_MUX_TICK_MS": "fast"})
        check(r.returncode == 1 and "environment: WATCHDOG_MUX_TICK_MS" in r.stderr,
              f"bad environment: {r.stderr}")
        envfile = os.path.join(d, "defaults")
        with open(envfile, "w") as f:
            f.write("# test\nWATCHDOG_MUX_MAX_CLIENTS=lots\n")
        r = run(base[:-1] + [envfile, "--emulated"])
        check(r.returncode == 1 and f"{envfile}:2:" in r.stderr, f"bad env file: {r.stderr}")
        r = run(base + ["--emulated"])
        check(r.returncode == 1 and "watchdog open:" in r.stderr, f"missing FIFO: {r.stderr}")
        # detached startup reports a failure through the launching process
        r = run([a for a in base if a != "--foreground"] + ["--emulated"])
        check(r.returncode == 1 and "watchdog open:" in r.stderr, f"detached: {r.stderr}")
        os.mkfifo(os.path.join(d, "none.fifo"))
        r = run(base + ["--emulated"])
        check(r.returncode == 1 and "no watchdog-emu is serving" in r.stderr,
              f"unserved FIFO: {r.stderr}")
        r = run([mux, "--foreground", "--emulated", "--device", "/dev/null", "--socket",
                 os.path.join(d, "s"), "--marker", os.path.join(d, "m"), "--status-file",
                 os.path.join(d, "st"), "--env-file", "/dev/null"])
        check(r.returncode == 1 and "must be a FIFO" in r.stderr, f"char device: {r.stderr}")
        os.mkdir(os.path.join(d, "m"))
        r = run(base + ["--emulated"])
        check(r.returncode == 1 and "watchdog active - unable to restart watchdog-mux" in r.stderr,
              f"marker: {r.stderr}")
        check(not os.path.exists(os.path.join(d, "s")), "a refused mux created its socket")

        r = run([emu, "--fifo", os.path.join(d, "e.fifo"), "--timeout", "1", "--node", "n"])
        check(r.returncode == 2 and "required" in r.stderr, "emu without --action")
        r = run([emu, "--fifo", os.path.join(d, "e.fifo"), "--timeout", "soon", "--node", "n",
                 "--action", "log-only"])
        check(r.returncode == 2 and "--timeout" in r.stderr, "emu bad timeout")
        r = run([emu, "--fifo", os.path.join(d, "e.fifo"), "--timeout", "1", "--node", "n",
                 "--action", "reboot"])
        check(r.returncode == 2 and "invalid fence action 'reboot'" in r.stderr, "emu bad action")
        r = run([emu, "--fifo", "/dev/null", "--timeout", "1", "--node", "n", "--action",
                 "log-only"])
        check(r.returncode == 1 and "not a FIFO" in r.stderr, f"emu on /dev/null: {r.stderr}")


def with_clockstep():
    env = {"LD_PRELOAD": fencelab.CLOCKSTEP, "CLOCKSTEP": "1000:3600,3000:-7200"}
    asan = os.environ.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
    return {"mux_env": env}


# name -> (function, Node keyword arguments or None when the case needs no node)
CASES = {
    "keepalive-keeps-node": (case_keepalive_keeps_node, {}),
    "kill-client-fences": (case_kill_client_fences, {}),
    "clean-disarm": (case_clean_disarm, {}),
    "silent-client-fences": (case_silent_client_fences, {}),
    "kill-mux-fences": (case_kill_mux_fences, {}),
    "chatty-clients-no-starvation": (case_chatty_clients_no_starvation, {}),
    "restart-refused-while-armed": (case_restart_refused_while_armed, {}),
    "max-clients": (case_max_clients, {"mux_args": ["--max-clients", "3"]}),
    "uid-rejected": (case_uid_rejected, {"mux_args": ["--allow-uid", "1234"]}),
    "sigterm-without-clients": (case_sigterm_without_clients, {}),
    "sigterm-with-clients": (case_sigterm_with_clients, {}),
    "sighup-ignored": (case_sighup_ignored, {}),
    "daemonize": (case_daemonize, {"start_mux": False}),
    "real-device-path-refused": (case_real_device_path_refused, {"start_mux": False}),
    "wall-clock-step": (case_wall_clock_step, None),
    "emu-exec-action": (case_emu_exec_action, None),
    "emu-target-exits": (case_emu_target_exits, None),
    "emu-new-writer-continues": (case_emu_new_writer_continues, None),
    "config-errors": (case_config_errors, None),
}


def main():
    if len(sys.argv) != 2 or (sys.argv[1] not in CASES and sys.argv[1] != "--list"):
        print(f"usage: {sys.argv[0]} CASE|--list", file=sys.stderr)
        return 2
    if sys.argv[1] == "--list":
        print("\n".join(CASES))
        return 0
    try:
        fencelab.check_environment()
    except fencelab.Skip as e:
        print(f"SKIP: {e}")
        return fencelab.SKIP

    func, node_args = CASES[sys.argv[1]]
    if sys.argv[1] == "wall-clock-step":
        if not fencelab.CLOCKSTEP or not os.path.exists(fencelab.CLOCKSTEP):
            print("SKIP: clockstep shim not built")
            return fencelab.SKIP
        node_args = with_clockstep()
    node = Node(**node_args) if node_args is not None else None
    try:
        func(node)
    except AssertionError as e:
        print(f"FAIL: {e}")
        if node:
            print(node.dump())
        return 1
    finally:
        if node:
            node.close()
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
