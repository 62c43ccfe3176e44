"""Pulls with registry credentials (API.md §6): --docker_config against the
registry with htpasswd auth on 127.0.0.1:5001 (scripts/setup.sh), pull
failures naming the image, force_pull_image, --docker_pull_timeout, a kill
during PULLING, pull progress in GET_CONTAINERS and `berth ps`, and
concurrent launches of one absent image sharing one pull."""

import base64
import json
import os
import subprocess
import threading

import pytest

from berthlib import docker, image_present, launch_call, poll
from conftest import BERTH_CLI
from throttle_proxy import ThrottleProxy

AUTH_REGISTRY = "127.0.0.1:5001"
AUTH_PORT = 5001
# scripts/setup.sh's test-only credentials
USER, PASSWORD = "berth", "berth-test-secret"
REGISTRY_LOG = "/var/log/berth-registry-auth.log"
REPO_TAG = "busybox:local"
SLOW_REPO_TAG = "berth-slow:local"  # a layer only this registry has (scripts/setup.sh)


def write_config(berthd_root, name, auths):
    path = os.path.join(berthd_root, name)
    with open(path, "w") as f:
        json.dump({"auths": auths}, f)
    return path


def basic(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


@pytest.fixture
def tmpdir_root(tmp_path):
    return str(tmp_path)


@pytest.fixture
def absent():
    """Image refs the test pulls; none is present before or after it."""
    refs = []

    def make(ref):
        refs.append(ref)
        if image_present(ref):
            docker("rmi", "-f", ref, check=False)
        assert not image_present(ref)
        return ref

    yield make
    for ref in refs:
        if image_present(ref):
            docker("rmi", "-f", ref, check=False)


@pytest.fixture
def slow_auth_registry():
    proxies = []

    def make(rate):
        p = ThrottleProxy(upstream_port=AUTH_PORT, rate=rate).start()
        proxies.append(p)
        return p, "127.0.0.1:%d/%s" % (p.port, SLOW_REPO_TAG)

    yield make
    for p in proxies:
        p.stop()


def good_config(root, host=AUTH_REGISTRY, key_form="%s"):
    return write_config(root, "good.json", {key_form % host: {"auth": basic(USER, PASSWORD)}})


def test_pull_with_good_credentials(berthd_factory, tmpdir_root, absent):
    ref = absent(AUTH_REGISTRY + "/" + REPO_TAG)
    # docker's long key form: scheme and a path, matched by host name
    d = berthd_factory("--docker_config=" + good_config(tmpdir_root, key_form="http://%s/v1/"))
    w = d.client.run(launch_call("authed", "echo pulled", image=ref), timeout=120)
    assert w["state"] == "TASK_FINISHED", w
    assert image_present(ref)


def test_username_and_password_entries_work_too(berthd_factory, tmpdir_root, absent):
    ref = absent(AUTH_REGISTRY + "/" + REPO_TAG)
    cfg = write_config(tmpdir_root, "plain.json", {AUTH_REGISTRY: {"username": USER, "password": PASSWORD}})
    d = berthd_factory("--docker_config=" + cfg)
    w = d.client.run(launch_call("plainauth", "true", image=ref), timeout=120)
    assert w["state"] == "TASK_FINISHED", w


@pytest.mark.parametrize("which", ["none", "wrong"])
def test_pull_without_or_with_wrong_credentials_fails_naming_the_image(berthd_factory, tmpdir_root, absent,
                                                                        which):
    ref = absent(AUTH_REGISTRY + "/" + REPO_TAG)
    flags = []
    if which == "wrong":
        flags.append("--docker_config=" + write_config(
            tmpdir_root, "wrong.json", {AUTH_REGISTRY: {"auth": basic(USER, "not-the-password")}}))
    else:
        # credentials for another registry only: none for this one
        flags.append("--docker_config=" + write_config(
            tmpdir_root, "other.json", {"127.0.0.1:5999": {"auth": basic(USER, PASSWORD)}}))
    d = berthd_factory(*flags)
    r = d.client.launch(launch_call("denied-" + which, "true", image=ref), timeout=120)
    assert r.status == 500, r.text
    assert "Failed to pull image '%s'" % ref in r.text, r.text
    w = d.client.wait_ok("denied-" + which)
    assert w["state"] == "TASK_FAILED" and w["reason"] == "REASON_CONTAINER_LAUNCH_FAILED", w
    assert not image_present(ref)


def registry_manifest_hits():
    """Manifest requests dockerd made to the auth registry so far."""
    with open(REGISTRY_LOG, "rb") as f:
        return sum(1 for line in f if b"/v2/busybox/manifests/local" in line and b'"docker/' in line)


def test_force_pull_image_reaches_the_registry_again(berthd_factory, tmpdir_root, absent):
    ref = absent(AUTH_REGISTRY + "/" + REPO_TAG)
    d = berthd_factory("--docker_config=" + good_config(tmpdir_root))
    assert d.client.run(launch_call("first", "true", image=ref), timeout=120)["state"] == "TASK_FINISHED"
    hits = registry_manifest_hits()
    # present now: a plain launch does not go to the registry...
    assert d.client.run(launch_call("second", "true", image=ref), timeout=120)["state"] == "TASK_FINISHED"
    assert registry_manifest_hits() == hits
    # ...and force_pull_image does, with the credentials
    body = launch_call("forced", "true", image=ref, docker_extra={"force_pull_image": True})
    assert d.client.run(body, timeout=120)["state"] == "TASK_FINISHED"
    assert registry_manifest_hits() > hits


def test_pull_past_the_timeout_is_aborted(berthd_factory, tmpdir_root, absent, slow_auth_registry):
    proxy, ref = slow_auth_registry(20 * 1024)
    absent(ref)
    host = ref.split("/", 1)[0]
    d = berthd_factory("--docker_config=" + good_config(tmpdir_root, host=host), "--docker_pull_timeout=3secs")
    r = d.client.launch(launch_call("timedout", "true", image=ref), timeout=120)
    assert r.status == 500, r.text
    assert "Failed to pull image '%s'" % ref in r.text and "--docker_pull_timeout" in r.text, r.text
    # the transfer stops once the pull is aborted
    def stopped():
        a = proxy.sent()
        threading.Event().wait(2)
        return proxy.sent() == a
    poll(stopped, 30, what="the proxied transfer to stop")
    assert not image_present(ref)


def test_kill_during_pulling_with_progress_shown(berthd_factory, tmpdir_root, absent, slow_auth_registry):
    proxy, ref = slow_auth_registry(40 * 1024)
    absent(ref)
    host = ref.split("/", 1)[0]
    d = berthd_factory("--docker_config=" + good_config(tmpdir_root, host=host))
    result = {}
    t = threading.Thread(target=lambda: result.setdefault(
        "r", d.client.launch(launch_call("killpull", "true", image=ref), timeout=180)))
    t.start()
    try:
        def progressing():
            c = d.client.container("killpull")
            p = (c or {}).get("pull") or {}
            return c["stage"] == "PULLING" and p.get("bytes_done", 0) > 0 and p
        p = poll(progressing, 60, interval=0.2, what="pull progress with bytes")
        assert p["layers_total"] >= 1 and p["bytes_total"] >= p["bytes_done"], p
        ps = subprocess.run([BERTH_CLI, "--addr", d.addr, "ps"], capture_output=True, timeout=30)
        assert b"pulling" in ps.stdout and b"layers" in ps.stdout, ps.stdout
        r = d.client.kill("killpull")
        assert r.status == 200, r.text
        t.join(60)
        assert result["r"].status == 500, result["r"].text
        w = d.client.wait_ok("killpull")
        assert w["state"] == "TASK_KILLED", w

        def stopped():
            a = proxy.sent()
            threading.Event().wait(2)
            return proxy.sent() == a
        poll(stopped, 30, what="the proxied transfer to stop")
        assert not image_present(ref)
    finally:
        t.join(120)


def test_concurrent_launches_of_one_absent_image_share_one_pull(berthd_factory, tmpdir_root, absent,
                                                               slow_auth_registry):
    proxy, ref = slow_auth_registry(400 * 1024)
    absent(ref)
    host = ref.split("/", 1)[0]
    d = berthd_factory("--docker_config=" + good_config(tmpdir_root, host=host))
    ids = ["share-%d" % i for i in range(3)]
    results = {}
    threads = [threading.Thread(target=lambda cid=cid: results.setdefault(
        cid, d.client.launch(launch_call(cid, "true", image=ref), timeout=180))) for cid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(200)
    for cid in ids:
        assert results[cid].status == 200, (cid, results[cid].text)
    with open(d.log_path, "rb") as f:
        log = f.read().decode(errors="replace")
    assert log.count("pulling %s" % ref) == 1, log
    assert log.count("joins the pull of %s" % ref) == 2, log
    assert d.client.get("/metrics/snapshot").json()["containerizer/docker/image_pull_ms/count"] == 1


class _BlobRefusingProxy:
    """Forwards to the auth registry but answers 404 to every blob: dockerd
    then starts the pull with 200 and reports the failure inside its
    progress stream."""

    def __init__(self):
        import http.client
        import http.server

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                if "/blobs/" in self.path:
                    self.send_response(404)
                    self.send_header("Content-Type", "application/json")
                    body = b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}'
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)
                    return
                up = http.client.HTTPConnection("127.0.0.1", AUTH_PORT, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                up.request(self.command, self.path, headers=headers)
                resp = up.getresponse()
                data = resp.read()
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                up.close()

            do_GET = do_HEAD = _any

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_pull_answered_200_with_an_error_in_its_stream_fails_naming_the_image(berthd_factory, tmpdir_root,
                                                                                absent):
    proxy = _BlobRefusingProxy()
    try:
        ref = absent("127.0.0.1:%d/%s" % (proxy.port, SLOW_REPO_TAG))
        d = berthd_factory("--docker_config=" + good_config(tmpdir_root, host=ref.split("/", 1)[0]))
        r = d.client.launch(launch_call("streamerr", "true", image=ref), timeout=180)
        assert r.status == 500, r.text
        assert "Failed to pull image '%s'" % ref in r.text, r.text
        assert not image_present(ref)
    finally:
        proxy.stop()
