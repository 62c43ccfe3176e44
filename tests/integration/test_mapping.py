"""How a launch maps onto docker: environment, command, resources, network,
host volumes."""

import os
import socket
import urllib.request

import pytest

import cgroup_util
from berthlib import (argv_cmd, docker_inspect, free_port, launch_call, poll,
                      read_file, scalar, shell_cmd)

MiB = 1024 * 1024


def stdout(berthd, cid):
    return read_file(berthd.stdout_path(cid)).decode()


# ----------------------------------------------------------------------------
# environment


def test_environment(berthd, client, new_id):
    cid = new_id("env")
    env = {"FOO": "bar baz", "WITH_EQ": "a=b=c", "EMPTY": "",
           "QUOTE": "it's \"quoted\" $HOME"}
    w = client.run(launch_call(cid, shell_cmd("env", env=env)))
    assert w["state"] == "TASK_FINISHED", w
    lines = stdout(berthd, cid).splitlines()
    got = dict(l.split("=", 1) for l in lines if "=" in l)
    assert got.get("MESOS_SANDBOX") == "/mnt/mesos/sandbox", got
    assert got.get("MESOS_CONTAINER_NAME") == berthd.docker_name(cid), got
    assert got.get("BERTH_CONTAINER_ID") == cid, got
    for k, v in env.items():
        assert got.get(k) == v, (k, got.get(k))


def test_sandbox_is_mounted(berthd, client, new_id):
    """$MESOS_SANDBOX inside is <work_dir>/sandboxes/<id> outside."""
    cid = new_id("mount")
    w = client.run(launch_call(
        cid, 'echo inside > "$MESOS_SANDBOX/made-inside"; pwd'))
    assert w["state"] == "TASK_FINISHED", w
    assert read_file(os.path.join(berthd.sandbox(cid), "made-inside")) == b"inside\n"


# ----------------------------------------------------------------------------
# command


def test_command_shell_true(berthd, client, new_id):
    cid = new_id("sh")
    w = client.run(launch_call(cid, shell_cmd('echo $((1+2)) "$0"')))
    assert w["state"] == "TASK_FINISHED", w
    # Run by /bin/sh -c: arithmetic expansion, $0 is the shell.
    assert stdout(berthd, cid).split()[0] == "3"
    info = docker_inspect(berthd.docker_name(cid))
    cfg = info["Config"]
    assert (cfg["Entrypoint"] or []) + (cfg["Cmd"] or []) == \
        ["/bin/sh", "-c", 'echo $((1+2)) "$0"'], cfg


def test_command_shell_false_value_and_arguments(berthd, client, new_id):
    cid = new_id("argv")
    w = client.run(launch_call(cid, argv_cmd("echo", ["a b", "c"])))
    assert w["state"] == "TASK_FINISHED", w
    assert stdout(berthd, cid) == "a b c\n"


def test_command_shell_false_no_shell_expansion(berthd, client, new_id):
    cid = new_id("argv2")
    w = client.run(launch_call(cid, argv_cmd("echo", ["$HOME", "*", "x;y"])))
    assert w["state"] == "TASK_FINISHED", w
    assert stdout(berthd, cid) == "$HOME * x;y\n"


def test_command_shell_false_exit_code(berthd, client, new_id):
    cid = new_id("argv3")
    w = client.run(launch_call(cid, argv_cmd("sh", ["-c", "exit 6"])))
    assert (w["exit_code"], w["state"]) == (6, "TASK_FAILED"), w


def test_command_image_default(berthd, client, new_id):
    """Neither value nor arguments: the image's CMD (/bin/sh), which exits 0
    at once with no stdin."""
    cid = new_id("default")
    w = client.run(launch_call(cid, argv_cmd()), timeout=60)
    assert w["state"] == "TASK_FINISHED", w
    assert w["exit_code"] == 0, w
    cfg = docker_inspect(berthd.docker_name(cid))["Config"]
    assert cfg["Cmd"] == ["/bin/sh"], cfg


# ----------------------------------------------------------------------------
# resources

RESOURCE_CASES = [
    # id, resources, limits, expected HostConfig subset, expected cgroup values
    ("cpus-0.5", [scalar("cpus", 0.5)], None,
     {"CpuShares": 512}, {"shares": 512, "quota": None}),
    ("cpus-0.001", [scalar("cpus", 0.001)], None,
     {"CpuShares": 2}, {"shares": 2}),
    ("mem-64", [scalar("mem", 64)], None,
     {"Memory": 64 * MiB}, {"limit": 64 * MiB}),
    ("mem-8", [scalar("mem", 8)], None,
     {"Memory": 32 * MiB}, {"limit": 32 * MiB}),
    ("cpus-limit-1", [scalar("cpus", 0.5)], {"cpus": {"value": 1.0}},
     {"CpuShares": 512, "CpuPeriod": 100000, "CpuQuota": 100000},
     {"shares": 512, "period": 100000, "quota": 100000}),
    ("mem-limit-128", [scalar("mem", 64)], {"mem": {"value": 128}},
     {"Memory": 128 * MiB, "MemoryReservation": 64 * MiB},
     {"limit": 128 * MiB, "soft": 64 * MiB}),
]


@pytest.mark.parametrize("name,resources,limits,hostcfg,cgroup", RESOURCE_CASES,
                         ids=[c[0] for c in RESOURCE_CASES])
def test_resources(berthd, client, new_id, name, resources, limits, hostcfg,
                   cgroup):
    cid = new_id("res")
    # Running, so its cgroup exists to be read from the host.
    client.launch_ok(launch_call(cid, "sleep 300", resources=resources, limits=limits))
    inspect = docker_inspect(berthd.docker_name(cid))
    hc = inspect["HostConfig"]
    for k, v in hostcfg.items():
        assert hc.get(k) == v, "HostConfig.%s = %r, want %r" % (k, hc.get(k), v)
    cg = cgroup_util.of_container(inspect)
    for k, v in cgroup.items():
        cg.check(k, v)
    client.cleanup(cid)


def test_resources_no_cfs_without_flag_or_limit(berthd, client, new_id):
    cid = new_id("nocfs")
    client.run(launch_call(cid, "true", resources=[scalar("cpus", 1)]))
    hc = docker_inspect(berthd.docker_name(cid))["HostConfig"]
    assert hc.get("CpuShares") == 1024, hc
    assert not hc.get("CpuQuota"), hc


def test_resources_cfs_flag(berthd_factory):
    d = berthd_factory("--cgroups_enable_cfs")
    cid = "cfs-1"
    try:
        d.client.launch_ok(launch_call(cid, "sleep 300", resources=[scalar("cpus", 0.25)]))
        inspect = docker_inspect(d.docker_name(cid))
        hc = inspect["HostConfig"]
        assert (hc.get("CpuShares"), hc.get("CpuPeriod"), hc.get("CpuQuota")) \
            == (256, 100000, 25000), hc
        cg = cgroup_util.of_container(inspect)
        for k, v in (("shares", 256), ("period", 100000), ("quota", 25000)):
            cg.check(k, v)
    finally:
        d.client.cleanup(cid)


# ----------------------------------------------------------------------------
# network


def test_network_host(berthd, client, new_id):
    cid = new_id("nethost")
    w = client.run(launch_call(cid, "hostname", network="HOST"))
    assert w["state"] == "TASK_FINISHED", w
    assert stdout(berthd, cid).strip() == socket.gethostname()
    hc = docker_inspect(berthd.docker_name(cid))["HostConfig"]
    assert hc["NetworkMode"] == "host", hc["NetworkMode"]


def test_network_none(berthd, client, new_id):
    cid = new_id("netnone")
    w = client.run(launch_call(cid, "cat /proc/net/dev", network="NONE"))
    assert w["state"] == "TASK_FINISHED", w
    lines = stdout(berthd, cid).splitlines()[2:]   # two header lines
    ifaces = sorted(l.split(":")[0].strip() for l in lines if ":" in l)
    assert ifaces == ["lo"], ifaces


def test_network_bridge_port_mapping(berthd, client, new_id):
    cid = new_id("netbridge")
    port = free_port()
    token = "hello from %s" % cid
    client.launch_ok(launch_call(
        cid,
        'echo "%s" > "$MESOS_SANDBOX/index.html"; '
        'exec httpd -f -p 8080 -h "$MESOS_SANDBOX"' % token,
        network="BRIDGE",
        port_mappings=[{"host_port": port, "container_port": 8080,
                        "protocol": "tcp"}]))
    url = "http://127.0.0.1:%d/index.html" % port

    def fetch():
        with urllib.request.urlopen(url, timeout=5) as f:
            return f.status == 200 and f.read()

    body = poll(fetch, 20, interval=0.3, what="GET " + url)
    assert body == (token + "\n").encode()
    hc = docker_inspect(berthd.docker_name(cid))["HostConfig"]
    assert hc["NetworkMode"] in ("bridge", "default"), hc["NetworkMode"]
    assert client.kill(cid).status == 200
    assert client.wait_ok(cid, timeout=30)["state"] == "TASK_KILLED"


# ----------------------------------------------------------------------------
# host volumes


def test_host_volume_ro(berthd, client, new_id):
    cid = new_id("volro")
    host = os.path.join(berthd.allowed_dir, "ro-data")
    os.makedirs(host)
    with open(os.path.join(host, "data.txt"), "w") as f:
        f.write("from the host\n")
    w = client.run(launch_call(
        cid,
        "cat /data/data.txt; "
        "if touch /data/new 2>/dev/null; then echo writable; "
        "else echo readonly; fi",
        volumes=[{"container_path": "/data", "host_path": host,
                  "mode": "RO"}]))
    assert w["state"] == "TASK_FINISHED", (w, read_file(berthd.stderr_path(cid)))
    assert stdout(berthd, cid) == "from the host\nreadonly\n"
    assert not os.path.exists(os.path.join(host, "new"))


def test_host_volume_rw(berthd, client, new_id):
    cid = new_id("volrw")
    host = os.path.join(berthd.allowed_dir, "rw-data")
    os.makedirs(host)
    with open(os.path.join(host, "in.txt"), "w") as f:
        f.write("input\n")
    w = client.run(launch_call(
        cid, "cat /rw/in.txt; echo written > /rw/out.txt",
        volumes=[{"container_path": "/rw", "host_path": host, "mode": "RW"}]))
    assert w["state"] == "TASK_FINISHED", (w, read_file(berthd.stderr_path(cid)))
    assert stdout(berthd, cid) == "input\n"
    assert read_file(os.path.join(host, "out.txt")) == b"written\n"
    # REMOVE leaves the host's data alone.
    assert client.remove(cid).status == 200
    assert read_file(os.path.join(host, "out.txt")) == b"written\n"
