"""End to end, behaviours that are built and had no test (issue 11).

Each test drives a real berthd against the machine's dockerd and checks
what a user would see: in the container, in the sandbox, in docker's view
and in berthd's replies.  Tests that need their own flags start their own
berthd with `berthd_factory`.
"""

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time

import pytest

from berthlib import (DEFAULT_IMAGE, REGISTRY, assert_text_error,
                      docker, docker_ids, docker_inspect, free_port,
                      image_present, launch_call, poll, read_file, scalar)
from conftest import BERTH_CLI, Berthd
from throttle_proxy import ThrottleProxy

MB = 1024 * 1024


def stdout_of(d, cid):
    return read_file(d.stdout_path(cid))


def stderr_of(d, cid):
    return read_file(d.stderr_path(cid))


def pvolume(pid, container_path, mode="RW", size=16):
    return {"name": "disk", "type": "SCALAR", "scalar": {"value": size},
            "disk": {"persistence": {"id": pid},
                     "volume": {"container_path": container_path, "mode": mode}}}


def docker_exists(name):
    return docker("inspect", name, check=False).returncode == 0


# ----------------------------------------------------------------------------
# persistent volumes (API.md §7)


def test_persistent_volume_outlives_its_container(berthd, client, new_id):
    """Data one container writes to a persistent volume is read by the
    next container given the same persistence id, after the first one was
    removed; the data lives in <work_dir>/volumes/<id> on the host."""
    pid = "pv-" + new_id("e2e")
    a, b = new_id("pva"), new_id("pvb")
    w = client.run(launch_call(a, 'echo "written by a" > "$MESOS_SANDBOX/data/f" && cat "$MESOS_SANDBOX/data/f"',
                               resources=[pvolume(pid, "data")]))
    assert w["state"] == "TASK_FINISHED", (w, stderr_of(berthd, a))
    assert stdout_of(berthd, a) == b"written by a\n"
    assert client.remove(a).status == 200
    host = os.path.join(berthd.work_dir, "volumes", pid)
    assert read_file(os.path.join(host, "f")) == b"written by a\n"
    # An absolute container path this time: the same volume.
    w = client.run(launch_call(b, "cat /pv/f", resources=[pvolume(pid, "/pv")]))
    assert w["state"] == "TASK_FINISHED", (w, stderr_of(berthd, b))
    assert stdout_of(berthd, b) == b"written by a\n"
    assert client.remove(b).status == 200
    assert os.path.isdir(host), "the volume went with its container"


def test_persistent_volume_read_only(berthd, client, new_id):
    """mode RO: the data is there and a write fails inside the container."""
    pid = "pvro-" + new_id("e2e")
    host = os.path.join(berthd.work_dir, "volumes", pid)
    w = client.run(launch_call(new_id("pvw"), "echo seed > /pv/f", resources=[pvolume(pid, "/pv")]))
    assert w["state"] == "TASK_FINISHED", w
    cid = new_id("pvro")
    w = client.run(launch_call(cid, "cat /pv/f; if echo x > /pv/g; then echo WROTE; else echo refused; fi",
                               resources=[pvolume(pid, "/pv", mode="RO")]))
    assert w["state"] == "TASK_FINISHED", w
    assert stdout_of(berthd, cid) == b"seed\nrefused\n", stderr_of(berthd, cid)
    assert not os.path.exists(os.path.join(host, "g"))
    ro = [m for m in docker_inspect(berthd.docker_name(cid))["Mounts"] if m["Destination"] == "/pv"]
    assert len(ro) == 1 and ro[0]["RW"] is False, ro


# ----------------------------------------------------------------------------
# the ':' sandbox link (API.md §1)


@pytest.fixture
def colon_berthd(berthd_factory):
    """A berthd whose work dir path contains ':', so every sandbox is
    mounted through a link under <runtime_dir>/links/<agent_id>."""
    root = tempfile.mkdtemp(prefix="bt-colon-")
    work = os.path.join(root, "wo:rk")
    os.makedirs(work)
    try:
        d = berthd_factory("--work_dir=" + work, "--docker_remove_delay=0secs")
        d.work_dir = work
        yield d
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_colon_sandbox_link_made_and_removed(colon_berthd):
    d = colon_berthd
    c = d.client
    cid = "colon-1"
    links = d.links_dir()
    c.launch_ok(launch_call(cid, 'echo hi; echo "in sandbox" > "$MESOS_SANDBOX/made"; sleep 300'))
    link = os.path.join(links, cid)
    assert os.path.islink(link), os.listdir(links) if os.path.isdir(links) else "no links dir"
    assert os.readlink(link) == d.sandbox(cid)
    poll(lambda: os.path.exists(os.path.join(d.sandbox(cid), "made")), 20, what="file made in the sandbox")
    assert read_file(os.path.join(d.sandbox(cid), "made")) == b"in sandbox\n"
    poll(lambda: stdout_of(d, cid) == b"hi\n", 10, what="stdout")
    # docker mounted the link (not the ':' path, which it would split).
    mounts = docker_inspect(d.docker_name(cid))["Mounts"]
    assert any(m["Destination"] == "/mnt/mesos/sandbox" for m in mounts), mounts
    assert c.kill(cid).status == 200
    assert c.wait_ok(cid)["state"] == "TASK_KILLED"
    assert os.path.islink(link), "link removed before REMOVE"
    assert c.remove(cid).status == 200
    assert not os.path.lexists(link)
    assert os.listdir(links) == []


def test_runtime_dir_with_colon_refused(tmp_path):
    """A ':' in --runtime_dir would put one back into the link path docker
    splits: berthd refuses to start, before making anything."""
    from conftest import BERTHD
    run = tmp_path / "ru:n"
    sock = tmp_path / "s.sock"
    p = subprocess.run([BERTHD, "--work_dir=%s" % (tmp_path / "w"), "--listen=unix:%s" % sock,
                        "--runtime_dir=%s" % run], capture_output=True, timeout=30)
    assert p.returncode != 0, p
    err = p.stderr.decode()
    assert "--runtime_dir" in err and str(run) in err, err
    assert not run.exists() and not sock.exists() and not (tmp_path / "w").exists()


# ----------------------------------------------------------------------------
# GPUs with a fake device root (API.md §7)


def test_gpu_device_nodes_inside_container(berthd_factory, tmp_path):
    """--nvidia_device_root points at char devices with the nvidia major
    (195): the container sees the allocated /dev/nvidiaN (and the control
    nodes), not the other GPU."""
    devroot = tmp_path / "dev"
    devroot.mkdir()
    for name, minor in [("nvidia0", 0), ("nvidia1", 1), ("nvidiactl", 255)]:
        os.mknod(str(devroot / name), 0o666 | stat.S_IFCHR, os.makedev(195, minor))
    d = berthd_factory("--nvidia_gpu_devices=0,1", "--nvidia_device_root=%s" % devroot)
    c = d.client
    cid = "gpu-1"
    w = c.run(launch_call(cid, "ls -l /dev/nvidia0 /dev/nvidiactl; ls /dev/nvidia1 || echo no-nvidia1",
                          resources=[scalar("gpus", 1)]))
    assert w["state"] == "TASK_FINISHED", (w, stderr_of(d, cid))
    out = stdout_of(d, cid).decode()
    # busybox ls -l: "crw-rw-rw- 1 root root 195, 0 ... /dev/nvidia0"
    assert re.search(r"^c\S+\s+\d+\s+\S+\s+\S+\s+195,\s+0\s.*/dev/nvidia0$", out, re.M), (out, stderr_of(d, cid), docker_inspect(d.docker_name(cid))["HostConfig"]["Devices"])
    assert re.search(r"^c\S+\s+\d+\s+\S+\s+\S+\s+195,\s+255\s.*/dev/nvidiactl$", out, re.M), out
    assert "no-nvidia1" in out, out
    devs = docker_inspect(d.docker_name(cid))["HostConfig"]["Devices"]
    assert sorted(x["PathInContainer"] for x in devs) == ["/dev/nvidia0", "/dev/nvidiactl"], devs


# ----------------------------------------------------------------------------
# force_pull_image with the image present (API.md §3 stage 3)


@pytest.fixture
def proxied_image():
    """busybox on the local registry, reached through a counting proxy on a
    port of its own, and present locally under that name (tagged, no pull)."""
    upstream = int(REGISTRY.rsplit(":", 1)[1])
    proxy = ThrottleProxy(upstream_port=upstream, rate=64 * MB).start()
    ref = "127.0.0.1:%d/busybox:local" % proxy.port
    docker("tag", DEFAULT_IMAGE, ref)
    try:
        yield proxy, ref
    finally:
        proxy.stop()
        docker("rmi", ref, check=False)  # only the tag: busybox:local stays


def manifest_gets(proxy):
    return [r for r in list(proxy.requests) if "/manifests/" in str(r)]


def test_force_pull_image_pulls_a_present_image(berthd, client, new_id, proxied_image):
    proxy, ref = proxied_image
    assert image_present(ref)
    before = snapshot(client)["containerizer/docker/image_pull_ms/count"]
    # Without force_pull_image the present image is used as it is.
    w = client.run(launch_call(new_id("nopull"), "true", image=ref))
    assert w["state"] == "TASK_FINISHED", w
    assert manifest_gets(proxy) == [], proxy.requests
    assert snapshot(client)["containerizer/docker/image_pull_ms/count"] == before
    cid = new_id("forced")
    w = client.run(launch_call(cid, "echo forced", image=ref, docker_extra={"force_pull_image": True}))
    assert w["state"] == "TASK_FINISHED", w
    assert stdout_of(berthd, cid) == b"forced\n"
    assert manifest_gets(proxy), "no manifest request reached the registry: %r" % proxy.requests
    assert snapshot(client)["containerizer/docker/image_pull_ms/count"] == before + 1


# ----------------------------------------------------------------------------
# --docker_remove_delay and --docker_stop_timeout (API.md §3 KILL, §5)


def still_there(name, secs):
    """The docker container exists all through the next `secs` seconds."""
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if not docker_exists(name):
            return False
        time.sleep(0.2)
    return True


def test_docker_remove_delay_positive(berthd_factory):
    """With a 6 s delay the docker container outlives the task's end (it is
    still there 2 s later), then goes by itself (bounded poll) while berthd
    keeps the record."""
    d = berthd_factory("--docker_remove_delay=6secs")
    c = d.client
    cid = "rd-1"
    w = c.run(launch_call(cid, "exit 4"))
    assert w["exit_code"] == 4, w
    name = d.docker_name(cid)
    assert still_there(name, 2), "removed at once despite --docker_remove_delay=6secs"
    poll(lambda: not docker_exists(name), 30, interval=0.2, what="docker container removed after the delay")
    assert c.container(cid)["stage"] == "TERMINATED"
    assert c.remove(cid).status == 200


def test_docker_remove_delay_across_restart(berthd_factory):
    """A removal still pending when berthd stops happens after its restart."""
    d = berthd_factory("--docker_remove_delay=6secs")
    c = d.client
    cid = "rd-2"
    w = c.run(launch_call(cid, "exit 0"))
    assert w["state"] == "TASK_FINISHED"
    name = d.docker_name(cid)
    d.stop()
    assert still_there(name, 1), "removed at once despite --docker_remove_delay=6secs"
    d.start()
    poll(lambda: not docker_exists(name), 30, interval=0.2, what="docker container removed after restart")
    got = c.container(cid)
    assert got and got["stage"] == "TERMINATED" and got["termination"]["state"] == "TASK_FINISHED", got
    assert c.remove(cid).status == 200


def test_docker_remove_delay_default_keeps_container(berthd_factory):
    """The counterpart: with the default (6hrs) the container is still there
    after the time the positive tests wait for."""
    d = berthd_factory()
    c = d.client
    cid = "rd-3"
    assert c.run(launch_call(cid, "true"))["state"] == "TASK_FINISHED"
    assert still_there(d.docker_name(cid), 2), "removed though the delay is 6hrs"
    assert c.remove(cid).status == 200
    assert not docker_exists(d.docker_name(cid)), "REMOVE left the docker container"


TERM_TRAP = ("trap 'echo got-term; exit 0' TERM; echo ready; "
             "while true; do usleep 50000; done")


def test_docker_stop_timeout_gives_sigterm_grace(berthd_factory):
    """--docker_stop_timeout=20secs and no kill policy: the task gets SIGTERM
    first and its trap runs; with the default 0s it is SIGKILLed."""
    d = berthd_factory("--docker_stop_timeout=20secs")
    c = d.client
    cid = "st-1"
    c.launch_ok(launch_call(cid, TERM_TRAP))
    poll(lambda: b"ready\n" in stdout_of(d, cid), 15, what="ready")
    assert c.kill(cid).status == 200
    w = c.wait_ok(cid, timeout=40)
    assert w["state"] == "TASK_KILLED", w
    assert stdout_of(d, cid) == b"ready\ngot-term\n"
    assert w["exit_code"] == 0, w


def test_docker_stop_timeout_zero_is_sigkill(berthd_factory):
    d = berthd_factory("--docker_stop_timeout=0secs")
    c = d.client
    cid = "st-0"
    c.launch_ok(launch_call(cid, TERM_TRAP))
    poll(lambda: b"ready\n" in stdout_of(d, cid), 15, what="ready")
    assert c.kill(cid).status == 200
    w = c.wait_ok(cid, timeout=40)
    assert w["state"] == "TASK_KILLED", w
    assert stdout_of(d, cid) == b"ready\n"
    assert w["exit_code"] == 137, w


# ----------------------------------------------------------------------------
# UPDATE_CONTAINER across a restart, and with CFS (API.md §3 UPDATE)


def update_call(cid, resources, limits=None):
    u = {"container_id": {"value": cid}, "resources": resources}
    if limits is not None:
        u["limits"] = limits
    return {"type": "UPDATE_CONTAINER", "update_container": u}


def resource_value(entry, name):
    for r in entry.get("resources") or []:
        if r.get("name") == name:
            return r["scalar"]["value"]
    return None


def test_update_survives_restart(berthd_factory):
    d = berthd_factory()
    c = d.client
    cid = "up-1"
    c.launch_ok(launch_call(cid, "sleep 300", resources=[scalar("cpus", 0.5), scalar("mem", 64)]))
    r = c.post_call(update_call(cid, [scalar("cpus", 1.5), scalar("mem", 96)]))
    assert r.status == 200, r
    d.stop()
    d.start()
    e = c.container(cid)
    assert e["stage"] == "RUNNING", e
    assert resource_value(e, "mem") == 96 and resource_value(e, "cpus") == 1.5, e["resources"]
    hc = docker_inspect(d.docker_name(cid))["HostConfig"]
    assert hc["Memory"] == 96 * MB and hc["CpuShares"] == 1536, (hc["Memory"], hc["CpuShares"])
    assert e["resource_statistics"]["mem_limit_bytes"] == 96 * MB, e["resource_statistics"]
    # A second update after the restart still works on the recovered record.
    r = c.post_call(update_call(cid, [scalar("mem", 128)]))
    assert r.status == 200, r
    e = c.container(cid)
    assert resource_value(e, "mem") == 128 and resource_value(e, "cpus") == 1.5, e["resources"]
    assert docker_inspect(d.docker_name(cid))["HostConfig"]["Memory"] == 128 * MB
    c.cleanup(cid)


def test_update_with_cfs_sets_quota(berthd_factory):
    d = berthd_factory("--cgroups_enable_cfs")
    c = d.client
    cid = "up-cfs"
    c.launch_ok(launch_call(cid, "sleep 300", resources=[scalar("cpus", 0.5), scalar("mem", 64)]))
    hc = docker_inspect(d.docker_name(cid))["HostConfig"]
    assert (hc["CpuPeriod"], hc["CpuQuota"]) == (100000, 50000), hc
    assert c.post_call(update_call(cid, [scalar("cpus", 1.25)])).status == 200
    hc = docker_inspect(d.docker_name(cid))["HostConfig"]
    assert (hc["CpuPeriod"], hc["CpuQuota"], hc["CpuShares"]) == (100000, 125000, 1280), hc
    e = c.container(cid)
    assert e["resource_statistics"]["cpus_limit"] == 1.25, e["resource_statistics"]
    c.cleanup(cid)


# ----------------------------------------------------------------------------
# GET_CONTAINERS: executor_pid and BRIDGE addresses (API.md §3 GET_CONTAINERS)


def running_status(client, cid):
    """container_status once berthd has inspected the started container
    (it answers LAUNCH first, so the pid may lag the 200 by a moment)."""
    return poll(lambda: (client.container(cid) or {}).get("container_status", {}).get("executor_pid")
                and client.container(cid)["container_status"], 10, what="executor_pid of " + cid)


def test_executor_pid_and_bridge_address(berthd, client, new_id):
    cid = new_id("pid")
    client.launch_ok(launch_call(cid, "sleep 300", network="BRIDGE"))
    st = running_status(client, cid)
    state = docker_inspect(berthd.docker_name(cid))
    assert st["executor_pid"] == state["State"]["Pid"] > 0, (st, state["State"])
    # The address is only compared with docker's view, never connected to.
    ip = state["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    assert ip, state["NetworkSettings"]
    assert st.get("network_infos") == [{"name": "bridge",
                                         "ip_addresses": [{"protocol": "IPv4", "ip_address": ip}]}], st
    client.cleanup(cid)
    st = client.container(cid)
    assert st is None or "executor_pid" not in st["container_status"], st


def test_host_network_has_no_bridge_address(berthd, client, new_id):
    cid = new_id("hostnet")
    client.launch_ok(launch_call(cid, "sleep 300", network="HOST"))
    st = running_status(client, cid)
    assert st["executor_pid"] == docker_inspect(berthd.docker_name(cid))["State"]["Pid"]
    assert "network_infos" not in st, st
    client.cleanup(cid)


# ----------------------------------------------------------------------------
# /metrics/snapshot and /metrics (API.md §4)


def snapshot(client):
    r = client.get("/metrics/snapshot")
    assert r.status == 200 and r.content_type == "application/json", r
    return r.json()


def prometheus(client):
    """/metrics as {sample name with labels: value}."""
    r = client.get("/metrics")
    assert r.status == 200 and r.content_type == "text/plain", r
    out = {}
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out


def prom_value(samples, *words, without=()):
    """The one sample whose name holds every word and none of `without`."""
    hits = [k for k in samples if all(w in k for w in words) and not any(w in k for w in without)]
    assert len(hits) == 1, "samples matching %s (not %s): %s" % (words, without, hits)
    return samples[hits[0]]


def test_metrics_move_with_launches_failures_destroys_and_pulls(berthd_factory):
    d = berthd_factory()
    c = d.client
    s0, p0 = snapshot(c), prometheus(c)
    for k in ("launches", "launch_failures", "destroys", "ooms", "image_pull_ms/count"):
        assert s0["containerizer/docker/" + k] == 0, (k, s0)
    # A launch that finishes, a destroyed one, a failed one, a pulled one.
    assert c.run(launch_call("m-ok", "true"))["state"] == "TASK_FINISHED"
    c.launch_ok(launch_call("m-kill", "sleep 300"))
    s = snapshot(c)
    assert s["containerizer/docker/containers/RUNNING"] == 1, s
    assert c.kill("m-kill").status == 200
    assert c.wait_ok("m-kill")["state"] == "TASK_KILLED"
    r = c.launch(launch_call("m-fail", "true", image="127.0.0.1:%d/none:x" % free_port()))
    assert r.status == 500, r
    ref = REGISTRY + "/busybox:local"
    pulled = "127.0.0.1:%d/busybox:local" % int(REGISTRY.rsplit(":", 1)[1])
    assert ref == pulled
    try:
        if image_present(ref):
            docker("rmi", ref, check=False)  # only the tag: busybox:local stays
        assert c.run(launch_call("m-pull", "true", image=ref), timeout=120)["state"] == "TASK_FINISHED"
    finally:
        docker("rmi", ref, check=False)
    s = snapshot(c)
    # launches: those that reached RUNNING; the failed one is a failure.
    assert s["containerizer/docker/launches"] == 3, s
    assert s["containerizer/docker/launch_failures"] == 1, s
    assert s["containerizer/docker/destroys"] == 1, s
    # The failed launch tried a pull too (its image is absent).
    assert s["containerizer/docker/image_pull_ms/count"] == 2, s
    assert s["containerizer/docker/image_pull_ms"] > 0, s
    assert s["containerizer/docker/containers/TERMINATED"] == 4, s
    assert s["containerizer/docker/containers/RUNNING"] == 0, s
    p = prometheus(c)
    assert prom_value(p, "launch", without=("fail",)) == 3, p
    assert prom_value(p, "launch", "fail") == 1, p
    assert prom_value(p, "destroy") == 1, p
    assert prom_value(p, "pull", "count") == 2, p
    assert prom_value(p0, "pull", "count") == 0, p0
    for cid in ("m-ok", "m-kill", "m-fail", "m-pull"):
        assert c.remove(cid).status == 200
    assert snapshot(c)["containerizer/docker/containers"] == 0


# ----------------------------------------------------------------------------
# /files/browse and /version (API.md §4)


def test_files_browse_lists_sandbox_entries(berthd, client, new_id):
    cid = new_id("browse")
    w = client.run(launch_call(cid, 'printf 12345 > "$MESOS_SANDBOX/five"; mkdir "$MESOS_SANDBOX/sub"; printf abc'))
    assert w["state"] == "TASK_FINISHED", w
    r = client.get("/files/browse?path=/sandboxes/%s" % cid)
    assert r.status == 200, r
    entries = {e["path"]: e for e in r.json()}
    base = "/sandboxes/%s/" % cid
    assert sorted(entries) == sorted(base + n for n in ("five", "sub", "stdout", "stderr")), entries
    assert entries[base + "five"]["size"] == 5 and entries[base + "five"]["is_dir"] is False
    assert entries[base + "stdout"]["size"] == 3
    assert entries[base + "sub"]["is_dir"] is True
    assert stat.S_ISDIR(entries[base + "sub"]["mode"]) and stat.S_ISREG(entries[base + "five"]["mode"])
    st = os.stat(os.path.join(berthd.sandbox(cid), "five"))
    assert entries[base + "five"]["mtime"] == int(st.st_mtime)
    r = client.get("/files/browse?path=/sandboxes/%s/sub" % cid)
    assert r.status == 200 and r.json() == [], r
    assert client.get("/files/browse?path=/sandboxes/%s/five" % cid).status in (400, 404)
    assert client.get("/files/browse?path=/sandboxes/nope-%s" % cid).status == 404


def test_version_shape(berthd, client):
    r = client.get("/version")
    assert r.status == 200 and r.content_type == "application/json", r
    v = r.json()
    assert sorted(v) == ["docker_api_version", "version"], v
    assert re.fullmatch(r"\d+\.\d+\.\d+", v["version"]), v
    docker_api = docker("version", "--format", "{{.Server.APIVersion}}").stdout.decode().strip()
    assert re.fullmatch(r"1\.\d+", v["docker_api_version"]), v
    # berthd talks at most dockerd's version.
    assert tuple(map(int, v["docker_api_version"].split("."))) <= tuple(map(int, docker_api.split("."))), (
        v, docker_api)
    cli = subprocess.run([BERTH_CLI, "--version"], capture_output=True, timeout=10)
    assert v["version"].encode() in cli.stdout, cli


# ----------------------------------------------------------------------------
# the CLI over TCP with a token (API.md §2)


def test_cli_over_tcp_with_token(berthd_factory, tmp_path):
    token = "tok-" + os.urandom(12).hex()
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    port = free_port()
    d = berthd_factory("--listen=tcp:127.0.0.1:%d" % port, "--token_file=%s" % token_file)
    addr = "tcp:127.0.0.1:%d" % port

    def cli(*args, env=None):
        e = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
        e.update(env or {})
        return subprocess.run([BERTH_CLI] + list(args), capture_output=True, timeout=60,
                              stdin=subprocess.DEVNULL, env=e)

    p = cli("--addr", addr, "--token_file", str(token_file), "run", "--name", "tcp-1",
            DEFAULT_IMAGE, "sh", "-c", "echo over-tcp; exit 3")
    assert p.returncode == 3 and p.stdout == b"over-tcp\n", p
    p = cli("ps", "-a", env={"BERTH_ADDR": addr, "BERTH_TOKEN": token})
    assert p.returncode == 0 and b"tcp-1" in p.stdout, p
    bad = tmp_path / "bad"
    bad.write_text("not-the-token\n")
    p = cli("--addr", addr, "--token_file", str(bad), "ps", "-a")
    assert p.returncode == 1 and b"tcp-1" not in p.stdout, p
    assert b"token" in p.stderr, p
    p = cli("--addr", addr, "ps", "-a")
    assert p.returncode != 0 and b"tcp-1" not in p.stdout, p
    p = cli("--addr", addr, "--token_file", str(token_file), "rm", "tcp-1")
    assert p.returncode == 0, p
    assert d.client.container("tcp-1") is None


# ----------------------------------------------------------------------------
# BERTH_<FLAG> in the environment of a running berthd (API.md §5)


def test_berth_flag_environment(berthd_factory, tmp_path):
    d = Berthd((), tag="envflags")
    try:
        env = dict(os.environ)
        env.update({"BERTH_DOCKER_STOP_TIMEOUT": "20secs", "BERTH_DOCKER_REMOVE_DELAY": "0secs",
                    "BERTH_SANDBOX_DIRECTORY": "/berth-sb", "BERTH_LOG_LEVEL": "debug"})
        d.spawn(env=env)
        d.wait_ready()
        flags = d.client.get("/flags").json()["flags"]
        assert flags["docker_stop_timeout"] == "20secs", flags
        assert flags["docker_remove_delay"] in ("0ns", "0secs"), flags
        assert flags["sandbox_directory"] == "/berth-sb", flags
        assert flags["log_level"] == "debug", flags
        # They are in force, not only shown.
        c = d.client
        c.launch_ok(launch_call("env-1", 'echo "$MESOS_SANDBOX"; ' + TERM_TRAP))
        poll(lambda: b"ready\n" in stdout_of(d, "env-1"), 15, what="ready")
        assert stdout_of(d, "env-1") == b"/berth-sb\nready\n"
        assert c.kill("env-1").status == 200
        assert c.wait_ok("env-1", timeout=40)["exit_code"] == 0
        assert stdout_of(d, "env-1").endswith(b"got-term\n")
        poll(lambda: not docker_exists(d.docker_name("env-1")), 20, what="removed at once (delay 0)")
    finally:
        d.teardown()


# ----------------------------------------------------------------------------
# kills in the launch stages (API.md §3 KILL)


def test_kill_during_mounting(daemons_e2e):
    """dockerd's create is held by a proxy so the launch sits in MOUNTING;
    a KILL there ends it TASK_KILLED during launch and leaves no docker
    container."""
    from recovery_util import DockerProxy
    proxy = DockerProxy(os.path.join(daemons_e2e.scratch(), "dp.sock")).start()
    try:
        d = daemons_e2e(docker_socket=proxy.listen_path)
        c = d.client
        cid = "mount-1"
        proxy.hold("/containers/create", 6)
        result = {}

        def launch():
            try:
                result["r"] = c.launch(launch_call(cid, "sleep 300"), timeout=60)
            except Exception as e:
                result["r"] = e
        t = threading.Thread(target=launch)
        t.start()
        poll(lambda: (c.container(cid) or {}).get("stage") == "MOUNTING", 10, interval=0.05,
             what="stage MOUNTING")
        assert c.kill(cid).status == 200
        t.join(60)
        proxy.hold(None, 0)
        w = c.wait_ok(cid, timeout=60)
        assert w["state"] == "TASK_KILLED", w
        assert w.get("reason") == "REASON_TASK_KILLED_DURING_LAUNCH", w
        assert getattr(result.get("r"), "status", None) in (500, 200), result
        poll(lambda: docker_ids("berth.agent_id=" + d.agent_id) == [], 30,
             what="no docker container left")
        assert c.remove(cid).status == 200
    finally:
        proxy.hold(None, 0)
        proxy.kill()


@pytest.fixture
def daemons_e2e(request):
    from recovery_util import daemons_fixture
    yield from daemons_fixture(request)


# ----------------------------------------------------------------------------
# signals, create-stage failures, containers removed behind berthd's back


def test_signal_to_terminated_container_is_409(berthd, client, new_id):
    cid = new_id("sig")
    assert client.run(launch_call(cid, "true"))["state"] == "TASK_FINISHED"
    r = client.kill(cid, signal=15)
    assert_text_error(r, 409)
    assert client.kill("nope-" + cid, signal=15).status == 404
    # The termination is untouched.
    assert client.wait_ok(cid)["state"] == "TASK_FINISHED"


def test_signal_to_running_container(berthd, client, new_id):
    """The positive side, so the 409 above is about the stage: SIGUSR1 to a
    running task reaches its trap and nothing more happens."""
    cid = new_id("sigok")
    client.launch_ok(launch_call(cid, "trap 'echo usr1' USR1; echo ready; while true; do usleep 50000; done"))
    poll(lambda: b"ready\n" in stdout_of(berthd, cid), 15, what="ready")
    assert client.kill(cid, signal=int(signal.SIGUSR1)).status == 200
    poll(lambda: b"usr1\n" in stdout_of(berthd, cid), 15, what="the trap's output")
    assert client.container(cid)["stage"] == "RUNNING"
    client.cleanup(cid)


def test_create_stage_failure_names_the_stage(berthd, client, new_id):
    """docker refuses the create: a container not made by berthd already
    has the docker name.  500 naming the stage and docker's cause;
    TASK_FAILED, launch failed; the other container is left alone."""
    cid = new_id("create")
    name = berthd.docker_name(cid)
    docker("create", "--name", name, DEFAULT_IMAGE, "true")
    try:
        r = client.launch(launch_call(cid, "true"))
        assert_text_error(r, 500)
        assert "create container" in r.text and "already in use" in r.text, r.text
        w = client.wait_ok(cid)
        assert (w["state"], w.get("reason")) == ("TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED"), w
        assert "create container" in w.get("message", ""), w
        assert docker_ids("berth.agent_id=" + berthd.agent_id, "berth.container_id=" + cid) == []
        assert docker_exists(name), "berthd removed a container it did not create"
        # (REMOVE then deletes the squatter by name: left to the trust work.)
        assert client.remove(cid).status == 200
    finally:
        docker("rm", "-f", name, check=False)


def test_start_stage_failure_missing_network(berthd, client, new_id):
    """A USER network that does not exist: docker creates the container but
    cannot start it; 500 naming the start stage and the network."""
    cid = new_id("nonet")
    net = "berth-no-such-net-%d" % free_port()
    body = launch_call(cid, "true", network="USER", container_extra={"network_infos": [{"name": net}]})
    r = client.launch(body)
    assert_text_error(r, 500)
    assert "start container" in r.text and net in r.text, r.text
    w = client.wait_ok(cid)
    assert (w["state"], w.get("reason")) == ("TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED"), w
    poll(lambda: docker_ids("berth.agent_id=" + berthd.agent_id, "berth.container_id=" + cid) == [], 20,
         what="the created container removed")


def test_start_stage_failure_port_taken(berthd, client, new_id):
    """A host port already taken on 127.0.0.1: docker creates the container
    but cannot start it; 500 naming the start stage."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        cid = new_id("port")
        r = client.launch(launch_call(cid, "sleep 300", network="BRIDGE", port_mappings=[
            {"host_port": port, "container_port": 80, "protocol": "tcp"}]))
        assert_text_error(r, 500)
        assert "start container" in r.text, r.text
        w = client.wait_ok(cid)
        assert (w["state"], w.get("reason")) == ("TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED"), w
    finally:
        s.close()


def test_container_removed_behind_berthd_back(berthd, client, new_id):
    cid = new_id("gone")
    client.launch_ok(launch_call(cid, "sleep 300"))
    docker("rm", "-f", berthd.docker_name(cid))
    w = client.wait_ok(cid, timeout=60)
    assert w.get("reason") == "REASON_EXECUTOR_TERMINATED", w
    assert w["state"] in ("TASK_FAILED", "TASK_KILLED"), w
    assert w.get("message"), w
    assert client.container(cid)["stage"] == "TERMINATED"


# ----------------------------------------------------------------------------
# the ':' link while the launch is in MOUNTING (docker's create held), so
# the link exists whatever docker later makes of it


def _launch_held_in_mounting(d, proxy, cid):
    proxy.hold("/containers/create", 8)
    result = {}

    def launch():
        try:
            result["r"] = d.client.launch(launch_call(cid, "sleep 300"), timeout=60)
        except Exception as e:
            result["r"] = e
    t = threading.Thread(target=launch)
    t.start()
    poll(lambda: (d.client.container(cid) or {}).get("stage") == "MOUNTING", 10, interval=0.05,
         what="stage MOUNTING")
    return t, result


def test_colon_link_removed_with_killed_launch(daemons_e2e):
    from recovery_util import DockerProxy
    proxy = DockerProxy(os.path.join(daemons_e2e.scratch(), "dp.sock")).start()
    try:
        d = daemons_e2e(docker_socket=proxy.listen_path, colon_work_dir=True)
        cid = "colon-k"
        t, _ = _launch_held_in_mounting(d, proxy, cid)
        link = os.path.join(d.links_dir(), cid)
        assert os.path.islink(link) and os.readlink(link) == d.sandbox(cid), os.listdir(d.links_dir())
        assert d.client.kill(cid).status == 200
        proxy.hold(None, 0)
        t.join(60)
        assert d.client.wait_ok(cid)["state"] == "TASK_KILLED"
        assert d.client.remove(cid).status == 200
        assert not os.path.lexists(link)
        assert os.listdir(d.links_dir()) == []
    finally:
        proxy.hold(None, 0)
        proxy.kill()


def test_colon_link_cleaned_after_crash_in_mounting(daemons_e2e):
    """berthd SIGKILLed while the launch sits in MOUNTING: after the restart
    the launch is failed, and REMOVE leaves no link (the recovery suite's
    leak check, here with a link to find)."""
    from recovery_util import DockerProxy, remove_all_and_check_clean
    proxy = DockerProxy(os.path.join(daemons_e2e.scratch(), "dp.sock")).start()
    try:
        d = daemons_e2e(docker_socket=proxy.listen_path, colon_work_dir=True)
        cid = "colon-c"
        t, _ = _launch_held_in_mounting(d, proxy, cid)
        assert os.path.islink(os.path.join(d.links_dir(), cid))
        d.kill9()
        t.join(60)
        proxy.hold(None, 0)
        d.restart()
        w = d.client.wait_ok(cid)
        assert w["state"] in ("TASK_FAILED", "TASK_KILLED"), w
        assert os.listdir(d.links_dir()) == [cid], "the link went before REMOVE"
        remove_all_and_check_clean(d)
    finally:
        proxy.hold(None, 0)
        proxy.kill()
