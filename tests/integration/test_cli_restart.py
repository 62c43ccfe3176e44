"""A foreground `berth run` rides out a restart of berthd (issue 17): it
reconnects, waits again bound to its container, streams on from the byte
it had reached and exits with the task's code; berthd gives a bound client
--bound_client_timeout to come back after a restart; the first Ctrl-C says
what it does and how long it may take (API.md §3 kill_on_disconnect, §9)."""

import os
import queue
import signal
import subprocess
import threading
import time

from berthlib import docker_inspect, poll
from conftest import BERTH_CLI

# Bounds for polls and waits, not timing claims: they only stop a broken
# build from hanging the suite.
END_TIMEOUT = 120
LINES = 120  # one every 0.1 s: the task outlives a restart and a timeout


def counting_task(lines=LINES, code=7):
    return ("i=1; while [ $i -le %d ]; do echo line $i; i=$((i+1)); sleep 0.1; done; exit %d"
            % (lines, code))


def expected_lines(lines=LINES):
    return ["line %d" % i for i in range(1, lines + 1)]


class Reader:
    """Lines of a pipe, read on a thread so the test can wait with a bound."""

    def __init__(self, pipe):
        self.lines = []
        self.q = queue.Queue()
        self.t = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self.t.start()

    def _run(self, pipe):
        for raw in iter(pipe.readline, b""):
            self.q.put(raw)
        self.q.put(None)

    def until(self, pred, timeout=END_TIMEOUT, what="a line"):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s within %ds; got %r" % (what, timeout, self.lines[-5:]))
            try:
                raw = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if raw is None:
                raise AssertionError("pipe closed before %s; got %r" % (what, self.lines[-5:]))
            self.lines.append(raw)
            if pred(raw):
                return raw

    def rest(self, timeout=END_TIMEOUT):
        self.t.join(timeout)
        assert not self.t.is_alive(), "pipe still open"
        while True:
            raw = self.q.get_nowait()
            if raw is None:
                return self.lines
            self.lines.append(raw)


def start_run(d, cid, *args):
    env = dict(os.environ)
    env["BERTH_ADDR"] = d.addr
    for k in [k for k in env if k.startswith("SLURM_")]:
        del env[k]
    p = subprocess.Popen([BERTH_CLI, "run", "--name", cid] + list(args),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, start_new_session=True)
    return p, Reader(p.stdout), Reader(p.stderr)


def finish(p, timeout=END_TIMEOUT):
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise AssertionError("berth run did not end within %ds" % timeout)


def stage(d, cid):
    c = d.client.container(cid)
    return c.get("stage") if c else None


def docker_running(d, cid):
    try:
        return docker_inspect(d.docker_name(cid))["State"]["Running"]
    except AssertionError:
        return False


def log_text(d):
    with open(d.log_path, "rb") as f:
        return f.read().decode(errors="replace")


def restart_run_case(d, cid, stop):
    """A counting task under `berth run`; stop(d) takes berthd away once
    line 20 is out, then berthd starts again on the same work dir."""
    p, out, err = start_run(d, cid, "busybox:local", "sh", "-c", counting_task())
    try:
        out.until(lambda l: l == b"line 20\n", what="line 20")
        stop(d)
        assert docker_running(d, cid)  # berthd's going took nothing with it
        # berth notices the outage (its next poll fails) before berthd is back.
        err.until(lambda l: b"reconnecting" in l, what="berth's note that berthd went away")
        d.start()
        rc = finish(p)
        lines = [l.decode().rstrip("\n") for l in out.rest()]
        stderr = b"".join(err.rest()).decode(errors="replace")
        # Tell a daemon-side loss from a client-side one.
        with open(d.stdout_path(cid), "rb") as f:
            assert f.read().decode().splitlines() == expected_lines()
        assert lines == expected_lines(), (lines[:3], len(lines), stderr)
        assert rc == 7, (rc, stderr)
        w = d.client.wait_ok(cid)
        assert w["state"] == "TASK_FAILED" and w["exit_code"] == 7, w
        return stderr
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_run_rides_out_kill9_of_berthd(berthd_factory):
    # A short timeout that the returning client must beat: were it not
    # bound again, berthd would destroy its container while the task runs.
    d = berthd_factory("--bound_client_timeout=5secs")
    cid = "rst-kill9"

    def crash(d):
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=10)
        d._log.close()

    restart_run_case(d, cid, crash)
    log = log_text(d)
    assert "container %s: its bound client came back" % cid in log, log[-3000:]
    assert "its bound client did not come back" not in log
    d.client.cleanup(cid)


def test_run_rides_out_graceful_restart_of_berthd(berthd_factory):
    d = berthd_factory()
    cid = "rst-term"
    restart_run_case(d, cid, lambda d: d.stop())  # SIGTERM: berthd drops the bound WAIT itself
    assert "its bound client went away" not in log_text(d)
    d.client.cleanup(cid)


def test_run_gets_the_end_of_a_task_that_ended_while_berthd_was_down(berthd_factory):
    """The task prints its last lines and exits while berthd is away: the
    restarted berthd reads them from docker and reports the real exit, and
    berth shows them and exits with its code."""
    d = berthd_factory()
    cid = "rst-ended"
    p, out, err = start_run(d, cid, "busybox:local", "sh", "-c", counting_task(lines=30, code=7))
    try:
        out.until(lambda l: l == b"line 5\n", what="line 5")
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=10)
        d._log.close()
        poll(lambda: not docker_running(d, cid), END_TIMEOUT, what="the task's end while berthd is down")
        d.start()
        rc = finish(p)
        lines = [l.decode().rstrip("\n") for l in out.rest()]
        stderr = b"".join(err.rest()).decode(errors="replace")
        assert lines == expected_lines(30), (lines[-3:], len(lines), stderr)
        assert rc == 7, (rc, stderr)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    d.client.cleanup(cid)


def test_bound_client_dead_while_berthd_down_is_given_up(berthd_factory):
    """The window nobody watches: the client dies while berthd is down.
    After recovery berthd waits --bound_client_timeout for it, then destroys
    the container, as it would have on seeing the client go."""
    d = berthd_factory("--bound_client_timeout=2secs")
    cid = "rst-orphan"
    p, out, err = start_run(d, cid, "busybox:local", "sh", "-c", "echo up; sleep 300")
    try:
        out.until(lambda l: l == b"up\n", what="up")
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=10)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        assert docker_running(d, cid)
        d._log.close()
        d.start()
        poll(lambda: stage(d, cid) == "TERMINATED" and not docker_running(d, cid), END_TIMEOUT,
             what="the container of a client that died while berthd was down to end")
        assert d.client.wait_ok(cid)["state"] == "TASK_KILLED"
        assert "container %s: its bound client did not come back" % cid in log_text(d)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    d.client.cleanup(cid)


def test_unbound_container_is_not_given_up_after_restart(berthd_factory):
    """Only containers a client bound itself to: a detached run outlives
    the timeout."""
    d = berthd_factory("--bound_client_timeout=1secs")
    cid = "rst-detached"
    env = dict(os.environ, BERTH_ADDR=d.addr)
    p = subprocess.run([BERTH_CLI, "run", "-d", "--name", cid, "busybox:local", "sleep", "300"],
                       capture_output=True, timeout=60, env=env)
    assert p.returncode == 0, p
    bound = "rst-bound"
    b, out, err = start_run(d, bound, "busybox:local", "sh", "-c", "echo up; sleep 300")
    try:
        out.until(lambda l: l == b"up\n", what="up")
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=10)
        b.send_signal(signal.SIGKILL)
        b.wait(timeout=10)
        d._log.close()
        d.start()
        # The bound one is given up after the timeout; by then the
        # detached one has seen that same timeout pass.
        poll(lambda: stage(d, bound) == "TERMINATED", END_TIMEOUT, what="the bound container's end")
        assert stage(d, cid) == "RUNNING"
        assert docker_running(d, cid)
    finally:
        if b.poll() is None:
            b.kill()
            b.wait()
    d.client.cleanup(cid)
    d.client.cleanup(bound)


def test_first_ctrl_c_says_what_it_does_and_the_second_detaches(berthd_factory):
    d = berthd_factory("--docker_stop_timeout=20secs")
    # PID 1 (busybox sh) ignores SIGTERM: the destroy takes the whole grace.
    cases = [("rst-int-grace", ["--grace", "30secs"], "SIGTERM, then SIGKILL after 30secs"),
             ("rst-int-flag", [], "SIGTERM, then SIGKILL after 20secs"),
             ("rst-int-zero", ["--grace", "0secs"], "SIGKILL, no grace period")]
    for cid, opts, said in cases:
        p, out, err = start_run(d, cid, *opts, "busybox:local", "sh", "-c", "echo up; sleep 300")
        try:
            out.until(lambda l: l == b"up\n", what="up")
            p.send_signal(signal.SIGINT)
            line = err.until(lambda l: l.startswith(b"berth: stopping"), what="the first Ctrl-C's message")
            assert line.decode() == "berth: stopping %s (%s); Ctrl-C again to detach\n" % (cid, said), line
            if said.startswith("SIGKILL"):
                assert finish(p) == 137
                continue
            poll(lambda: stage(d, cid) == "DESTROYING", END_TIMEOUT, what="the destroy to start")
            assert p.poll() is None  # still attached through the grace period
            p.send_signal(signal.SIGINT)
            assert finish(p) == 128 + signal.SIGINT
            stderr = b"".join(err.rest()).decode()
            assert "interrupted again; container '%s' is being destroyed" % cid in stderr, stderr
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        d.client.kill(cid)
