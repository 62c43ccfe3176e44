"""Bad input: 400 (or 413) before any side effect, and berthd keeps serving."""

import copy
import json
import os

import pytest

from berthlib import assert_text_error, docker_ids, launch_call, scalar


def good(cid="valid-1"):
    return launch_call(cid, "true")


def lc(body):
    return body["launch_container"]


def mutate(fn, cid="bad-1"):
    b = good(cid)
    fn(b)
    return b


def set_id(v):
    return lambda b: lc(b).__setitem__("container_id", {"value": v})


def set_docker(k, v):
    return lambda b: lc(b)["container"]["docker"].__setitem__(k, v)


def set_volume(host_path, container_path="/v", mode="RO"):
    def f(b):
        vol = {"container_path": container_path, "mode": mode}
        if host_path is not None:
            vol["host_path"] = host_path
        lc(b)["container"]["volumes"] = [vol]
    return f


def set_resources(*res):
    return lambda b: lc(b).__setitem__("resources", list(res))


def del_path(*keys):
    def f(b):
        d = b
        for k in keys[:-1]:
            d = d[k]
        del d[keys[-1]]
    return f


def set_path(value, *keys):
    def f(b):
        d = b
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    return f


ID_WORDS = ["container_id", "container id"]

# (name, body-builder or raw string, words of which one must be in the message)
# The builder gets the berthd so it can name paths under its allowed dir.
CASES = [
    ("id-space", lambda d: mutate(set_id("a b")), ID_WORDS),
    ("id-slash", lambda d: mutate(set_id("a/b")), ID_WORDS),
    ("id-dotdot", lambda d: mutate(set_id("../x")), ID_WORDS),
    ("id-dotdot-only", lambda d: mutate(set_id("..")), ID_WORDS),
    ("id-leading-dot", lambda d: mutate(set_id(".hidden")), ID_WORDS),
    ("id-leading-dash", lambda d: mutate(set_id("-x")), ID_WORDS),
    ("id-semicolon", lambda d: mutate(set_id("x;rm")), ID_WORDS),
    # jansson refuses NUL in any string, before the fields are looked at.
    ("id-nul", lambda d: mutate(set_id("x\u0000y")), ID_WORDS + ["u0000", "nul"]),
    ("id-unicode", lambda d: mutate(set_id("caf\u00e9")), ID_WORDS),
    ("id-65-chars", lambda d: mutate(set_id("a" * 65)), ID_WORDS),
    ("id-empty", lambda d: mutate(set_id("")), ID_WORDS),
    ("id-missing", lambda d: mutate(del_path("launch_container", "container_id")),
     ["container_id"]),
    ("id-value-missing",
     lambda d: mutate(set_path({}, "launch_container", "container_id")),
     ["container_id", "value"]),
    ("id-not-object",
     lambda d: mutate(set_path("abc", "launch_container", "container_id")),
     ["container_id"]),
    ("id-value-number",
     lambda d: mutate(set_path({"value": 12}, "launch_container", "container_id")),
     ["container_id", "value"]),
    ("launch-missing", lambda d: {"type": "LAUNCH_CONTAINER"},
     ["launch_container"]),
    ("launch-not-object",
     lambda d: {"type": "LAUNCH_CONTAINER", "launch_container": [1, 2]},
     ["launch_container"]),
    ("shell-not-bool",
     lambda d: mutate(set_path("yes", "launch_container", "command", "shell")),
     ["shell"]),
    ("arguments-not-list",
     lambda d: mutate(lambda b: lc(b).__setitem__(
         "command", {"shell": False, "value": "echo", "arguments": "a b"})),
     ["arguments"]),
    ("env-not-list",
     lambda d: mutate(set_path({"variables": "K=V"}, "launch_container",
                               "command", "environment")),
     ["variables", "environment"]),
    ("image-missing",
     lambda d: mutate(del_path("launch_container", "container", "docker", "image")),
     ["image"]),
    ("image-not-string", lambda d: mutate(set_docker("image", 42)), ["image"]),
    ("image-empty", lambda d: mutate(set_docker("image", "")), ["image"]),
    ("image-bad-ref", lambda d: mutate(set_docker("image", "Bad Image")), ["image"]),
    ("image-bad-ref-upper", lambda d: mutate(set_docker("image", "BusyBox:local")),
     ["image"]),
    ("image-bad-tag", lambda d: mutate(set_docker("image", "busybox:bad tag!")),
     ["image"]),
    ("cpus-negative", lambda d: mutate(set_resources(scalar("cpus", -1))),
     ["cpus"]),
    ("mem-negative", lambda d: mutate(set_resources(scalar("mem", -64))),
     ["mem"]),
    ("mem-not-number", lambda d: mutate(set_resources(scalar("mem", "lots"))),
     ["mem", "value", "scalar"]),
    ("resources-not-list",
     lambda d: mutate(set_path({"cpus": 1}, "launch_container", "resources")),
     ["resources"]),
    ("shell-without-value",
     lambda d: mutate(set_path({"shell": True}, "launch_container", "command")),
     ["value", "command", "shell"]),
    ("volume-relative-host-path",
     lambda d: mutate(set_volume("relative/path")), ["host_path"]),
    ("volume-outside-allowed", lambda d: mutate(set_volume("/etc")),
     ["host_path", "allowed"]),
    ("volume-allowed-prefix-trick",
     lambda d: mutate(set_volume(d.allowed_dir + "-evil")),
     ["host_path", "allowed"]),
    ("volume-dotdot",
     lambda d: mutate(set_volume(d.allowed_dir + "/../../etc")),
     ["host_path", ".."]),
    ("volume-dotdot-inside",
     lambda d: mutate(set_volume(d.allowed_dir + "/../"
                                 + os.path.basename(d.allowed_dir))),
     ["host_path", ".."]),
    ("volume-bad-mode",
     lambda d: mutate(set_volume(d.allowed_dir, mode="RWX")), ["mode"]),
    ("network-bad", lambda d: mutate(set_docker("network", "WIFI")), ["network"]),
    ("port-host-zero",
     lambda d: mutate(lambda b: (set_docker("network", "BRIDGE")(b), set_docker(
         "port_mappings", [{"host_port": 0, "container_port": 80}])(b))),
     ["host_port", "port"]),
    ("port-container-70000",
     lambda d: mutate(lambda b: (set_docker("network", "BRIDGE")(b), set_docker(
         "port_mappings", [{"host_port": 31999, "container_port": 70000}])(b))),
     ["container_port", "port"]),
    ("port-host-70000",
     lambda d: mutate(lambda b: (set_docker("network", "BRIDGE")(b), set_docker(
         "port_mappings", [{"host_port": 70000, "container_port": 80}])(b))),
     ["host_port", "port"]),
    ("privileged-not-allowed",
     lambda d: mutate(set_docker("privileged", True)), ["privileged"]),
    ("privileged-not-bool",
     lambda d: mutate(set_docker("privileged", "yes")), ["privileged"]),
    ("not-json", lambda d: "{not json", ["json", "parse", "body"]),
    ("json-array", lambda d: "[]", ["type", "object", "json"]),
    ("truncated-json", lambda d: json.dumps(good("trunc-1"))[:-3], ["json", "parse", "body"]),
    ("type-unknown", lambda d: {"type": "FROBNICATE"}, ["type", "FROBNICATE"]),
    ("type-missing", lambda d: {"launch_container": lc(good())}, ["type"]),
    ("type-not-string", lambda d: {"type": 7}, ["type"]),
]


@pytest.mark.parametrize("name,build,words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_400(berthd, client, name, build, words):
    body = build(berthd)
    raw = body if isinstance(body, str) else json.dumps(body)
    r = client.post_call(None, raw=raw, timeout=15)
    assert_text_error(r, 400)
    msg = r.text.lower()
    assert any(w.lower() in msg for w in words), (
        "400 message %r names none of %r" % (r.text, words))


def test_body_over_1mib_413(client):
    body = good("huge-1")
    lc(body)["command"]["environment"] = {
        "variables": [{"name": "BIG", "value": "x" * (1024 * 1024 + 10)}]}
    r = client.post_call(None, raw=json.dumps(body), timeout=30)
    assert r.status == 413, r
    assert client.container("huge-1") is None


def test_body_exactly_under_limit_not_413(client):
    """A body just under 1 MiB is read (and here rejected for its bad id, not
    its size)."""
    body = good("a b")
    raw = json.dumps(body)
    pad = 1024 * 1024 - len(raw) - 100
    lc(body)["command"]["environment"] = {
        "variables": [{"name": "PAD", "value": "y" * pad}]}
    raw = json.dumps(body)
    assert len(raw) < 1024 * 1024
    r = client.post_call(None, raw=raw, timeout=30)
    assert r.status == 400, r


def test_wrong_method_and_path(client):
    r = client.get("/api/v1")
    assert r.status in (404, 405), r
    r = client.request("POST", "/no/such/endpoint", body="{}")
    assert r.status in (404, 405), r


def test_after_bad_input_nothing_was_created(berthd, client):
    """Runs after the cases above (same module, same berthd): berthd still
    serves, knows no container, created no docker container and no sandbox."""
    assert berthd.alive()
    assert client.health().status == 200
    assert client.get_containers() == []
    assert docker_ids("berth.agent_id=" + berthd.agent_id) == []
    sandboxes = os.path.join(berthd.work_dir, "sandboxes")
    left = os.listdir(sandboxes) if os.path.isdir(sandboxes) else []
    assert left == [], left
    # Nothing escaped the work dir either.
    assert not os.path.exists(os.path.join(berthd.root, "x"))
    assert not os.path.exists(os.path.join(berthd.work_dir, "x"))
    # And a good launch still works.
    cid = "valid-after"
    try:
        r = client.launch(launch_call(cid, "exit 0"))
        assert r.status == 200, r
        assert client.wait_ok(cid)["state"] == "TASK_FINISHED"
    finally:
        client.cleanup(cid)
