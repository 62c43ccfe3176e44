"""docker.parameters, OCI runtimes, --default_container_dns, network_infos
and UPDATE of persistent volumes, against a real berthd and dockerd.

Every parameter is checked where Docker keeps it (`docker inspect`, through
/usr/bin/docker: the docker on PATH may be another client version) and,
where it shows, inside the container. Nothing here connects to a container
address.
"""

import ipaddress
import json
import os
import subprocess

import pytest

import berthlib
import conftest
from berthlib import assert_text_error, launch_call, scalar, shell_cmd

DOCKER = "/usr/bin/docker"

# 192.0.2.0/24 is TEST-NET-1: addresses that are never anyone's resolver;
# the containers only read /etc/resolv.conf, they never resolve a name.
DEFAULT_DNS = {"docker": [
    {"network_mode": "BRIDGE",
     "dns": {"nameservers": ["192.0.2.53"], "search": ["bridge.berth.test"],
             "options": ["ndots:3"]}},
    {"network_mode": "HOST",
     "dns": {"nameservers": ["192.0.2.54"], "search": ["host.berth.test"]}},
]}

BERTHD_FLAGS = ["--docker_allowed_runtimes=runc,crun",
                "--default_container_dns=" + json.dumps(DEFAULT_DNS)]


def dk(*args, check=True):
    p = subprocess.run([DOCKER] + list(args), capture_output=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError("docker %s: %s" % (" ".join(args), p.stderr.decode(errors="replace")))
    return p


def inspect(berthd, cid):
    return json.loads(dk("inspect", berthd.docker_name(cid)).stdout)[0]


def docker_exists(berthd, cid):
    return dk("inspect", berthd.docker_name(cid), check=False).returncode == 0


def params(*pairs):
    return {"parameters": [{"key": k, "value": v} for k, v in pairs]}


def run_task(berthd, cid, command, pairs=(), **kw):
    """Launch, wait, and return (wait result, inspect, stdout text)."""
    body = launch_call(cid, command, docker_extra=params(*pairs), **kw)
    r = berthd.client.launch(body)
    assert r.status == 200, r.text
    end = berthd.client.wait_ok(cid)
    info = inspect(berthd, cid)
    with open(berthd.stdout_path(cid), "rb") as f:
        out = f.read().decode()
    return end, info, out


def assert_refused_without_trace(berthd, cid, body, words):
    """400 naming every word, and nothing left behind."""
    r = berthd.client.launch(body)
    assert_text_error(r, 400)
    for w in words:
        assert w in r.text, (w, r.text)
    assert not docker_exists(berthd, cid)
    assert not os.path.exists(berthd.sandbox(cid))
    assert berthd.client.container(cid) is None


# --- each parameter, in inspect and inside ------------------------------------


def test_parameters_reach_docker_and_the_container(berthd, new_id):
    cid = new_id("params")
    script = ("ulimit -n; ulimit -Hn; cat /etc/hosts; "
              "if touch /rootfile 2>/dev/null; then echo ROOT-WRITABLE; else echo ROOT-READONLY; fi; "
              "echo hi > /scratch/f && cat /scratch/f | sed s/^/TMPFS-/; "
              "echo PIDS-$(cat /sys/fs/cgroup/pids/pids.max); echo SHMMAX-$(cat /proc/sys/kernel/shmmax); "
              "echo ENV-$E1-$E2; echo OOM-$(cat /proc/self/oom_score_adj); echo PID1-$(cat /proc/1/comm); "
              "df -k /dev/shm | tail -1")
    pairs = [("ulimit", "nofile=512:1024"), ("add-host", "db.berth.test:10.1.2.3"),
             ("read-only", "true"), ("tmpfs", "/scratch:size=1m"), ("pids-limit", "64"),
             ("sysctl", "kernel.shmmax=100000000"), ("env", "E1=one"), ("env", "E2=two"),
             ("label", "team=web"), ("label", "tier=db"), ("cap-drop", "net_raw"), ("cap-drop", "MKNOD"),
             ("shm-size", "32m"), ("init", "true"), ("oom-score-adj", "300"), ("memory-swap", "256m")]
    end, info, out = run_task(berthd, cid, script, pairs, resources=[scalar("mem", 64)])
    assert end["state"] == "TASK_FINISHED", (end, out)
    hc, cfg = info["HostConfig"], info["Config"]
    assert hc["Ulimits"] == [{"Name": "nofile", "Soft": 512, "Hard": 1024}]
    assert hc["ExtraHosts"] == ["db.berth.test:10.1.2.3"]
    assert hc["ReadonlyRootfs"] is True
    assert hc["Tmpfs"] == {"/scratch": "size=1m"}
    assert hc["PidsLimit"] == 64
    assert hc["Sysctls"] == {"kernel.shmmax": "100000000"}
    assert "E1=one" in cfg["Env"] and "E2=two" in cfg["Env"]
    assert cfg["Labels"]["team"] == "web" and cfg["Labels"]["tier"] == "db"
    assert cfg["Labels"]["berth.container_id"] == cid
    assert hc["CapDrop"] == ["CAP_NET_RAW", "CAP_MKNOD"]
    assert hc["ShmSize"] == 32 << 20
    assert hc["Init"] is True
    assert hc["OomScoreAdj"] == 300
    assert hc["Memory"] == 64 << 20 and hc["MemorySwap"] == 256 << 20
    assert hc["Runtime"] == "runc"  # --docker_runtime's default
    lines = out.split("\n")
    assert lines[0] == "512" and lines[1] == "1024", out
    assert "10.1.2.3\tdb.berth.test" in out
    assert "ROOT-READONLY" in out
    assert "TMPFS-hi" in out
    assert "PIDS-64" in out
    assert "SHMMAX-100000000" in out
    assert "ENV-one-two" in out
    assert "OOM-300" in out
    assert "PID1-docker-init" in out
    assert " 32768 " in out  # /dev/shm of 32 MiB, in 1k blocks


def test_user_and_workdir(berthd, new_id):
    cid = new_id("user")
    end, info, out = run_task(berthd, cid, "id -u; pwd", [("user", "65534:65534"), ("workdir", "/tmp")])
    assert end["state"] == "TASK_FINISHED", out
    assert info["Config"]["User"] == "65534:65534"
    assert info["Config"]["WorkingDir"] == "/tmp"
    assert out.split("\n")[:2] == ["65534", "/tmp"]


def test_without_parameters_workdir_is_the_sandbox(berthd, new_id):
    cid = new_id("plain")
    end, info, out = run_task(berthd, cid, "pwd; id -u")
    assert out.split("\n")[:2] == ["/mnt/mesos/sandbox", "0"]
    assert info["HostConfig"]["ReadonlyRootfs"] is False


def test_env_parameter_cannot_replace_berth_variables(berthd, new_id):
    cid = new_id("env")
    body = launch_call(cid, "true", docker_extra=params(("env", "MESOS_SANDBOX=/elsewhere")))
    assert_refused_without_trace(berthd, cid, body, ["MESOS_SANDBOX", "env", "container.docker.parameters[0]"])


def test_user_parameter_contradicting_command_user(berthd, new_id):
    cid = new_id("users")
    cmd = shell_cmd("true")
    cmd["user"] = "nobody"
    body = launch_call(cid, cmd, docker_extra=params(("user", "root")))
    assert_refused_without_trace(berthd, cid, body, ["command.user", "root"])


def test_memory_swap_below_memory(berthd, new_id):
    cid = new_id("swap")
    body = launch_call(cid, "true", resources=[scalar("mem", 128)],
                       docker_extra=params(("memory-swap", "64m")))
    assert_refused_without_trace(berthd, cid, body, ["memory-swap", "below"])


# --- runtimes -------------------------------------------------------------------


def test_task_on_crun(berthd, new_id):
    cid = new_id("crun")
    end, info, out = run_task(berthd, cid, "echo on-crun", [("runtime", "crun")])
    assert info["HostConfig"]["Runtime"] == "crun"
    assert end["state"] == "TASK_FINISHED" and end["exit_code"] == 0, (end, out)
    assert out == "on-crun\n"


def test_runtime_not_allowed(berthd, new_id):
    # runc and crun are allowed here; dockerd's own io.containerd.runc.v2 is not.
    cid = new_id("rt")
    body = launch_call(cid, "true", docker_extra=params(("runtime", "io.containerd.runc.v2")))
    assert_refused_without_trace(berthd, cid, body, ["io.containerd.runc.v2", "--docker_allowed_runtimes"])


def test_docker_runtime_sets_the_default(berthd_factory, new_id):
    d = berthd_factory("--docker_allowed_runtimes=runc,crun", "--docker_runtime=crun")
    cid = new_id("dflt")
    try:
        end, info, out = run_task(d, cid, "echo hi")
        assert info["HostConfig"]["Runtime"] == "crun"
        assert end["state"] == "TASK_FINISHED", out
    finally:
        d.client.cleanup(cid)


# --- refusals ---------------------------------------------------------------------


@pytest.mark.parametrize("key,value,words", [
    ("volume", "/etc:/x", ["'volume'", "key"]),
    ("network", "host", ["'network'", "key"]),
    ("ulimit", "nofile=lots", ["ulimit", "nofile=lots"]),
    ("ulimit", "nofile=2048:1024", ["ulimit", "nofile=2048:1024"]),
    ("ulimit", "open-files=1", ["ulimit", "open-files=1"]),
    ("shm-size", "64q", ["shm-size", "64q"]),
    ("memory-swap", "-2", ["memory-swap", "-2"]),
    ("read-only", "yes", ["read-only", "yes"]),
    ("init", "maybe", ["init", "maybe"]),
    ("tmpfs", "relative", ["tmpfs", "relative"]),
    ("dns", "not-an-ip", ["dns", "not-an-ip"]),
    ("dns-search", "bad domain", ["dns-search", "bad domain"]),
    ("add-host", "nohost", ["add-host", "nohost"]),
    ("add-host", "db:999.1.1.1", ["add-host", "db:999.1.1.1"]),
    ("pids-limit", "ten", ["pids-limit", "ten"]),
    ("oom-score-adj", "2000", ["oom-score-adj", "2000"]),
    ("oom-score-adj", "-100", ["oom-score-adj", "--allow_privileged"]),
    ("sysctl", "kernel.panic=1", ["sysctl", "kernel.panic=1"]),
    ("cap-drop", "NOT_A_CAP", ["cap-drop", "NOT_A_CAP"]),
    ("user", "a b", ["user", "a b"]),
    ("workdir", "tmp", ["workdir", "tmp"]),
    ("env", "NOVALUE", ["env", "NOVALUE"]),
    ("label", "berth.agent_id=x", ["label", "berth.agent_id=x"]),
])
def test_bad_parameter_is_400_without_side_effect(berthd, new_id, key, value, words):
    cid = new_id("bad")
    body = launch_call(cid, "true", docker_extra=params(("label", "ok=1"), (key, value)))
    assert_refused_without_trace(berthd, cid, body, ["container.docker.parameters[1]"] + words)


PRIVILEGED = [("cap-add", "NET_ADMIN"), ("device", "/dev/null:/dev/berth-null:rw"),
              ("security-opt", "no-new-privileges"), ("privileged", "true")]


@pytest.mark.parametrize("key,value", PRIVILEGED)
def test_privilege_widening_refused_without_flag(berthd, new_id, key, value):
    cid = new_id("priv")
    body = launch_call(cid, "true", docker_extra=params((key, value)))
    assert_refused_without_trace(berthd, cid, body, [key, "--allow_privileged"])


def test_privilege_widening_accepted_with_flag(berthd_factory, new_id):
    """Create config only: these machines may refuse to start such
    containers, so either start outcome is accepted."""
    d = berthd_factory("--allow_privileged")
    cid = new_id("privok")
    body = launch_call(cid, "sleep 30", docker_extra=params(
        ("cap-add", "NET_ADMIN"), ("cap-add", "sys_ptrace"), ("device", "/dev/null:/dev/berth-null:rw"),
        ("security-opt", "no-new-privileges")))
    try:
        r = d.client.launch(body)
        if r.status == 200:
            hc = inspect(d, cid)["HostConfig"]
            assert hc["CapAdd"] == ["CAP_NET_ADMIN", "CAP_SYS_PTRACE"]
            assert hc["Devices"] == [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/berth-null",
                                      "CgroupPermissions": "rw"}]
            assert hc["SecurityOpt"] == ["no-new-privileges"]
        else:
            # Not refused as a request: dockerd took the create, the start failed.
            assert r.status == 500 and "start container" in r.text, r.text
    finally:
        d.client.cleanup(cid)


def test_privileged_parameter_accepted_with_flag(berthd_factory, new_id):
    d = berthd_factory("--allow_privileged")
    cid = new_id("privp")
    body = launch_call(cid, "true", docker_extra=params(("privileged", "true")))
    try:
        r = d.client.launch(body)
        if r.status == 200:
            assert inspect(d, cid)["HostConfig"]["Privileged"] is True
        else:
            assert r.status == 500 and "start container" in r.text, r.text
    finally:
        d.client.cleanup(cid)


# --- default DNS -------------------------------------------------------------------


def resolv_conf(berthd, new_id, network, pairs=()):
    cid = new_id("dns")
    end, info, out = run_task(berthd, cid, "cat /etc/resolv.conf", pairs, network=network)
    assert end["state"] == "TASK_FINISHED", out
    return info["HostConfig"], out


def test_default_dns_bridge(berthd, new_id):
    hc, conf = resolv_conf(berthd, new_id, "BRIDGE")
    assert hc["Dns"] == ["192.0.2.53"] and hc["DnsSearch"] == ["bridge.berth.test"]
    assert hc["DnsOptions"] == ["ndots:3"]
    assert "nameserver 192.0.2.53" in conf
    assert "search bridge.berth.test" in conf
    assert "options ndots:3" in conf


def test_default_dns_host(berthd, new_id):
    # dockerd writes the given DNS into a host-network container's own
    # resolv.conf too (20.10), instead of the host's copy.
    hc, conf = resolv_conf(berthd, new_id, "HOST")
    assert hc["Dns"] == ["192.0.2.54"] and hc["DnsSearch"] == ["host.berth.test"]
    assert "nameserver 192.0.2.54" in conf
    assert "search host.berth.test" in conf


def test_task_dns_wins_field_by_field(berthd, new_id):
    hc, conf = resolv_conf(berthd, new_id, "BRIDGE", [("dns", "192.0.2.99")])
    assert hc["Dns"] == ["192.0.2.99"]
    assert "nameserver 192.0.2.99" in conf and "192.0.2.53" not in conf
    # The search list and options the task did not set are still the default's.
    assert "search bridge.berth.test" in conf
    hc, conf = resolv_conf(berthd, new_id, "BRIDGE", [("dns-search", "mine.test")])
    assert "search mine.test" in conf and "bridge.berth.test" not in conf
    assert "nameserver 192.0.2.53" in conf


def test_no_default_dns_for_none(berthd, new_id):
    hc, conf = resolv_conf(berthd, new_id, "NONE")
    assert not hc.get("Dns")
    assert "192.0.2." not in conf


@pytest.mark.parametrize("flags,words", [
    (["--default_container_dns={not json"], ["--default_container_dns", "JSON"]),
    (['--default_container_dns={"docker": [{"network_mode": "BRIDGE", "dns": {"nameservers": ["x"]}}]}'],
     ["--default_container_dns", "'x'"]),
    (["--docker_runtime=crun"], ["--docker_runtime", "crun", "--docker_allowed_runtimes"]),
])
def test_bad_flags_refuse_to_start(flags, words, tmp_path):
    p = subprocess.run([conftest.BERTHD,
                        "--work_dir=%s" % tmp_path, "--listen=unix:%s/s.sock" % tmp_path] + flags,
                       capture_output=True, timeout=30)
    assert p.returncode != 0
    err = p.stderr.decode()
    for w in words:
        assert w in err, err
    assert not os.path.exists(os.path.join(str(tmp_path), "s.sock"))


# --- network_infos -------------------------------------------------------------------


def test_network_infos_for_bridge(berthd, new_id):
    cid = new_id("net")
    berthd.client.launch_ok(launch_call(cid, "sleep 30", network="BRIDGE"))
    try:
        def infos():
            c = berthd.client.container(cid)
            return c["container_status"].get("network_infos")
        got = berthlib.poll(infos, 10, what="network_infos")
        assert len(got) == 1 and got[0]["name"] == "bridge", got
        addrs = got[0]["ip_addresses"]
        assert addrs[0]["protocol"] == "IPv4"
        assert isinstance(ipaddress.ip_address(addrs[0]["ip_address"]), ipaddress.IPv4Address)
        net = inspect(berthd, cid)["NetworkSettings"]["Networks"]["bridge"]
        assert addrs[0]["ip_address"] == net["IPAddress"]
    finally:
        berthd.client.cleanup(cid)


def test_no_network_infos_for_host(berthd, new_id):
    cid = new_id("hnet")
    berthd.client.launch_ok(launch_call(cid, "sleep 30", network="HOST"))
    try:
        c = berthd.client.container(cid)
        assert c["stage"] == "RUNNING"
        assert "network_infos" not in c["container_status"]
    finally:
        berthd.client.cleanup(cid)


# --- UPDATE and persistent volumes ----------------------------------------------------


def disk(pid, path, mode="RW"):
    return {"name": "disk", "type": "SCALAR", "scalar": {"value": 16},
            "disk": {"persistence": {"id": pid}, "volume": {"container_path": path, "mode": mode}}}


def update(client, cid, resources):
    return client.post_call({"type": "UPDATE_CONTAINER", "update_container": {
        "container_id": {"value": cid}, "resources": resources}})


def test_update_changing_persistent_volumes_is_409(berthd, new_id):
    cid = new_id("pv")
    pid = "pv-" + cid
    berthd.client.launch_ok(launch_call(cid, "sleep 30", resources=[scalar("mem", 64), disk(pid, "data")]))
    try:
        binds_before = inspect(berthd, cid)["HostConfig"]["Binds"]
        r = update(berthd.client, cid, [scalar("mem", 96), disk(pid + "-new", "more")])
        assert_text_error(r, 409)
        assert pid + "-new" in r.text and "adds" in r.text and "drops" in r.text and pid in r.text
        r = update(berthd.client, cid, [scalar("mem", 96)])  # no disk: volumes kept
        assert r.status == 200, r.text
        r = update(berthd.client, cid, [disk(pid, "data", "RO"), scalar("mem", 96)])
        assert_text_error(r, 409)
        r = update(berthd.client, cid, [disk(pid, "data"), scalar("mem", 128)])  # same set
        assert r.status == 200, r.text
        info = inspect(berthd, cid)
        assert info["HostConfig"]["Binds"] == binds_before
        assert info["HostConfig"]["Memory"] == 128 << 20
        res = berthd.client.container(cid)["resources"]
        assert [x["disk"]["persistence"]["id"] for x in res if x["name"] == "disk"] == [pid]
    finally:
        berthd.client.cleanup(cid)


def test_memory_swap_task_recovers_after_mem_update(berthd_factory, new_id):
    """A launch with memory-swap whose mem is later raised above it must
    still be readable when berthd restarts (the check is the launch's)."""
    d = berthd_factory()
    cid = new_id("swaprec")
    d.client.launch_ok(launch_call(cid, "sleep 30", resources=[scalar("mem", 64)],
                                   docker_extra=params(("memory-swap", "128m"))))
    try:
        r = update(d.client, cid, [scalar("mem", 256)])
        assert r.status == 200, r.text
        d.proc.kill()
        d.proc.wait(timeout=10)
        d.restart()
        c = d.client.container(cid)
        assert c["stage"] == "RUNNING"
        with open(d.log_path) as f:
            assert "stored launch unreadable" not in f.read()
    finally:
        d.client.cleanup(cid)


def test_network_infos_for_user_network(berthd, new_id):
    net = "berth-h4-" + berthd.agent_id
    dk("network", "create", "--driver", "bridge", net)
    cid = new_id("unet")
    try:
        berthd.client.launch_ok(launch_call(cid, "sleep 30", network="USER",
                                            container_extra={"network_infos": [{"name": net}]}))
        got = berthlib.poll(lambda: berthd.client.container(cid)["container_status"].get("network_infos"), 10,
                            what="network_infos")
        assert [i["name"] for i in got] == [net]
        addr = got[0]["ip_addresses"][0]
        assert addr["protocol"] == "IPv4"
        assert addr["ip_address"] == inspect(berthd, cid)["NetworkSettings"]["Networks"][net]["IPAddress"]
        ipaddress.IPv4Address(addr["ip_address"])
    finally:
        berthd.client.cleanup(cid)
        dk("network", "rm", net, check=False)
