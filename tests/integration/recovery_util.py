"""Helpers for the recovery and soak tests (test_recovery.py, test_soak.py).

- RecoveryBerthd: a private berthd (conftest.Berthd) that can be started with
  BERTH_CRASH_AT, SIGKILLed, restarted on the same work dir / socket / agent
  id, and pointed at another docker socket;
- the `daemons` fixture: makes them and always tears them down (SIGTERM or
  SIGKILL, `docker rm -f` by agent label, temp dir removed), and attaches
  their logs to a failing test's report;
- DockerProxy: a unix-socket forwarder in front of /var/run/docker.sock run
  as its own process, so that killing it cuts every connection berthd has to
  "dockerd" at once (a dockerd outage without stopping the shared dockerd);
- task commands (tickers, gated exits) and output checkers;
- check_invariants / remove_all_and_check_clean: the recovery contract
  (API.md §8) as assertions.
"""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import berthlib
from berthlib import UnixHTTPConnection, docker, poll

DOCKER_SOCK = "/var/run/docker.sock"
DOCKER_API = "/v1.41"
CRASH_EXIT = 99          # berth_crashpoint() does _exit(99)
CRASH_TIMEOUT = 30.0     # from the driving request to berthd's exit
SETTLE_TIMEOUT = 30.0    # transient stages / async docker removals

# Every crash point berthd documents (the brief; src/util/crashpoint.h).
CRASH_POINTS = [
    "after-FETCHING", "after-PULLING", "after-MOUNTING", "after-create",
    "after-start", "after-RUNNING", "after-kill-sent", "after-DESTROYING",
    "before-terminated", "after-TERMINATED", "after-docker-remove",
]

LAUNCH_STAGES = ("FETCHING", "PULLING", "MOUNTING")
STABLE_STAGES = ("RUNNING", "TERMINATED")
ALL_STAGES = LAUNCH_STAGES + ("RUNNING", "DESTROYING", "TERMINATED")


# ----------------------------------------------------------------------------
# task commands (busybox sh)

def ticker_cmd(period_us=50000, stderr=True, limit=None):
    """Print 0, 1, 2, ... to stdout (and e0, e1, ... to stderr), one line
    every period_us; forever, or `limit` lines then exit 0."""
    cond = "true" if limit is None else '[ "$i" -lt %d ]' % limit
    err = ' echo "e$i" >&2;' if stderr else ""
    return ('i=0; while %s; do echo "$i";%s i=$((i+1)); usleep %d; done'
            % (cond, err, period_us))


def gated_cmd(code, before="start", after="bye", tick_us=None):
    """Print `before`, wait until the file `go` appears in the sandbox, print
    `after`, exit `code`.  With tick_us, print a counter while waiting."""
    if tick_us:
        wait = ('i=0; while [ ! -e "$MESOS_SANDBOX/go" ]; do echo "$i"; '
                'i=$((i+1)); usleep %d; done; ' % tick_us)
    else:
        wait = 'while [ ! -e "$MESOS_SANDBOX/go" ]; do usleep 50000; done; '
    return 'echo %s; %secho %s; exit %d' % (before, wait, after, code)


def open_gate(d, cid):
    with open(os.path.join(d.sandbox(cid), "go"), "w") as f:
        f.write("go\n")


def counter_lines(data, prefix=""):
    """Check that data is "<prefix>0\\n<prefix>1\\n...": no gap, no duplicate,
    nothing else.  Returns the number of lines.  A trailing partial line
    is an error (echo writes each line in one write)."""
    text = data.decode(errors="replace")
    if text == "":
        return 0
    assert text.endswith("\n"), "output does not end with a newline: %r" % text[-80:]
    lines = text[:-1].split("\n")
    for i, line in enumerate(lines):
        if line != "%s%d" % (prefix, i):
            lo = max(0, i - 3)
            raise AssertionError(
                "counter output broken at line %d: expected %r, got %r "
                "(lines %d..%d: %r; %d lines in all)"
                % (i, "%s%d" % (prefix, i), line, lo, i + 3,
                   lines[lo:i + 4], len(lines)))
    return len(lines)


def counter_with_gate(data, before, after):
    """Output of gated_cmd(tick_us=...): before, 0..n-1, after."""
    text = data.decode(errors="replace")
    assert text.startswith(before + "\n"), text[:200]
    assert text.endswith("\n" + after + "\n"), text[-200:]
    middle = text[len(before) + 1:len(text) - len(after) - 1]
    return counter_lines(middle.encode())


# ----------------------------------------------------------------------------
# berthd

def _conftest():
    # conftest.py is imported by pytest under this name (rootdir-less
    # "prepend" import mode: tests/integration is on sys.path).
    import conftest
    return conftest


class RecoveryBerthd(_conftest().Berthd):
    """A private berthd that can crash and be restarted.

    Defaults for these tests: --docker_remove_delay=0secs (removal of docker
    containers is part of what recovery must finish) and
    --docker_stop_timeout=0secs.
    """

    def __init__(self, tag, extra_flags=(), agent_id=None,
                 docker_socket=DOCKER_SOCK, colon_work_dir=False):
        super().__init__((), tag=tag)
        if colon_work_dir:
            # A ':' in the sandbox path makes berthd mount it through a link
            # under <runtime_dir>/links/<agent_id> (API.md §1).
            self.work_dir = os.path.join(self.root, "wo:rk")
            os.makedirs(self.work_dir)
        if agent_id is not None:
            self.agent_id = agent_id
            self.log_path = os.path.join(
                _conftest().LOG_DIR, "%s-%s.log" % (tag, agent_id))
        self.docker_socket = docker_socket
        flags = [
            "--work_dir=" + self.work_dir,
            "--runtime_dir=" + self.runtime_dir,
            "--listen=unix:" + self.sock,
            "--agent_id=" + self.agent_id,
            "--docker_socket=" + docker_socket,
            "--docker_remove_delay=0secs",
            "--docker_stop_timeout=0secs",
            "--allowed_host_paths=" + self.allowed_dir,
        ]
        # Later flags win; keep the caller's last.
        names = {f.split("=", 1)[0] for f in extra_flags}
        self.flags = [f for f in flags if f.split("=", 1)[0] not in names]
        self.flags += list(extra_flags)
        self.crash_at = None
        self._log = None
        self.starts = 0

    # -- lifecycle ----------------------------------------------------------
    def start(self, crash_at=None, ready_timeout=None):
        conftest = _conftest()
        self.crash_at = crash_at
        self.spawn(env=self._env(crash_at),
                   header="BERTH_CRASH_AT=%s " % crash_at if crash_at else "")
        self.starts += 1
        return self.wait_ready(ready_timeout or conftest.READY_TIMEOUT)

    def start_serving(self, timeout=20.0):
        """Start and wait only until berthd answers at all (any status): for
        a start while dockerd is unreachable."""
        self.spawn(env=self._env(None))
        self.starts += 1
        self.wait_ready(timeout, ready=lambda status: True)
        return self.client.health(timeout=2.0)

    @staticmethod
    def _env(crash_at):
        env = dict(os.environ)
        env.pop("BERTH_CRASH_AT", None)
        if crash_at:
            env["BERTH_CRASH_AT"] = crash_at
        return env

    def restart(self, crash_at=None):
        """Start again, same flags, work dir, socket and agent id (without
        BERTH_CRASH_AT unless given)."""
        assert not self.alive(), "restart() of a running berthd"
        self.note("restarted by the test after it %s" % self.describe_exit())
        return self.start(crash_at=crash_at)

    def kill9(self):
        """SIGKILL berthd (its containers keep running)."""
        assert self.alive(), "berthd is not running: %s" % self.describe_exit()
        self.note("SIGKILL by the test")
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def wait_crash(self, point, what="driving it there", reply=None,
                   timeout=CRASH_TIMEOUT):
        """berthd must exit with status 99 at crash point `point`.  reply:
        what the driving request got (None when the connection was cut)."""
        if reply is not None:
            # It answered: the crash, if any, comes right after.
            timeout = min(timeout, 5.0)
        got = "the request's connection was cut" if reply is None else \
            "the request was answered %d %s" % (reply.status, reply.text.strip()[:200])
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        if rc is None:
            raise AssertionError(
                "BERTH_CRASH_AT=%s: berthd still running %.0fs after %s (%s): "
                "the crash point was never reached; log:\n%s"
                % (point, timeout, what, got, self.log_tail(30)))
        assert rc == CRASH_EXIT, (
            "BERTH_CRASH_AT=%s: berthd %s after %s, expected exit status %d; log:\n%s"
            % (point, self.describe_exit(), what, CRASH_EXIT, self.log_tail(30)))

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log is not None and not self._log.closed:
            self._log.close()

    def teardown(self):
        try:
            try:
                self.stop()
            except Exception:
                if self.proc is not None and self.proc.poll() is None:
                    self.proc.kill()
        finally:
            self.cleanup_docker()
            shutil.rmtree(self.root, ignore_errors=True)

    # -- views ----------------------------------------------------------------
    def sandboxes_dir(self):
        return os.path.join(self.work_dir, "sandboxes")

    def containers(self, timeout=30.0):
        """GET_CONTAINERS as {id: entry}."""
        out = {}
        for c in self.client.get_containers(timeout=timeout):
            cid = c["container_id"]["value"]
            assert cid not in out, "GET_CONTAINERS lists %s twice" % cid
            out[cid] = c
        return out

    def docker_containers(self):
        """This agent's docker containers: {container id label: (name, state,
        docker id)}; the brief's `docker ps -a --filter label=...`."""
        p = docker("ps", "-a", "--no-trunc", "--filter",
                   "label=berth.agent_id=" + self.agent_id, "--format",
                   '{{.ID}}\t{{.Names}}\t{{.State}}\t{{.Label "berth.container_id"}}')
        out = {}
        for line in p.stdout.decode().splitlines():
            if not line.strip():
                continue
            did, name, state, cid = (line.split("\t") + [""] * 4)[:4]
            out.setdefault(cid, []).append((name, state, did))
        return out


# ----------------------------------------------------------------------------
# fixture


def daemons_fixture(request):
    """make(tag=None, start=True, crash_at=None, **RecoveryBerthd kwargs) →
    a RecoveryBerthd; make.scratch() → a short temp dir (unix socket paths
    must stay under 108 bytes).  All torn down after the test."""
    started = []
    scratch = []
    request.node._berth_daemons = started  # conftest attaches their logs

    def make(tag=None, start=True, crash_at=None, **kw):
        d = RecoveryBerthd(tag or request.node.name[:40], **kw)
        started.append(d)
        # conftest's report hook shows the log from this marker on.
        d.note("test %s starts" % request.node.nodeid)
        if start:
            d.start(crash_at=crash_at)
        return d

    def make_scratch():
        path = tempfile.mkdtemp(prefix="btr-")
        scratch.append(path)
        return path

    make.scratch = make_scratch
    try:
        yield make
    finally:
        for d in started:
            try:
                d.teardown()
            except Exception:
                pass
        for path in scratch:
            shutil.rmtree(path, ignore_errors=True)


# ----------------------------------------------------------------------------
# requests that may be cut by a crash


class Async:
    """Run fn() in a thread; keep its result or exception."""

    def __init__(self, fn, *args, **kw):
        self.result = None
        self.exc = None
        self.thread = threading.Thread(target=self._run, args=(fn, args, kw),
                                       daemon=True)
        self.thread.start()

    def _run(self, fn, args, kw):
        try:
            self.result = fn(*args, **kw)
        except BaseException as e:  # noqa: B902 - recorded for the test
            self.exc = e

    def join(self, timeout=60.0):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "request still pending after %.0fs" % timeout
        return self


def call_cut(fn, *args, **kw):
    """Call a request that berthd is expected to crash in: returns the
    reply, or None when the connection was cut (the expected outcome)."""
    try:
        return fn(*args, **kw)
    except (OSError, http.client.HTTPException):
        return None


# ----------------------------------------------------------------------------
# docker engine API (for orphans made behind berthd's back)


def docker_api(method, path, body=None, timeout=60.0):
    conn = UnixHTTPConnection(DOCKER_SOCK, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, DOCKER_API + path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw.strip() else None)
    finally:
        conn.close()


def docker_create_started(name, labels, cmd=("sleep", "3600"),
                          image=berthlib.DEFAULT_IMAGE):
    """Create and start a docker container through the Engine API."""
    st, ans = docker_api("POST", "/containers/create?name=" + name,
                         {"Image": image, "Cmd": list(cmd), "Labels": labels})
    assert st == 201, "docker create %s: %d %r" % (name, st, ans)
    st, ans2 = docker_api("POST", "/containers/%s/start" % ans["Id"])
    assert st == 204, "docker start %s: %d %r" % (name, st, ans2)
    return ans["Id"]


def docker_state(name_or_id):
    """(Status, ExitCode) or None when the container does not exist."""
    st, ans = docker_api("GET", "/containers/%s/json" % name_or_id)
    if st == 404:
        return None
    assert st == 200, (st, ans)
    return ans["State"]["Status"], ans["State"]["ExitCode"]


def docker_rm_f(*names):
    if names:
        docker("rm", "-f", *names, check=False)


# ----------------------------------------------------------------------------
# the dockerd-outage proxy


class DockerProxy:
    """A unix-socket forwarder to dockerd (PROXY_SRC) as a child process."""

    def __init__(self, listen_path, upstream=DOCKER_SOCK):
        self.listen_path = listen_path
        self.upstream = upstream
        self.control_path = listen_path + ".rules"
        self.proc = None

    def hold(self, substring, seconds):
        """Hold requests containing substring for seconds (None: stop)."""
        if substring is None:
            if os.path.exists(self.control_path):
                os.unlink(self.control_path)
            return
        with open(self.control_path + ".tmp", "w") as f:
            f.write("%s %s\n" % (substring, seconds))
        os.rename(self.control_path + ".tmp", self.control_path)

    def start(self):
        assert self.proc is None or self.proc.poll() is not None
        if os.path.exists(self.listen_path):
            os.unlink(self.listen_path)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PROXY_SRC, self.listen_path, self.upstream,
             self.control_path],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        # Ready when a request through it answers.
        def ok():
            conn = UnixHTTPConnection(self.listen_path, timeout=5)
            try:
                conn.request("GET", "/_ping")
                return conn.getresponse().status == 200
            finally:
                conn.close()
        poll(ok, 15, interval=0.05, what="docker proxy answering")
        return self

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


# The proxy's own code, run with `python3 -c` so that it imports nothing of
# the test suite.  Each accepted connection gets its own upstream connection
# and two pumping threads; SIGKILL of the process cuts them all at once.
# Control file (argv[3]): lines "<substring> <seconds>"; a request whose
# bytes contain the substring is held that long before it goes to dockerd,
# and it still goes there if berthd has died meanwhile (as a request already
# in dockerd's socket buffer would).
PROXY_SRC = r"""
import os, socket, sys, threading, time

listen_path, upstream = sys.argv[1], sys.argv[2]
control = sys.argv[3] if len(sys.argv) > 3 else None

def rules():
    try:
        with open(control) as f:
            out = []
            for line in f:
                parts = line.rsplit(None, 1)
                if len(parts) == 2:
                    out.append((parts[0].encode(), float(parts[1])))
            return out
    except (OSError, TypeError, ValueError):
        return []

def shut(sock):
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass

def pump_up(client, up):
    held = False
    try:
        while True:
            data = client.recv(65536)
            if not data:
                break
            for pat, secs in rules():
                if pat in data:
                    held = True
                    time.sleep(secs)
            up.sendall(data)
    except OSError:
        pass
    if held:
        time.sleep(5)    # let dockerd act on what was held
    shut(up)

def pump_down(up, client):
    try:
        while True:
            data = up.recv(65536)
            if not data:
                break
            client.sendall(data)
    except OSError:
        pass
    shut(client)

if os.path.exists(listen_path):
    os.unlink(listen_path)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(listen_path)
srv.listen(128)
while True:
    client, _ = srv.accept()
    up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        up.connect(upstream)
    except OSError:
        client.close()
        up.close()
        continue
    threading.Thread(target=pump_up, args=(client, up), daemon=True).start()
    threading.Thread(target=pump_down, args=(up, client), daemon=True).start()
"""


# ----------------------------------------------------------------------------
# invariants (API.md §8)


def settle(d, timeout=SETTLE_TIMEOUT):
    """Wait until every container is RUNNING or TERMINATED; returns the
    GET_CONTAINERS map."""
    last = {}

    def stable():
        last.clear()
        last.update(d.containers())
        return all(c["stage"] in STABLE_STAGES for c in last.values())
    try:
        poll(stable, timeout, interval=0.2, what="every container RUNNING or TERMINATED")
    except AssertionError:
        raise AssertionError(
            "containers still in transient stages after %.0fs: %s" % (
                timeout, {k: v["stage"] for k, v in last.items()
                          if v["stage"] not in STABLE_STAGES})) from None
    return dict(last)


def check_docker_matches(d, timeout=SETTLE_TIMEOUT):
    """No docker container of this agent id without a record; every RUNNING
    record has a running docker container; a TERMINATED one none after the
    remove delay (0 here).  Polls: removals are asynchronous."""
    state = {}

    def check():
        state.clear()
        known = d.containers()
        dk = d.docker_containers()
        problems = []
        for cid, entries in dk.items():
            if cid not in known:
                problems.append("docker container(s) %s (label berth.container_id=%r) "
                                "have no record" % ([e[0] for e in entries], cid))
            elif len(entries) > 1:
                problems.append("several docker containers for %s: %s" % (cid, entries))
            elif known[cid]["stage"] == "TERMINATED":
                problems.append("%s is TERMINATED but docker container %s (%s) is "
                                "still there with --docker_remove_delay=0secs"
                                % (cid, entries[0][0], entries[0][1]))
        for cid, c in known.items():
            if c["stage"] == "RUNNING":
                ents = dk.get(cid, [])
                if not ents or ents[0][1] != "running":
                    problems.append("%s is RUNNING but docker has %s" % (cid, ents))
                elif ents[0][0] != d.docker_name(cid):
                    problems.append("%s runs as %s, not %s" % (cid, ents[0][0], d.docker_name(cid)))
        state["problems"] = problems
        return not problems
    try:
        poll(check, timeout, interval=0.3, what="docker containers to match the records")
    except AssertionError:
        raise AssertionError("records vs docker after %.0fs: %s"
                             % (timeout, "; ".join(state.get("problems", [])))) from None


def check_get_endpoints_agree(d):
    """GET /containers is the GET_CONTAINERS list."""
    r = d.client.get("/containers")
    assert r.status == 200, r
    plain = sorted(c["container_id"]["value"] for c in r.json())
    api = sorted(d.containers())
    assert plain == api, "GET /containers %s != GET_CONTAINERS %s" % (plain, api)


def check_termination(cid, term, state, reason=None, exit_code=None,
                      message_re=None):
    assert term is not None, "%s: no termination" % cid
    assert term.get("state") == state, "%s: expected %s, got %r" % (cid, state, term)
    if reason is None:
        assert "reason" not in term or term["reason"] in (None, ""), (
            "%s: unexpected reason in %r" % (cid, term))
    elif reason is not False:
        assert term.get("reason") == reason, "%s: expected reason %s, got %r" % (
            cid, reason, term)
    if exit_code is not None:
        assert term.get("exit_code") == exit_code, "%s: expected exit_code %d, got %r" % (
            cid, exit_code, term)
        if exit_code >= 0:
            assert term.get("exit_status") == exit_code << 8, (
                "%s: exit_status %r for exit code %d" % (cid, term.get("exit_status"), exit_code))
    if message_re is not None:
        msg = term.get("message") or ""
        assert re.search(message_re, msg), "%s: message %r does not match %r" % (
            cid, msg, message_re)


def check_invariants(d, expect=None, timeout=SETTLE_TIMEOUT):
    """The recovery invariants, short of removing anything.

    expect: {cid: fn(entry)} run on each listed container's GET_CONTAINERS
    entry (after settling); a listed id must be known.  Returns the map.
    """
    known = settle(d, timeout)
    for cid, c in known.items():
        assert c.get("docker_name") == d.docker_name(cid), c
        if c["stage"] == "TERMINATED":
            t = c.get("termination")
            assert t and t.get("state") in ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED"), (
                "%s: TERMINATED without a valid termination: %r" % (cid, c))
        else:
            assert "termination" not in c, "%s: RUNNING with a termination: %r" % (cid, c)
            # Its output goes to the sandbox.
            assert os.path.isdir(d.sandbox(cid)), "%s: RUNNING without sandbox %s" % (
                cid, d.sandbox(cid))
    for cid, fn in (expect or {}).items():
        assert cid in known, "%s unknown after recovery; known: %s" % (cid, sorted(known))
        fn(known[cid])
    check_docker_matches(d, timeout)
    check_get_endpoints_agree(d)
    return known


def kill_wait_all(d, timeout=60.0):
    """KILL every non-terminated container; WAIT on all; returns {cid: wait}.
    Every WAIT must answer."""
    known = d.containers()
    for cid, c in known.items():
        if c["stage"] != "TERMINATED":
            r = d.client.kill(cid)
            assert r.status == 200, "KILL %s (%s): %r" % (cid, c["stage"], r)
    waits = {cid: Async(d.client.wait, cid, timeout=timeout) for cid in known}
    out = {}
    for cid, a in waits.items():
        a.join(timeout + 10)
        assert a.exc is None, "WAIT %s: %r" % (cid, a.exc)
        assert a.result.status == 200, "WAIT %s: %r" % (cid, a.result)
        out[cid] = a.result.json()["wait_container"]
        assert out[cid].get("state") in ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED"), out[cid]
    return out


def remove_all_and_check_clean(d, timeout=SETTLE_TIMEOUT):
    """REMOVE every container (all must be TERMINATED by now); then nothing
    of this agent is left: no record, docker container, sandbox or link."""
    for cid, c in d.containers().items():
        assert c["stage"] == "TERMINATED", "%s still %s" % (cid, c["stage"])
        r = d.client.remove(cid)
        assert r.status == 200, "REMOVE %s: %r" % (cid, r)
        assert d.client.remove(cid).status == 404
    assert d.containers() == {}, "records left after REMOVE of all: %s" % sorted(d.containers())
    left = {}

    def clean():
        left.clear()
        left.update(d.docker_containers())
        return not left
    try:
        poll(clean, timeout, interval=0.3, what="no docker container of the agent")
    except AssertionError:
        raise AssertionError("docker containers of agent %s left after REMOVE of all: %s"
                             % (d.agent_id, left)) from None
    sb = os.listdir(d.sandboxes_dir()) if os.path.isdir(d.sandboxes_dir()) else []
    assert sb == [], "sandboxes left under %s: %s" % (d.sandboxes_dir(), sb)
    links = os.listdir(d.links_dir()) if os.path.isdir(d.links_dir()) else []
    assert links == [], "links left under %s: %s" % (d.links_dir(), links)
    logs_dir = os.path.join(d.work_dir, "logs")
    idx = os.listdir(logs_dir) if os.path.isdir(logs_dir) else []
    assert idx == [], "log indexes left under %s: %s" % (logs_dir, idx)

