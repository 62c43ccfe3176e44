"""Hostile input against a live berthd (API.md §2-§4, README "Security").

One private berthd serves the whole module.  Before any attack it launches
a long-running "sentinel" container; after each class of attack the test
checks that berthd still serves (/health, GET_CONTAINERS), that the
sentinel is still RUNNING and listed, that no docker container of this
agent id other than the sentinel's exists and that no sandbox was left
behind (`assert_intact`).

Slow and half-sent requests hold their connections from the module's start
(`slow_clients`); berthd must drop them after its 30 s idle timeout while
every other test keeps being served, and the last test collects the
result.  That keeps the module's run time near that of its other tests.

Several cases here found berthd defects, since fixed; they stay as
regression tests: planted symlinks and FIFOs in a sandbox, a registry host
of dots, "container:<x>" as a network, abandoned long polls, long tokens.
"""

import http.client
import json
import os
import resource
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time

import pytest

import conftest
from berthlib import (BerthClient, DEFAULT_IMAGE, docker, docker_ids,
                      docker_inspect, free_port, is_one_line_text_error,
                      launch_call, poll, scalar, unix_connect)

SENTINEL = "sentinel-1"
# The sentinel's persistent volume: the "nothing made for a refused request"
# check then compares against a real list, not an always-empty one.
SENTINEL_PV = "sentinel-pv"
IDLE_TIMEOUT = 30          # server.c CONNECTION_TIMEOUT_SECS
SLOW_MIN, SLOW_MAX = 20, 55  # when a stalled client may be dropped, in s
CONNECTIONS = 1100         # over server.c's CONNECTION_LIMIT of 1024


# ----------------------------------------------------------------------------
# helpers


def lc(body):
    return body["launch_container"]


def post_raw(client, raw, timeout=30):
    return client.post_call(None, raw=raw, timeout=timeout)


def call(client, body, timeout=30):
    return post_raw(client, json.dumps(body), timeout=timeout)


class Problems:
    """Collects cases whose answer was wrong, so one run reports them all."""

    def __init__(self):
        self.items = []

    def expect(self, case, reply, statuses, words=None):
        if isinstance(statuses, int):
            statuses = (statuses,)
        if reply.status not in statuses:
            self.items.append("%s: expected %s, got %d %r"
                              % (case, "/".join(map(str, statuses)),
                                 reply.status, reply.body[:200]))
            return False
        # berth's own refusals are one line of text/plain (API.md §2);
        # 414/431 come from libmicrohttpd itself.
        if reply.status in (400, 401, 404, 409, 413) and not is_one_line_text_error(reply):
            self.items.append("%s: %d is not one line of text/plain: %r %r" % (
                case, reply.status, reply.headers.get("Content-Type"), reply.body[:200]))
            return False
        if words and reply.status >= 400:
            msg = reply.text.lower()
            if not any(w.lower() in msg for w in words):
                self.items.append("%s: %d message %r names none of %r"
                                  % (case, reply.status, reply.text[:200], words))
                return False
        return True

    def add(self, text):
        self.items.append(text)

    def check(self):
        assert not self.items, "%d bad answers:\n  %s" % (
            len(self.items), "\n  ".join(self.items))


def docker_names_of(agent_id):
    p = docker("ps", "-a", "--format", "{{.Names}}",
               "--filter", "name=berth-%s." % agent_id)
    return sorted(p.stdout.decode().split())


def assert_intact(berthd, extra_ok=()):
    """berthd serves, the sentinel is RUNNING and listed, nothing leaked."""
    assert berthd.alive(), "berthd %s" % berthd.describe_exit()
    c = berthd.client
    r = c.health(timeout=10)
    assert r.status == 200, r
    listed = {x["container_id"]["value"]: x for x in c.get_containers(timeout=10)}
    assert SENTINEL in listed, "sentinel gone from GET_CONTAINERS: %r" % listed
    assert listed[SENTINEL]["stage"] == "RUNNING", listed[SENTINEL]
    others = sorted(set(listed) - {SENTINEL} - set(extra_ok))
    assert others == [], "containers created by attacks: %r" % others
    r = c.get("/containers", timeout=10)
    assert r.status == 200 and any(
        x["container_id"]["value"] == SENTINEL for x in r.json()), r
    # docker: exactly the sentinel's container, by label and by name.
    want = [berthd.docker_name(SENTINEL)] + [berthd.docker_name(x) for x in extra_ok]
    assert docker_names_of(berthd.agent_id) == sorted(want)
    ids = docker_ids("berth.agent_id=" + berthd.agent_id)
    assert len(ids) == len(want), ids
    state = docker_inspect(berthd.docker_name(SENTINEL))["State"]
    assert state["Running"], state
    # Nothing under the work dir was made for a refused request.
    sandboxes = sorted(os.listdir(os.path.join(berthd.work_dir, "sandboxes")))
    assert sandboxes == sorted({SENTINEL, *extra_ok}), sandboxes
    volumes = os.listdir(os.path.join(berthd.work_dir, "volumes"))
    assert volumes == [SENTINEL_PV], volumes


def base_launch(berthd, cid):
    """A launch that uses every field berth reads; valid as it stands
    (test_base_launch_is_valid shows it), so a 400 for a variant of it is
    about the variant."""
    return {"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": cid},
        "command": {"shell": True, "value": "sleep 30", "arguments": ["a"],
                    "environment": {"variables": [{"name": "K", "value": "V"}]},
                    "user": "root"},
        # Reals as reals, so a real in place of an integer field is a type
        # error and an integer in place of a real one is not.
        "resources": [scalar("cpus", 0.1), scalar("mem", 32.0)],
        "limits": {"cpus": {"value": 1.0}, "mem": {"value": 64.0}},
        "container": {
            "type": "DOCKER", "hostname": "h",
            "volumes": [{"container_path": "/v", "host_path": berthd.allowed_dir,
                         "mode": "RO"}],
            "docker": {"image": DEFAULT_IMAGE, "network": "BRIDGE",
                       "port_mappings": [{"host_port": free_port(),
                                          "container_port": 80,
                                          "protocol": "tcp"}],
                       "privileged": False, "force_pull_image": False,
                       "parameters": [{"key": "label", "value": "a=b"}]}},
        "kill_policy": {"grace_period": {"nanoseconds": 1000000000}}}}


def get_path(obj, path):
    for k in path:
        obj = obj[k]
    return obj


def set_path(obj, path, value):
    get_path(obj, path[:-1])[path[-1]] = value


# ----------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def sentinel(berthd):
    """A container launched before the attacks; it must survive them all."""
    c = berthd.client
    c.launch_ok(launch_call(SENTINEL, "while true; do echo alive; sleep 1; done",
                            grace_secs=0, resources=[
                                {"name": "disk", "type": "SCALAR", "scalar": {"value": 1},
                                 "disk": {"persistence": {"id": SENTINEL_PV},
                                          "volume": {"container_path": "pv", "mode": "RW"}}}]))
    yield SENTINEL
    if berthd.alive():
        c.cleanup(SENTINEL)


class SlowClients:
    """Clients that stall mid-request, plus a monitor that keeps asking
    /health meanwhile (paused while the connection-flood test holds every
    slot on purpose)."""

    STALLS = [
        ("body 10 of 100 bytes",
         b"POST /api/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         b"Content-Length: 100\r\n\r\n" + b'{"type":"G'),
        ("headers half sent", b"POST /api/v1 HTTP/1.1\r\nHost: x\r\nContent-Le"),
        ("nothing sent", b""),
        ("chunked body stalls",
         b"POST /api/v1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"10\r\n{\"type\":\"GET_CO"),
    ]

    def __init__(self, sock_path):
        self.sock_path = sock_path
        self.results = {}
        self.monitor_failures = []
        self.monitor_count = 0
        self.pause = threading.Event()
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self._stall, args=s, daemon=True)
                        for s in self.STALLS]
        self.monitor = threading.Thread(target=self._monitor, daemon=True)
        self.started = time.monotonic()
        for t in self.threads:
            t.start()
        self.monitor.start()

    def _stall(self, name, payload):
        try:
            s = unix_connect(self.sock_path, 10)
        except OSError as e:
            self.results[name] = ("connect failed", repr(e))
            return
        try:
            if payload:
                s.sendall(payload)
            t0 = time.monotonic()
            s.settimeout(SLOW_MAX + 10)
            got = b""
            try:
                while True:
                    data = s.recv(4096)
                    if not data:
                        break
                    got += data
            except socket.timeout:
                self.results[name] = ("still open", time.monotonic() - t0, got)
                return
            except OSError as e:  # reset: also a drop
                got += repr(e).encode()
            self.results[name] = ("dropped", time.monotonic() - t0, got)
        finally:
            s.close()

    def _monitor(self):
        c = BerthClient(self.sock_path)
        while not self.done.is_set():
            if not self.pause.is_set():
                t0 = time.monotonic()
                try:
                    r = c.health(timeout=5)
                    ok = r.status == 200
                    what = r.status
                except OSError as e:
                    ok, what = False, repr(e)
                dt = time.monotonic() - t0
                if not self.pause.is_set():
                    self.monitor_count += 1
                    if not ok or dt > 3:
                        self.monitor_failures.append((round(time.monotonic() - self.started, 1), what, round(dt, 2)))
            self.done.wait(0.5)

    def finish(self, timeout):
        for t in self.threads:
            t.join(timeout=max(0.1, timeout - (time.monotonic() - self.started)))
        self.done.set()
        self.monitor.join(timeout=10)


@pytest.fixture(scope="module", autouse=True)
def slow_clients(berthd, sentinel):
    sc = SlowClients(berthd.sock)
    yield sc
    sc.done.set()


# ----------------------------------------------------------------------------
# the launch body itself


def test_base_launch_is_valid(berthd, client, new_id):
    """The template the type and range attacks mutate launches as is."""
    cid = new_id("base")
    r = call(client, base_launch(berthd, cid), timeout=60)
    assert r.status == 200, r
    client.cleanup(cid)
    assert_intact(berthd)


# ----------------------------------------------------------------------------
# ids


BAD_IDS = [
    ("space", "a b"), ("65 chars", "a" * 65), ("1000 chars", "b" * 1000),
    ("dotdot", ".."), ("dotdot-slash", "../x"), ("slash", "a/b"),
    ("leading dot", ".x"), ("leading dash", "-x"), ("leading underscore", "_x"),
    ("empty", ""), ("newline", "a\nb"), ("trailing newline", "abc\n"),
    ("tab", "a\tb"), ("semicolon", "x;id"), ("dollar", "$(id)"),
    ("colon", "a:b"), ("percent", "a%2fb"), ("backslash", "a\\b"),
    ("e-acute", "caf\u00e9"), ("fullwidth a", "\uff41bc"), ("zero width", "a\u200bb"),
    ("rtl override", "a\u202eb"), ("emoji", "\U0001F600"), ("nbsp", "a\u00a0b"),
]


def test_bad_container_ids(berthd, client):
    p = Problems()
    for name, cid in BAD_IDS:
        ref = {"container_id": {"value": cid}}
        bodies = {
            "LAUNCH": launch_call(cid, "true"),
            "WAIT": {"type": "WAIT_CONTAINER", "wait_container": ref},
            "KILL": {"type": "KILL_CONTAINER", "kill_container": ref},
            "REMOVE": {"type": "REMOVE_CONTAINER", "remove_container": ref},
            "UPDATE": {"type": "UPDATE_CONTAINER", "update_container": dict(
                ref, resources=[scalar("cpus", 1)])},
        }
        for call_name, body in bodies.items():
            p.expect("%s id %r" % (call_name, name), call(client, body), 400,
                     ["container_id"])
    # NUL can only come as \u0000: jansson refuses it before berth looks.
    for call_name, key in [("WAIT_CONTAINER", "wait_container"),
                           ("LAUNCH_CONTAINER", "launch_container")]:
        raw = '{"type":"%s","%s":{"container_id":{"value":"a\\u0000b"}}}' % (call_name, key)
        p.expect("%s id with NUL" % call_name, post_raw(client, raw), 400)
    # Wrong types for the id.
    for bad in [None, 7, 1.5, True, [], {}, ["x"], {"value": {"value": "x"}}]:
        body = {"type": "WAIT_CONTAINER", "wait_container": {"container_id": bad}}
        p.expect("container_id %r" % (bad,), call(client, body), 400, ["container_id"])
        body = {"type": "KILL_CONTAINER", "kill_container": {"container_id": {"value": bad}}}
        p.expect("container_id.value %r" % (bad,), call(client, body), 400, ["container_id"])
    # The longest valid id is fine (and unknown).
    r = call(client, {"type": "WAIT_CONTAINER",
                      "wait_container": {"container_id": {"value": "a" * 64}}})
    p.expect("64-char id", r, 404)
    p.check()
    assert_intact(berthd)


# ----------------------------------------------------------------------------
# image references


BAD_IMAGES = [
    "BusyBox", "busybox:LOCAL!", "Busybox/app", "busy box", " busybox", "busybox ",
    "busybox\t", "busybox\n", "busybox:", ":local", "/busybox", "busybox/",
    "a//b", "a/../b", "a/./b", "..", "busybox:bad tag", "busybox:" + "t" * 129,
    "busybox@", "busybox@sha256:", "busybox@sha256:xyz",
    "busybox@sha256:" + "a" * 63, "busybox@sha256:" + "A" * 64,
    "busybox@sha256:" + "a" * 65, "busybox@:" + "a" * 64, "@sha256:" + "a" * 64,
    "busybox@sha256:" + "a" * 64 + "junk", "busybox@@sha256:" + "a" * 64,
    "busybox;id", "$(id)", "busybox?x=1", "busybox#frag", "busybox%2f..",
    "%2e%2e/busybox", "reg:port/x", "reg:99999999/x", "a" * 600,
    "\u00e9t\u00e9", "busybox\u200b",
]


def test_bad_image_references(berthd, client, new_id):
    p = Problems()
    for image in BAD_IMAGES:
        r = call(client, launch_call(new_id("img"), "true", image=image))
        p.expect("image %r" % image, r, 400, ["image"])
    for bad in [None, 7, True, [], {}, ["busybox"]]:
        r = call(client, launch_call(new_id("imgt"), "true", image=bad))
        p.expect("image of type %r" % (bad,), r, 400, ["image"])
    p.check()
    assert_intact(berthd)


def test_image_reference_dot_segments_refused(berthd, client, new_id):
    """A registry host of dots would walk up the Docker API URL that
    berthd builds for image inspect ("../containers" became GET
    /containers/json): refused like any bad reference."""
    p = Problems()
    for image in ["../containers", "../busybox", "./busybox", "-a.b/x", "a..b/x"]:
        r = call(client, launch_call(new_id("dots"), "true", image=image))
        p.expect("image %r" % image, r, 400, ["image"])
    for cid in list(c["container_id"]["value"] for c in client.get_containers()):
        if cid != SENTINEL:
            client.cleanup(cid)
    p.check()


# ----------------------------------------------------------------------------
# numbers


def test_numbers_out_of_range(berthd, client, new_id):
    L = ["launch_container"]
    R = L + ["resources"]
    D = L + ["container", "docker"]
    PM = D + ["port_mappings", 0]
    cases = [
        ("cpus 1e308", R + [0, "scalar", "value"], 1e308, ["cpus"]),
        ("cpus -1", R + [0, "scalar", "value"], -1, ["cpus"]),
        ("cpus -1e-300", R + [0, "scalar", "value"], -1e-300, ["cpus"]),
        ("cpus 4097", R + [0, "scalar", "value"], 4097, ["cpus"]),
        ("mem 1e30", R + [1, "scalar", "value"], 1e30, ["mem"]),
        ("mem -1", R + [1, "scalar", "value"], -1, ["mem"]),
        ("mem 2e9 MB", R + [1, "scalar", "value"], 2e9, ["mem"]),
        ("gpus 1.5", R, [scalar("gpus", 1.5)], ["gpus"]),
        ("gpus 1e9", R, [scalar("gpus", 1e9)], ["gpus"]),
        ("disk 1e308", R, [scalar("disk", 1e308)], ["disk"]),
        ("cpus limit 1e308", L + ["limits", "cpus", "value"], 1e308, ["cpus"]),
        ("cpus limit -1", L + ["limits", "cpus", "value"], -1, ["cpus"]),
        ("mem limit 1e30", L + ["limits", "mem", "value"], 1e30, ["mem"]),
        ("mem limit '-inf'", L + ["limits", "mem", "value"], "-inf", ["mem"]),
        ("mem limit 'Infinity'", L + ["limits", "mem", "value"], "Infinity", ["mem"]),
        ("mem limit 'inf '", L + ["limits", "mem", "value"], "inf ", ["mem"]),
        ("host_port 65536", PM + ["host_port"], 65536, ["port"]),
        ("host_port 0", PM + ["host_port"], 0, ["port"]),
        ("host_port -1", PM + ["host_port"], -1, ["port"]),
        ("host_port 2^31", PM + ["host_port"], 2 ** 31, ["port"]),
        ("host_port 2^32+80", PM + ["host_port"], 2 ** 32 + 80, ["port"]),
        ("host_port 2^63-1", PM + ["host_port"], 2 ** 63 - 1, ["port"]),
        ("host_port -2^63", PM + ["host_port"], -2 ** 63, ["port"]),
        ("host_port 80.0", PM + ["host_port"], 80.0, ["port"]),
        ("host_port 1e3", PM + ["host_port"], 1e3, ["port"]),
        ("container_port 70000", PM + ["container_port"], 70000, ["port"]),
        ("container_port -80", PM + ["container_port"], -80, ["port"]),
        ("grace -1", L + ["kill_policy", "grace_period", "nanoseconds"], -1, ["grace", "nanoseconds"]),
        ("grace 1.5e9", L + ["kill_policy", "grace_period", "nanoseconds"], 1.5e9, ["grace", "nanoseconds"]),
        ("grace -2^63", L + ["kill_policy", "grace_period", "nanoseconds"], -2 ** 63, ["grace", "nanoseconds"]),
    ]
    p = Problems()
    for name, path, value, words in cases:
        body = base_launch(berthd, new_id("num"))
        set_path(body, path, value)
        p.expect(name, call(client, body), 400, words)
    # Integers past int64 never reach berth: jansson refuses them.
    body = json.dumps(base_launch(berthd, new_id("num")))
    for big in ["18446744073709551616", "-9223372036854775809", "1" + "0" * 400]:
        raw = body.replace('"nanoseconds": 1000000000', '"nanoseconds": ' + big)
        p.expect("grace %s" % big[:24], post_raw(client, raw), 400)
    for sig in [0, -1, 65, 2 ** 40, 9.0, "9", True]:
        r = call(client, {"type": "KILL_CONTAINER", "kill_container": {
            "container_id": {"value": SENTINEL}, "signal": sig}})
        p.expect("signal %r" % (sig,), r, 400, ["signal"])
    p.check()
    assert_intact(berthd)


def test_gpus_without_devices_refused(berthd, client, new_id):
    """No --nvidia_gpu_devices: asking for a GPU is too few free GPUs, 400
    with no side effect (API.md §7)."""
    cid = new_id("gpu")
    try:
        r = call(client, launch_call(cid, "true", resources=[scalar("gpus", 1)]), timeout=60)
        assert r.status == 400, "launch with gpus 1 on a node without GPUs: %d %r" % (r.status, r.text)
    finally:
        client.cleanup(cid)


def test_nan_and_infinity_literals(berthd, client, new_id):
    """JSON has no NaN or Infinity; whatever spelling, 400 before berth."""
    p = Problems()
    template = json.dumps(base_launch(berthd, new_id("nan")))
    for lit in ["NaN", "nan", "-NaN", "Infinity", "-Infinity", "inf", "-inf",
                "1e999", "-1e999", "0x10", "+1", ".5", "01", "1.", "1e", "--1"]:
        raw = template.replace('"value": 0.1', '"value": ' + lit)
        assert raw != template
        p.expect("cpus %s" % lit, post_raw(client, raw), 400)
        raw = '{"type":"GET_CONTAINERS","x":%s}' % lit
        p.expect("GET_CONTAINERS x=%s" % lit, post_raw(client, raw), 400)
    # Python's json writes NaN for float('nan'): the same, via the encoder.
    body = base_launch(berthd, new_id("nan"))
    lc(body)["limits"]["cpus"]["value"] = float("inf")
    p.expect("limits.cpus Infinity (encoder)", post_raw(client, json.dumps(body)), 400)
    p.check()
    assert_intact(berthd)


# ----------------------------------------------------------------------------
# big and deep


def test_huge_arrays(berthd, client, new_id):
    p = Problems()
    n = 100000
    # 100k real variables are > 1 MiB of JSON: 413.
    body = launch_call(new_id("arr"), "true")
    lc(body)["command"]["environment"] = {"variables": [
        {"name": "K%d" % i, "value": "v"} for i in range(n)]}
    raw = json.dumps(body, separators=(",", ":"))
    assert len(raw) > 1024 * 1024
    p.expect("100k env vars (%d bytes)" % len(raw), post_raw(client, raw, timeout=60), 413)
    # 100k entries that fit in 1 MiB: over berth's 1024-entry cap, 400.
    fits = [
        ("100k env {}", ["command", "environment", "variables"], [{}] * n, ["variables"]),
        ("100k arguments", ["command", "arguments"], ["a"] * n, ["arguments"]),
        ("100k uris", ["command", "uris"], [{}] * n, ["uris"]),
        ("100k resources", ["resources"], [0] * n, ["resources"]),
        ("100k volumes", ["container", "volumes"], [0] * n, ["volumes"]),
        ("100k ports", ["container", "docker", "port_mappings"], [0] * n, ["port_mappings"]),
        ("100k parameters", ["container", "docker", "parameters"], [0] * n, ["parameters"]),
    ]
    for name, path, value, words in fits:
        body = base_launch(berthd, new_id("arr"))
        set_path(lc(body), path, value)
        raw = json.dumps(body, separators=(",", ":"))
        assert len(raw) < 1024 * 1024, (name, len(raw))
        p.expect(name, post_raw(client, raw, timeout=60), 400, words)
    # USER network with 100k network_infos: only [0] is read, but the array
    # is capped too.
    body = launch_call(new_id("arr"), "true", network="USER",
                       container_extra={"network_infos": [{"name": "n"}] + [{}] * n})
    p.expect("100k network_infos", post_raw(client, json.dumps(body, separators=(",", ":")),
                                            timeout=60), 400, ["network_infos"])
    # A huge unknown array is ignored (it is parsed, then dropped).
    raw = '{"type":"GET_CONTAINERS","junk":[%s]}' % ",".join(["0"] * n)
    p.expect("100k ignored entries", post_raw(client, raw, timeout=60), 200)
    p.check()
    assert_intact(berthd)


def test_deep_json(berthd, client, new_id):
    p = Problems()
    for depth in [10000, 100000]:
        arrays = "[" * depth + "]" * depth
        objects = '{"a":' * depth + "1" + "}" * depth
        for name, nested in [("arrays", arrays), ("objects", objects)]:
            raw = '{"type":"GET_CONTAINERS","x":%s}' % nested
            p.expect("%d nested %s in an ignored field" % (depth, name),
                     post_raw(client, raw, timeout=60), 400, ["depth", "body"])
            body = json.dumps(launch_call(new_id("deep"), "true"))
            raw = body.replace('"value": "true"', '"value": ' + nested, 1)
            p.expect("%d nested %s as command.value" % (depth, name),
                     post_raw(client, raw, timeout=60), 400)
    # The body itself nested.
    p.expect("10000 nested body", post_raw(client, "[" * 10000 + "]" * 10000), 400)
    p.check()
    assert_intact(berthd)


def test_wrong_types_everywhere(berthd, client, new_id):
    """Every field of a full launch, in turn given each wrong JSON type."""
    fillers = {"null": None, "bool": True, "int": 7, "real": 7.5,
               "string": "s", "array": [], "object": {}}

    def kind(v):
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int):
            return "int"
        if isinstance(v, float):
            return "real"
        return {str: "string", list: "array", dict: "object"}[type(v)]

    # Fields berth reads whose null means "absent" may be null; these must
    # be present.
    required = {("container_id",), ("container_id", "value"), ("container",),
                ("container", "docker"), ("container", "docker", "image"),
                ("command", "value"), ("resources", 0, "name"),
                ("resources", 0, "scalar"), ("resources", 0, "scalar", "value"),
                ("limits", "cpus", "value"),
                ("container", "volumes", 0, "host_path"),
                ("container", "volumes", 0, "container_path"),
                ("container", "docker", "port_mappings", 0, "host_port"),
                ("container", "docker", "port_mappings", 0, "container_port"),
                ("container", "docker", "parameters", 0, "key"),
                ("container", "docker", "parameters", 0, "value"),
                ("command", "environment", "variables", 0, "name"),
                ("kill_policy", "grace_period", "nanoseconds")}
    # mesos.proto fields berth does not interpret (Resource.type).
    ignored = {("resources", 0, "type"), ("resources", 1, "type")}

    paths = []

    def walk(v, path):
        paths.append(path)
        if isinstance(v, dict):
            for k, sub in v.items():
                walk(sub, path + (k,))
        elif isinstance(v, list):
            for i, sub in enumerate(v):
                walk(sub, path + (i,))

    template = base_launch(berthd, "tmpl")
    walk(lc(template), ())
    p = Problems()
    tried = 0
    for path in paths:
        if not path or path in ignored:
            continue
        original = get_path(lc(template), path)
        for fname, filler in fillers.items():
            k = kind(original)
            if fname == k or {fname, k} == {"int", "real"} and isinstance(original, float):
                continue  # same type (a real field takes integers)
            if fname == "null" and path not in required:
                continue
            cid = new_id("type")
            body = base_launch(berthd, cid)
            set_path(lc(body), path, filler)
            words = [x for x in path if isinstance(x, str)]
            tried += 1
            p.expect("%s = %s" % (".".join(map(str, path)), fname),
                     call(client, body), 400, words)
    # The call envelope.
    for fname, filler in fillers.items():
        if fname != "string":
            p.expect("type = %s" % fname, call(client, {"type": filler}), 400, ["type"])
        if fname != "object":
            for t, key in [("LAUNCH_CONTAINER", "launch_container"),
                           ("WAIT_CONTAINER", "wait_container"),
                           ("KILL_CONTAINER", "kill_container"),
                           ("REMOVE_CONTAINER", "remove_container"),
                           ("UPDATE_CONTAINER", "update_container")]:
                p.expect("%s = %s" % (key, fname), call(client, {"type": t, key: filler}),
                         400, [key])
    for raw in ["null", "1", '"GET_CONTAINERS"', "[]", "true", "", " ", "{}",
                '{"type":"GET_CONTAINERS"}{}', '{"type":"GET_CONTAINERS","type":"X"}']:
        p.expect("body %r" % raw, post_raw(client, raw), 400)
    # UPDATE_CONTAINER of the sentinel with wrong types: 400, no change.
    for name, upd in [("resources {}", {"resources": {}}),
                      ("resources [1]", {"resources": [1]}),
                      ("limits []", {"limits": []}),
                      ("limits.cpus 1", {"limits": {"cpus": 1}}),
                      ("cpus '1'", {"resources": [scalar("cpus", "1")]})]:
        body = {"type": "UPDATE_CONTAINER", "update_container": dict(
            {"container_id": {"value": SENTINEL}}, **upd)}
        p.expect("UPDATE %s" % name, call(client, body), 400)
    assert tried > 100, tried
    p.check()
    assert_intact(berthd)


# ----------------------------------------------------------------------------
# HTTP level


def chunked_request(sock_path, body, chunk=65536, timeout=60):
    s = unix_connect(sock_path, timeout)
    try:
        s.sendall(b"POST /api/v1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for i in range(0, len(body), chunk):
                piece = body[i:i + chunk]
                s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
            s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = http.client.HTTPResponse(s, method="POST")
        resp.begin()
        return resp.status, resp.read()
    finally:
        s.close()


def test_bodies_over_1mib(berthd, client, new_id):
    p = Problems()
    limit = 1024 * 1024
    cid = new_id("big")
    body = launch_call(cid, "true")
    lc(body)["command"]["environment"] = {"variables": [{"name": "PAD", "value": ""}]}
    raw = json.dumps(body)
    over = raw.replace('"value": ""', '"value": "%s"' % ("x" * (limit + 1 - len(raw))))
    assert len(over) == limit + 1
    p.expect("Content-Length 1 MiB + 1", post_raw(client, over, timeout=60), 413)
    p.expect("Content-Length 8 MiB", post_raw(client, over * 8, timeout=60), 413)
    status, text = chunked_request(berthd.sock, over.encode())
    if status != 413:
        p.add("chunked 1 MiB + 1: %d %r" % (status, text[:200]))
    status, text = chunked_request(berthd.sock, over.encode() * 3, chunk=7777)
    if status != 413:
        p.add("chunked 3 MiB in odd chunks: %d %r" % (status, text[:200]))
    # A small chunked body is read like any other.
    status, text = chunked_request(berthd.sock, b'{"type":"GET_CONTAINERS"}', chunk=5)
    if status != 200:
        p.add("small chunked body: %d %r" % (status, text[:200]))
    # Oversized head: berthd (libmicrohttpd) refuses, keeps serving.
    r = client.request("GET", "/health", headers={"X-Big": "a" * 100000})
    p.expect("100 KB header", r, (400, 413, 431))
    r = client.get("/files/read?path=" + "a" * 100000)
    p.expect("100 KB URL", r, (400, 414, 431))
    r = client.request("GET", "/health", headers={"X-%d" % i: "v" for i in range(3000)})
    p.expect("3000 headers", r, (400, 413, 431))
    p.check()
    assert client.container(cid) is None
    assert_intact(berthd)


def _raise_nofile():
    """This process needs a descriptor per connection it holds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = CONNECTIONS + 200
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip("RLIMIT_NOFILE hard limit %d < %d" % (hard, want))
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def test_too_many_connections(berthd, client, slow_clients):
    """1100 idle connections (over the 1024 limit): berthd neither crashes
    nor stays stuck; once they close it serves again."""
    _raise_nofile()
    conns = []
    slow_clients.pause.set()
    try:
        deadline = time.monotonic() + 60
        refused = 0
        for _ in range(CONNECTIONS):
            try:
                conns.append(unix_connect(berthd.sock, 2.0))
            except OSError:
                refused += 1
            if time.monotonic() > deadline:
                break
        assert len(conns) + refused == CONNECTIONS, (len(conns), refused)
        assert len(conns) >= 1024, "only %d connections (refused %d)" % (len(conns), refused)
        time.sleep(2)
        assert berthd.alive()
        # Half of them send a request head and stall; the rest stay silent.
        # A send may fail only where berthd closed a connection over its
        # limit: count both, and they must add up.
        sent, send_errors = 0, {}
        for s in conns[::2]:
            try:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
                sent += 1
            except OSError as e:
                send_errors[type(e).__name__] = send_errors.get(type(e).__name__, 0) + 1
        print("flood: %d connected, %d refused; %d heads sent, send errors %r"
              % (len(conns), refused, sent, send_errors))
        assert sent + sum(send_errors.values()) == len(conns[::2])
        # A send fails only if berthd closed a connection the flood holds:
        # over its limit it must leave them waiting, not drop them.
        assert send_errors == {}, "berthd dropped held connections: %d sent, errors %r" % (sent, send_errors)
        time.sleep(1)
        assert berthd.alive()
    finally:
        for s in conns:
            s.close()
        slow_clients.pause.clear()
    r = poll(lambda: _health_ok(client), timeout=20, what="/health after the flood")
    assert r
    assert_intact(berthd)


def _health_ok(client):
    try:
        return client.health(timeout=2).status == 200
    except OSError:
        return False


def test_abandoned_waits_release_their_connections(berthd_factory):
    """WAITs whose clients went away must give their connection back: 1100
    abandoned ones on a running container once kept berthd's API from
    answering at all until the container ended."""
    _raise_nofile()
    d = berthd_factory()
    c = d.client
    cid = "waited-1"
    c.launch_ok(launch_call(cid, "sleep 300"))
    body = json.dumps({"type": "WAIT_CONTAINER",
                       "wait_container": {"container_id": {"value": cid}}}).encode()
    req = (b"POST /api/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % len(body) + body)
    conns = []
    try:
        for _ in range(CONNECTIONS):
            s = unix_connect(d.sock, 5)
            conns.append(s)
            s.sendall(req)
        time.sleep(1)
    finally:
        for s in conns:
            s.close()
    try:
        served = False
        deadline = time.monotonic() + 10
        while not served and time.monotonic() < deadline:
            served = _health_ok(c)
        assert served, "berthd does not answer 10 s after %d WAIT clients went away" % len(conns)
    finally:
        # The container's end answers the waits and frees their slots.
        docker("kill", d.docker_name(cid), check=False)
        assert poll(lambda: _health_ok(c), timeout=30, what="/health after the container ended")
        c.cleanup(cid)


def test_too_many_connections_low_fd_limit(berthd_factory):
    """The same flood against a berthd whose descriptor limit is the common
    default of 1024 (so it runs out of fds before connections): it keeps
    its running container, its log capture and its docker link."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < CONNECTIONS + 200:
        pytest.skip("RLIMIT_NOFILE hard limit %d" % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        d = berthd_factory()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft < CONNECTIONS + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (CONNECTIONS + 200, hard))
    c = d.client
    cid = "flood-1"
    c.launch_ok(launch_call(cid, "i=0; while true; do echo $i; i=$((i+1)); sleep 0.2; done"))
    conns = []
    refused = {}
    try:
        # The whole flood, counting what was opened and what was not: it
        # must go past berthd's 1024 descriptors to test anything.
        for _ in range(CONNECTIONS):
            try:
                conns.append(unix_connect(d.sock, 1.0))
            except OSError as e:
                refused[type(e).__name__] = refused.get(type(e).__name__, 0) + 1
        print("low-fd flood: %d connected, refused %r" % (len(conns), refused))
        assert len(conns) + sum(refused.values()) == CONNECTIONS
        assert len(conns) > 1024, "only %d connections (refused %r)" % (len(conns), refused)
        # Longer than the 5 s docker probe, so one runs meanwhile.
        time.sleep(7)
        assert d.alive(), d.describe_exit()
    finally:
        for s in conns:
            s.close()
    assert poll(lambda: _health_ok(c), timeout=20, what="/health after the flood")
    ct = c.container(cid)
    assert ct and ct["stage"] == "RUNNING", ct
    # The log capture went on: the counter keeps growing in the sandbox.
    n1 = len(open(d.stdout_path(cid)).read().split())
    time.sleep(1.5)
    n2 = len(open(d.stdout_path(cid)).read().split())
    assert n2 > n1 > 30, (n1, n2)
    out = open(d.stdout_path(cid)).read().split()
    assert out == [str(i) for i in range(len(out))], "log capture lost or repeated lines"
    c.cleanup(cid)


# ----------------------------------------------------------------------------
# paths: host volumes and the files API


def test_host_volumes_outside_allowed(berthd, client, new_id):
    a = berthd.allowed_dir
    base = os.path.basename(a)
    bad = [
        "/etc", "/", "/root/.ssh", "/var/run/docker.sock", "/proc/self/root/etc",
        a + "-evil", a + "evil/x", a + "/..", a + "/../..", a + "/./../x",
        a + "/x/../../" + base, a + "/../" + base, "/../" + a, "//etc",
        a + "/x:/etc", a + ":ro", a + "/x:y", "relative", base, "~/x",
        "./" + a, "", " " + a, a + "\n/etc",
    ]
    p = Problems()
    for host in bad:
        body = launch_call(new_id("vol"), "true", volumes=[
            {"host_path": host, "container_path": "/v", "mode": "RO"}])
        p.expect("host_path %r" % host, call(client, body), 400, ["host_path"])
    for cpath in ["relative", "/a/../../etc", "/v:rw", ""]:
        body = launch_call(new_id("vol"), "true", volumes=[
            {"host_path": a, "container_path": cpath, "mode": "RO"}])
        p.expect("container_path %r" % cpath, call(client, body), 400, ["container_path"])
    for mode in ["rw", "ro", "RWX", "", "RO,z"]:
        body = launch_call(new_id("vol"), "true", volumes=[
            {"host_path": a, "container_path": "/v", "mode": mode}])
        p.expect("mode %r" % mode, call(client, body), 400, ["mode"])
    # Persistent volume ids and paths.
    for pid, cpath in [("..", "data"), ("../x", "data"), ("a/b", "data"),
                       ("ok", "../../etc"), ("ok", "a:b"), ("ok", "")]:
        res = [{"name": "disk", "type": "SCALAR", "scalar": {"value": 1},
                "disk": {"persistence": {"id": pid},
                         "volume": {"container_path": cpath, "mode": "RW"}}}]
        body = launch_call(new_id("pv"), "true", resources=res)
        p.expect("persistent volume %r %r" % (pid, cpath), call(client, body), 400,
                 ["persistence", "container_path", "disk"])
    # Docker parameters that would bypass these checks.
    for key, value in [("volume", "/etc:/x"), ("v", "/:/host"), ("mount", "type=bind,src=/,dst=/h"),
                       ("privileged", "true"), ("cap-add", "ALL"), ("device", "/dev/sda"),
                       ("security-opt", "seccomp=unconfined"), ("pid", "host"),
                       ("label", "berth.agent_id=other"), ("label", "berth.container_id=x"),
                       ("label", "=x")]:
        body = launch_call(new_id("param"), "true", docker_extra={
            "parameters": [{"key": key, "value": value}]})
        p.expect("parameter %s=%s" % (key, value), call(client, body), 400, ["parameters"])
    p.check()
    assert_intact(berthd)


def test_host_volume_symlink_escape_refused(berthd, client, new_id):
    """A symlink under an allowed prefix (any task with an RW volume there
    can plant one) must not get its target, here the host's /etc, mounted."""
    link = os.path.join(berthd.allowed_dir, "etc-link")
    os.symlink("/etc", link)
    cid = new_id("symvol")
    try:
        body = launch_call(cid, "cat /v/hostname", volumes=[
            {"host_path": link, "container_path": "/v", "mode": "RO"}])
        r = call(client, body, timeout=60)
        if r.status == 200:
            client.wait_ok(cid)
        assert r.status == 400, "launch %d; task read the host's /etc/hostname: %r" % (
            r.status, open(berthd.stdout_path(cid)).read()[:100] if r.status == 200 else "")
    finally:
        client.cleanup(cid)
        os.unlink(link)


def test_host_volume_symlink_swap_race(berthd, client, new_id):
    """A directory under an allowed prefix that a task keeps swapping for a
    symlink to /etc: each launch either is refused or mounts the directory,
    never /etc.  (berthd pins the directory it checked and gives docker
    only the pin; this used to be a race that /etc won in 4 of 6 accepted
    launches.)"""
    a = berthd.allowed_dir
    d, hold, link = (os.path.join(a, n) for n in ("swapped", "hold", "swap-link"))
    os.makedirs(d)
    os.makedirs(hold)
    os.symlink("/etc", link)
    stop = threading.Event()

    def swap():
        while not stop.is_set():
            try:
                os.rename(d, os.path.join(hold, "swapped"))
                os.rename(link, d)
                time.sleep(0.001)
                os.rename(d, link)
                os.rename(os.path.join(hold, "swapped"), d)
                time.sleep(0.001)
            except OSError:
                pass

    t = threading.Thread(target=swap, daemon=True)
    t.start()
    escaped = []
    codes = {}
    try:
        for _ in range(16):
            cid = new_id("swapvol")
            r = call(client, launch_call(cid, "if [ -f /v/passwd ]; then echo ESCAPED; fi", volumes=[
                {"host_path": d, "container_path": "/v", "mode": "RO"}]), timeout=60)
            codes[r.status] = codes.get(r.status, 0) + 1
            if r.status == 200:
                client.wait_ok(cid)
                if "ESCAPED" in open(berthd.stdout_path(cid)).read():
                    escaped.append(cid)
            client.cleanup(cid)
            if escaped:
                break
    finally:
        stop.set()
        t.join(timeout=5)
        for path in (d, link, os.path.join(hold, "swapped")):
            if os.path.islink(path):
                os.unlink(path)
            elif os.path.isdir(path):
                shutil.rmtree(path)
        shutil.rmtree(hold, ignore_errors=True)
    assert not escaped, "host /etc mounted for %r (answers %r)" % (escaped, codes)
    # Only accepted launches show anything; refusals are 400, naming the field.
    assert codes.get(200, 0) > 0 and set(codes) <= {200, 400}, codes
    assert_intact(berthd)


def test_user_network_cannot_join_other_containers(berthd, client, new_id):
    """Network USER takes a docker network's name, never a mode such as
    "container:<x>", which would join another container's namespace."""
    cid = new_id("netns")
    try:
        body = launch_call(cid, "sleep 30", network="USER", container_extra={
            "network_infos": [{"name": "container:" + berthd.docker_name(SENTINEL)}]})
        r = call(client, body, timeout=60)
        assert r.status == 400, "launch %d %r" % (r.status, r.text)
    finally:
        client.cleanup(cid)


def files_read(client, path, **query):
    q = "path=" + path + "".join("&%s=%s" % kv for kv in query.items())
    return client.get("/files/read?" + q)


def test_files_api_paths(berthd, client, new_id):
    sb = berthd.sandbox(SENTINEL)
    other = "victim-%s" % secrets.token_hex(2)
    other_sb = berthd.sandbox(other)
    os.makedirs(other_sb)
    with open(os.path.join(other_sb, "stdout"), "w") as f:
        f.write("other sandbox\n")
    planted = {
        "evil": "/etc/passwd",          # absolute, outside
        "etc": "/etc",                  # a directory outside
        "up": "..",                     # the sandboxes dir
        "sibling": "../%s/stdout" % other,
        "meta": "../../meta/berth.db",
        "loop": "loop",
        "ok": "stdout",                 # inside: allowed
    }
    for name, target in planted.items():
        os.symlink(target, os.path.join(sb, name))
    p = Problems()
    try:
        S = "/sandboxes/" + SENTINEL
        refused = [
            S + "/evil", S + "/etc/passwd", S + "/up/" + other + "/stdout",
            S + "/sibling", S + "/meta", S + "/loop", S + "/../" + other + "/stdout",
            S + "/../../meta/berth.db", S + "/./../../meta/berth.db", S + "/..",
            "/sandboxes/..", "/sandboxes/../meta/berth.db", "/sandboxes/", "/sandboxes",
            "/etc/passwd", "etc/passwd", "sandboxes/" + SENTINEL + "/stdout",
            "//sandboxes/" + SENTINEL + "/stdout", "/./sandboxes/" + SENTINEL + "/stdout",
            # URL-encoded: the server decodes once, berth sees '..' and refuses.
            S + "/%2e%2e/" + other + "/stdout", S + "/%2E%2E/%2E%2E/meta/berth.db",
            "%2Fsandboxes%2F" + SENTINEL + "%2F..%2F..%2Fmeta%2Fberth.db",
            S + "/..%2f..%2fmeta%2fberth.db", S + "%2f..%2f..%2fmeta%2fberth.db",
            S + "/%2e%2e%2f%2e%2e%2fmeta/berth.db",
            # Double encoding stays literal: no such file.
            S + "/%252e%252e/" + other + "/stdout",
            "/sandboxes/%2e%2e/meta/berth.db", "/sandboxes/..%2f..%2fetc%2fpasswd",
            "/sandboxes/" + "a" * 65 + "/stdout", "/sandboxes/-x/stdout",
            "/sandboxes/" + SENTINEL + "/" + "x/" * 3000,
        ]
        for path in refused:
            r = files_read(client, path, offset=0)
            if not p.expect("read %r" % path, r, (400, 404)) and r.status == 200 and (
                    b"root:" in r.body or b"other sandbox" in r.body or b"SQLite" in r.body):
                p.add("read %r served a file outside the sandbox: %r" % (path, r.body[:100]))
            r = client.get("/files/browse?path=" + path)
            if not p.expect("browse %r" % path, r, (400, 404)) and r.status == 200 and (
                    b"passwd" in r.body or b"berth.db" in r.body):
                p.add("browse %r listed a directory outside the sandbox: %r" % (path, r.body[:100]))
        # A NUL (%00) ends the C string: what is left is the sandbox's own
        # file, never what followed the NUL.
        r = files_read(client, S + "/stdout%00/../../" + other + "/stdout", offset=0)
        if r.status == 200 and b"other sandbox" in r.body:
            p.add("read through %%00 served the other sandbox: %r" % r.body[:100])
        # Inside the sandbox: served.
        for path in [S + "/stdout", S + "//stdout", S + "/./stdout"]:
            r = files_read(client, path, offset=0, length=6)
            if p.expect("read %r" % path, r, 200):
                if r.json().get("data") != "alive\n":
                    p.add("read %r gave %r" % (path, r.json()))
        # A symlink that stays inside may be served or refused (berthd
        # refuses every symlink), never something else.
        r = files_read(client, S + "/ok", offset=0, length=6)
        if p.expect("read %r" % (S + "/ok"), r, (200, 400, 404)) and r.status == 200:
            if r.json().get("data") != "alive\n":
                p.add("read %r gave %r" % (S + "/ok", r.json()))
        r = client.get("/files/browse?path=" + S)
        if p.expect("browse sandbox", r, 200):
            names = {os.path.basename(e["path"]) for e in r.json()}
            if "stdout" not in names:
                p.add("browse sandbox lists %r" % names)
        # Bad offsets and lengths.
        for q in [{"offset": -2}, {"offset": "x"}, {"offset": "1e3"}, {"offset": "0x10"},
                  {"offset": 0, "length": -1}, {"offset": 0, "length": "1.5"},
                  {"offset": 0, "encoding": "rot13"},
                  {"offset": "99999999999999999999"}]:
            r = files_read(client, S + "/stdout", **q)
            p.expect("read with %r" % q, r, 400)
        r = files_read(client, S + "/stdout", offset=2 ** 62, length=10)
        p.expect("read far past the end", r, (200, 400))
        r = files_read(client, S + "/stdout", offset=0, length=2 ** 62)
        p.expect("read with a huge length", r, (200, 400))
    finally:
        for name in planted:
            os.unlink(os.path.join(sb, name))
        shutil.rmtree(other_sb)
    p.check()
    assert_intact(berthd)


def test_files_read_symlink_swap_race(berthd, client):
    """A task swapping a directory of its sandbox for a symlink to /etc,
    back and forth, never gets /etc/passwd served (no check-then-open race)."""
    sb = berthd.sandbox(SENTINEL)
    d, hold, link = (os.path.join(sb, n) for n in ("d", "hold", "d-link"))
    os.makedirs(d)
    os.makedirs(hold)
    with open(os.path.join(d, "passwd"), "w") as f:
        f.write("benign\n")
    os.symlink("/etc", link)
    stop = threading.Event()

    def swap():
        # What a task can do in its own sandbox: two renames, back and forth.
        while not stop.is_set():
            try:
                os.rename(d, os.path.join(hold, "d"))
                os.rename(link, d)
                time.sleep(0.0005)
                os.rename(d, link)
                os.rename(os.path.join(hold, "d"), d)
            except OSError:
                pass

    t = threading.Thread(target=swap, daemon=True)
    t.start()
    leaked = 0
    n = 0
    try:
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and not leaked:
            r = files_read(client, "/sandboxes/%s/d/passwd" % SENTINEL, offset=0)
            n += 1
            if r.status == 200 and "root:" in r.text:
                leaked += 1
    finally:
        stop.set()
        t.join(timeout=5)
        for path in (d, link, os.path.join(hold, "d")):
            if os.path.islink(path):
                os.unlink(path)
            elif os.path.isdir(path):
                shutil.rmtree(path)
        shutil.rmtree(hold, ignore_errors=True)
    assert leaked == 0, "/etc/passwd served through the sandbox after %d reads" % n
    assert_intact(berthd)


def test_files_read_fifo_does_not_hang_berthd(berthd, client, slow_clients):
    """A FIFO made in a sandbox (mkfifo) is refused by /files/read without
    blocking berthd."""
    fifo = os.path.join(berthd.sandbox(SENTINEL), "pipe")
    os.mkfifo(fifo)
    result = {}
    # Should berthd hang here, that is this test's failure, not the
    # stalled-clients monitor's.
    slow_clients.pause.set()

    def read():
        try:
            result["read"] = files_read(client, "/sandboxes/%s/pipe" % SENTINEL, offset=0).status
        except OSError as e:
            result["read"] = repr(e)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    try:
        time.sleep(1)
        try:
            status = client.health(timeout=5).status
        except OSError as e:
            status = repr(e)
        assert status == 200, "/health while a /files/read of a FIFO waits: %s" % status
        t.join(timeout=5)
        assert result.get("read") in (400, 404), result
    finally:
        # Unblock a berthd stuck in open(): a writer end makes it return.
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        t.join(timeout=10)
        os.unlink(fifo)
        slow_clients.pause.clear()
    assert_intact(berthd)


def test_recovery_does_not_follow_planted_stdout_symlink(berthd_factory):
    """A task replaces its sandbox's stdout with a symlink to a host file;
    the restarted berthd must not append the task's output there."""
    d = berthd_factory()
    victim = os.path.join(d.root, "victim")
    open(victim, "w").close()
    cid = "planter-1"
    # What the task does, inside its own sandbox.
    d.client.launch_ok(launch_call(cid, (
        "ln -s %s /mnt/mesos/sandbox/x && mv -f /mnt/mesos/sandbox/x /mnt/mesos/sandbox/stdout; "
        "i=0; while true; do echo planted-$i; i=$((i+1)); sleep 0.2; done") % victim))
    try:
        poll(lambda: os.path.islink(d.stdout_path(cid)), timeout=10, what="the planted link")
        d.stop()
        d.restart()
        time.sleep(2)
        assert d.client.container(cid)["stage"] == "RUNNING"
        with open(victim) as f:
            written = f.read()
        assert written == "", "berthd wrote the task's output to %s: %r" % (victim, written[:80])
    finally:
        d.client.cleanup(cid)


# ----------------------------------------------------------------------------
# transport and privileges


def test_unix_socket_mode_0660(berthd):
    st = os.stat(berthd.sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660, oct(stat.S_IMODE(st.st_mode))


def test_privileged_refused(berthd, client, new_id):
    """Without --allow_privileged: 400, in any spelling."""
    p = Problems()
    for priv in [True, "true", 1, [True], {"value": True}]:
        r = call(client, launch_call(new_id("priv"), "true", privileged=priv))
        p.expect("privileged %r" % (priv,), r, 400, ["privileged"])
    p.check()
    assert_intact(berthd)


def _start_raw(flags, timeout=15):
    """Run berthd with only these flags (plus a private work dir); returns
    (exit code or None if still running, output, root dir to remove)."""
    root = tempfile.mkdtemp(prefix="bt-raw-")
    args = [conftest.BERTHD, "--work_dir=" + root + "/work", "--runtime_dir=" + root + "/run",
            "--agent_id=raw" + secrets.token_hex(3)] + flags
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out.decode(errors="replace"), root
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=10)
        return None, out.decode(errors="replace"), root


def _port_open(port):
    s = socket.socket()
    s.settimeout(1)
    try:
        return s.connect_ex(("127.0.0.1", port)) == 0
    finally:
        s.close()


def test_tcp_listener_refused_without_token(tmp_path):
    port = free_port()
    empty = tmp_path / "empty-token"
    empty.write_text("\n \n")
    cases = [
        ("no --token_file", []),
        ("empty token file", ["--token_file=%s" % empty]),
        ("missing token file", ["--token_file=%s" % (tmp_path / "nope")]),
    ]
    for name, extra in cases:
        sock = str(tmp_path / "s.sock")
        rc, out, root = _start_raw(["--listen=tcp:127.0.0.1:%d" % port,
                                    "--listen=unix:" + sock] + extra)
        try:
            assert rc not in (None, 0), "%s: berthd started (rc %r): %s" % (name, rc, out)
            # Under ASan a leak on this exit path shows only here.
            assert "Sanitizer" not in out and "runtime error:" not in out, out
            assert "token" in out.lower(), "%s: %s" % (name, out)
            assert not _port_open(port), "%s: port %d is listening" % (name, port)
        finally:
            shutil.rmtree(root, ignore_errors=True)


def tcp_request(port, method, path, headers=None, body=None, timeout=15):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_tcp_listener_token(berthd_factory, tmp_path):
    token = "tok-" + secrets.token_hex(16)
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    port = free_port()
    d = berthd_factory("--listen=tcp:127.0.0.1:%d" % port, "--token_file=%s" % token_file)
    good = {"Authorization": "Bearer " + token}
    gc = json.dumps({"type": "GET_CONTAINERS"})
    launch = json.dumps(launch_call("tcp-1", "true"))
    p = Problems()

    def expect(case, got, want):
        if got[0] != want:
            p.add("%s: expected %d, got %d %r" % (case, want, got[0], got[1][:200]))

    wrong = [
        ("no header", {}),
        ("empty bearer", {"Authorization": "Bearer "}),
        ("wrong token", {"Authorization": "Bearer wrong"}),
        ("token + x", {"Authorization": "Bearer " + token + "x"}),
        ("token prefix", {"Authorization": "Bearer " + token[:-1]}),
        ("token with NUL tail", {"Authorization": "Bearer " + token[:-1] + "\x01"}),
        ("basic scheme", {"Authorization": "Basic " + token}),
        ("no scheme", {"Authorization": token}),
        ("token in other header", {"X-Token": token}),
        ("bearer twice", {"Authorization": "Bearer Bearer " + token}),
    ]
    for name, hdrs in wrong:
        expect("GET /health, " + name, tcp_request(port, "GET", "/health", hdrs), 401)
        expect("GET /flags, " + name, tcp_request(port, "GET", "/flags", hdrs), 401)
        expect("LAUNCH, " + name, tcp_request(
            port, "POST", "/api/v1", dict(hdrs, **{"Content-Type": "application/json"}), launch), 401)
    # Over 1 MiB and unauthorized: still 401 or 413, never processed.
    status, _ = tcp_request(port, "POST", "/api/v1", {}, "x" * (1024 * 1024 + 10), timeout=60)
    if status not in (401, 413):
        p.add("unauthorized 1 MiB body: %d" % status)
    expect("GET /health, right token", tcp_request(port, "GET", "/health", good), 200)
    expect("GET_CONTAINERS, right token", tcp_request(
        port, "POST", "/api/v1", dict(good, **{"Content-Type": "application/json"}), gc), 200)
    # Nothing was launched by the refused requests.
    assert d.client.get_containers() == []
    assert docker_ids("berth.agent_id=" + d.agent_id) == []
    # The token shows nowhere: /flags (both listeners), /version, metrics, log.
    for path in ["/flags", "/version", "/metrics", "/metrics/snapshot", "/containers"]:
        status, text = tcp_request(port, "GET", path, good)
        if status != 200 or token.encode() in text:
            p.add("tcp %s: %d, token shown: %s" % (path, status, token.encode() in text))
        r = d.client.get(path)
        if r.status != 200 or token.encode() in r.body:
            p.add("unix %s: %d, token shown: %s" % (path, r.status, token.encode() in r.body))
    flags = d.client.get("/flags").json()["flags"]
    assert flags.get("token_file") == str(token_file), flags
    d.note("test looks for the token in this log")
    with open(d.log_path, "rb") as f:
        log = f.read()
    if token.encode() in log:
        p.add("token appears in berthd's log %s" % d.log_path)
    p.check()


def test_tcp_long_token(berthd_factory, tmp_path):
    """A token longer than 511 bytes is taken whole (it was cut to 511, so
    its prefix was let in and the whole token refused)."""
    token = secrets.token_hex(300)  # 600 characters
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    port = free_port()
    berthd_factory("--listen=tcp:127.0.0.1:%d" % port, "--token_file=%s" % token_file)
    full = tcp_request(port, "GET", "/health", {"Authorization": "Bearer " + token})[0]
    prefix = tcp_request(port, "GET", "/health", {"Authorization": "Bearer " + token[:511]})[0]
    assert (full, prefix) == (200, 401), "whole token: %d, its first 511 bytes: %d" % (full, prefix)


# ----------------------------------------------------------------------------
# collected at the end: the stalled clients of slow_clients


def test_slow_and_half_sent_requests_dropped(berthd, client, slow_clients):
    """Each stalled client is dropped after the ~30 s idle timeout while the
    others (every test above, and a /health every 0.5 s) were served."""
    slow_clients.finish(timeout=SLOW_MAX + 15)
    res = slow_clients.results
    berthd.note("stalled clients: %r; /health probes %d, failures %r" % (
        res, slow_clients.monitor_count, slow_clients.monitor_failures))
    bad = []
    for name, _ in SlowClients.STALLS:
        r = res.get(name)
        if r is None:
            bad.append("%s: no result (thread still waiting)" % name)
        elif r[0] != "dropped":
            bad.append("%s: %r" % (name, r))
        elif not SLOW_MIN <= r[1] <= SLOW_MAX:
            bad.append("%s: dropped after %.1f s, not ~%d s" % (name, r[1], IDLE_TIMEOUT))
    assert not bad, bad
    assert slow_clients.monitor_count > 10, slow_clients.monitor_count
    assert not slow_clients.monitor_failures, (
        "/health failed or took > 3 s while clients stalled: %r" % slow_clients.monitor_failures)
    assert_intact(berthd)
