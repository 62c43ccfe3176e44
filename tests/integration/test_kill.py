"""KILL_CONTAINER: grace periods, single signals, kills during launch, and
launch failures."""

import json
import threading
import time
import urllib.request

import pytest

from berthlib import (BIG_IMAGE, REGISTRY, assert_text_error, docker, docker_inspect,
                      docker_ids, image_present, launch_call, poll, read_file)
from throttle_proxy import ThrottleProxy

# berth-big:local, as a path on the registry: "berth-big", "local".
BIG_REPO, BIG_TAG = BIG_IMAGE.split("/", 1)[1].rsplit(":", 1)


def wait_ready(berthd, cid, marker=b"ready\n", timeout=15):
    poll(lambda: marker in read_file(berthd.stdout_path(cid)), timeout,
         what="%r in %s's stdout" % (marker, cid))


def test_kill_trapped_term_within_grace(berthd, client, new_id):
    """A task that handles SIGTERM and exits 0 within the grace period is
    TASK_KILLED, and what it printed on the way out is kept."""
    cid = new_id("graceful")
    client.launch_ok(launch_call(
        cid, "trap 'echo terminating; exit 0' TERM; echo ready; "
             "while true; do sleep 0.1; done", grace_secs=10))
    wait_ready(berthd, cid)
    t0 = time.monotonic()
    r = client.kill(cid)
    assert r.status == 200, r
    w = client.wait_ok(cid, timeout=30)
    elapsed = time.monotonic() - t0
    assert w["state"] == "TASK_KILLED", w
    assert w["exit_code"] == 0, w
    assert w["exit_status"] == 0, w
    # It ended on SIGTERM, not at the end of the 10s grace with SIGKILL.
    assert elapsed < 8, elapsed
    assert read_file(berthd.stdout_path(cid)) == b"ready\nterminating\n"


def test_kill_ignored_term_sigkill_after_grace(berthd, client, new_id):
    cid = new_id("stubborn")
    client.launch_ok(launch_call(
        cid, "trap '' TERM; echo ready; while true; do sleep 0.1; done",
        grace_secs=2))
    wait_ready(berthd, cid)
    t0 = time.monotonic()
    assert client.kill(cid).status == 200
    w = client.wait_ok(cid, timeout=30)
    elapsed = time.monotonic() - t0
    assert w["state"] == "TASK_KILLED", w
    assert w["exit_code"] == 137, w      # docker reports SIGKILL as 128+9
    assert w["exit_status"] == 137 << 8, w
    assert elapsed >= 1.8, "SIGKILL came before the 2s grace: %.2fs" % elapsed
    assert elapsed < 15, elapsed


def test_kill_default_grace_is_immediate(berthd, client, new_id):
    """Default kill policy: --docker_stop_timeout (0secs) → SIGKILL at once."""
    cid = new_id("nograce")
    client.launch_ok(launch_call(
        cid, "trap '' TERM; echo ready; while true; do sleep 0.1; done"))
    wait_ready(berthd, cid)
    t0 = time.monotonic()
    assert client.kill(cid).status == 200
    w = client.wait_ok(cid, timeout=30)
    assert time.monotonic() - t0 < 10
    assert w["state"] == "TASK_KILLED", w
    assert w["exit_code"] == 137, w


def test_kill_with_signal_delivers_only_that_signal(berthd, client, new_id):
    cid = new_id("usr1")
    client.launch_ok(launch_call(
        cid, "trap 'echo got USR1; exit 7' USR1; echo ready; "
             "while true; do sleep 0.1; done"))
    wait_ready(berthd, cid)
    r = client.kill(cid, signal=10)
    assert r.status == 200, r
    w = client.wait_ok(cid, timeout=30)
    assert w["exit_code"] == 7, w
    assert w["exit_status"] == 7 << 8, w
    # Only the signal was delivered: the end state follows the exit code.
    assert w["state"] == "TASK_FAILED", w
    assert b"got USR1\n" in read_file(berthd.stdout_path(cid))


def test_kill_with_signal_keeps_running(berthd, client, new_id):
    """A signal the task survives leaves it RUNNING (no destroy follows)."""
    cid = new_id("hup")
    client.launch_ok(launch_call(
        cid, "trap 'echo hup' HUP; echo ready; while true; do sleep 0.1; done"))
    wait_ready(berthd, cid)
    assert client.kill(cid, signal=1).status == 200
    wait_ready(berthd, cid, marker=b"hup\n")
    time.sleep(1)
    assert client.container(cid)["stage"] == "RUNNING"
    assert client.kill(cid).status == 200
    assert client.wait_ok(cid, timeout=30)["state"] == "TASK_KILLED"


def test_missing_image_fails_launch(berthd, client, new_id):
    cid = new_id("missing")
    r = client.launch(launch_call(cid, "true",
                                  image=REGISTRY + "/berth-missing:nope"),
                      timeout=120)
    assert_text_error(r, 500)
    assert "pull" in r.text.lower(), r
    assert "berth-missing" in r.text, r
    w = client.wait_ok(cid, timeout=10)
    assert w["state"] == "TASK_FAILED", w
    assert w.get("reason") == "REASON_CONTAINER_LAUNCH_FAILED", w
    c = client.container(cid)
    assert c["stage"] == "TERMINATED", c
    assert docker_ids("berth.agent_id=" + berthd.agent_id,
                      "berth.container_id=" + cid) == []
    assert client.remove(cid).status == 200


def test_privileged_launch_gate_and_config(berthd_factory, tmp_path):
    """Without --allow_privileged the launch is refused (400, no container);
    with it, the created container asks docker for Privileged (read from
    docker while a proxy holds the start).  Whether docker can then start a
    privileged container depends on the machine: either outcome is
    accepted, each checked for what it must leave."""
    from recovery_util import DockerProxy
    plain = berthd_factory()
    r = plain.client.launch(launch_call("priv-0", "true", privileged=True))
    assert_text_error(r, 400)
    assert "privileged" in r.text, r.text
    assert docker_ids("berth.agent_id=" + plain.agent_id) == []

    proxy = DockerProxy(str(tmp_path / "dp.sock")).start()
    try:
        d = berthd_factory("--allow_privileged", "--docker_socket=" + proxy.listen_path)
        c = d.client
        cid = "priv-1"
        proxy.hold("/start", 5)
        result = {}

        def launch():
            try:
                # docker may take minutes to fail a privileged start here.
                result["r"] = c.launch(launch_call(cid, "echo privileged", privileged=True), timeout=300)
            except Exception as e:
                result["r"] = e
        t = threading.Thread(target=launch)
        t.start()
        name = d.docker_name(cid)
        hc = poll(lambda: docker("inspect", name, check=False).returncode == 0
                  and docker_inspect(name)["HostConfig"], 10, interval=0.05, what="the created container")
        assert hc["Privileged"] is True, hc
        proxy.hold(None, 0)
        t.join(310)
        r = result.get("r")
        if getattr(r, "status", None) == 200:
            w = c.wait_ok(cid, timeout=30)
            assert w["state"] == "TASK_FINISHED", w
            assert read_file(d.stdout_path(cid)) == b"privileged\n"
        else:
            assert getattr(r, "status", None) == 500, r
            assert_text_error(r, 500)
            assert "start container" in r.text, r.text
            w = c.wait_ok(cid, timeout=10)
            assert (w["state"], w.get("reason")) == ("TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED"), w
        assert c.remove(cid).status == 200
        poll(lambda: docker_ids("berth.agent_id=" + d.agent_id) == [], 20, what="nothing left")
    finally:
        proxy.hold(None, 0)
        proxy.kill()


# ----------------------------------------------------------------------------
# kill during PULLING


def big_image_size():
    req = urllib.request.Request(
        "http://%s/v2/%s/manifests/%s" % (REGISTRY, BIG_REPO, BIG_TAG),
        headers={"Accept":
                 "application/vnd.docker.distribution.manifest.v2+json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as f:
            m = json.load(f)
    except OSError as e:
        pytest.fail("the local registry has no %s (%s): run scripts/setup.sh"
                    % (BIG_IMAGE, e))
    return sum(l["size"] for l in m["layers"])


@pytest.fixture
def slow_registry():
    upstream_port = int(REGISTRY.rsplit(":", 1)[1])
    proxy = ThrottleProxy(upstream_port=upstream_port,
                          rate=2 * 1024 * 1024).start()
    ref = "127.0.0.1:%d/%s:%s" % (proxy.port, BIG_REPO, BIG_TAG)
    try:
        yield proxy, ref
    finally:
        proxy.stop()
        if image_present(ref):
            docker("rmi", "-f", ref, check=False)


def test_kill_during_pull_aborts_it(berthd, client, new_id, slow_registry):
    size = big_image_size()
    # A local copy of the image would let docker skip the transfer: drop the
    # local tag (the registry keeps the image), as the next test does.
    if image_present(BIG_IMAGE):
        image_id = docker_inspect(BIG_IMAGE)["Id"]
        docker("rmi", BIG_IMAGE, check=False)
        assert not image_present(image_id), (
            "%s's layers are still held locally under another name (%s): the "
            "pull would not transfer them" % (BIG_IMAGE, image_id))
    assert not image_present(BIG_IMAGE)
    proxy, ref = slow_registry
    assert not image_present(ref)
    cid = new_id("pull")
    result = {}

    def launch():
        try:
            result["reply"] = client.launch(launch_call(cid, "true", image=ref),
                                            timeout=300)
        except Exception as e:
            result["reply"] = e

    t = threading.Thread(target=launch)
    t.start()
    try:
        def pulling():
            assert "reply" not in result, (
                "LAUNCH answered before the kill: %r (proxy sent %d bytes)"
                % (result.get("reply"), proxy.sent()))
            c = client.container(cid)
            return (c is not None and c["stage"] == "PULLING"
                    and proxy.sent() > 1024 * 1024)
        poll(pulling, 60, interval=0.2,
             what="stage PULLING with bytes flowing (sent %d)" % proxy.sent())
        assert "reply" not in result, result
        r = client.kill(cid)
        assert r.status == 200, r
        t.join(60)
        assert not t.is_alive(), "LAUNCH did not answer within 60s of the KILL"
        reply = result["reply"]
        assert hasattr(reply, "status"), reply
        assert_text_error(reply, 500)
        w = client.wait_ok(cid, timeout=30)
        assert w["state"] == "TASK_KILLED", w
        assert w.get("reason") == "REASON_TASK_KILLED_DURING_LAUNCH", w
        time.sleep(1)
        b1 = proxy.sent()
        time.sleep(3)
        b2 = proxy.sent()
        assert b2 < size / 2, "pulled %d of %d bytes" % (b2, size)
        assert b2 - b1 <= 256 * 1024, (
            "transfer still going after the kill: %d -> %d bytes" % (b1, b2))
        assert not image_present(ref), "the image was pulled anyway"
        assert docker_ids("berth.agent_id=" + berthd.agent_id,
                          "berth.container_id=" + cid) == []
    finally:
        t.join(120)


# ----------------------------------------------------------------------------
# a pull that succeeds


def test_launch_pulls_absent_image(berthd, client, new_id):
    """An image absent locally is pulled (from the local registry) first."""
    ref = REGISTRY + "/busybox:local"
    if image_present(ref):
        docker("rmi", ref, check=False)   # only untags: busybox:local stays
    assert not image_present(ref)
    cid = new_id("pulled")
    try:
        w = client.run(launch_call(cid, "echo pulled", image=ref), timeout=120)
        assert w["state"] == "TASK_FINISHED", w
        assert read_file(berthd.stdout_path(cid)) == b"pulled\n"
        assert image_present(ref)
        assert client.container(cid)["image"] == ref
    finally:
        client.cleanup(cid)
        docker("rmi", ref, check=False)
