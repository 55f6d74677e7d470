"""pytest fixtures for multi-node tests on the lab (tests/lab/pvelab.py).

Fixtures:
  lab          session-scoped 3-node cluster (cluster mode), torn down at the end of
               the session, also when tests fail.  After each test that used it,
               isolated nodes are rejoined and stopped nodes powered on (Lab.heal).
  module_lab   a fresh lab for one test module, shaped by the module's LAB_OPTIONS
               (keyword arguments of Lab.up, e.g. {"n": 3, "standalone": True}).
  make_lab     factory for fresh labs inside one test: make_lab(3, standalone=True);
               every lab it made is torn down after the test.

Binaries come from $BUILD_DIR (default <repo>/build).  Lab names are derived from the
repository path, so checkouts on one machine (developers' worktrees, CI) never share
namespaces.  The environment variables of the lab command apply (LAB_PMXCFS_ARGS,
LAB_TOKEN, LAB_NO_PMXCFS=1 to start the labs without pmxcfs, ...).
"""

import hashlib
import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lab"))

import pvelab  # noqa: E402

BUILD_DIR = Path(os.environ.get("BUILD_DIR") or REPO / "build")
_TAG = hashlib.sha1(str(REPO).encode()).hexdigest()[:6]


def lab_name(suffix):
    """Lab name unique to this checkout: pvt<hash>-<suffix>."""
    return f"pvt{_TAG}-{suffix}"


def _skip_reason():
    if os.geteuid() != 0:
        return "lab tests need root (namespaces, mounts, FUSE)"
    missing = [t for t in pvelab.HOST_TOOLS + pvelab.CLUSTER_TOOLS + pvelab.SSH_TOOLS
               if not shutil.which(t)]
    if missing:
        return f"missing commands {missing} (run contrib/install-deps)"
    return None


class _Labs:
    """Labs started by one fixture; stop() tears every one of them down."""

    def __init__(self):
        self.labs = []

    def start(self, suffix, n=3, **options):
        reason = _skip_reason()
        if reason:
            pytest.skip(reason)
        lab = pvelab.Lab(name=lab_name(suffix), build_dir=BUILD_DIR)
        self.labs.append(lab)
        lab.down()  # leftovers of an interrupted earlier run
        lab.up(n, **options)
        return lab

    def stop(self):
        errors = []
        for lab in reversed(self.labs):
            try:
                lab.down()
            except pvelab.LabError as e:
                errors.append(f"{lab.name}: {e}")
        self.labs = []
        if errors:
            raise pvelab.LabError("; ".join(errors))


@pytest.fixture(scope="session")
def lab():
    labs = _Labs()
    try:
        yield labs.start("s", 3)
    finally:
        labs.stop()


@pytest.fixture(autouse=True)
def _heal_session_lab(request):
    """After every test that used the session lab, rejoin isolated and power on
    stopped nodes, so one test's failure does not cascade into the next."""
    yield
    if "lab" not in request.fixturenames:
        return
    try:
        lab = request.getfixturevalue("lab")
    except Exception:  # the lab failed to start: already reported by the test
        return
    lab.heal()


@pytest.fixture(scope="module")
def module_lab(request):
    options = dict(getattr(request.module, "LAB_OPTIONS", {}))
    n = options.pop("n", 3)
    labs = _Labs()
    try:
        yield labs.start("m", n, **options)
    finally:
        labs.stop()


@pytest.fixture
def make_lab():
    labs = _Labs()
    count = [0]

    def make(n=3, **options):
        count[0] += 1
        return labs.start(f"f{count[0]}", n, **options)

    try:
        yield make
    finally:
        labs.stop()
