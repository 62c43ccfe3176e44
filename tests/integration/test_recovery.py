"""Recovery (API.md §8): berthd crashed at every named crash point
(BERTH_CRASH_AT), SIGKILLed, or cut off from dockerd, then restarted on the
same work dir, socket and agent id.

Each test runs its own berthd (recovery_util.RecoveryBerthd: temp work dir,
temp socket, agent id t<random>, --docker_remove_delay=0secs,
--docker_stop_timeout=0secs); teardown stops it and `docker rm -f`s every
container of its agent id, also on failure.

The invariants checked after every restart (recovery_util.check_invariants,
kill_wait_all, remove_all_and_check_clean):
- every container id is RUNNING or TERMINATED, with the expected
  termination; GET /containers agrees with GET_CONTAINERS;
- no docker container of the agent id without a record, every RUNNING
  record runs in docker under its name, no docker container left for a
  TERMINATED one (remove delay 0);
- WAIT_CONTAINER answers for all (after KILL for the running ones);
- after REMOVE of everything: no docker container, sandbox or link left.
"""

import os
import secrets
import stat
import time

import pytest

from berthlib import docker, launch_call, poll, read_file, scalar
from recovery_util import (
    Async, CRASH_POINTS, DockerProxy, call_cut,
    check_invariants, check_termination, counter_lines, counter_with_gate,
    daemons_fixture, docker_create_started, docker_rm_f, docker_state,
    gated_cmd, kill_wait_all, open_gate, remove_all_and_check_clean,
    settle, ticker_cmd)

daemons = pytest.fixture(name="daemons")(daemons_fixture)

LAUNCH_FAILED = "REASON_CONTAINER_LAUNCH_FAILED"
GONE = "REASON_EXECUTOR_TERMINATED"


def running(e):
    assert e["stage"] == "RUNNING", "expected RUNNING: %r" % e


def wait_lines(d, cid, n, timeout=20, name="stdout"):
    """Until cid's sandbox `name` has at least n lines."""
    path = os.path.join(d.sandbox(cid), name)
    poll(lambda: read_file(path).count(b"\n") >= n, timeout,
         what="%d lines in %s's %s" % (n, cid, name))


def wait_docker_exited(name, timeout=30):
    return poll(lambda: (lambda s: s if s and s[0] == "exited" else None)(docker_state(name)),
                timeout, what="docker container %s exited" % name)


def check_ticker_output(d, cid):
    """A ticker's stdout and stderr: complete counters, nothing lost or
    repeated.  Returns the number of stdout lines."""
    n_out = counter_lines(read_file(d.stdout_path(cid)))
    n_err = counter_lines(read_file(d.stderr_path(cid)), prefix="e")
    # The last line written on one stream may miss on the other.
    assert abs(n_out - n_err) <= 1, (n_out, n_err)
    return n_out


def finish(d, extra=None):
    """Common ending: berthd is usable (a new launch works), every container
    answers WAIT after KILL, and REMOVE of all leaves nothing behind.
    extra(cid, wait) checks each WAIT result."""
    cid = "after-" + secrets.token_hex(2)
    r = d.client.launch(launch_call(cid, "echo fine"))
    assert r.status == 200, "LAUNCH after recovery: %r" % r
    w = d.client.wait_ok(cid, timeout=30)
    check_termination(cid, w, "TASK_FINISHED", exit_code=0)
    assert read_file(d.stdout_path(cid)) == b"fine\n"
    waits = kill_wait_all(d)
    if extra:
        for c, w in waits.items():
            extra(c, w)
    remove_all_and_check_clean(d)
    return waits


# ----------------------------------------------------------------------------
# every crash point

# How the victim container should look after the restart, per point.
STAGE_OF_POINT = {
    "after-FETCHING": "FETCHING", "after-PULLING": "PULLING",
    "after-MOUNTING": "MOUNTING",
    # create and start happen while the record still says MOUNTING (the
    # launch's last stage before RUNNING); the message must name a stage.
    "after-create": "(FETCHING|PULLING|MOUNTING)",
    "after-start": "(FETCHING|PULLING|MOUNTING)",
}

SCENARIOS = [
    ("after-FETCHING", "launch"), ("after-PULLING", "launch"),
    ("after-MOUNTING", "launch"), ("after-create", "launch"),
    ("after-start", "launch"), ("after-RUNNING", "launch"),
    ("after-kill-sent", "kill"), ("after-DESTROYING", "kill"),
    ("before-terminated", "exit"), ("before-terminated", "kill"),
    ("after-TERMINATED", "exit"), ("after-TERMINATED", "kill"),
    ("after-docker-remove", "remove"),
]
assert {p for p, _ in SCENARIOS} == set(CRASH_POINTS)

VICTIM_EXIT = 'echo begin; usleep 300000; echo end >&2; echo end; exit 3'


@pytest.mark.parametrize("point,how", SCENARIOS,
                         ids=["%s-%s" % s for s in SCENARIOS])
def test_crash_point(daemons, point, how):
    """berthd exits (99) at `point`; after a restart without BERTH_CRASH_AT
    the victim is in the right state, two bystanders (a running ticker and a
    task that exited 4) are as they were, and the invariants hold."""
    d = daemons()
    c = d.client
    # Bystanders, made before crashes are armed.
    c.launch_ok(launch_call("keep", ticker_cmd()))
    w = c.run(launch_call("done", "echo done-out; exit 4"), timeout=30)
    check_termination("done", w, "TASK_FAILED", exit_code=4)
    wait_lines(d, "keep", 5)
    d.kill9()
    d.restart(crash_at=point)

    # Drive the victim to the point.
    v = "victim"
    if how == "launch":
        reply = call_cut(c.launch, launch_call(v, ticker_cmd()))
        d.wait_crash(point, "LAUNCH %s" % v, reply)
    elif how == "kill":
        c.launch_ok(launch_call(v, ticker_cmd()))
        wait_lines(d, v, 3)
        if point in ("after-kill-sent", "after-DESTROYING"):
            reply = call_cut(c.kill, v)
            d.wait_crash(point, "KILL %s" % v, reply)
        else:
            # The destroy starts and answers; the crash comes at the exit.
            reply = c.kill(v)
            assert reply.status == 200, reply
            d.wait_crash(point, "KILL %s and its exit" % v)
    elif how == "exit":
        reply = c.launch(launch_call(v, VICTIM_EXIT))
        assert reply.status == 200, reply
        d.wait_crash(point, "%s exited by itself" % v)
    elif how == "remove":
        w = c.run(launch_call(v, "echo bye; exit 0"), timeout=30)
        check_termination(v, w, "TASK_FINISHED", exit_code=0)
        reply = call_cut(c.remove, v)
        d.wait_crash(point, "REMOVE %s" % v, reply)
    else:
        raise AssertionError(how)

    d.restart()

    def keep_ok(e):
        assert e["stage"] == "RUNNING", "bystander ticker: %r" % e

    def done_ok(e):
        assert e["stage"] == "TERMINATED", e
        check_termination("done", e.get("termination"), "TASK_FAILED", exit_code=4)

    def victim_ok(e):
        if point in STAGE_OF_POINT:
            assert e["stage"] == "TERMINATED", (
                "victim caught at %s: expected TERMINATED (launch abandoned), got %r"
                % (point, e))
            check_termination(v, e.get("termination"), "TASK_FAILED", LAUNCH_FAILED,
                              message_re=STAGE_OF_POINT[point])
        elif point == "after-RUNNING":
            assert e["stage"] == "RUNNING", e
        elif how == "kill":
            assert e["stage"] == "TERMINATED", (
                "destroy caught at %s must be finished by recovery: %r" % (point, e))
            check_termination(v, e.get("termination"), "TASK_KILLED", reason=False)
        elif how == "exit":
            assert e["stage"] == "TERMINATED", e
            check_termination(v, e.get("termination"), "TASK_FAILED", exit_code=3)
        elif how == "remove":
            assert e["stage"] == "TERMINATED", e
            check_termination(v, e.get("termination"), "TASK_FINISHED", exit_code=0)

    if how in ("kill", "exit"):
        # Exit detection resumes after the restart: WAIT gives the end.
        wv = c.wait_ok(v, timeout=60)
        assert wv.get("state") in ("TASK_KILLED", "TASK_FAILED"), wv
    expect = {"keep": keep_ok, "done": done_ok}
    if how != "remove":
        expect[v] = victim_ok
    known = check_invariants(d, expect)
    if how == "remove" and v in known:
        # The record outlived the crash: it is still the finished task, and
        # REMOVE now completes.
        victim_ok(known[v])
    if how == "remove" and v not in known:
        assert not os.path.exists(d.sandbox(v)), "record gone but sandbox left"

    # WAIT on a terminated container answers at once, as GET_CONTAINERS says.
    for cid, e in known.items():
        if e["stage"] == "TERMINATED":
            wt = c.wait_ok(cid, timeout=10)
            for k in ("state", "reason", "exit_code", "exit_status"):
                assert wt.get(k) == e["termination"].get(k), (cid, k, wt, e)

    # Outputs.
    if how == "exit":
        assert read_file(d.stdout_path(v)) == b"begin\nend\n"
        assert read_file(d.stderr_path(v)) == b"end\n"
    if point == "after-RUNNING":
        wait_lines(d, v, 5)
    assert read_file(d.stdout_path("done")) == b"done-out\n"

    def final(cid, w):
        if cid == "keep" or (cid == v and point == "after-RUNNING"):
            assert w["state"] == "TASK_KILLED", (cid, w)
            check_ticker_output(d, cid)
        if cid == v and how == "kill":
            check_ticker_output(d, cid)
    finish(d, final)


# ----------------------------------------------------------------------------
# SIGKILL scenarios


def test_task_exits_while_berthd_down(daemons):
    """SIGKILL berthd; the task prints more and exits 7 meanwhile; after the
    restart WAIT gives exit code 7 and the sandbox has all its output."""
    d = daemons()
    c = d.client
    c.launch_ok(launch_call("t7", gated_cmd(7, tick_us=20000)))
    c.launch_ok(launch_call("quiet", gated_cmd(0)))
    wait_lines(d, "t7", 20)
    d.kill9()
    time.sleep(1.0)                      # it keeps printing while berthd is down
    open_gate(d, "t7")
    open_gate(d, "quiet")
    wait_docker_exited(d.docker_name("t7"))
    wait_docker_exited(d.docker_name("quiet"))
    d.restart()
    w = c.wait_ok("t7", timeout=30)
    check_termination("t7", w, "TASK_FAILED", exit_code=7)
    n = counter_with_gate(read_file(d.stdout_path("t7")), "start", "bye")
    assert n >= 40, "only %d ticks: the test did not run long enough" % n
    w = c.wait_ok("quiet", timeout=30)
    check_termination("quiet", w, "TASK_FINISHED", exit_code=0)
    assert read_file(d.stdout_path("quiet")) == b"start\nbye\n"
    check_invariants(d)
    finish(d)


def test_log_capture_across_restarts(daemons):
    """A task printing a counter every 50 ms on stdout and stderr, with
    berthd SIGKILLed twice while it runs: no gap, no duplicate."""
    d = daemons()
    c = d.client
    c.launch_ok(launch_call("tick", ticker_cmd(50000, limit=160)))
    wait_lines(d, "tick", 25)
    d.kill9()
    time.sleep(1.0)
    d.restart()
    wait_lines(d, "tick", 70)
    d.kill9()
    time.sleep(0.5)
    d.restart()
    w = c.wait_ok("tick", timeout=60)
    check_termination("tick", w, "TASK_FINISHED", exit_code=0)
    n_out = counter_lines(read_file(d.stdout_path("tick")))
    n_err = counter_lines(read_file(d.stderr_path("tick")), prefix="e")
    assert (n_out, n_err) == (160, 160), (n_out, n_err)
    check_invariants(d)
    finish(d)


def test_removed_behind_berthds_back(daemons):
    """`docker rm -f` while berthd is down → TERMINATED TASK_FAILED
    REASON_EXECUTOR_TERMINATED, with a message; a neighbour is unharmed."""
    d = daemons()
    c = d.client
    c.launch_ok(launch_call("gone", ticker_cmd()))
    c.launch_ok(launch_call("stays", ticker_cmd()))
    wait_lines(d, "gone", 3)
    d.kill9()
    docker("rm", "-f", d.docker_name("gone"))
    d.restart()
    w = c.wait_ok("gone", timeout=30)
    check_termination("gone", w, "TASK_FAILED", GONE)
    assert w.get("message"), "no message says what was seen: %r" % w
    check_invariants(d, {"stays": running})
    check_ticker_output(d, "gone")

    def final(cid, w):
        if cid == "stays":
            assert w["state"] == "TASK_KILLED", w
            check_ticker_output(d, cid)
    finish(d, final)


def test_destroy_with_grace_interrupted(daemons):
    """SIGKILL during a destroy's grace period (task ignores SIGTERM, 6s
    grace): after the restart the destroy is finished, TASK_KILLED (by
    SIGKILL at the end of a grace period at the latest)."""
    d = daemons()
    c = d.client
    c.launch_ok(launch_call("slow", "trap '' TERM; " + ticker_cmd(stderr=False),
                            grace_secs=6))
    wait_lines(d, "slow", 3)
    assert c.kill("slow").status == 200
    assert c.container("slow")["stage"] == "DESTROYING"
    d.kill9()
    d.restart()
    # The grace may start again; SIGKILL at its end at the latest.
    w = c.wait_ok("slow", timeout=60)
    check_termination("slow", w, "TASK_KILLED", reason=False, exit_code=137)
    counter_lines(read_file(d.stdout_path("slow")))
    check_invariants(d)
    finish(d)


# ----------------------------------------------------------------------------
# orphans and other agents


def test_orphan_removed_on_restart(daemons):
    """Docker containers with this agent id but no record (made through the
    Engine API behind berthd's back) are killed and removed at restart; the
    known one is not."""
    d = daemons()
    c = d.client
    c.launch_ok(launch_call("known", ticker_cmd()))
    d.kill9()
    o1 = docker_create_started(d.docker_name("orphan"),
                               {"berth.agent_id": d.agent_id,
                                "berth.container_id": "orphan"})
    o2 = docker_create_started("berth-orphan2-" + d.agent_id,
                               {"berth.agent_id": d.agent_id})
    try:
        d.restart()
        poll(lambda: docker_state(o1) is None and docker_state(o2) is None, 30,
             what="orphans removed")
        assert "orphan" not in d.containers()
        check_invariants(d, {"known": running})
        finish(d)
    finally:
        docker_rm_f(o1, o2)


def test_orphan_left_alone_without_kill_orphans(daemons):
    d = daemons(extra_flags=["--docker_kill_orphans=false"])
    c = d.client
    c.launch_ok(launch_call("known", ticker_cmd()))
    d.kill9()
    o1 = docker_create_started(d.docker_name("orphan"),
                               {"berth.agent_id": d.agent_id,
                                "berth.container_id": "orphan"})
    leftover = None
    try:
        d.restart()
        settle(d)
        # Wait for a periodic sweep to have run, and see it: a docker
        # container labelled with a container berthd knows as TERMINATED
        # (its own docker container long removed) is removed by the sweep
        # whatever --docker_kill_orphans says; the orphan beside it must
        # come through that same pass untouched.
        w = c.run(launch_call("ended", "true"))
        assert w["state"] == "TASK_FINISHED", w
        poll(lambda: docker_state(d.docker_name("ended")) is None, 30, what="ended's docker container removed")
        leftover = docker_create_started(d.docker_name("ended"),
                                         {"berth.agent_id": d.agent_id, "berth.container_id": "ended"})
        poll(lambda: docker_state(leftover) is None, 30, interval=0.2,
             what="a periodic sweep (it removes the leftover of 'ended')")
        assert docker_state(o1) == ("running", 0), (
            "orphan touched with --docker_kill_orphans=false: %r" % (docker_state(o1),))
        assert c.remove("ended").status == 200
        known = d.containers()
        assert known["known"]["stage"] == "RUNNING", known
        # Launch/kill/remove of the known container do not touch it either.
        assert c.kill("known").status == 200
        check_termination("known", c.wait_ok("known", timeout=30), "TASK_KILLED", reason=False)
        assert c.remove("known").status == 200
        time.sleep(1)
        assert docker_state(o1) == ("running", 0), docker_state(o1)
    finally:
        docker_rm_f(o1, *([leftover] if leftover else []))


def test_other_agent_never_touched(daemons):
    """Two berthd share dockerd; one is SIGKILLed and restarted (orphan
    killing on) and REMOVEs a container with the same container id as the
    other's: the other's containers, and a foreign container of a third
    agent id, are untouched."""
    a = daemons(tag="agentA")
    b = daemons(tag="agentB")
    foreign_agent = "t" + secrets.token_hex(4)
    foreign = docker_create_started("berth-%s.same" % foreign_agent,
                                    {"berth.agent_id": foreign_agent,
                                     "berth.container_id": "same"})
    try:
        a.client.launch_ok(launch_call("same", ticker_cmd()))
        b.client.launch_ok(launch_call("same", ticker_cmd()))
        b.client.launch_ok(launch_call("b-only", ticker_cmd()))
        a.kill9()
        a.restart()
        check_invariants(a, {"same": running})
        assert a.client.kill("same").status == 200
        check_termination("same", a.client.wait_ok("same", timeout=30), "TASK_KILLED",
                          reason=False)
        assert a.client.remove("same").status == 200
        remove_all_and_check_clean(a)
        # A again, now with nothing of its own.
        a.kill9()
        a.restart()
        time.sleep(1)
        assert docker_state(foreign) == ("running", 0), docker_state(foreign)
        for cid in ("same", "b-only"):
            assert docker_state(b.docker_name(cid)) == ("running", 0), (cid, docker_state(b.docker_name(cid)))
        check_invariants(b, {cid: running
                             for cid in ("same", "b-only")})

        def final(cid, w):
            if cid in ("same", "b-only"):
                assert w["state"] == "TASK_KILLED", (cid, w)
                check_ticker_output(b, cid)
        finish(b, final)
        assert docker_state(foreign) == ("running", 0), docker_state(foreign)
    finally:
        docker_rm_f(foreign)


def test_agent_id_with_a_dot_is_refused(tmp_path):
    """Docker names are berth-<agent>.<container id>, and container ids may
    hold '.': were agent ids allowed one too, agent A's `x.c1` and agent
    `A.x`'s `c1` would share a name and A could remove B's container.  berthd
    therefore refuses such an agent id at start, before touching anything."""
    import subprocess
    from conftest import BERTHD
    sock = str(tmp_path / "s.sock")
    p = subprocess.run([BERTHD, "--work_dir=%s" % (tmp_path / "w"), "--listen=unix:" + sock,
                        "--agent_id=ta.x"], capture_output=True, timeout=20)
    assert p.returncode != 0, p
    err = p.stderr.decode()
    assert "--agent_id" in err and "ta.x" in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not os.path.exists(sock), "berthd listened despite the bad agent id"


# ----------------------------------------------------------------------------
# dockerd outage


def test_dockerd_outage(daemons):
    """berthd talks to dockerd through a proxy; the proxy is killed (every
    connection cut, new ones refused) and later restarted.  Meanwhile:
    /health 503, GET_CONTAINERS answers, LAUNCH fails with a clear 5xx,
    running containers are not reported dead (even one that exits during the
    outage).  After: /health 200, exits are reported with their real codes,
    output is complete, LAUNCH works."""
    proxy = DockerProxy(os.path.join(daemons.scratch(), "docker-proxy.sock")).start()
    try:
        d = daemons(docker_socket=proxy.listen_path)
        c = d.client
        c.launch_ok(launch_call("early", gated_cmd(5, tick_us=100000)))
        c.launch_ok(launch_call("late", gated_cmd(6, tick_us=100000)))
        wait_lines(d, "early", 5)
        wait_lines(d, "late", 5)

        proxy.kill()
        poll(lambda: c.health().status == 503, 20, interval=0.2,
             what="/health 503 with dockerd unreachable")
        # GET_CONTAINERS still answers, and from what berthd knows.
        known = d.containers(timeout=10)
        assert {k: v["stage"] for k, v in known.items()} == \
            {"early": "RUNNING", "late": "RUNNING"}, known
        r = c.get("/containers", timeout=10)
        assert r.status == 200, r
        # LAUNCH fails, clearly and in time.
        t0 = time.monotonic()
        r = c.launch(launch_call("during", "echo no"), timeout=90)
        took = time.monotonic() - t0
        assert 500 <= r.status < 600, "LAUNCH with dockerd down: %r" % r
        assert r.text.strip(), "LAUNCH with dockerd down: 5xx without a message"
        assert took < 30, "LAUNCH with dockerd down took %.1fs" % took
        e = c.container("during")
        assert e is not None and e["stage"] == "TERMINATED", e
        check_termination("during", e.get("termination"), "TASK_FAILED", LAUNCH_FAILED)

        # One task exits during the outage; nobody may call it dead.
        open_gate(d, "early")
        wait_docker_exited(d.docker_name("early"))
        waiter = Async(c.wait, "early", timeout=120)
        time.sleep(6)
        known = d.containers(timeout=10)
        assert known["early"]["stage"] == "RUNNING", (
            "early reported %r while dockerd was unreachable" % known["early"])
        assert known["late"]["stage"] == "RUNNING", known["late"]
        assert waiter.thread.is_alive(), (
            "WAIT early answered while dockerd was unreachable: %r %r"
            % (waiter.result, waiter.exc))
        assert c.health().status == 503

        proxy.start()
        poll(lambda: c.health().status == 200, 30, interval=0.2,
             what="/health 200 after dockerd is back")
        waiter.join(90)
        assert waiter.exc is None, waiter.exc
        assert waiter.result.status == 200, waiter.result
        w = waiter.result.json()["wait_container"]
        check_termination("early", w, "TASK_FAILED", exit_code=5)
        counter_with_gate(read_file(d.stdout_path("early")), "start", "bye")

        assert c.container("late")["stage"] == "RUNNING"
        wait_lines(d, "late", 120)      # still captured after the reconnect
        open_gate(d, "late")
        w = c.wait_ok("late", timeout=60)
        check_termination("late", w, "TASK_FAILED", exit_code=6)
        n = counter_with_gate(read_file(d.stdout_path("late")), "start", "bye")
        assert n >= 100, n
        check_invariants(d)
        finish(d)
    finally:
        proxy.kill()


def test_kill_during_dockerd_outage(daemons):
    """KILL_CONTAINER of a running task while dockerd is unreachable: berthd
    may answer 200 (the destroy has started) or a 5xx; either way, once
    dockerd is back the destroy happens (after 200 by itself, after a 5xx
    when asked again) and WAIT reports TASK_KILLED."""
    proxy = DockerProxy(os.path.join(daemons.scratch(), "docker-proxy.sock")).start()
    try:
        d = daemons(docker_socket=proxy.listen_path)
        c = d.client
        c.launch_ok(launch_call("doomed", ticker_cmd()))
        c.launch_ok(launch_call("bystander", ticker_cmd()))
        wait_lines(d, "doomed", 3)
        proxy.kill()
        poll(lambda: c.health().status == 503, 20, interval=0.2,
             what="/health 503 with dockerd unreachable")
        r = c.kill("doomed", timeout=60)
        assert r.status == 200 or 500 <= r.status < 600, "KILL during outage: %r" % r
        waiter = Async(c.wait, "doomed", timeout=120)
        time.sleep(2)
        assert waiter.thread.is_alive(), (
            "WAIT doomed answered while dockerd was unreachable: %r" % (waiter.result,))
        assert c.container("bystander")["stage"] == "RUNNING"
        proxy.start()
        poll(lambda: c.health().status == 200, 30, interval=0.2,
             what="/health 200 after dockerd is back")
        if r.status != 200:
            r2 = c.kill("doomed")
            assert r2.status == 200, "KILL after dockerd is back: %r" % r2
        try:
            waiter.join(60)
        except AssertionError:
            st = docker_state(d.docker_name("doomed"))
            raise AssertionError(
                "KILL doomed answered %d during the outage; 60s after dockerd came "
                "back WAIT has not answered: berthd says %r, docker says %r"
                % (r.status, c.container("doomed"), st)) from None
        assert waiter.exc is None and waiter.result.status == 200, (waiter.result, waiter.exc)
        check_termination("doomed", waiter.result.json()["wait_container"],
                          "TASK_KILLED", reason=False)
        check_ticker_output(d, "doomed")
        check_invariants(d, {"bystander": running})
        finish(d)
    finally:
        proxy.kill()


def test_restart_while_dockerd_unreachable(daemons):
    """berthd is SIGKILLed, and restarts while dockerd is unreachable: it
    serves (/health 503, GET_CONTAINERS from its records, LAUNCH 5xx) and
    declares nothing dead; a task that exited meanwhile, a running ticker and
    an abandoned launch are all reconciled once dockerd answers again."""
    proxy = DockerProxy(os.path.join(daemons.scratch(), "docker-proxy.sock")).start()
    try:
        d = daemons(docker_socket=proxy.listen_path)
        c = d.client
        c.launch_ok(launch_call("exits", gated_cmd(7)))
        c.launch_ok(launch_call("ticks", ticker_cmd()))
        wait_lines(d, "ticks", 3)
        d.kill9()
        proxy.kill()
        open_gate(d, "exits")
        wait_docker_exited(d.docker_name("exits"))
        r = d.start_serving()
        assert r.status == 503, "/health with dockerd unreachable: %r" % r
        known = d.containers(timeout=10)
        assert {k: v["stage"] for k, v in known.items()} == \
            {"exits": "RUNNING", "ticks": "RUNNING"}, known
        waiter = Async(c.wait, "exits", timeout=120)
        r = c.launch(launch_call("during", "echo no"), timeout=90)
        assert 500 <= r.status < 600, "LAUNCH with dockerd down: %r" % r
        time.sleep(3)
        assert waiter.thread.is_alive(), (
            "WAIT exits answered before dockerd was reachable: %r" % (waiter.result,))
        known = d.containers(timeout=10)
        for cid in ("exits", "ticks"):
            assert known[cid]["stage"] == "RUNNING", (
                "%s declared %r while dockerd was unreachable" % (cid, known[cid]))
        proxy.start()
        poll(lambda: c.health().status == 200, 30, interval=0.2,
             what="/health 200 after dockerd is back")
        waiter.join(60)
        assert waiter.exc is None and waiter.result.status == 200, (waiter.result, waiter.exc)
        check_termination("exits", waiter.result.json()["wait_container"], "TASK_FAILED",
                          exit_code=7)
        assert read_file(d.stdout_path("exits")) == b"start\nbye\n"
        n = counter_lines(read_file(d.stdout_path("ticks")))
        wait_lines(d, "ticks", n + 10)
        check_invariants(d, {"ticks": running})

        def final(cid, w):
            if cid == "ticks":
                assert w["state"] == "TASK_KILLED", w
                check_ticker_output(d, cid)
        finish(d, final)
    finally:
        proxy.kill()


# ----------------------------------------------------------------------------
# GPU allocations across a restart (API.md §7, §8)


def test_gpu_allocations_survive_restart(daemons):
    """Two fake GPUs (device nodes made with mknod, as /dev/null's numbers)
    given to two containers: a third request is refused (400) before and
    after a SIGKILL + restart of berthd, and a destroy frees one (also after
    the restart).  No allocation leaks past REMOVE of all."""
    devroot = os.path.join(daemons.scratch(), "dev")
    os.makedirs(devroot)
    for n in ("nvidia0", "nvidia1", "nvidiactl"):
        os.mknod(os.path.join(devroot, n), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    d = daemons(extra_flags=["--nvidia_gpu_devices=0,1",
                             "--nvidia_device_root=" + devroot])
    c = d.client
    gpu = [scalar("gpus", 1)]
    c.launch_ok(launch_call("g1", ticker_cmd(), resources=gpu))
    c.launch_ok(launch_call("g2", ticker_cmd(), resources=gpu))
    r = c.launch(launch_call("g3", "sleep 1", resources=gpu))
    assert r.status == 400, (
        "precondition: a third gpus:1 with two GPUs must be refused (400), got %r"
        " (GPU allocation not enforced; nothing to recover)" % r)
    assert c.container("g3") is None
    d.kill9()
    d.restart()
    r = c.launch(launch_call("g3", "sleep 1", resources=gpu))
    assert r.status == 400, "after a restart the two GPUs are still taken: %r" % r
    assert c.kill("g1").status == 200
    c.wait_ok("g1", timeout=30)
    c.launch_ok(launch_call("g3", ticker_cmd(), resources=gpu))
    # A destroy interrupted by a crash frees its GPU too.
    d.kill9()
    d.restart(crash_at="after-DESTROYING")
    call_cut(c.kill, "g2")
    d.wait_crash("after-DESTROYING", "KILL g2")
    d.restart()
    c.wait_ok("g2", timeout=30)
    c.launch_ok(launch_call("g4", ticker_cmd(), resources=gpu))
    r = c.launch(launch_call("g5", "sleep 1", resources=gpu))
    assert r.status == 400, r
    check_invariants(d, {"g3": running, "g4": running})
    finish(d)
    # Everything removed: both GPUs free again, also after a restart.
    d.kill9()
    d.restart()
    c.launch_ok(launch_call("g6", ticker_cmd(), resources=[scalar("gpus", 2)]))
    finish(d)


# ----------------------------------------------------------------------------
# REMOVE racing berthd's own removal of the docker container


def test_remove_right_after_termination(daemons):
    """With --docker_remove_delay=0secs berthd removes a terminated
    container's docker container at once (and, after a restart, the docker
    container of a TERMINATED record that outlived the crash).  A
    REMOVE_CONTAINER arriving while that removal is under way is still a
    REMOVE of a TERMINATED container: 200 (API.md §3), not 409 ("removal
    ... already in progress" from dockerd).  The tasks leave 20000 files in
    their container layer so that dockerd's removal lasts long enough to be
    caught."""
    d = daemons()
    c = d.client
    heavy = "mkdir /tmp/x && cd /tmp/x && seq 1 20000 | xargs touch; "
    bad = []
    for i, delay in enumerate([0.0, 0.01, 0.03, 0.06]):
        cid = "quick-%d" % i
        c.launch_ok(launch_call(cid, heavy + "exit 0"))
        c.wait_ok(cid, timeout=60)
        time.sleep(delay)
        r = c.remove(cid)
        if r.status != 200:
            bad.append(("REMOVE %s %.0f ms after its WAIT answered" % (cid, delay * 1000),
                        r.status, r.text.strip()))
    # After a restart: the TERMINATED record's docker container is removed
    # by recovery while the REMOVE comes in.
    d.kill9()
    d.restart(crash_at="after-TERMINATED")
    c.launch_ok(launch_call("crashy", heavy + "exit 0"))
    d.wait_crash("after-TERMINATED", "crashy exited")
    assert docker_state(d.docker_name("crashy")) is not None
    d.restart()
    r = c.remove("crashy")
    if r.status != 200:
        bad.append(("REMOVE crashy right after the restart", r.status, r.text.strip()))
    for cid in [x for x in d.containers()]:
        # Let what was refused finish, so the clean-up checks still run.
        poll(lambda: c.remove(cid).status in (200, 404), 20, interval=0.2,
             what="REMOVE %s to succeed" % cid)
    remove_all_and_check_clean(d)
    assert not bad, "REMOVE of TERMINATED containers refused: %s" % bad


def test_crash_while_docker_create_in_flight(daemons):
    """berthd dies with its docker create request still on its way to
    dockerd (held 2s by a proxy); dockerd creates the container after the
    restarted berthd has recovered the launch as abandoned.  The launch is
    TERMINATED (REASON_CONTAINER_LAUNCH_FAILED) and, as for every launch
    failure, its docker container must not stay behind (API.md §3 "everything
    created so far is cleaned up", §8)."""
    proxy = DockerProxy(os.path.join(daemons.scratch(), "docker-proxy.sock")).start()
    try:
        d = daemons(docker_socket=proxy.listen_path)
        c = d.client
        proxy.hold("/containers/create", 2.0)
        a = Async(c.launch, launch_call("slowcreate", ticker_cmd()), timeout=60)
        poll(lambda: (c.container("slowcreate") or {}).get("stage") == "MOUNTING", 15,
             interval=0.05, what="the launch to reach MOUNTING")
        time.sleep(0.3)                     # the create is held in the proxy
        d.kill9()
        proxy.hold(None, None)
        a.join(30)
        d.restart()
        name = d.docker_name("slowcreate")
        poll(lambda: docker_state(name) is not None, 20,
             what="the held create to reach dockerd")
        e = c.container("slowcreate")
        assert e is not None and e["stage"] == "TERMINATED", e
        check_termination("slowcreate", e.get("termination"), "TASK_FAILED",
                          LAUNCH_FAILED, message_re="MOUNTING")
        check_invariants(d)
        finish(d)
    finally:
        proxy.kill()
