"""Helpers for berth's black-box integration tests.

- a tiny HTTP/1.1 client over a unix socket (python3-requests cannot do
  AF_UNIX, and we want byte-level control for the 413 case);
- BerthClient: the v1 calls (launch, wait, kill, remove, get_containers) and
  the plain GET endpoints;
- builders for LAUNCH_CONTAINER bodies;
- docker CLI helpers and small polling utilities.

Every socket operation and every poll has a timeout so that a hang fails the
test instead of blocking the suite.
"""

import http.client
import json
import os
import socket
import subprocess
import time

# scripts/test.sh exports these; the defaults are what setup.sh prepares.
DEFAULT_IMAGE = os.environ.get("BERTH_TEST_IMAGE", "busybox:local")
REGISTRY = os.environ.get("BERTH_TEST_REGISTRY", "127.0.0.1:5000")
BIG_IMAGE = os.environ.get("BERTH_TEST_BIG_IMAGE", REGISTRY + "/berth-big:local")
# Host-side docker CLI calls must never hang the suite.
DOCKER_TIMEOUT = 120


# --------------------------------------------------------------------------
# HTTP over AF_UNIX


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client.HTTPConnection that connects to a unix socket path."""

    def __init__(self, path, timeout=30.0):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = unix_connect(self.unix_path, self.timeout)


def unix_connect(path, timeout):
    """Connect to a unix socket, waiting (up to timeout) while its listen
    backlog is full: with a timeout set, Python's AF_UNIX connect() fails at
    once with EAGAIN there instead of blocking as a plain client would."""
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            return sock
        except BlockingIOError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
        except BaseException:
            sock.close()
            raise


class Reply:
    """One HTTP reply: status, headers, raw body."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    @property
    def content_type(self):
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionError(
                "reply %d is not JSON (%s): %r" % (self.status, e, self.body[:500])
            )

    def __repr__(self):
        return "<Reply %d %r>" % (self.status, self.body[:300])


def raw_request(sock_path, method, path, body=None, headers=None, timeout=30.0):
    """Send one request on a fresh connection and read the reply.

    Written by hand rather than with HTTPConnection.request() so that a server
    that answers (e.g. 413) and closes before it has read the whole body still
    gives us its reply instead of a BrokenPipeError.
    """
    if isinstance(body, str):
        body = body.encode()
    hdrs = {"Host": "localhost", "Connection": "close"}
    if body is not None:
        hdrs["Content-Length"] = str(len(body))
    if headers:
        hdrs.update(headers)
    head = "%s %s HTTP/1.1\r\n" % (method, path)
    head += "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"

    sock = unix_connect(sock_path, timeout)
    try:
        try:
            sock.sendall(head.encode() + (body or b""))
        except (BrokenPipeError, ConnectionResetError):
            # The server may have answered early and closed; read what it sent.
            pass
        resp = http.client.HTTPResponse(sock, method=method)
        resp.begin()
        data = resp.read()
        return Reply(resp.status, resp.reason, resp.headers, data)
    finally:
        sock.close()


# --------------------------------------------------------------------------
# berthd client


class BerthError(AssertionError):
    pass


class BerthClient:
    def __init__(self, sock_path, timeout=30.0):
        self.sock_path = sock_path
        self.timeout = timeout

    # -- raw ---------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, timeout=None):
        return raw_request(
            self.sock_path, method, path, body=body, headers=headers,
            timeout=timeout or self.timeout,
        )

    def get(self, path, timeout=None):
        return self.request("GET", path, timeout=timeout)

    def post_call(self, call, timeout=None, raw=None):
        """POST /api/v1 with a call dict (or raw bytes/str)."""
        body = raw if raw is not None else json.dumps(call)
        return self.request(
            "POST", "/api/v1", body=body,
            headers={"Content-Type": "application/json"}, timeout=timeout,
        )

    # -- calls -------------------------------------------------------------
    def launch(self, body, timeout=60.0):
        """body: the full LAUNCH_CONTAINER call (see launch_call())."""
        return self.post_call(body, timeout=timeout)

    def launch_ok(self, body, timeout=60.0):
        r = self.launch(body, timeout=timeout)
        if r.status != 200:
            raise BerthError("launch of %s failed: %d %s" % (
                body["launch_container"]["container_id"].get("value"),
                r.status, r.text))
        return r

    def wait(self, cid, timeout=60.0):
        return self.post_call(
            {"type": "WAIT_CONTAINER",
             "wait_container": {"container_id": {"value": cid}}},
            timeout=timeout)

    def wait_ok(self, cid, timeout=60.0):
        """WAIT and return the inner wait_container object."""
        r = self.wait(cid, timeout=timeout)
        if r.status != 200:
            raise BerthError("wait %s: %d %s" % (cid, r.status, r.text))
        j = r.json()
        assert j.get("type") == "WAIT_CONTAINER", j
        return j["wait_container"]

    def kill(self, cid, signal=None, timeout=30.0):
        kc = {"container_id": {"value": cid}}
        if signal is not None:
            kc["signal"] = signal
        return self.post_call({"type": "KILL_CONTAINER", "kill_container": kc},
                              timeout=timeout)

    def remove(self, cid, timeout=60.0):
        return self.post_call(
            {"type": "REMOVE_CONTAINER",
             "remove_container": {"container_id": {"value": cid}}},
            timeout=timeout)

    def get_containers(self, timeout=None):
        r = self.post_call({"type": "GET_CONTAINERS"}, timeout=timeout)
        if r.status != 200:
            raise BerthError("GET_CONTAINERS: %d %s" % (r.status, r.text))
        j = r.json()
        assert j.get("type") == "GET_CONTAINERS", j
        return j.get("get_containers", {}).get("containers", []) or []

    def container(self, cid):
        """The GET_CONTAINERS entry for cid, or None."""
        for c in self.get_containers():
            if c.get("container_id", {}).get("value") == cid:
                return c
        return None

    def health(self, timeout=5.0):
        return self.get("/health", timeout=timeout)

    def files_read(self, path, offset, length=None, encoding=None):
        q = "path=%s&offset=%d" % (path, offset)
        if length is not None:
            q += "&length=%d" % length
        if encoding:
            q += "&encoding=" + encoding
        return self.get("/files/read?" + q)

    # -- composite ---------------------------------------------------------
    def cleanup(self, cid, timeout=60.0):
        """Best effort: kill, wait, remove. Never raises."""
        try:
            r = self.kill(cid)
            if r.status == 200:
                self.wait(cid, timeout=timeout)
            self.remove(cid)
        except Exception:
            pass

    def run(self, body, timeout=60.0):
        """launch_ok + wait_ok; returns the wait result."""
        self.launch_ok(body, timeout=max(timeout, 60.0))
        return self.wait_ok(cid_of(body), timeout=timeout)


# --------------------------------------------------------------------------
# launch bodies


def scalar(name, value):
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}}


def shell_cmd(value, env=None):
    c = {"shell": True, "value": value}
    if env:
        c["environment"] = {"variables": [
            {"name": k, "value": v} for k, v in env.items()]}
    return c


def argv_cmd(value=None, arguments=None):
    c = {"shell": False}
    if value is not None:
        c["value"] = value
    if arguments is not None:
        c["arguments"] = list(arguments)
    return c


def launch_call(cid, command=None, image=DEFAULT_IMAGE, resources=None,
                limits=None, network=None, port_mappings=None, volumes=None,
                privileged=None, grace_secs=None, docker_extra=None,
                container_extra=None):
    """Build a LAUNCH_CONTAINER call.

    command: a CommandInfo dict, or a string (shell command).
    """
    if isinstance(command, str):
        command = shell_cmd(command)
    docker = {"image": image}
    if network is not None:
        docker["network"] = network
    if port_mappings is not None:
        docker["port_mappings"] = port_mappings
    if privileged is not None:
        docker["privileged"] = privileged
    if docker_extra:
        docker.update(docker_extra)
    container = {"type": "DOCKER", "docker": docker}
    if volumes is not None:
        container["volumes"] = volumes
    if container_extra:
        container.update(container_extra)
    lc = {"container_id": {"value": cid}, "container": container}
    if command is not None:
        lc["command"] = command
    if resources is not None:
        lc["resources"] = resources
    if limits is not None:
        lc["limits"] = limits
    if grace_secs is not None:
        lc["kill_policy"] = {
            "grace_period": {"nanoseconds": int(grace_secs * 1e9)}}
    return {"type": "LAUNCH_CONTAINER", "launch_container": lc}


def cid_of(body):
    return body["launch_container"]["container_id"]["value"]


# --------------------------------------------------------------------------
# docker CLI


def docker(*args, timeout=DOCKER_TIMEOUT, check=True):
    p = subprocess.run(["docker"] + list(args), capture_output=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("docker %s failed (%d): %s" % (
            " ".join(args), p.returncode, p.stderr.decode(errors="replace")))
    return p


def docker_ids(*filters, all_=True):
    """Ids of docker containers matching label filters ('k=v' strings)."""
    args = ["ps", "-q", "--no-trunc"]
    if all_:
        args.append("-a")
    for f in filters:
        args += ["--filter", "label=" + f]
    out = docker(*args).stdout.decode().split()
    return out


def docker_inspect(name_or_id):
    p = docker("inspect", name_or_id)
    data = json.loads(p.stdout)
    assert len(data) == 1
    return data[0]


def image_present(ref):
    return docker("image", "inspect", ref, check=False).returncode == 0


# --------------------------------------------------------------------------
# polling


def poll(fn, timeout, interval=0.1, what="condition"):
    """Call fn until it returns a truthy value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except AssertionError:
            raise
        except Exception as e:  # transient (e.g. file not yet there)
            last_exc = e
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s%s" % (
                timeout, what,
                " (last error: %r)" % last_exc if last_exc else ""))
        time.sleep(interval)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def is_one_line_text_error(reply):
    """Error replies are one-line text/plain."""
    body = reply.text
    stripped = body[:-1] if body.endswith("\n") else body
    return (reply.content_type == "text/plain" and stripped != ""
            and "\n" not in stripped)


def assert_text_error(reply, status):
    assert reply.status == status, "expected %d, got %r" % (status, reply)
    assert is_one_line_text_error(reply), (
        "error reply is not one line of text/plain: content-type %r body %r"
        % (reply.headers.get("Content-Type"), reply.body[:500]))
