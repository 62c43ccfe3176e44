"""Launch, wait, remove: exit codes, duplicates, unknown ids, concurrency."""

import os
import threading

import pytest

from berthlib import assert_text_error, docker_ids, docker_inspect, launch_call


@pytest.mark.parametrize("code,state", [(0, "TASK_FINISHED"), (3, "TASK_FAILED")])
def test_exit_code(client, new_id, code, state):
    cid = new_id("exit%d" % code)
    r = client.launch(launch_call(cid, "exit %d" % code))
    assert r.status == 200, r
    assert r.json() == {}, r
    w = client.wait_ok(cid)
    assert w["exit_code"] == code, w
    assert w["exit_status"] == code << 8, w
    assert w["state"] == state, w
    # A wait on a terminated container answers at once, with the same result.
    w2 = client.wait_ok(cid, timeout=10)
    assert (w2["exit_code"], w2["state"]) == (code, state), w2
    # GET_CONTAINERS shows it TERMINATED with the termination.
    c = client.container(cid)
    assert c is not None
    assert c["stage"] == "TERMINATED", c
    assert c.get("termination", {}).get("state") == state, c
    assert client.remove(cid).status == 200


def test_launch_reply_means_running(berthd, client, new_id):
    """LAUNCH answers 200 only once the container is RUNNING, under its name
    and labels."""
    cid = new_id("running")
    client.launch_ok(launch_call(cid, "sleep 300"))
    c = client.container(cid)
    assert c is not None and c["stage"] == "RUNNING", c
    assert c.get("docker_name") == berthd.docker_name(cid), c
    info = docker_inspect(berthd.docker_name(cid))
    assert info["State"]["Running"] is True
    labels = info["Config"]["Labels"] or {}
    assert labels.get("berth.agent_id") == berthd.agent_id, labels
    assert labels.get("berth.container_id") == cid, labels
    assert client.kill(cid).status == 200
    w = client.wait_ok(cid, timeout=30)
    assert w["state"] == "TASK_KILLED", w


def test_many_waiters(berthd, client, new_id):
    """Any number of waiters at once all get the result.  The task waits
    for a gate file, so every WAIT is made (and seen blocking) while the
    container still runs; only then is the gate opened."""
    cid = new_id("waiters")
    client.launch_ok(launch_call(
        cid, 'while [ ! -e "$MESOS_SANDBOX/go" ]; do usleep 50000; done; exit 4'))
    results = [None] * 5

    def waiter(i):
        try:
            results[i] = client.wait_ok(cid, timeout=60)
        except Exception as e:  # recorded, asserted below
            results[i] = e

    ts = [threading.Thread(target=waiter, args=(i,)) for i in range(5)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(1.0)
    assert all(t.is_alive() for t in ts), "a WAIT returned while the task ran: %r" % results
    assert client.container(cid)["stage"] == "RUNNING"
    with open(os.path.join(berthd.sandbox(cid), "go"), "w"):
        pass
    for t in ts:
        t.join(90)
    for r in results:
        assert isinstance(r, dict), r
        assert r["exit_code"] == 4 and r["state"] == "TASK_FAILED", r


def test_duplicate_id_202(berthd, client, new_id):
    cid = new_id("dup")
    client.launch_ok(launch_call(cid, "sleep 300"))
    r = client.launch(launch_call(cid, "exit 9"))
    assert r.status == 202, r
    # Nothing else happened: the first one is still the one running, alone.
    c = client.container(cid)
    assert c is not None and c["stage"] == "RUNNING", c
    ids = docker_ids("berth.agent_id=" + berthd.agent_id,
                     "berth.container_id=" + cid)
    assert len(ids) == 1, ids
    # Also 202 once terminated but not yet removed.
    assert client.kill(cid).status == 200
    client.wait_ok(cid, timeout=30)
    r = client.launch(launch_call(cid, "exit 9"))
    assert r.status == 202, r
    assert client.wait_ok(cid)["state"] == "TASK_KILLED"


@pytest.mark.parametrize("call", ["WAIT", "KILL", "REMOVE"])
def test_unknown_id_404(client, call):
    cid = "no-such-container"
    if call == "WAIT":
        r = client.wait(cid, timeout=10)
    elif call == "KILL":
        r = client.kill(cid)
    else:
        r = client.remove(cid)
    assert_text_error(r, 404)


def test_remove_running_409(client, new_id):
    cid = new_id("busy")
    client.launch_ok(launch_call(cid, "sleep 300"))
    assert_text_error(client.remove(cid), 409)
    # Still running and still known after the refused REMOVE.
    assert client.container(cid)["stage"] == "RUNNING"


@pytest.mark.parametrize("how", ["exited", "killed"])
def test_remove_cleans_up(berthd, client, new_id, how):
    """REMOVE forgets the record and removes the sandbox and docker container
    (even with the default 6hrs --docker_remove_delay)."""
    cid = new_id("rm-" + how)
    if how == "exited":
        client.launch_ok(launch_call(cid, "echo bye"))
    else:
        client.launch_ok(launch_call(cid, "sleep 300"))
        assert client.kill(cid).status == 200
    client.wait_ok(cid, timeout=60)
    assert os.path.isdir(berthd.sandbox(cid))
    r = client.remove(cid)
    assert r.status == 200, r
    assert docker_ids("berth.container_id=" + cid,
                      "berth.agent_id=" + berthd.agent_id) == []
    assert not os.path.exists(berthd.sandbox(cid))
    assert client.container(cid) is None
    assert_text_error(client.wait(cid, timeout=10), 404)
    assert_text_error(client.remove(cid), 404)
    # The id can be used again.
    client.launch_ok(launch_call(cid, "exit 0"))
    assert client.wait_ok(cid)["state"] == "TASK_FINISHED"
    assert client.remove(cid).status == 200


def test_max_length_id_accepted(client, new_id):
    cid = "A1_.-" + "z" * 59
    assert len(cid) == 64
    new_id()  # keep the counter moving; cleanup below by hand
    try:
        r = client.launch(launch_call(cid, "exit 0"))
        assert r.status == 200, r
        assert client.wait_ok(cid)["state"] == "TASK_FINISHED"
    finally:
        client.cleanup(cid)


def test_twenty_concurrent_launches(berthd, client, new_id):
    n = 20
    cids = [new_id("par") for _ in range(n)]
    results = {}

    def launch(cid):
        try:
            results[cid] = client.launch(launch_call(cid, "sleep 300"),
                                         timeout=180)
        except Exception as e:
            results[cid] = e

    ts = [threading.Thread(target=launch, args=(c,)) for c in cids]
    for t in ts:
        t.start()
    for t in ts:
        t.join(200)
    assert not any(t.is_alive() for t in ts), "a launch hung"
    bad = {c: r for c, r in results.items()
           if not hasattr(r, "status") or r.status != 200}
    assert not bad, bad
    stages = {c["container_id"]["value"]: c["stage"]
              for c in client.get_containers()}
    for cid in cids:
        assert stages.get(cid) == "RUNNING", (cid, stages.get(cid))
    running = docker_ids("berth.agent_id=" + berthd.agent_id, all_=False)
    assert len(running) >= n, running
    # Kill them all at once too.
    for cid in cids:
        assert client.kill(cid).status == 200
    for cid in cids:
        assert client.wait_ok(cid, timeout=60)["state"] == "TASK_KILLED"
        assert client.remove(cid).status == 200
    for cid in cids:
        assert docker_ids("berth.agent_id=" + berthd.agent_id,
                          "berth.container_id=" + cid) == [], cid


def test_get_containers_http_endpoint(client, new_id):
    """GET /containers returns the GET_CONTAINERS list as a JSON array."""
    cid = new_id("listed")
    client.launch_ok(launch_call(cid, "sleep 300"))
    r = client.get("/containers")
    assert r.status == 200, r
    arr = r.json()
    assert isinstance(arr, list), arr
    mine = [c for c in arr if c.get("container_id", {}).get("value") == cid]
    assert len(mine) == 1 and mine[0]["stage"] == "RUNNING", arr


def test_health(client):
    r = client.health()
    assert r.status == 200, r
