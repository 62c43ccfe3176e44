"""Fixtures for berth's black-box integration suite.

Each test module gets its own berthd (private work dir, socket and agent id);
tests that need special flags start one of their own with `berthd_factory`.
Teardown stops the daemon (SIGTERM, then SIGKILL) and force-removes every
docker container carrying its agent id, so no test depends on another's
leftovers.

Environment:
  BERTH_BUILD_DIR      where berthd and berth live (default <repo>/build)
  BERTH_TEST_LOG_DIR   where daemon logs are kept (default /tmp/berth-it-logs)
"""

import http.client
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import berthlib
from berthlib import BerthClient

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD_DIR = os.environ.get("BERTH_BUILD_DIR", os.path.join(REPO_ROOT, "build"))
BERTHD = os.path.join(BUILD_DIR, "berthd")
BERTH_CLI = os.path.join(BUILD_DIR, "berth")
LOG_DIR = os.environ.get("BERTH_TEST_LOG_DIR", "/tmp/berth-it-logs")

READY_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0


class Berthd:
    """One private berthd process."""

    def __init__(self, extra_flags=(), tag="berthd"):
        self.agent_id = "t" + secrets.token_hex(4)
        # Short paths: a unix socket path must fit in 108 bytes.
        self.root = tempfile.mkdtemp(prefix="bt-%s-" % self.agent_id)
        self.work_dir = os.path.join(self.root, "work")
        # Private, so tests never touch /run/berth nor each other's links.
        self.runtime_dir = os.path.join(self.root, "run")
        self.sock = os.path.join(self.root, "berthd.sock")
        # A directory tests may use as a host volume (see allowed_host_paths).
        self.allowed_dir = os.path.join(self.root, "allowed")
        os.makedirs(self.work_dir)
        os.makedirs(self.allowed_dir)
        os.makedirs(LOG_DIR, exist_ok=True)
        self.log_path = os.path.join(LOG_DIR, "%s-%s.log" % (tag, self.agent_id))
        self.flags = [
            "--work_dir=" + self.work_dir,
            "--runtime_dir=" + self.runtime_dir,
            "--listen=unix:" + self.sock,
            "--agent_id=" + self.agent_id,
            "--docker_socket=/var/run/docker.sock",
        ]
        if not any(f.startswith("--allowed_host_paths=") for f in extra_flags):
            self.flags.append("--allowed_host_paths=" + self.allowed_dir)
        self.flags += list(extra_flags)
        self.proc = None
        self.client = BerthClient(self.sock)

    # -- paths -------------------------------------------------------------
    def sandbox(self, cid):
        return os.path.join(self.work_dir, "sandboxes", cid)

    def links_dir(self):
        """Where the links of sandboxes whose path holds ':' are (API.md §1)."""
        return os.path.join(self.runtime_dir, "links", self.agent_id)

    def stdout_path(self, cid):
        return os.path.join(self.sandbox(cid), "stdout")

    def stderr_path(self, cid):
        return os.path.join(self.sandbox(cid), "stderr")

    def docker_name(self, cid):
        return "berth-%s.%s" % (self.agent_id, cid)

    @property
    def addr(self):
        return "unix:" + self.sock

    # -- lifecycle ---------------------------------------------------------
    def spawn(self, env=None, header=""):
        """Start the process, its output appended to the log."""
        if not os.access(BERTHD, os.X_OK):
            pytest.fail("berthd not built: %s is missing (set BERTH_BUILD_DIR)"
                        % BERTHD)
        log = getattr(self, "_log", None)
        if log is not None and not log.closed:
            log.close()
        self._log = open(self.log_path, "ab")
        self._log.write(("### %s%s\n" % (header, " ".join([BERTHD] + self.flags))).encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            [BERTHD] + self.flags, stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)

    def wait_ready(self, timeout=READY_TIMEOUT, ready=lambda status: status == 200):
        """Until /health answers a status `ready` accepts; fails if berthd
        exits or the time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(
                    "berthd exited with %s during start-up; log:\n%s"
                    % (self.proc.returncode, self.log_tail()))
            try:
                if ready(self.client.health(timeout=2.0).status):
                    return self
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    "berthd not healthy after %.0fs; log:\n%s"
                    % (timeout, self.log_tail()))
            time.sleep(0.05)

    def start(self):
        self.spawn()
        try:
            return self.wait_ready()
        except AssertionError:
            self.stop()
            raise

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def note(self, text):
        """Write a marker line into the daemon's log."""
        try:
            with open(self.log_path, "ab") as f:
                f.write(("### %s\n" % text).encode())
        except OSError:
            pass

    def describe_exit(self):
        rc = self.proc.returncode
        if rc is not None and rc < 0:
            try:
                return "killed by signal %s" % signal.Signals(-rc).name
            except ValueError:
                return "killed by signal %d" % -rc
        return "exited with status %s" % rc

    def restart(self):
        """Start again after a crash, same flags and work dir."""
        self._log.close()
        self.note("restarted by the test harness after it %s"
                  % self.describe_exit())
        self.start()

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is not None:
            self.note("berthd had already %s" % self.describe_exit())
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()

    def cleanup_docker(self):
        """docker rm -f every container of this agent id."""
        try:
            ids = berthlib.docker_ids("berth.agent_id=" + self.agent_id)
            if ids:
                berthlib.docker("rm", "-f", *ids, check=False)
        except Exception:
            pass

    def teardown(self):
        try:
            self.stop()
        finally:
            self.cleanup_docker()
            shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, n=60, since_test=None):
        """The last n lines of the log, or those since since_test started."""
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        if since_test:
            marker = "### test %s starts" % since_test
            for i in range(len(lines) - 1, -1, -1):
                if lines[i] == marker:
                    lines = lines[i:]
                    n = max(n, 200)
                    break
        return "\n".join(lines[-n:])


def _start(flags, tag, started):
    d = Berthd(flags, tag=tag)
    started.append(d)
    d.start()
    return d


@pytest.fixture(scope="module")
def berthd(request):
    """A private berthd for the whole test module.

    A module may set BERTHD_FLAGS = [...] to add flags.
    """
    flags = getattr(request.module, "BERTHD_FLAGS", [])
    tag = request.module.__name__.rsplit(".", 1)[-1]
    started = []
    try:
        yield _start(flags, tag, started)
    finally:
        for d in started:
            d.teardown()


@pytest.fixture
def berthd_factory(request):
    """Start extra berthd processes with chosen flags; torn down after the test."""
    started = []
    request.node._berth_daemons = started

    def make(*flags):
        return _start(list(flags), request.node.name[:40], started)

    try:
        yield make
    finally:
        for d in started:
            d.teardown()


@pytest.fixture(autouse=True)
def _berthd_watch(request):
    """A crash of the module's berthd fails the test during which it happened
    (even one whose assertions passed), and the next test gets a restarted
    daemon instead of failing on a refused connection."""
    if "berthd" not in request.fixturenames:
        yield
        return
    d = request.getfixturevalue("berthd")
    if not d.alive():
        d.restart()
    d.note("test %s starts" % request.node.nodeid)
    yield
    if not d.alive():
        pytest.fail("berthd %s during %s (see %s)" % (
            d.describe_exit(), request.node.name, d.log_path), pytrace=False)


@pytest.fixture
def client(berthd):
    return berthd.client


_counter = [0]


@pytest.fixture
def new_id(request, berthd):
    """Make container ids unique within a module; REMOVE them after the test.

    Usage: cid = new_id("exit3")
    """
    made = []

    def make(prefix="c"):
        _counter[0] += 1
        cid = "%s-%d" % (prefix, _counter[0])
        made.append(cid)
        return cid

    yield make
    if berthd.alive():
        for cid in made:
            berthd.client.cleanup(cid, timeout=30)


# ----------------------------------------------------------------------------
# Attach the daemon's log tail to failing tests: the first thing one needs.


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "setup" or not rep.failed:
        return
    daemons = []
    funcargs = getattr(item, "funcargs", {})
    if isinstance(funcargs.get("berthd"), Berthd):
        daemons.append(funcargs["berthd"])
    daemons += getattr(item, "_berth_daemons", [])
    for d in daemons:
        rep.sections.append(("berthd %s log (%s)" % (d.agent_id, d.log_path),
                             d.log_tail(since_test=item.nodeid)))
