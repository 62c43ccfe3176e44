"""SUBSCRIBE (API.md §3) and `berth events`.

The stream is read at the byte level (a raw socket, chunked decoding and
RecordIO parsing here) so that what is checked is what berthd sends: the
status, the content type, the framing, and the order of the records.
"""

import concurrent.futures
import json
import os
import secrets
import signal
import socket
import subprocess
import time

import pytest

import berthlib
import conftest
from berthlib import free_port, launch_call, shell_cmd
from conftest import BERTH_CLI

SUBSCRIBE = b'{"type":"SUBSCRIBE"}'
# How long a test waits for something berthd does at once; a hang fails
# the test instead of blocking the suite.  Not a timing check.
WAIT = 30.0


class Stream:
    """One SUBSCRIBE connection, read by hand: HTTP head, chunked body,
    RecordIO records."""

    def __init__(self, sock, headers=None):
        self.sock = sock
        self.raw = b""  # received, not yet de-chunked
        self.data = b""  # de-chunked, not yet parsed as records
        self.eof = False
        self.last_chunk = False  # the terminating chunk arrived
        hdrs = {"Host": "localhost", "Content-Type": "application/json",
                "Content-Length": str(len(SUBSCRIBE))}
        hdrs.update(headers or {})
        head = "POST /api/v1 HTTP/1.1\r\n" + "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
        sock.sendall(head.encode() + SUBSCRIBE)
        self.status, self.headers = self._head()

    @classmethod
    def unix(cls, path, **kw):
        return cls(berthlib.unix_connect(path, WAIT), **kw)

    @classmethod
    def tcp(cls, port, **kw):
        return cls(socket.create_connection(("127.0.0.1", port), timeout=WAIT), **kw)

    def close(self):
        self.sock.close()

    def _recv(self, deadline):
        self.sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            got = self.sock.recv(65536)
        except socket.timeout:
            if time.monotonic() > deadline:
                raise AssertionError("nothing from berthd in time; have %r" % (self.data[-300:],))
            return
        except (ConnectionResetError, BrokenPipeError):
            got = b""
        if not got:
            self.eof = True
        self.raw += got

    def _head(self):
        deadline = time.monotonic() + WAIT
        while b"\r\n\r\n" not in self.raw:
            if self.eof:
                raise AssertionError("connection closed before the reply's head: %r" % self.raw)
            self._recv(deadline)
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() != "chunked":
            # An error reply: the rest is its body.
            n = int(headers.get("content-length", "0"))
            while len(self.raw) < n and not self.eof:
                self._recv(deadline)
            self.data = self.raw
            self.raw = b""
        return status, headers

    def _dechunk(self):
        while not self.last_chunk:
            line_end = self.raw.find(b"\r\n")
            if line_end < 0:
                return
            size = int(self.raw[:line_end].split(b";")[0], 16)
            if len(self.raw) < line_end + 2 + size + 2:
                return
            if size == 0:
                self.last_chunk = True
            self.data += self.raw[line_end + 2:line_end + 2 + size]
            self.raw = self.raw[line_end + 2 + size + 2:]

    def _record(self):
        nl = self.data.find(b"\n")
        if nl < 0:
            return None
        n = int(self.data[:nl])
        if len(self.data) < nl + 1 + n:
            return None
        rec = json.loads(self.data[nl + 1:nl + 1 + n])
        self.data = self.data[nl + 1 + n:]
        return rec

    def next(self, timeout=WAIT):
        """The next record, or None once berthd ended the stream."""
        deadline = time.monotonic() + timeout
        while True:
            self._dechunk()
            rec = self._record()
            if rec is not None:
                return rec
            if self.eof or self.last_chunk:
                return None
            self._recv(deadline)

    def until(self, pred, timeout=WAIT, what="record"):
        """Records up to and including the first for which pred holds."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            rec = self.next(max(0.1, deadline - time.monotonic()))
            if rec is None:
                raise AssertionError("stream ended before %s; saw %s" % (what, seen))
            seen.append(rec)
            if pred(rec):
                return seen

    def drain_to_eof(self, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while not self.eof:
            self._recv(deadline)


def event_id(rec):
    body = rec.get(rec["type"].lower()) or {}
    return (body.get("container_id") or {}).get("value")


def about(cid):
    return lambda rec: event_id(rec) == cid


def describe(rec):
    """("STAGE_CHANGED", "RUNNING"), ("TERMINATED", state), ("REMOVED",)."""
    t = rec["type"]
    if t == "STAGE_CHANGED":
        return (t, rec["stage_changed"]["stage"])
    if t == "TERMINATED":
        return (t, rec["terminated"]["termination"]["state"])
    return (t,)


def metric(d, name):
    for line in d.client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no %s in /metrics" % name)


def test_whole_lifecycle_arrives_in_order(berthd, new_id):
    cid = new_id("life")
    s = Stream.unix(berthd.sock)
    try:
        assert s.status == 200
        assert s.headers["content-type"] == "application/recordio"
        first = s.next()
        assert first["type"] == "SUBSCRIBED", first
        assert isinstance(first["subscribed"]["containers"], list)
        berthd.client.launch_ok(launch_call(cid, shell_cmd("sleep 300")))
        reply = berthd.client.kill(cid)
        assert reply.status == 200, reply
        waited = berthd.client.wait_ok(cid)
        reply = berthd.client.remove(cid)
        assert reply.status == 200, reply
        recs = [r for r in s.until(lambda r: r["type"] == "REMOVED" and about(cid)(r), what="REMOVED")
                if about(cid)(r)]
        assert [describe(r) for r in recs] == [
            ("STAGE_CHANGED", "FETCHING"), ("STAGE_CHANGED", "PULLING"), ("STAGE_CHANGED", "MOUNTING"),
            ("STAGE_CHANGED", "RUNNING"), ("STAGE_CHANGED", "DESTROYING"), ("TERMINATED", "TASK_KILLED"),
            ("REMOVED",)], recs
        # The termination is WAIT_CONTAINER's.
        assert recs[5]["terminated"]["termination"] == waited
    finally:
        s.close()


def test_health_changes_arrive_as_health_changed(berthd, new_id):
    """A health check's status changes reach the stream: HEALTHY while the
    check passes, then failures counted and UNHEALTHY, then the kill."""
    cid = new_id("health")
    s = Stream.unix(berthd.sock)
    try:
        s.next()
        call = launch_call(cid, shell_cmd("touch /tmp/ok; sleep 300"), network="NONE")
        call["launch_container"]["health_check"] = {
            "type": "COMMAND", "command": {"value": "test -f /tmp/ok"}, "delay_seconds": 0,
            "interval_seconds": 0.2, "timeout_seconds": 5, "consecutive_failures": 2,
            "grace_period_seconds": 0}
        berthd.client.launch_ok(call)
        s.until(lambda r: r["type"] == "HEALTH_CHANGED" and about(cid)(r)
                and r["health_changed"]["health"]["status"] == "HEALTHY", what="HEALTHY")
        # The file the check tests goes: two failures, then the health kill.
        subprocess.run(["/usr/bin/docker", "exec", "berth-%s.%s" % (berthd.agent_id, cid), "rm", "/tmp/ok"],
                       check=True, timeout=60)
        recs = [r for r in s.until(lambda r: r["type"] == "TERMINATED" and about(cid)(r), what="TERMINATED")
                if about(cid)(r)]
        health = [r["health_changed"]["health"] for r in recs if r["type"] == "HEALTH_CHANGED"]
        assert [h["consecutive_failures"] for h in health][-2:] == [1, 2], health
        assert health[-1]["status"] == "UNHEALTHY", health
        assert recs[-1]["terminated"]["termination"]["reason"] == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED", recs[-1]
    finally:
        s.close()


def test_a_failed_launch_ends_terminated_with_its_reason(berthd, new_id):
    cid = new_id("fail")
    s = Stream.unix(berthd.sock)
    try:
        s.next()
        reply = berthd.client.launch(launch_call(cid, shell_cmd("true"), image=berthlib.REGISTRY + "/berth-missing:nope"), timeout=120)
        assert reply.status == 500, reply
        recs = [r for r in s.until(lambda r: r["type"] == "TERMINATED" and about(cid)(r), what="TERMINATED")
                if about(cid)(r)]
        assert describe(recs[-1]) == ("TERMINATED", "TASK_FAILED"), recs
        assert recs[-1]["terminated"]["termination"]["reason"] == "REASON_CONTAINER_LAUNCH_FAILED"
        assert ("STAGE_CHANGED", "RUNNING") not in [describe(r) for r in recs]
    finally:
        s.close()


def test_subscribed_lists_the_containers_that_exist(berthd, new_id):
    running, ended = new_id("run"), new_id("end")
    berthd.client.launch_ok(launch_call(running, shell_cmd("sleep 300")))
    berthd.client.launch_ok(launch_call(ended, shell_cmd("exit 3")))
    berthd.client.wait_ok(ended)
    s = Stream.unix(berthd.sock)
    try:
        first = s.next()
        assert first["type"] == "SUBSCRIBED"
        listed = {c["container_id"]["value"]: c for c in first["subscribed"]["containers"]}
        assert listed[running]["stage"] == "RUNNING"
        assert listed[ended]["stage"] == "TERMINATED"
        assert listed[ended]["termination"]["exit_code"] == 3
        # The same entries as GET_CONTAINERS.
        assert set(listed) == {c["container_id"]["value"] for c in berthd.client.get_containers()}
        # And the stream goes on from there.
        berthd.client.kill(running)
        s.until(lambda r: r["type"] == "TERMINATED" and about(running)(r), what="TERMINATED")
    finally:
        s.close()
        berthd.client.kill(running)


def test_heartbeats_arrive_at_the_flags_interval(berthd_factory):
    d = berthd_factory("--subscribe_heartbeat_interval=200ms")
    assert d.client.get("/flags").json()["flags"]["subscribe_heartbeat_interval"] == "200ms"
    s = Stream.unix(d.sock)
    try:
        assert s.next()["type"] == "SUBSCRIBED"
        # Several in a row, with nothing else happening.
        for _ in range(3):
            assert s.next(timeout=WAIT) == {"type": "HEARTBEAT"}
    finally:
        s.close()


def test_default_heartbeat_interval_is_15s(berthd):
    assert berthd.client.get("/flags").json()["flags"]["subscribe_heartbeat_interval"] == "15secs"
    assert berthd.client.get("/flags").json()["flags"]["subscriber_queue_size"] == "256KB"


def test_reader_that_never_reads_is_dropped_and_berthd_keeps_serving(berthd_factory):
    d = berthd_factory("--subscriber_queue_size=2KB")
    ids = ["slow-%d" % i for i in range(30)]
    stuck = berthlib.unix_connect(d.sock, WAIT)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.sendall(b"POST /api/v1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % len(SUBSCRIBE)
                  + SUBSCRIBE)
    try:
        berthlib.poll(lambda: metric(d, "berth_subscribers") == 1, WAIT, what="the subscriber to be counted")

        def launch(cid):
            return d.client.launch(launch_call(cid, shell_cmd("sleep 300"))).status

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            statuses = list(pool.map(launch, ids))
        assert statuses == [200] * 30
        # berthd answers other calls: the reader costs it nothing.
        assert {c["container_id"]["value"] for c in d.client.get_containers()} == set(ids)
        assert d.client.health().status == 200
        berthlib.poll(lambda: metric(d, "berth_subscribers_dropped_total") >= 1, WAIT, what="the drop")
        berthlib.poll(lambda: metric(d, "berth_subscribers") == 0, WAIT, what="the gauge to fall")
        # Its connection was closed, without the stream's last chunk.
        data = b""
        stuck.settimeout(WAIT)
        while True:
            try:
                got = stuck.recv(65536)
            except ConnectionResetError:
                break
            if not got:
                break
            data += got
        assert b"200 OK" in data.split(b"\r\n", 1)[0]
        assert not data.endswith(b"0\r\n\r\n")
        assert "dropped: it reads too slowly" in d.log_tail(400)
        # A new subscriber is served, and sees all 30.
        s = Stream.unix(d.sock)
        try:
            first = s.next()
            assert {c["container_id"]["value"] for c in first["subscribed"]["containers"]} == set(ids)
        finally:
            s.close()
    finally:
        stuck.close()
        for cid in ids:
            d.client.kill(cid)


def test_closed_subscriber_is_forgotten(berthd):
    s = Stream.unix(berthd.sock)
    s.next()
    berthlib.poll(lambda: metric(berthd, "berth_subscribers") >= 1, WAIT, what="the subscriber")
    before = metric(berthd, "berth_subscribers")
    s.close()
    berthlib.poll(lambda: metric(berthd, "berth_subscribers") == before - 1, WAIT, what="the gauge to fall")
    assert metric(berthd, "berth_subscribers_dropped_total") == 0


def test_tcp_listener_needs_the_token(berthd_factory, tmp_path):
    token = "tok-" + secrets.token_hex(16)
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    port = free_port()
    d = berthd_factory("--listen=tcp:127.0.0.1:%d" % port, "--token_file=%s" % token_file)
    for hdrs in ({}, {"Authorization": "Bearer wrong"}):
        s = Stream.tcp(port, headers=hdrs)
        try:
            assert s.status == 401, (s.status, s.data)
        finally:
            s.close()
    s = Stream.tcp(port, headers={"Authorization": "Bearer " + token})
    try:
        assert s.status == 200
        assert s.next()["type"] == "SUBSCRIBED"
    finally:
        s.close()
    # berth events over TCP, with the token from the environment.
    env = dict(os.environ, BERTH_TOKEN=token)
    p = subprocess.Popen([BERTH_CLI, "--addr", "tcp:127.0.0.1:%d" % port, "events", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        line = p.stdout.readline()
        assert json.loads(line)["type"] == "SUBSCRIBED", line
    finally:
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=WAIT)
    assert p.returncode == 0
    d.stop()


class Events:
    """`berth events [--json]` as a child process."""

    def __init__(self, addr, *args):
        self.p = subprocess.Popen([BERTH_CLI, "--addr", addr, "events"] + list(args),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []

    def until(self, pred, what):
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise AssertionError("berth events ended before %s; printed %s; stderr %s"
                                     % (what, self.lines, self.p.stderr.read()))
            self.lines.append(line.rstrip("\n"))
            if pred(self.lines[-1]):
                return

    def finish(self, sig=None):
        if sig:
            self.p.send_signal(sig)
        out, err = self.p.communicate(timeout=WAIT)
        return self.p.returncode, err


def test_berth_events_prints_one_line_per_event(berthd, new_id):
    cid = new_id("cli")
    readable = Events(berthd.addr)
    raw = Events(berthd.addr, "--json")
    try:
        readable.until(lambda l: "SUBSCRIBED" in l, "SUBSCRIBED")
        raw.until(lambda l: '"SUBSCRIBED"' in l, "SUBSCRIBED")
        berthd.client.launch_ok(launch_call(cid, shell_cmd("exit 3")))
        berthd.client.wait_ok(cid)
        assert berthd.client.remove(cid).status == 200
        readable.until(lambda l: "REMOVED" in l and cid in l, "REMOVED")
        raw.until(lambda l: '"REMOVED"' in l and cid in l, "REMOVED")
    finally:
        rc, err = readable.finish(signal.SIGINT)
        rc_raw, err_raw = raw.finish(signal.SIGTERM)
    # Ctrl-C (or SIGTERM) ends it cleanly.
    assert (rc, err) == (0, ""), err
    assert (rc_raw, err_raw) == (0, ""), err_raw
    mine = [l.split("  ")[1:] for l in readable.lines if "  %s  " % cid in l or l.endswith("  " + cid)]
    assert mine == [["STAGE_CHANGED", cid, "FETCHING"], ["STAGE_CHANGED", cid, "PULLING"],
                    ["STAGE_CHANGED", cid, "MOUNTING"], ["STAGE_CHANGED", cid, "RUNNING"],
                    ["TERMINATED", cid, "TASK_FAILED", "exit 3"], ["REMOVED", cid]], readable.lines
    # Each line starts with the time: 2026-12-02T10:00:30.331
    assert all(time.strptime(l.split("  ")[0].split(".")[0], "%Y-%m-%dT%H:%M:%S") for l in readable.lines)
    recs = [json.loads(l) for l in raw.lines]
    assert recs[0]["type"] == "SUBSCRIBED"
    assert [describe(r) for r in recs if event_id(r) == cid] == [
        ("STAGE_CHANGED", "FETCHING"), ("STAGE_CHANGED", "PULLING"), ("STAGE_CHANGED", "MOUNTING"),
        ("STAGE_CHANGED", "RUNNING"), ("TERMINATED", "TASK_FAILED"), ("REMOVED",)]


def test_berth_events_fails_when_berthd_ends_the_stream(berthd_factory):
    d = berthd_factory("--subscribe_heartbeat_interval=100ms")
    ev = Events(d.addr, "--json")
    ev.until(lambda l: "HEARTBEAT" in l, "a heartbeat")
    d.stop()  # SIGTERM: every stream ends, berthd exits
    assert d.proc.returncode == 0
    rc, err = ev.finish()
    assert rc == 1
    assert "closed the event stream" in err, err


@pytest.mark.parametrize("flags,words", [
    (["--subscriber_queue_size=100B"], ["--subscriber_queue_size", "1KB"]),
    (["--subscriber_queue_size=lots"], ["--subscriber_queue_size"]),
    (["--subscribe_heartbeat_interval=0secs"], ["--subscribe_heartbeat_interval"]),
])
def test_bad_flags_refuse_to_start(flags, words, tmp_path):
    p = subprocess.run([conftest.BERTHD, "--work_dir=%s" % tmp_path, "--listen=unix:%s/s.sock" % tmp_path] + flags,
                       capture_output=True, timeout=30)
    assert p.returncode != 0
    err = p.stderr.decode()
    for w in words:
        assert w in err, err
