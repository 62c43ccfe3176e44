"""berth as a job step: containers bound to their client (WAIT_CONTAINER
kill_on_disconnect, `berth run` in the foreground) and, against a local
Slurm brought up by scripts/slurm.sh, `srun berth run` (API.md §3, §9)."""

import json
import os
import signal
import socket
import subprocess
import time

import pytest

from berthlib import docker_inspect, launch_call, poll
from conftest import BERTH_CLI

# Bounds for polls, not timing claims: the end must come, these only stop
# a broken build from hanging the suite.
END_TIMEOUT = 30


def stage(berthd, cid):
    c = berthd.client.container(cid)
    return c.get("stage") if c else None


def docker_running(berthd, cid):
    try:
        return docker_inspect(berthd.docker_name(cid))["State"]["Running"]
    except AssertionError:
        return False


def ended(berthd, cid):
    return stage(berthd, cid) == "TERMINATED" and not docker_running(berthd, cid)


def open_wait(berthd, cid, **extra):
    """A WAIT_CONTAINER parked on a raw connection the test can drop."""
    body = json.dumps({"type": "WAIT_CONTAINER",
                       "wait_container": dict({"container_id": {"value": cid}}, **extra)}).encode()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(berthd.sock)
    s.sendall(b"POST /api/v1 HTTP/1.1\r\nHost: berthd\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    return s


def berth_env(berthd, **extra):
    e = dict(os.environ)
    e["BERTH_ADDR"] = berthd.addr
    for k in [k for k in e if k.startswith("SLURM_")]:
        del e[k]
    e.update(extra)
    return e


def wait_stage(berthd, cid, want):
    poll(lambda: stage(berthd, cid) == want, END_TIMEOUT, what="%s %s" % (cid, want))


# ---------------------------------------------------------------------------
# Bound to its client, outside Slurm


def test_wait_kill_on_disconnect_destroys_when_client_leaves(berthd, new_id):
    cid = new_id("kod")
    berthd.client.launch_ok(launch_call(cid, "sleep 300"))
    s = open_wait(berthd, cid, kill_on_disconnect=True)
    time.sleep(0.5)  # let berthd park the wait before the hang-up
    assert stage(berthd, cid) == "RUNNING"
    s.close()
    poll(lambda: ended(berthd, cid), END_TIMEOUT, what="the bound container's end")
    assert berthd.client.wait_ok(cid)["state"] == "TASK_KILLED"


def test_wait_without_flag_leaves_container_when_client_leaves(berthd, new_id):
    cid = new_id("plain")
    berthd.client.launch_ok(launch_call(cid, "sleep 300"))
    s = open_wait(berthd, cid)
    s2 = open_wait(berthd, cid, kill_on_disconnect=False)
    time.sleep(0.5)
    s.close()
    s2.close()
    # The hang-ups are seen within the server's poll period; a marker WAIT
    # bound on a second container shows berthd has acted on hang-ups since.
    marker = new_id("marker")
    berthd.client.launch_ok(launch_call(marker, "sleep 300"))
    m = open_wait(berthd, marker, kill_on_disconnect=True)
    time.sleep(0.5)
    m.close()
    poll(lambda: ended(berthd, marker), END_TIMEOUT, what="the marker's end")
    assert stage(berthd, cid) == "RUNNING"
    assert docker_running(berthd, cid)


def test_wait_kill_on_disconnect_must_be_boolean(berthd, new_id):
    cid = new_id("kodbad")
    berthd.client.launch_ok(launch_call(cid, "sleep 300"))
    r = berthd.client.post_call({"type": "WAIT_CONTAINER", "wait_container": {
        "container_id": {"value": cid}, "kill_on_disconnect": "yes"}})
    assert r.status == 400, r
    assert "kill_on_disconnect" in r.text
    assert stage(berthd, cid) == "RUNNING"


def test_berthd_shutdown_is_not_the_client_leaving(berthd_factory):
    d = berthd_factory()
    cid = "kodstop"
    d.client.launch_ok(launch_call(cid, "sleep 300"))
    s = open_wait(d, cid, kill_on_disconnect=True)
    time.sleep(0.5)
    d.stop()  # SIGTERM: berthd closes the bound connection itself
    s.close()
    assert docker_running(d, cid)
    d.start()
    assert stage(d, cid) == "RUNNING"
    assert docker_running(d, cid)
    d.client.cleanup(cid)


def start_berth_run(berthd, cid, *args, env=None):
    return subprocess.Popen([BERTH_CLI, "run", "--name", cid] + list(args),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env or berth_env(berthd), start_new_session=True)


def test_sigkill_of_berth_run_ends_its_container(berthd, new_id):
    cid = new_id("runkill")
    p = start_berth_run(berthd, cid, "busybox:local", "sh", "-c", "echo up; sleep 300")
    try:
        assert p.stdout.readline() == b"up\n"
        assert stage(berthd, cid) == "RUNNING"
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        poll(lambda: ended(berthd, cid), END_TIMEOUT, what="the container of a SIGKILLed berth run to end")
        assert berthd.client.wait_ok(cid)["state"] == "TASK_KILLED"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_detached_berth_run_outlives_its_client(berthd, new_id):
    cid = new_id("rund")
    p = subprocess.run([BERTH_CLI, "run", "-d", "--name", cid, "busybox:local", "sleep", "300"],
                       capture_output=True, timeout=60, env=berth_env(berthd))
    assert p.returncode == 0, p
    assert p.stdout == (cid + "\n").encode()
    # A bound container on a second client shows hang-ups have been acted on.
    marker = new_id("marker")
    m = start_berth_run(berthd, marker, "busybox:local", "sh", "-c", "echo up; sleep 300")
    assert m.stdout.readline() == b"up\n"
    m.kill()
    m.wait()
    poll(lambda: ended(berthd, marker), END_TIMEOUT, what="the marker's end")
    assert stage(berthd, cid) == "RUNNING"
    assert docker_running(berthd, cid)
