"""Operations (API.md §3): max_completion_time.

A task still running max_completion_time after it reached RUNNING is
destroyed and ends TASK_FAILED, REASON_MAX_COMPLETION_TIME_REACHED; the
moment it reached RUNNING is stored, so the deadline holds across a
kill -9 of berthd, also when it passed while berthd was down.
"""

import time

import pytest

from berthlib import launch_call
from recovery_util import check_termination, daemons_fixture, docker_state

daemons = pytest.fixture(name="daemons")(daemons_fixture)

MAX_TIME = "REASON_MAX_COMPLETION_TIME_REACHED"


def with_deadline(cid, command, secs, **kw):
    call = launch_call(cid, command, **kw)
    call["launch_container"]["max_completion_time"] = {"nanoseconds": int(secs * 1e9)}
    return call


def test_deadline_fires(berthd, client, new_id):
    """A task that would sleep for ten minutes is destroyed at its deadline
    and reported TASK_FAILED with the reason and a message naming it; its
    docker container is stopped."""
    cid = new_id("deadline")
    client.launch_ok(with_deadline(cid, "echo up; sleep 600", 2))
    w = client.wait_ok(cid, timeout=60)
    check_termination(cid, w, "TASK_FAILED", reason=MAX_TIME, message_re="max_completion_time")
    state = docker_state(berthd.docker_name(cid))
    assert state is None or state[0] != "running", state


def test_deadline_not_reached(berthd, client, new_id):
    """A task that ends before its deadline ends as its exit says."""
    cid = new_id("quick")
    w = client.run(with_deadline(cid, "exit 0", 600), timeout=60)
    check_termination(cid, w, "TASK_FINISHED", exit_code=0)


@pytest.mark.parametrize("value", [0, -5, "10", None])
def test_deadline_bad_value(berthd, client, new_id, value):
    """A deadline that is not a positive number of nanoseconds is a 400
    naming the field."""
    cid = new_id("bad")
    call = launch_call(cid, "true")
    call["launch_container"]["max_completion_time"] = {"nanoseconds": value}
    r = client.launch(call)
    assert r.status == 400, r
    assert "max_completion_time" in r.text, r


def test_deadline_after_kill9(daemons):
    """berthd is SIGKILLed while the task runs and stays down past the
    deadline; after the restart the deadline (counted from RUNNING, as
    stored) fires at once."""
    d = daemons()
    c = d.client
    cid = "late"
    secs = 3
    c.launch_ok(with_deadline(cid, "sleep 600", secs))
    launched = time.time()
    d.kill9()
    # Down past the deadline: nothing but the stored RUNNING time can make
    # the restarted berthd see it has passed.
    while time.time() < launched + secs + 1:
        time.sleep(0.2)
    assert docker_state(d.docker_name(cid))[0] == "running"
    d.restart()
    w = c.wait_ok(cid, timeout=60)
    check_termination(cid, w, "TASK_FAILED", reason=MAX_TIME)
    e = c.container(cid)
    assert e["stage"] == "TERMINATED", e
