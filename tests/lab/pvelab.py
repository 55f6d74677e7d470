#!/usr/bin/python3
"""The cluster lab: a real N-node Proxmox-style cluster on one machine.

Every node is a set of Linux namespaces created here: a network namespace (address
10.99.0.K/24 on a bridge that lives in its own network namespace), and a mount, UTS,
IPC and pid namespace whose PID 1 is `node_init()` below.  The init gives the node a
private /run, /dev, /dev/shm, /var/log, /etc (overlay), /var/lib (overlay), /root
(overlay), /etc/corosync, /var/lib/corosync, /var/lib/pve-cluster and /root/.ssh, binds
the node's bin directory over /usr/local/sbin, catches syslog on /dev/log and starts the
node's daemons (corosync, pmxcfs, sshd) through the `node-service` shim.  Killing the
init (its host pid is recorded) kills every process of the node and drops its mounts.

State lives in the lab directory (default /tmp/<name>), visible on the host and inside
every node; node state survives poweroff/poweron.  Namespaces are named
<name>-br and <name>-nK.  Processes are tracked by pid files that also record the
process start time, so nothing is ever killed by name and a recycled pid is never hit.

This file is both the importable module (class Lab, used by tests/cluster/conftest.py)
and the implementation of the `lab` command (tests/lab/lab).  Standard library only.
"""

import argparse
import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

LAB_SRC = Path(__file__).resolve().parent
REPO_ROOT = LAB_SRC.parent.parent
PYTHON = "/usr/bin/python3"
SUBNET = "10.99.0"
NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Environment variables passed from the caller into node commands (sanitizer builds).
PASS_ENV_PREFIXES = ("ASAN_", "UBSAN_", "LSAN_", "G_MESSAGES_DEBUG", "G_DEBUG")
MAX_NODES = 32
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")

# Binaries taken from the build directory (name in the node -> path in BUILD_DIR).
NODE_BINARIES = {
    "pmxcfs": "pmxcfs/pmxcfs",
    "pvecm": "quorum/pvecm",
    "pmxcfs-ctl": "pmxcfs/pmxcfs-ctl",
    "watchdog-mux": "fence/watchdog-mux",
}
EMU_BINARY = "tests/lab/watchdog-emu"

HOST_TOOLS = ["ip", "nsenter", "unshare", "mount", "umount", "ssh-keygen"]
CLUSTER_TOOLS = ["corosync", "corosync-quorumtool", "corosync-cmapctl"]
SSH_TOOLS = ["/usr/sbin/sshd", "ssh"]


class LabError(Exception):
    """A lab operation failed; the message says what and where to look."""


# --------------------------------------------------------------------------- helpers


def _run(argv, check=True, **kw):
    """Run a host command, raising LabError with its stderr on failure."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("text", True)
    try:
        p = subprocess.run(argv, **kw)
    except FileNotFoundError as e:
        raise LabError(f"command not found: {argv[0]} (run contrib/install-deps)") from e
    if check and p.returncode != 0:
        err = (p.stderr or "").strip()
        raise LabError(f"'{' '.join(map(str, argv))}' failed (exit {p.returncode}): {err}")
    return p


def _write(path, data, mode=0o644):
    """Atomically replace a file (temp file in the same directory, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(tmp, flags, mode)
    try:
        os.write(fd, data.encode() if isinstance(data, str) else data)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise LabError(f"cannot read {path}: {e}") from e


def _tail(path, lines=20):
    try:
        with open(path, errors="replace") as f:
            data = f.readlines()
    except OSError:
        return f"({path}: no such file)"
    return f"--- {path} (last {min(lines, len(data))} lines)\n" + "".join(data[-lines:])


def proc_starttime(pid):
    """Start time of a process in clock ticks since boot, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def proc_alive(ident):
    """True if the process recorded as [pid, starttime] still runs."""
    if not ident:
        return False
    pid, start = ident
    return proc_starttime(pid) == start


def proc_ident(pid):
    start = proc_starttime(pid)
    return [pid, start] if start is not None else None


def _kill(ident, sig):
    """Signal a process we started, after checking it is still that process."""
    if proc_alive(ident):
        try:
            os.kill(ident[0], sig)
        except ProcessLookupError:
            pass


def _ns_id(pid, kind):
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def _pids_in_ns(kind, ns_ids):
    """Host pids of all live (non-zombie) processes whose namespace `kind` is one of
    ns_ids."""
    ns_ids = set(filter(None, ns_ids))
    if not ns_ids:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _ns_id(entry, kind) in ns_ids and proc_starttime(entry):
            found.append(int(entry))
    return found


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def wait_for(pred, timeout, what, interval=0.1):
    """Poll pred() until it returns a true value (returned) or raise after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise LabError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def node_index(node):
    m = re.fullmatch(r"n([1-9][0-9]*)", node)
    if not m:
        raise LabError(f"bad node name '{node}' (expected n1, n2, ...)")
    return int(m.group(1))


def node_addr(node):
    return f"{SUBNET}.{node_index(node)}"


def _env_int(name, default):
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError as e:
        raise LabError(f"{name}={value!r} is not an integer") from e


def default_name():
    """pvelab-<checkout directory name>: labs of different worktrees never collide."""
    base = re.sub(r"[^a-z0-9-]", "-", REPO_ROOT.name.lower()).strip("-")[:12]
    return f"pvelab-{base}" if base else "pvelab"


# --------------------------------------------------------------------------- the lab


class Lab:
    """One lab: its name, directory, build directory and (once up) its state."""

    def __init__(self, name=None, directory=None, build_dir=None):
        self.name = name or os.environ.get("LAB_NAME") or default_name()
        if not NAME_RE.match(self.name):
            raise LabError(f"bad lab name '{self.name}' (lowercase letters, digits, '-', "
                           "at most 20 characters, starting with a letter)")
        self.dir = Path(directory or os.environ.get("LAB_DIR") or f"/tmp/{self.name}")
        if not self.dir.is_absolute() or len(self.dir.parts) < 3:
            raise LabError(f"lab directory must be an absolute path below a top-level "
                           f"directory (got '{self.dir}')")
        self._build_dir = Path(build_dir or os.environ.get("BUILD_DIR")
                               or REPO_ROOT / "build").resolve()
        self.notes = []

    @property
    def build_dir(self):
        """The build dir given at `up` (argument, $BUILD_DIR, <repo>/build); a running
        lab keeps using the one it was created with."""
        st = self.state()
        return Path(st["build_dir"]) if st else self._build_dir

    # ----- paths and state

    @property
    def state_path(self):
        return self.dir / "state.json"

    def state(self):
        return _read_json(self.state_path)

    @property
    def nodes(self):
        st = self.state()
        return list(st["nodes"]) if st else []

    @property
    def bridge_ns(self):
        return f"{self.name}-br"

    def node_ns(self, node):
        return f"{self.name}-{node}"

    def node_dir(self, node):
        return self.dir / node

    def log_dir(self, node):
        """Host path of the node's /var/log."""
        return self.dir / node / "log"

    def _boot_path(self, node):
        return self.node_dir(node) / "boot.json"

    def boot_info(self, node):
        return _read_json(self._boot_path(node)) or {}

    def _check_node(self, node):
        if node not in self.nodes:
            if not self.state():
                raise LabError(f"lab '{self.name}' is not up (no {self.state_path})")
            raise LabError(f"unknown node '{node}' (lab '{self.name}' has "
                           f"{', '.join(self.nodes)})")

    def _note(self, msg):
        self.notes.append(msg)
        print(f"lab: {msg}", file=sys.stderr)

    def binary(self, name):
        """Path of a project binary in the build dir, or None if not built (yet)."""
        rel = NODE_BINARIES.get(name) or (EMU_BINARY if name == "watchdog-emu" else None)
        path = self.build_dir / rel
        return path if path.is_file() and os.access(path, os.X_OK) else None

    # ----- queries

    def running(self, node):
        return proc_alive(self.boot_info(node).get("init"))

    def init_pid(self, node):
        info = self.boot_info(node)
        if not proc_alive(info.get("init")):
            raise LabError(f"node {node} is not running")
        return info["init"][0]

    def node_processes(self, node):
        """Host pids of every process living in the node's pid namespace."""
        return _pids_in_ns("pid", [self.boot_info(node).get("pidns")])

    def mounted(self, node):
        """True if /etc/pve is a FUSE mount inside the node."""
        info = self.boot_info(node)
        if not proc_alive(info.get("init")):
            return False
        try:
            with open(f"/proc/{info['init'][0]}/mounts") as f:
                for line in f:
                    fields = line.split()
                    if fields[1] == "/etc/pve" and fields[2].startswith("fuse"):
                        return True
        except OSError:
            pass
        return False

    def quorum(self, node):
        """corosync-quorumtool -s inside the node, parsed: dict with quorate,
        total_votes, expected_votes, members (node ids); None if corosync is down."""
        if not self.running(node):
            return None
        p = self.exec(node, ["corosync-quorumtool", "-s"], timeout=10)
        if p.returncode not in (0, 2):
            return None
        out = p.stdout
        info = {"quorate": bool(re.search(r"^Quorate:\s+Yes", out, re.M)), "members": []}
        for key, pat in (("total_votes", r"^Total votes:\s+(\d+)"),
                         ("expected_votes", r"^Expected votes:\s+(\d+)")):
            m = re.search(pat, out, re.M)
            info[key] = int(m.group(1)) if m else None
        in_members = False
        for line in out.splitlines():
            if line.startswith("Membership information"):
                in_members = True
            elif in_members:
                m = re.match(r"\s*(\d+)\s+\d+\s", line)
                if m:
                    info["members"].append(int(m.group(1)))
        return info

    def quorate(self, node):
        q = self.quorum(node)
        return bool(q and q["quorate"])

    def isolated(self, node):
        p = _run(["ip", "-n", self.bridge_ns, "-j", "link", "show", "dev", f"v{node}"],
                 check=False)
        if p.returncode != 0:
            return None
        try:
            return "UP" not in json.loads(p.stdout)[0]["flags"]
        except (ValueError, IndexError, KeyError):
            return None

    def fenced(self, node):
        """True if this node's emulated watchdog fired since its last power-on."""
        info = self.boot_info(node)
        log = self.log_dir(node) / "watchdog-emu.log"
        try:
            with open(log, "rb") as f:
                f.seek(info.get("emu_log_offset", 0))
                return b"emulated watchdog expired" in f.read()
        except OSError:
            return False

    def status(self):
        """Per-node status: list of dicts (node, running, pid, fenced, quorate,
        members, mounted, isolated)."""
        st = self.state()
        if not st:
            return []
        result = []
        for node in st["nodes"]:
            info = self.boot_info(node)
            running = proc_alive(info.get("init"))
            q = self.quorum(node) if running else None
            result.append({
                "node": node,
                "address": node_addr(node),
                "running": running,
                "pid": info["init"][0] if running else None,
                "fenced": self.fenced(node),
                "quorate": q["quorate"] if q else None,
                "members": len(q["members"]) if q else None,
                "mounted": self.mounted(node),
                "isolated": self.isolated(node),
            })
        return result

    # ----- running commands in nodes

    def node_env(self, node, extra=None):
        env = {
            "PATH": NODE_PATH,
            "HOME": "/root",
            "USER": "root",
            "LOGNAME": "root",
            "SHELL": "/bin/bash",
            "LANG": "C.UTF-8",
            "PVE_SERVICE_CTL": "node-service",
            "LAB_NODE": node,
            "LAB_DIR": str(self.dir),
        }
        if "TERM" in os.environ:
            env["TERM"] = os.environ["TERM"]
        for k, v in os.environ.items():
            if k.startswith(PASS_ENV_PREFIXES):
                env[k] = v
        if extra:
            env.update(extra)
        return env

    def _nsenter(self, node):
        pid = self.init_pid(node)
        return ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "--wd=/"]

    def exec(self, node, argv, check=False, timeout=60, input=None, env=None,
             capture=True):
        """Run argv inside the node; returns a CompletedProcess (text mode).

        With capture=False stdin/stdout/stderr are inherited (interactive use).
        On timeout the command's whole process group is killed and LabError raised."""
        if isinstance(argv, str):
            argv = ["/bin/sh", "-c", argv]
        kw = {"env": self.node_env(node, env), "text": True}
        if capture:
            kw.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                      stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL)
        if timeout is not None:
            kw["start_new_session"] = True
        p = self.popen(node, argv, **kw)
        try:
            out, err = p.communicate(input=input, timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.communicate()
            raise LabError(f"command {argv} on {node} did not finish within {timeout}s")
        except BaseException:
            if timeout is not None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.wait()
            raise
        cp = subprocess.CompletedProcess(argv, p.returncode, out, err)
        if check and p.returncode != 0:
            raise LabError(f"command {argv} on {node} failed (exit {p.returncode}): "
                           f"{(err or '').strip()}")
        return cp

    def popen(self, node, argv, **kw):
        """Start argv inside the node and return its subprocess.Popen at once (keywords
        as for Popen; the environment defaults to node_env).  The caller waits for it;
        whatever still runs when the node goes down dies with it."""
        self._check_node(node)
        kw.setdefault("env", self.node_env(node))
        return subprocess.Popen(self._nsenter(node) + list(argv), **kw)

    # ----- up

    def _options(self, n, standalone, pmxcfs, watchdog, ssh, token, pmxcfs_args,
                 wd_client_timeout, wd_device_timeout):
        if not 1 <= n <= MAX_NODES:
            raise LabError(f"node count must be 1..{MAX_NODES} (got {n})")
        if pmxcfs_args is None:
            pmxcfs_args = os.environ.get("LAB_PMXCFS_ARGS", "")
        return {
            "name": self.name,
            "dir": str(self.dir),
            "build_dir": str(self._build_dir),
            "nodes": [f"n{i}" for i in range(1, n + 1)],
            "standalone": bool(standalone),
            "pmxcfs": (bool(pmxcfs) if pmxcfs is not None
                       else os.environ.get("LAB_NO_PMXCFS", "") in ("", "0")),
            "pmxcfs_args": pmxcfs_args.split(),
            "watchdog": bool(watchdog),
            "ssh": bool(ssh or standalone),
            "token": token if token is not None else _env_int("LAB_TOKEN", 1000),
            "wd_client_timeout": (wd_client_timeout if wd_client_timeout is not None
                                  else _env_int("LAB_WD_CLIENT_TIMEOUT", 10)),
            "wd_device_timeout": (wd_device_timeout if wd_device_timeout is not None
                                  else _env_int("LAB_WD_DEVICE_TIMEOUT", 5)),
        }

    def _check_host(self, opts):
        if os.geteuid() != 0:
            raise LabError("the lab needs root (namespaces, mounts, FUSE)")
        tools = list(HOST_TOOLS)
        if not opts["standalone"]:
            tools += CLUSTER_TOOLS
        if opts["ssh"]:
            tools += SSH_TOOLS
        missing = [t for t in tools if not shutil.which(t)]
        if missing:
            raise LabError(f"missing commands: {', '.join(missing)} "
                           "(run contrib/install-deps as root)")
        if not Path("/dev/fuse").exists() and opts["pmxcfs"]:
            raise LabError("/dev/fuse is missing (FUSE is needed for pmxcfs)")

    def up(self, n=3, standalone=False, pmxcfs=None, watchdog=True, ssh=True, token=None,
           pmxcfs_args=None, wd_client_timeout=None, wd_device_timeout=None, timeout=60,
           keep_on_failure=False):
        """Start nodes n1..nN and wait until all are booted, mounted and quorate.

        Safe to repeat: a running lab with the same shape is only completed (stopped
        nodes are powered on); leftovers of a failed or different lab are removed
        first.  On failure everything is torn down unless keep_on_failure.
        pmxcfs=None means: start pmxcfs unless $LAB_NO_PMXCFS=1."""
        opts = self._options(n, standalone, pmxcfs, watchdog, ssh, token, pmxcfs_args,
                             wd_client_timeout, wd_device_timeout)
        self._check_host(opts)
        st = self.state()
        if st and st.get("complete") and self._infra_ok(st):
            if st["nodes"] != opts["nodes"] or st["standalone"] != opts["standalone"]:
                raise LabError(
                    f"lab '{self.name}' is already up with {len(st['nodes'])} nodes"
                    f"{' (standalone)' if st['standalone'] else ''}; run 'lab down' first")
            stopped = [nd for nd in st["nodes"] if not self.running(nd)]
            for nd in stopped:
                self._boot(nd, st)
            self._wait_nodes(stopped, st, timeout, all_nodes=st["nodes"])
            return st
        if st:
            self._note("found an incomplete or broken lab, removing it first")
        if self.state() or self._leftover_netns() or self.dir.exists():
            self.down()
        try:
            self._create(opts)
            self._wait_nodes(opts["nodes"], opts, timeout, all_nodes=opts["nodes"])
            opts["complete"] = True
            _write(self.state_path, json.dumps(opts, indent=1) + "\n")
        except BaseException as e:
            if not keep_on_failure:
                try:
                    self.down()
                except LabError as e2:
                    self._note(f"cleanup after failed up: {e2}")
            if isinstance(e, LabError) and not keep_on_failure:
                raise LabError(f"{e}\n(the lab was torn down; use --keep-on-failure "
                               "to inspect it)") from None
            raise
        return opts

    def _infra_ok(self, st):
        with open("/proc/self/mounts") as f:
            mounted = {line.split()[1] for line in f}
        names = {x for x in self._leftover_netns() if f"/run/netns/{x}" in mounted}
        want = {self.bridge_ns} | {self.node_ns(nd) for nd in st["nodes"]}
        return want <= names and all(self.node_dir(nd).is_dir() for nd in st["nodes"])

    def _create(self, opts):
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        # The state file comes first so that `down` can clean up whatever follows;
        # it is marked complete once every node is up.
        opts["complete"] = False
        _write(self.state_path, json.dumps(opts, indent=1) + "\n")
        self._create_network(opts)
        shared = self._create_shared(opts)
        for node in opts["nodes"]:
            self._prepare_node(node, opts, shared)
        for node in opts["nodes"]:
            self._boot(node, opts)

    def _create_network(self, opts):
        br = self.bridge_ns
        _run(["ip", "netns", "add", br])
        _run(["ip", "-n", br, "link", "set", "lo", "up"])
        _run(["ip", "-n", br, "link", "add", "br0", "type", "bridge", "stp_state", "0",
              "forward_delay", "0"])
        _run(["ip", "-n", br, "link", "set", "br0", "up"])
        for node in opts["nodes"]:
            ns = self.node_ns(node)
            _run(["ip", "netns", "add", ns])
            _run(["ip", "-n", br, "link", "add", f"v{node}", "type", "veth", "peer",
                  "name", "eth0", "netns", ns])
            _run(["ip", "-n", br, "link", "set", f"v{node}", "master", "br0", "up"])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
            _run(["ip", "-n", ns, "addr", "add", f"{node_addr(node)}/24", "dev", "eth0"])
            _run(["ip", "-n", ns, "link", "set", "eth0", "up"])

    def _create_shared(self, opts):
        shared = {"authkey": os.urandom(256)}
        if opts["ssh"]:
            sshdir = self.dir / "ssh"
            sshdir.mkdir(mode=0o700)
            key = sshdir / "id_ed25519"
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{self.name}",
                  "-f", str(key)])
            shared["root_key"] = key.read_bytes()
            shared["root_pub"] = (sshdir / "id_ed25519.pub").read_text()
            hostkeys = {}
            for node in opts["nodes"]:
                hk = sshdir / f"host_{node}"
                _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{node}",
                      "-f", str(hk)])
                hostkeys[node] = (hk.read_bytes(), Path(f"{hk}.pub").read_text())
            shared["hostkeys"] = hostkeys
        return shared

    def corosync_conf(self, opts):
        """The cluster-mode corosync.conf (identical on every node, as pvecm writes it)."""
        nodes = "".join(
            f"  node {{\n    name: {nd}\n    nodeid: {node_index(nd)}\n"
            f"    quorum_votes: 1\n    ring0_addr: {node_addr(nd)}\n  }}\n"
            for nd in opts["nodes"])
        return (
            "logging {\n  debug: off\n  to_syslog: yes\n  to_logfile: yes\n"
            "  logfile: /var/log/corosync/corosync.log\n  timestamp: on\n}\n\n"
            f"nodelist {{\n{nodes}}}\n\n"
            "quorum {\n  provider: corosync_votequorum\n}\n\n"
            "totem {\n  cluster_name: lab\n  config_version: 1\n  interface {\n"
            "    linknumber: 0\n  }\n  ip_version: ipv4-6\n  link_mode: passive\n"
            f"  secauth: on\n  token: {opts['token']}\n  version: 2\n}}\n")

    def _prepare_node(self, node, opts, shared):
        nd = self.node_dir(node)
        dirs = ["etc", "varlib", "root", "corosync", "corosync-state", "pve-cluster",
                "root-ssh", "bin", "log", "log/corosync", ".work/etc", ".work/varlib",
                ".work/root", "etc/pvelab", "etc/ssh", "etc/pve"]
        for d in dirs:
            (nd / d).mkdir(parents=True, exist_ok=True)
        for d in ("pve-cluster", "root-ssh", "corosync-state"):
            os.chmod(nd / d, 0o700)
        os.chmod(nd, 0o755)
        os.chmod(nd / "etc/pve", 0o750)

        _write(nd / "etc/hostname", f"{node}\n")
        hosts = ["127.0.0.1 localhost",
                 "::1 localhost ip6-localhost ip6-loopback"]
        hosts += [f"{node_addr(x)} {x}" for x in opts["nodes"]]
        _write(nd / "etc/hosts", "\n".join(hosts) + "\n")

        if not opts["standalone"]:
            _write(nd / "corosync/corosync.conf", self.corosync_conf(opts))
            _write(nd / "corosync/authkey", shared["authkey"], 0o400)

        if opts["ssh"]:
            key, pub = shared["hostkeys"][node]
            _write(nd / "etc/ssh/ssh_host_ed25519_key", key, 0o600)
            _write(nd / "etc/ssh/ssh_host_ed25519_key.pub", pub)
            _write(nd / "etc/ssh/sshd_config", (
                f"# sshd of lab node {node}\n"
                f"ListenAddress {node_addr(node)}\n"
                "HostKey /etc/ssh/ssh_host_ed25519_key\n"
                "PidFile /run/sshd.pid\n"
                "PermitRootLogin prohibit-password\n"
                "PubkeyAuthentication yes\n"
                "PasswordAuthentication no\n"
                "KbdInteractiveAuthentication no\n"
                "UsePAM no\n"
                "PrintMotd no\n"
                "X11Forwarding no\n"
                "AcceptEnv LANG LC_*\n"
                "SetEnv PVE_SERVICE_CTL=node-service\n"
                "Subsystem sftp internal-sftp\n"))
            _write(nd / "root-ssh/id_ed25519", shared["root_key"], 0o600)
            _write(nd / "root-ssh/id_ed25519.pub", shared["root_pub"])
            _write(nd / "root-ssh/authorized_keys", shared["root_pub"], 0o600)
            known = "".join(f"{x},{node_addr(x)} {' '.join(shared['hostkeys'][x][1].split()[:2])}\n"
                            for x in opts["nodes"])
            _write(nd / "root-ssh/known_hosts", known)

        # The node's bin dir (bound over /usr/local/sbin): project binaries + the shim.
        bindir = nd / "bin"
        for entry in bindir.iterdir():
            entry.unlink()
        for name in NODE_BINARIES:
            path = self.binary(name)
            if path:
                os.symlink(path, bindir / name)
            elif node == opts["nodes"][0]:
                self._note(f"{name} is not built ({self.build_dir / NODE_BINARIES[name]}), "
                           "skipping it")
        os.symlink(LAB_SRC / "node-service", bindir / "node-service")

        # corosync is always on the boot list: node-service skips it while the node
        # has no /etc/corosync/corosync.conf (standalone until pvecm create/add).
        boot = ["corosync"]
        if opts["pmxcfs"] and self.binary("pmxcfs"):
            boot.append("pve-cluster")
        if opts["ssh"]:
            boot.append("sshd")
        conf = {
            "node": node,
            "address": node_addr(node),
            "lab_dir": str(self.dir),
            "boot": boot,
            "pmxcfs_args": opts["pmxcfs_args"],
            "watchdog": {
                "fifo": str(nd / "watchdog.fifo"),
                "client_timeout": opts["wd_client_timeout"],
                "device_timeout": opts["wd_device_timeout"],
            },
        }
        _write(nd / "etc/pvelab/node.json", json.dumps(conf, indent=1) + "\n")

    def _watchdog_wanted(self, opts):
        return opts["watchdog"] and self.binary("watchdog-mux") and self.binary("watchdog-emu")

    def _boot(self, node, opts):
        """Start the node's init (and its emulated watchdog); does not wait for boot."""
        nd = self.node_dir(node)
        for f in ("init.pid", "boot.status"):
            try:
                (nd / f).unlink()
            except FileNotFoundError:
                pass
        old = self.boot_info(node)
        initlog = open(self.log_dir(node) / "init.log", "ab")
        try:
            p = subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{self.node_ns(node)}",
                 "unshare", "--pid", "--fork", "--mount", "--uts", "--ipc",
                 "--propagation", "private", "--",
                 PYTHON, str(LAB_SRC / "pvelab.py"), "node-init", str(self.dir), node],
                stdin=subprocess.DEVNULL, stdout=initlog, stderr=subprocess.STDOUT,
                start_new_session=True, cwd="/", env=self.node_env(node))
        finally:
            initlog.close()
        try:
            pid = wait_for(lambda: (nd / "init.pid").exists() and int((nd / "init.pid").read_text())
                           or (p.poll() is not None and -1), 15,
                           f"the init of node {node} to start")
        except LabError as e:
            raise LabError(f"{e}\n{_tail(self.log_dir(node) / 'init.log')}") from None
        if pid == -1:
            raise LabError(f"the init of node {node} exited at once (exit {p.returncode})\n"
                           f"{_tail(self.log_dir(node) / 'init.log')}")
        info = {
            "init": proc_ident(pid),
            "unshare": proc_ident(p.pid),
            "pidns": _ns_id(pid, "pid"),
            "mntns": _ns_id(pid, "mnt"),
            "boots": old.get("boots", 0) + 1,
            "emu": None,
            "emu_log_offset": 0,
        }
        emulog = self.log_dir(node) / "watchdog-emu.log"
        if emulog.exists():
            info["emu_log_offset"] = emulog.stat().st_size
        # Popen objects would reap the child at interpreter exit in some versions;
        # detach it so the unshare process keeps waiting for its init.
        p.returncode = 0
        if self._watchdog_wanted(opts):
            fifo = nd / "watchdog.fifo"
            if fifo.exists():
                fifo.unlink()
            with open(self.log_dir(node) / "watchdog-emu.out", "ab") as out:
                e = subprocess.Popen(
                    [str(self.binary("watchdog-emu")), "--fifo", str(fifo),
                     "--timeout", str(opts["wd_device_timeout"]), "--node", node,
                     "--action", f"kill-pidns:{pid}", "--log", str(emulog)],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True, cwd="/")
            info["emu"] = proc_ident(e.pid)
            e.returncode = 0
        _write(self._boot_path(node), json.dumps(info) + "\n")

    def _wait_nodes(self, nodes, opts, timeout, all_nodes):
        """Wait until `nodes` have booted (then start their watchdog-mux), are mounted
        and, in cluster mode with a majority running, quorate."""
        deadline = time.monotonic() + timeout

        def left():
            return max(0.5, deadline - time.monotonic())

        def booted(node):
            if not self.running(node):
                raise LabError(f"node {node} died while booting\n"
                               f"{_tail(self.log_dir(node) / 'init.log')}")
            s = _read_json(self.node_dir(node) / "boot.status")
            return s if s and s.get("state") != "booting" else None

        for node in nodes:
            try:
                s = wait_for(lambda: booted(node), left(), f"node {node} to boot")
            except LabError as e:
                raise LabError(f"{e}\n{_tail(self.log_dir(node) / 'boot.log')}") from None
            if s["state"] != "ready":
                raise LabError(f"node {node} failed to boot: {s.get('error', '')}\n"
                               f"{_tail(self.log_dir(node) / 'boot.log')}")
        if self._watchdog_wanted(opts):
            for node in nodes:
                fifo = self.node_dir(node) / "watchdog.fifo"
                wait_for(fifo.exists, left(), f"the emulated watchdog FIFO {fifo}")
                p = self.exec(node, ["node-service", "start", "watchdog-mux"],
                              timeout=left())
                if p.returncode != 0:
                    raise LabError(f"watchdog-mux failed to start on {node}: "
                                   f"{p.stderr.strip()}\n"
                                   f"{_tail(self.log_dir(node) / 'watchdog-mux.log')}")
        elif opts["watchdog"]:
            self._note("watchdog-mux or watchdog-emu is not built, nodes run without "
                       "a watchdog")
        if opts["pmxcfs"] and self.binary("pmxcfs"):
            for node in nodes:
                try:
                    wait_for(lambda: self.mounted(node), left(), f"/etc/pve on {node}")
                except LabError as e:
                    raise LabError(f"{e}\n{_tail(self.log_dir(node) / 'boot.log')}\n"
                                   f"{_tail(self.log_dir(node) / 'syslog')}") from None
        running = [nd for nd in all_nodes if self.running(nd)]
        if not opts["standalone"] and len(running) * 2 > len(all_nodes):
            for node in nodes:
                try:
                    wait_for(lambda: self.quorate(node), left(), f"{node} to be quorate",
                             interval=0.2)
                except LabError as e:
                    raise LabError(
                        f"{e}\n{_tail(self.log_dir(node) / 'corosync/corosync.log')}") from None

    # ----- power and network

    def poweroff(self, node, timeout=15):
        """Kill the node's init: the kernel kills every process of the node."""
        self._check_node(node)
        info = self.boot_info(node)
        _kill(info.get("init"), signal.SIGKILL)
        wait_for(lambda: not proc_alive(info.get("init"))
                 and not _pids_in_ns("pid", [info.get("pidns")]), timeout,
                 f"every process of {node} to die")
        # The unshare parent (host pid namespace, node mount namespace) reaps the init
        # and exits; once it is gone no process holds the node's mounts.
        try:
            wait_for(lambda: not proc_alive(info.get("unshare")), 5,
                     f"the unshare process of {node} to exit")
        except LabError as e:
            self._note(f"{e}; killing it")
            _kill(info.get("unshare"), signal.SIGKILL)
        wait_for(lambda: not _pids_in_ns("mnt", [info.get("mntns")]), timeout,
                 f"every process in the mount namespace of {node} to exit")
        if info.get("emu"):
            try:
                wait_for(lambda: not proc_alive(info["emu"]), 5,
                         f"watchdog-emu of {node} to exit by itself")
            except LabError as e:
                self._note(f"{e}; stopping it")
                _kill(info["emu"], signal.SIGTERM)

    def poweron(self, node, wait=True, timeout=60):
        """Start a stopped node again (same network namespace and node state)."""
        self._check_node(node)
        st = self.state()
        if self.running(node):
            return False
        info = self.boot_info(node)
        _kill(info.get("emu"), signal.SIGTERM)
        self._boot(node, st)
        if wait:
            self._wait_nodes([node], st, timeout, all_nodes=st["nodes"])
        return True

    def isolate(self, node):
        """Cut the node's link to the bridge (the bridge-side veth goes down)."""
        self._check_node(node)
        _run(["ip", "-n", self.bridge_ns, "link", "set", f"v{node}", "down"])

    def rejoin(self, node):
        self._check_node(node)
        _run(["ip", "-n", self.bridge_ns, "link", "set", f"v{node}", "up"])

    def heal(self, timeout=60):
        """Undo what tests do to a lab: rejoin isolated nodes, power on stopped ones,
        then wait as `up` does.  Returns the actions taken (empty if none)."""
        st = self.state()
        if not st:
            raise LabError(f"lab '{self.name}' is not up")
        actions = []
        for node in st["nodes"]:
            if self.isolated(node):
                self.rejoin(node)
                actions.append(f"rejoin {node}")
        stopped = [nd for nd in st["nodes"] if not self.running(nd)]
        for node in stopped:
            self._boot(node, st)
            actions.append(f"poweron {node}")
        if actions:
            self._wait_nodes(stopped, st, timeout, all_nodes=st["nodes"])
            if not st["standalone"]:
                self.wait_quorate(st["nodes"], timeout, members=len(st["nodes"]))
        return actions

    def wait_quorate(self, nodes, timeout=30, members=None):
        """Wait until every node in `nodes` is quorate (with `members` members)."""
        def ok(node):
            q = self.quorum(node)
            return q and q["quorate"] and (members is None or len(q["members"]) == members)
        for node in nodes:
            wait_for(lambda: ok(node), timeout,
                     f"{node} to be quorate" + (f" with {members} members" if members else ""),
                     interval=0.2)

    # ----- down

    def _leftover_netns(self):
        pat = re.compile(rf"^{re.escape(self.name)}-(br|n[0-9]+)$")
        try:
            return sorted(x for x in os.listdir("/run/netns") if pat.match(x))
        except FileNotFoundError:
            return []

    def _our_processes(self):
        """The processes this lab started on the host, as {kind: [ident, ...]} with
        kind "init" (node inits), "unshare" (their parents) or "emu" (watchdog
        emulators); found by pid files and by command line (a failed run may have
        lost its pid files)."""
        found = {"init": [], "unshare": [], "emu": []}

        def add(kind, ident):
            if ident and all(ident not in v for v in found.values()):
                found[kind].append(ident)

        for bf in self.dir.glob("n*/boot.json") if self.dir.is_dir() else []:
            info = _read_json(bf) or {}
            for kind in found:
                if proc_alive(info.get(kind)):
                    add(kind, info[kind])
        marker = str(self.dir).encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            argv = _cmdline(entry)
            if not argv:
                continue
            if b"node-init" in argv and marker in argv and any(
                    a.endswith(b"pvelab.py") for a in argv):
                add("unshare" if argv[0].endswith(b"unshare") else "init",
                    proc_ident(int(entry)))
            elif argv[0].endswith(b"watchdog-emu") and any(
                    a.startswith(marker + b"/") for a in argv):
                add("emu", proc_ident(int(entry)))
        return found

    def leftovers(self, pidns=()):
        """What of this lab still exists on the host (empty list when all is gone)."""
        found = [f"netns {x}" for x in self._leftover_netns()]
        with open("/proc/self/mounts") as f:
            for line in f:
                mp = line.split()[1]
                if mp.startswith(str(self.dir) + "/") or mp == str(self.dir) or \
                        re.match(rf"^/run/netns/{re.escape(self.name)}-", mp):
                    found.append(f"mount {mp}")
        found += [f"process {i[0]} ({b' '.join(_cmdline(i[0])).decode(errors='replace')})"
                  for idents in self._our_processes().values() for i in idents]
        found += [f"process {p} in a node pid namespace" for p in _pids_in_ns("pid", pidns)]
        if self.dir.exists():
            found.append(f"directory {self.dir}")
        return found

    def down(self, timeout=20):
        """Remove everything this lab created; succeeds when nothing or part is there."""
        pidns = []
        if self.dir.is_dir():
            for bf in self.dir.glob("n*/boot.json"):
                info = _read_json(bf) or {}
                pidns.append(info.get("pidns"))
        procs = self._our_processes()
        for ident in procs["init"]:
            pidns.append(_ns_id(ident[0], "pid"))
        host_pidns = _ns_id("self", "pid")
        pidns = [x for x in pidns if x and x != host_pidns]
        # Inits first, so that their unshare parents reap them at once.
        for ident in procs["init"]:
            _kill(ident, signal.SIGKILL)
        wait_for(lambda: not any(proc_alive(i) for i in procs["init"])
                 and not _pids_in_ns("pid", pidns), timeout,
                 "the lab's node processes to die")
        others = procs["unshare"] + procs["emu"]
        for ident in others:
            _kill(ident, signal.SIGKILL)
        wait_for(lambda: not any(proc_alive(i) for i in others), timeout,
                 "the lab's host processes to die")
        with open("/proc/self/mounts") as f:
            mounted = {line.split()[1] for line in f}
        for ns in self._leftover_netns():
            if f"/run/netns/{ns}" in mounted:
                _run(["ip", "netns", "del", ns])
            else:  # a stale entry (the namespace is gone, e.g. after a reboot)
                os.unlink(f"/run/netns/{ns}")
        with open("/proc/self/mounts") as f:
            stale = [line.split()[1] for line in f
                     if line.split()[1].startswith(str(self.dir) + "/")]
        for mp in sorted(stale, reverse=True):
            _run(["umount", "-l", mp], check=False)
        if self.dir.exists():
            with open("/proc/self/mounts") as f:
                if any(line.split()[1].startswith(str(self.dir) + "/") for line in f):
                    raise LabError(f"mounts remain below {self.dir}, not removing it")
            shutil.rmtree(self.dir)
        left = self.leftovers(pidns)
        if left:
            raise LabError("down left things behind: " + "; ".join(left))

    # ----- logs

    def log_files(self, node):
        self._check_node(node)
        ld = self.log_dir(node)
        return sorted(p for p in ld.rglob("*") if p.is_file())

    def logs(self, node, lines=None):
        out = []
        for p in self.log_files(node):
            with open(p, errors="replace") as f:
                data = f.readlines()
            if lines:
                data = data[-lines:]
            out.append(f"==> {p} <==\n" + "".join(data))
        return "\n".join(out)


# --------------------------------------------------------------------------- node init
# Everything below runs as PID 1 of a node (in its own pid, mount, UTS and IPC
# namespaces, inside the node's network namespace).


def _mount(*args):
    subprocess.run(["mount", *args], check=True, stdin=subprocess.DEVNULL)


def _init_log(msg):
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} init: {msg}", flush=True)


def _node_mounts(nd):
    """Give the node its private file system view (see the module comment)."""
    # Host mounts below /run (ip netns bind mounts) would pin other namespaces.
    with open("/proc/self/mounts") as f:
        below_run = [line.split()[1] for line in f if line.split()[1].startswith("/run/")]
    for mp in sorted(below_run, reverse=True):
        subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
    _mount("-t", "proc", "-o", "nosuid,nodev,noexec", "proc", "/proc")
    _mount("-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", "tmpfs", "/run")
    for d, mode in (("/run/lock", 0o1777), ("/run/sshd", 0o755), ("/run/lab", 0o755)):
        os.mkdir(d, mode)
        os.chmod(d, mode)

    # Private /dev: only harmless device nodes (and never a watchdog).
    hostdev = "/run/lab/hostdev"
    os.mkdir(hostdev)
    _mount("--bind", "/dev", hostdev)
    _mount("-t", "tmpfs", "-o", "mode=0755,nosuid", "tmpfs", "/dev")
    for dev in ("null", "zero", "full", "random", "urandom", "tty", "fuse"):
        if os.path.exists(f"{hostdev}/{dev}"):
            open(f"/dev/{dev}", "w").close()
            _mount("--bind", f"{hostdev}/{dev}", f"/dev/{dev}")
    subprocess.run(["umount", "-l", hostdev], check=True)
    os.rmdir(hostdev)
    os.mkdir("/dev/pts")
    _mount("-t", "devpts", "-o", "newinstance,ptmxmode=0666,mode=0620", "devpts", "/dev/pts")
    os.symlink("pts/ptmx", "/dev/ptmx")
    os.mkdir("/dev/shm")
    _mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", "/dev/shm")
    os.mkdir("/dev/mqueue")
    _mount("-t", "mqueue", "-o", "nosuid,nodev,noexec", "mqueue", "/dev/mqueue")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"/dev/{name}")
    _mount("-t", "sysfs", "-o", "ro,nosuid,nodev,noexec", "sysfs", "/sys")

    for target, upper in (("/etc", "etc"), ("/var/lib", "varlib"), ("/root", "root")):
        _mount("-t", "overlay", "overlay", "-o",
               f"lowerdir={target},upperdir={nd}/{upper},workdir={nd}/.work/{upper}", target)
    for src, target in (("corosync", "/etc/corosync"), ("corosync-state", "/var/lib/corosync"),
                        ("pve-cluster", "/var/lib/pve-cluster"), ("root-ssh", "/root/.ssh"),
                        ("log", "/var/log"), ("bin", "/usr/local/sbin")):
        os.makedirs(target, exist_ok=True)
        _mount("--bind", f"{nd}/{src}", target)
    # Nothing in a node may load kernel modules (watchdog drivers above all).
    for tool in ("/usr/sbin/modprobe", "/usr/sbin/insmod", "/sbin/modprobe"):
        if os.path.exists(tool) and not os.path.islink(tool):
            _mount("--bind", "/bin/false", tool)


class _Syslog:
    """A tiny syslog receiver on the node's /dev/log, appending to /var/log/syslog."""

    def __init__(self, path="/dev/log", out="/var/log/syslog"):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.setblocking(False)
        self.out = open(out, "a", buffering=1, errors="replace")

    def handle(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            msg = data.decode(errors="replace").rstrip("\n\0")
            m = re.match(r"<(\d+)>", msg)
            prio = ""
            if m:
                pri = int(m.group(1))
                prio = ["emerg", "alert", "crit", "err", "warning", "notice", "info",
                        "debug"][pri & 7] + " "
                msg = msg[m.end():]
                # Drop the client's own "Mon dd hh:mm:ss " timestamp if present.
                msg = re.sub(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ", "", msg)
            now = time.time()
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
            self.out.write(f"{stamp}.{int(now * 1000) % 1000:03d} {prio}{msg}\n")


def node_init(lab_dir, node):
    """PID 1 of a node: set up, start the boot services, reap children forever."""
    nd = Path(lab_dir) / node
    status_path = nd / "boot.status"
    try:
        host_pid = int(os.readlink("/proc/self"))  # host /proc is still mounted here
        _write(status_path, json.dumps({"state": "booting"}))
        _write(nd / "init.pid", f"{host_pid}\n")
        _node_mounts(nd)
        socket.sethostname(node)
        os.chdir("/")
        syslog = _Syslog()
    except Exception as e:  # report any setup failure to the lab, then die
        _init_log(f"setup failed: {e}")
        _write(status_path, json.dumps({"state": "failed", "error": f"setup: {e}"}))
        return 1
    _init_log(f"node {node} up (host pid {host_pid})")

    # Handlers, not SIG_IGN: ignored dispositions would be inherited by every daemon
    # (libfuse, for one, then leaves SIGTERM ignored); handlers reset on exec.
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGUSR1):
        signal.signal(sig, lambda *_: None)
    rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wfd)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sel = selectors.DefaultSelector()
    sel.register(rfd, selectors.EVENT_READ, "signal")
    sel.register(syslog.sock, selectors.EVENT_READ, "syslog")

    with open("/var/log/boot.log", "ab") as blog:
        boot = subprocess.Popen(["node-service", "boot"], stdin=subprocess.DEVNULL,
                                stdout=blog, stderr=subprocess.STDOUT)
    boot_pid = boot.pid
    boot.returncode = 0  # reaped by the loop below, not by Popen
    while True:
        for key, _ in sel.select(timeout=5):
            if key.data == "signal":
                try:
                    os.read(rfd, 512)
                except BlockingIOError:
                    pass
            else:
                syslog.handle()
        while True:
            try:
                pid, wstatus = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == boot_pid:
                rc = os.waitstatus_to_exitcode(wstatus)
                state = {"state": "ready" if rc == 0 else "failed", "rc": rc}
                if rc != 0:
                    state["error"] = f"node-service boot exited with {rc} (see boot.log)"
                _write(status_path, json.dumps(state))
                _init_log(f"boot finished: {state['state']}")


# --------------------------------------------------------------------------- CLI


def _fmt(value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _print_status(lab):
    st = lab.state()
    if not st:
        print(f"lab '{lab.name}' is not up")
        return 3
    mode = "standalone" if st["standalone"] else "cluster"
    print(f"lab '{lab.name}' ({mode}, {len(st['nodes'])} nodes) in {lab.dir}")
    rows = [("NODE", "ADDRESS", "RUNNING", "PID", "FENCED", "QUORATE", "MEMBERS",
             "/etc/pve", "ISOLATED")]
    for s in lab.status():
        rows.append((s["node"], s["address"], _fmt(s["running"]), _fmt(s["pid"]),
                     _fmt(s["fenced"]), _fmt(s["quorate"]), _fmt(s["members"]),
                     "mounted" if s["mounted"] else "-", _fmt(s["isolated"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def build_parser():
    p = argparse.ArgumentParser(
        prog="lab",
        description="Build and drive a real N-node cluster of namespaces on this machine "
                    "(see docs/lab.md).",
        epilog="Environment: LAB_NAME, LAB_DIR, BUILD_DIR, LAB_PMXCFS_ARGS, LAB_NO_PMXCFS, "
               "LAB_TOKEN, LAB_WD_CLIENT_TIMEOUT, LAB_WD_DEVICE_TIMEOUT.")
    p.add_argument("--name", help="lab name, prefix of its namespaces (default $LAB_NAME "
                                  f"or '{default_name()}')")
    p.add_argument("--dir", help="lab directory (default $LAB_DIR or /tmp/<name>)")
    p.add_argument("--build-dir", help="build directory with the binaries (default "
                                       "$BUILD_DIR or <repo>/build)")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")
    sub.required = True

    up = sub.add_parser("up", help="start nodes n1..nN and wait until they are ready")
    up.add_argument("n", type=int, help="number of nodes")
    up.add_argument("--standalone", action="store_true",
                    help="standalone machines: no corosync, pmxcfs in local mode, sshd "
                         "with a shared root key (form the cluster with pvecm)")
    up.add_argument("--no-pmxcfs", action="store_true", help="do not start pmxcfs")
    up.add_argument("--no-watchdog", action="store_true",
                    help="do not start watchdog-emu and watchdog-mux")
    up.add_argument("--no-ssh", action="store_true",
                    help="no sshd in cluster mode (standalone mode always has it)")
    up.add_argument("--pmxcfs-args", help="extra pmxcfs arguments (default $LAB_PMXCFS_ARGS)")
    up.add_argument("--token", type=int, help="corosync token timeout in ms (default "
                                              "$LAB_TOKEN or 1000)")
    up.add_argument("--wd-client-timeout", type=int,
                    help="watchdog-mux client timeout in s (default 10)")
    up.add_argument("--wd-device-timeout", type=int,
                    help="emulated watchdog timeout in s (default 5)")
    up.add_argument("--timeout", type=float, default=60,
                    help="seconds to wait for the nodes (default 60)")
    up.add_argument("--keep-on-failure", action="store_true",
                    help="leave a failed lab in place for inspection")

    sub.add_parser("down", help="remove everything the lab created")
    ex = sub.add_parser("exec", help="run a command inside a node (exit status passes "
                                     "through)")
    ex.add_argument("node")
    ex.add_argument("command", nargs=argparse.REMAINDER)
    off = sub.add_parser("poweroff", help="kill every process of a node at once")
    off.add_argument("node")
    on = sub.add_parser("poweron", help="start a powered-off node again")
    on.add_argument("node")
    on.add_argument("--no-wait", action="store_true", help="do not wait for the node")
    on.add_argument("--timeout", type=float, default=60)
    iso = sub.add_parser("isolate", help="cut a node's network link")
    iso.add_argument("node")
    rej = sub.add_parser("rejoin", help="restore a node's network link")
    rej.add_argument("node")
    sub.add_parser("status", help="show every node: running, fenced, quorate, mounted")
    lg = sub.add_parser("logs", help="print a node's log files")
    lg.add_argument("node")
    lg.add_argument("-n", "--lines", type=int, help="only the last N lines of each file")
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["node-init"]:
        return node_init(argv[1], argv[2])
    args = build_parser().parse_args(argv)
    try:
        lab = Lab(args.name, args.dir, args.build_dir)
        if args.cmd == "up":
            t0 = time.monotonic()
            st = lab.up(args.n, standalone=args.standalone,
                        pmxcfs=False if args.no_pmxcfs else None,
                        watchdog=not args.no_watchdog, ssh=not args.no_ssh,
                        token=args.token, pmxcfs_args=args.pmxcfs_args,
                        wd_client_timeout=args.wd_client_timeout,
                        wd_device_timeout=args.wd_device_timeout, timeout=args.timeout,
                        keep_on_failure=args.keep_on_failure)
            count = len(st["nodes"])
            print(f"lab '{lab.name}': {count} node{'s' if count > 1 else ''} up in "
                  f"{time.monotonic() - t0:.1f}s ({lab.dir})")
            return 0
        if args.cmd == "down":
            lab.down()
            return 0
        if args.cmd == "exec":
            if not args.command:
                raise LabError("exec needs a command")
            cmd = args.command[1:] if args.command[0] == "--" else args.command
            p = lab.exec(args.node, cmd, capture=False, timeout=None)
            return p.returncode if p.returncode >= 0 else 128 - p.returncode
        if args.cmd == "poweroff":
            lab.poweroff(args.node)
            return 0
        if args.cmd == "poweron":
            if not lab.poweron(args.node, wait=not args.no_wait, timeout=args.timeout):
                print(f"lab: {args.node} is already running", file=sys.stderr)
            return 0
        if args.cmd == "isolate":
            lab.isolate(args.node)
            return 0
        if args.cmd == "rejoin":
            lab.rejoin(args.node)
            return 0
        if args.cmd == "status":
            return _print_status(lab)
        if args.cmd == "logs":
            sys.stdout.write(lab.logs(args.node, args.lines))
            return 0
    except LabError as e:
        print(f"lab: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
