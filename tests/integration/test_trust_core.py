"""Trust, core part (issue 9): hostile text in messages, removal retries and
the sweep, state writes, the agent id, refused flags, resource bounds.

Each case here failed on the code before its fix (see the commit that added
it); they stay as regression tests.
"""

import json
import os
import re
import socket
import subprocess
import threading
import time

import pytest

import conftest
from berthlib import (BerthClient, docker, docker_ids, launch_call, poll,
                      scalar)
from recovery_util import Async, DockerProxy, daemons_fixture

daemons = pytest.fixture(name="daemons")(daemons_fixture)


def call(client, body, timeout=60):
    return client.post_call(body, timeout=timeout)


# ----------------------------------------------------------------------------
# 1. messages: cut at a character boundary, never a NULL termination


def test_long_utf8_docker_error_does_not_crash(berthd, client, new_id):
    """Docker's refusal of a user made of 700 two-byte characters is longer
    than berth's message buffer; wherever the cut falls (an 'a' in front
    shifts it by one byte), the launch fails cleanly, WAIT answers with a
    valid UTF-8 message and berthd stays up."""
    for prefix in ("", "a"):
        cid = new_id("utf8")
        body = launch_call(cid, "true")
        body["launch_container"]["command"]["user"] = prefix + "\u00e9" * 700
        r = call(client, body)
        assert r.status in (200, 500), (r.status, r.text)
        w = client.wait_ok(cid)
        assert w["state"] == "TASK_FAILED", w
        msg = w["message"]
        assert "\u00e9" in msg and "\ufffd" not in msg[:-1], msg[-40:]
        assert len(msg.encode()) < 1024
        assert client.health().status == 200
        assert client.container(cid)["termination"]["message"] == msg
        client.cleanup(cid)
    assert berthd.alive()


# ----------------------------------------------------------------------------
# 4, 5. start-up refusals


def start_fails(d, words):
    """Start d's berthd, expect it to exit non-zero naming words."""
    d.spawn()
    try:
        rc = d.proc.wait(timeout=conftest.READY_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError("berthd started; log:\n%s" % d.log_tail())
    assert rc != 0, d.log_tail()
    tail = d.log_tail(5)
    for w in words:
        assert w in tail, tail
    return tail


def test_unreadable_docker_config_is_refused_at_start():
    """--docker_config works (test_registry_auth.py); one berthd cannot read
    must stop it at start, naming the file, not pull without credentials."""
    d = conftest.Berthd(["--docker_config=/nonexistent/berth-config.json"], tag="docker-config")
    try:
        start_fails(d, ["/nonexistent/berth-config.json"])
    finally:
        d.teardown()


def test_changed_agent_id_refused_unless_asked(new_id):
    d = conftest.Berthd([], tag="agent-change")
    try:
        d.start()
        cid = new_id("agent")
        d.client.launch_ok(launch_call(cid, "sleep 300"))
        d.stop()
        old = d.agent_id
        new = "t" + os.urandom(4).hex()
        d.flags = [f if not f.startswith("--agent_id=") else "--agent_id=" + new for f in d.flags]
        start_fails(d, ["--agent_id", old, new, "--allow_agent_id_change"])
        # The old id still recovers its container.
        d.flags = [f if not f.startswith("--agent_id=") else "--agent_id=" + old for f in d.flags]
        d.start()
        assert d.client.container(cid)["stage"] == "RUNNING"
        d.stop()
        # Asked for: it starts under the new id, and keeps it.
        d.flags = [f if not f.startswith("--agent_id=") else "--agent_id=" + new for f in d.flags]
        d.flags.append("--allow_agent_id_change")
        d.start()
        assert d.client.health().status == 200
        d.stop()
        d.flags = [f for f in d.flags if f != "--allow_agent_id_change"]
        d.start()
        d.stop()
    finally:
        d.teardown()
        d.agent_id = old
        d.cleanup_docker()


# ----------------------------------------------------------------------------
# 6. resource bounds


def update_call(cid, resources):
    return {"type": "UPDATE_CONTAINER", "update_container": {
        "container_id": {"value": cid}, "resources": resources}}


def test_too_many_cpus_is_400_naming_the_field(client, new_id):
    """CpuShares stop at 262144 (256 cpus): more is a 400, not a failed start."""
    for res, limits, field in [([scalar("cpus", 4096)], None, "cpus"),
                               ([scalar("cpus", 256.5)], None, "cpus"),
                               ([scalar("cpus", 1)], {"cpus": {"value": 5000}}, "limits.cpus")]:
        cid = new_id("cpus")
        r = call(client, launch_call(cid, "true", resources=res, limits=limits))
        assert r.status == 400 and field in r.text, (res, limits, r.status, r.text)
        assert client.container(cid) is None
    cid = new_id("cpus")
    w = client.run(launch_call(cid, "true", resources=[scalar("cpus", 256)]))
    assert w["state"] == "TASK_FINISHED", w
    client.cleanup(cid)


TERM_TRAP = "trap 'echo got-term; exit 0' TERM; while true; do sleep 0.1; done"


def test_update_cannot_grow_resources_past_the_cap(berthd_factory, new_id):
    """Two updates of 1,023 custom resources each: the second is a 400, the
    stored launch stays readable, and after a restart the task still gets
    its grace period (SIGTERM first, which it traps)."""
    d = berthd_factory()
    cid = new_id("cap")
    d.client.launch_ok(launch_call(cid, TERM_TRAP, resources=[scalar("cpus", 0.1), scalar("mem", 32)],
                                   grace_secs=20))
    a = [scalar("cpus", 0.2)] + [scalar("a%d" % i, 1) for i in range(1022)]
    b = [scalar("cpus", 0.3)] + [scalar("b%d" % i, 1) for i in range(1022)]
    r = call(d.client, update_call(cid, a))
    assert r.status == 200, (r.status, r.text)
    r = call(d.client, update_call(cid, b))
    assert r.status == 400 and "resources" in r.text, (r.status, r.text)
    d.stop()
    d.start()
    c = d.client.container(cid)
    assert c["stage"] == "RUNNING", c
    assert len(c["resources"]) == 1024
    assert "unreadable" not in d.log_tail(40)
    assert d.client.kill(cid).status == 200
    w = d.client.wait_ok(cid)
    assert w["state"] == "TASK_KILLED", w
    assert open(d.stdout_path(cid)).read() == "got-term\n"
    d.client.remove(cid)


def test_unreadable_stored_launch_keeps_kill_policy(berthd_factory, new_id):
    """A stored launch recovery cannot parse (resources past the cap, as an
    older berthd let updates leave) is reported in the log, and the task's
    kill policy survives the restart."""
    import sqlite3
    d = berthd_factory()
    cid = new_id("unread")
    d.client.launch_ok(launch_call(cid, TERM_TRAP, resources=[scalar("cpus", 0.1)], grace_secs=20))
    d.stop()
    db = sqlite3.connect(os.path.join(d.work_dir, "meta", "berth.db"))
    (launch,) = db.execute("SELECT launch FROM containers WHERE id = ?", (cid,)).fetchone()
    launch = json.loads(launch)
    launch["resources"] += [scalar("x%d" % i, 1) for i in range(2046)]
    db.execute("UPDATE containers SET launch = ? WHERE id = ?", (json.dumps(launch), cid))
    db.commit()
    db.close()
    d.start()
    assert "stored launch unreadable" in d.log_tail(40)
    assert d.client.container(cid)["stage"] == "RUNNING"
    assert d.client.kill(cid).status == 200
    w = d.client.wait_ok(cid)
    assert w["state"] == "TASK_KILLED", w
    assert open(d.stdout_path(cid)).read() == "got-term\n"
    d.client.remove(cid)


# ----------------------------------------------------------------------------
# 4. state writes


def fill(dir_path):
    """Write a file into dir_path until the filesystem is full."""
    path = os.path.join(dir_path, "filler")
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
        # Fill the last partial block too.
        try:
            while True:
                f.write(b"\0")
                f.flush()
        except OSError:
            pass
    return path


def test_full_disk_at_start_fails_the_launch(daemons):
    """The state database is full when the started task is to be recorded
    RUNNING: the launch fails, naming the state write, and the task does not
    go on running unrecorded (it used to, and came back as MOUNTING)."""
    scratch = daemons.scratch()
    proxy = DockerProxy(os.path.join(scratch, "docker-proxy.sock")).start()
    d = daemons(start=False, docker_socket=proxy.listen_path)
    meta = os.path.join(d.work_dir, "meta")
    os.makedirs(meta)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", meta], check=True)
    try:
        d.start()
        c = d.client
        proxy.hold("/start", 4)
        launch = Async(c.launch, launch_call("full", "sleep 300"), timeout=90)
        poll(lambda: docker_ids("berth.agent_id=" + d.agent_id, "berth.container_id=full"), 30, what="docker container created")
        filler = fill(meta)
        launch.join(90)
        r = launch.result
        assert r is not None, launch.exc
        assert r.status == 500, (r.status, r.text)
        # The disk fills after docker's create: the write that fails is the
        # created container's or the RUNNING one, and the message says so.
        assert "record container 'full' as" in r.text and "full" in r.text, r.text
        poll(lambda: not docker_ids("berth.agent_id=" + d.agent_id, "berth.container_id=full"), 30,
             what="the unrecorded task removed")
        os.unlink(filler)
        d.stop()
        d.start()
        w = c.wait_ok("full")
        assert w["state"] == "TASK_FAILED", w
    finally:
        proxy.hold(None, 0)
        proxy.kill()
        d.stop()
        subprocess.run(["umount", "-l", meta], check=False)


# ----------------------------------------------------------------------------
# 3. removal: retries, and the sweep keeps off containers being removed


def test_delayed_removal_retried_after_dockerd_outage(daemons):
    """The remove delay ends while dockerd is unreachable: the docker
    container is removed once dockerd is back (it used to stay for good)."""
    proxy = DockerProxy(os.path.join(daemons.scratch(), "docker-proxy.sock")).start()
    try:
        d = daemons(docker_socket=proxy.listen_path, extra_flags=["--docker_remove_delay=2secs"])
        c = d.client
        c.launch_ok(launch_call("later", "true"))
        assert c.wait_ok("later")["state"] == "TASK_FINISHED"
        labels = ("berth.agent_id=" + d.agent_id, "berth.container_id=later")
        assert docker_ids(*labels)
        proxy.kill()
        poll(lambda: "remove docker container %s" % d.docker_name("later") in d.log_tail(20), 30,
             what="the delayed removal failing")
        proxy.start()
        poll(lambda: not docker_ids(*labels), 60, interval=0.5, what="docker container removed on a retry")
        assert c.container("later")["stage"] == "TERMINATED"
        assert c.remove("later").status == 200
    finally:
        proxy.kill()


class ListDelayProxy:
    """A unix-socket proxy to dockerd that, when armed, holds the answer to
    the next container list until released: a sweep then acts on a list
    made before what the test does meanwhile."""

    def __init__(self, path, upstream="/var/run/docker.sock"):
        self.path, self.upstream = path, upstream
        self.armed = False
        self.holding = threading.Event()
        self.release = threading.Event()
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.srv.accept()
            except OSError:
                return
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            up.connect(self.upstream)
            state = {"list": False}
            threading.Thread(target=self._up, args=(client, up, state), daemon=True).start()
            threading.Thread(target=self._down, args=(up, client, state), daemon=True).start()

    def _up(self, client, up, state):
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                if b"GET /v1.41/containers/json" in data or b"/containers/json?" in data:
                    state["list"] = True
                up.sendall(data)
        except OSError:
            pass
        try:
            up.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _down(self, up, client, state):
        try:
            while True:
                data = up.recv(65536)
                if not data:
                    break
                if state["list"] and self.armed:
                    self.armed = False
                    self.holding.set()
                    self.release.wait(60)
                state["list"] = False
                client.sendall(data)
        except OSError:
            pass
        try:
            client.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        self.release.set()
        self.srv.close()


def test_sweep_never_touches_a_container_being_removed(daemons):
    """A sweep list made before a REMOVE is acted on while the REMOVE
    deletes a large sandbox, and the id is relaunched right after: the
    sweep leaves the removal alone, the sandbox is deleted once, and the
    relaunched container and its sandbox stay."""
    scratch = daemons.scratch()
    proxy = ListDelayProxy(os.path.join(scratch, "list-delay.sock"))
    try:
        d = daemons(docker_socket=proxy.path, extra_flags=["--docker_remove_delay=1hrs"])
        c = d.client
        c.launch_ok(launch_call("twice", "true"))
        assert c.wait_ok("twice")["state"] == "TASK_FINISHED"
        sb = d.sandbox("twice")
        many = os.path.join(sb, "many")
        os.makedirs(many)
        for i in range(60000):
            os.close(os.open(os.path.join(many, "f%d" % i), os.O_CREAT | os.O_WRONLY, 0o644))
        proxy.armed = True
        assert proxy.holding.wait(30), "no sweep list seen"
        remove = Async(c.remove, "twice", timeout=120)
        labels = ("berth.agent_id=" + d.agent_id, "berth.container_id=twice")
        poll(lambda: not docker_ids(*labels), 30, what="docker container removed by REMOVE")
        proxy.release.set()          # the stale list now reaches the sweep
        remove.join(120)
        assert remove.result is not None and remove.result.status == 200, (remove.result, remove.exc)
        c.launch_ok(launch_call("twice", "echo again > /mnt/mesos/sandbox/mark; sleep 300"))
        poll(lambda: os.path.exists(os.path.join(sb, "mark")), 30, what="relaunched task running")
        time.sleep(2)                # a second removal, if any, would land here
        assert d.alive(), d.log_tail(30)
        e = c.container("twice")
        assert e is not None and e["stage"] == "RUNNING", e
        assert os.path.exists(os.path.join(sb, "mark"))
        assert "appeared after it ended" not in d.log_tail(200), d.log_tail(40)
        c.kill("twice")
        c.wait("twice")
        c.remove("twice")
    finally:
        proxy.close()


# ----------------------------------------------------------------------------
# 2. host volume pins never leak


def pins_mounted(d):
    """Mount points under the work dir's pin directory, from mountinfo."""
    root = os.path.join(d.work_dir, "docker", "volumes") + "/"
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(root)]


def pin_dirs(d):
    root = os.path.join(d.work_dir, "docker", "volumes")
    return os.listdir(root) if os.path.isdir(root) else []


def test_pins_released_at_start_and_remove(berthd, client, new_id):
    """The pin lives from the launch to docker's start: a running task
    still reads its volume (docker holds its own mount), RO stays RO, and
    nothing is left mounted after REMOVE."""
    host = os.path.join(berthd.allowed_dir, "pinned")
    os.makedirs(host, exist_ok=True)
    with open(os.path.join(host, "data.txt"), "w") as f:
        f.write("from the host\n")
    cid = new_id("pin")
    gate = os.path.join(berthd.sandbox(cid), "go")
    client.launch_ok(launch_call(
        cid, "while [ ! -f /mnt/mesos/sandbox/go ]; do sleep 0.1; done; cat /v/data.txt; "
             "touch /v/new 2>/dev/null && echo writable || echo readonly",
        volumes=[{"host_path": host, "container_path": "/v", "mode": "RO"}]))
    assert client.container(cid)["stage"] == "RUNNING"
    assert pins_mounted(berthd) == [], pins_mounted(berthd)
    open(gate, "w").close()
    w = client.wait_ok(cid)
    assert w["state"] == "TASK_FINISHED", w
    assert open(berthd.stdout_path(cid)).read() == "from the host\nreadonly\n"
    assert client.remove(cid).status == 200
    assert pins_mounted(berthd) == [] and pin_dirs(berthd) == []


def test_pins_removed_after_a_crash_while_pinned(daemons):
    """kill -9 (a crash point) right after the pin is made: the restart
    unmounts and removes it, and the launch is reported abandoned."""
    d = daemons(start=False)
    host = os.path.join(d.allowed_dir, "crash")
    os.makedirs(host)
    d.start(crash_at="after-pin")
    r = None
    try:
        r = d.client.launch(launch_call("pinned", "true", volumes=[
            {"host_path": host, "container_path": "/v", "mode": "RW"}]))
    except Exception:
        pass
    d.wait_crash("after-pin", reply=r)
    assert len(pins_mounted(d)) == 1, pins_mounted(d)
    d.restart()
    assert pins_mounted(d) == [] and pin_dirs(d) == []
    w = d.client.wait_ok("pinned")
    assert w["state"] == "TASK_FAILED" and "MOUNTING" in w["message"], w
    assert d.client.remove("pinned").status == 200


def test_host_volume_refusals_are_400_and_unmounted(berthd, client, new_id):
    """A symlink anywhere below the allowed prefix, a file, a missing path:
    400 naming the field, and no pin left."""
    a = berthd.allowed_dir
    os.makedirs(os.path.join(a, "real", "sub"), exist_ok=True)
    if not os.path.lexists(os.path.join(a, "link")):
        os.symlink(os.path.join(a, "real"), os.path.join(a, "link"))
    with open(os.path.join(a, "file"), "w") as f:
        f.write("x")
    for host in [os.path.join(a, "link", "sub"), os.path.join(a, "file"), os.path.join(a, "missing")]:
        cid = new_id("refvol")
        r = call(client, launch_call(cid, "true", volumes=[
            {"host_path": host, "container_path": "/v", "mode": "RO"}]))
        assert r.status == 400 and "container.volumes[0].host_path" in r.text, (host, r.status, r.text)
        client.cleanup(cid)
    assert pins_mounted(berthd) == [] and pin_dirs(berthd) == []
