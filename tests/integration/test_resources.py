"""Resources (issue: limits, live updates, usage from cgroups, OOM).

Each check reads the container's own cgroup files on the host, found from
/proc/<pid>/cgroup as berthd finds them (cgroup v1 or v2, see
cgroup_util.py), or berthd's resource_statistics, not only docker's config.
"""

import os
import time

import pytest

import cgroup_util
from berthlib import docker_inspect, launch_call, poll, scalar

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")


def cgroup_of(berthd, cid):
    return cgroup_util.of_container(docker_inspect(berthd.docker_name(cid)))


def stats_of(client, cid):
    c = client.container(cid)
    assert c is not None, "container %s not listed" % cid
    return c.get("resource_statistics")


def update_call(cid, resources=None, limits=None):
    u = {"container_id": {"value": cid}}
    if resources is not None:
        u["resources"] = resources
    if limits is not None:
        u["limits"] = limits
    return {"type": "UPDATE_CONTAINER", "update_container": u}


def test_update_up_and_down_reaches_the_cgroup(berthd, client, new_id):
    cid = new_id("upd")
    client.launch_ok(launch_call(cid, "sleep 300", resources=[scalar("cpus", 0.5), scalar("mem", 64)]))
    cgroup_of(berthd, cid).check("shares", 512)
    cgroup_of(berthd, cid).check("limit", 64 << 20)

    r = client.post_call(update_call(cid, [scalar("cpus", 2), scalar("mem", 256)]))
    assert r.status == 200, r
    cgroup_of(berthd, cid).check("shares", 2048)
    cgroup_of(berthd, cid).check("limit", 256 << 20)

    r = client.post_call(update_call(cid, [scalar("cpus", 0.25), scalar("mem", 48)],
                                     limits={"cpus": {"value": 0.5}}))
    assert r.status == 200, r
    cgroup_of(berthd, cid).check("shares", 256)
    cgroup_of(berthd, cid).check("quota", 50000)
    cgroup_of(berthd, cid).check("limit", 48 << 20)

    # Reflected in GET_CONTAINERS: the resources and the cgroup's numbers.
    c = client.container(cid)
    got = {r["name"]: r["scalar"]["value"] for r in c["resources"]}
    assert got == {"cpus": 0.25, "mem": 48}, c
    st = stats_of(client, cid)
    assert st["mem_limit_bytes"] == 48 << 20, st
    assert st["cpus_limit"] == pytest.approx(0.5), st


def test_update_applies_mesos_minimums(berthd, client, new_id):
    cid = new_id("updmin")
    client.launch_ok(launch_call(cid, "sleep 300", resources=[scalar("cpus", 1), scalar("mem", 64)]))
    r = client.post_call(update_call(cid, [scalar("cpus", 0.0001), scalar("mem", 1)]))
    assert r.status == 200, r
    cgroup_of(berthd, cid).check("shares", 2)
    cgroup_of(berthd, cid).check("limit", 32 << 20)


def test_update_errors(berthd, client, new_id):
    r = client.post_call(update_call("nope-upd", [scalar("cpus", 1)]))
    assert r.status == 404, r
    cid = new_id("upddone")
    client.run(launch_call(cid, "true"))
    r = client.post_call(update_call(cid, [scalar("cpus", 1)]))
    assert r.status == 409, r
    cid2 = new_id("updbad")
    client.launch_ok(launch_call(cid2, "sleep 300"))
    r = client.post_call(update_call(cid2, [scalar("cpus", -1)]))
    assert r.status == 400, r
    assert "cpus" in r.text, r


def test_usage_grows_under_a_busy_loop(berthd, client, new_id):
    cid = new_id("busy")
    client.launch_ok(launch_call(cid, "while true; do :; done", resources=[scalar("cpus", 1), scalar("mem", 64)]))
    first = poll(lambda: stats_of(client, cid), 10, what="resource_statistics")
    time.sleep(1.5)
    second = stats_of(client, cid)
    used = lambda s: s["cpus_user_time_secs"] + s["cpus_system_time_secs"]
    assert used(second) > used(first) + 0.3, (first, second)
    assert second["timestamp"] > first["timestamp"]
    assert second["processes"] >= 1 and second["threads"] >= 1, second
    assert second["mem_limit_bytes"] == 64 << 20, second
    assert second["mem_total_bytes"] > 0, second


def test_throttling_counted_under_a_low_quota(berthd, client, new_id):
    cid = new_id("throttle")
    client.launch_ok(launch_call(cid, "while true; do :; done", resources=[scalar("cpus", 0.1)],
                                 limits={"cpus": {"value": 0.1}}))
    st = poll(lambda: (lambda s: s if s and s["cpus_nr_throttled"] > 3 else None)(stats_of(client, cid)),
              10, what="throttled periods")
    assert st["cpus_limit"] == pytest.approx(0.1), st
    assert st["cpus_nr_periods"] >= st["cpus_nr_throttled"] > 0, st
    assert st["cpus_throttled_time_secs"] > 0, st


def test_network_counters_come_from_the_container(berthd, client, new_id):
    """Traffic through a published port on 127.0.0.1 reaches the
    container's eth0: its tx counter grows by at least what was served."""
    import urllib.request
    from berthlib import free_port
    cid = new_id("net")
    port = free_port()
    client.launch_ok(launch_call(
        cid, "head -c 200000 /dev/zero > $MESOS_SANDBOX/blob; exec httpd -f -p 8080 -h $MESOS_SANDBOX",
        network="BRIDGE", port_mappings=[{"host_port": port, "container_port": 8080, "protocol": "tcp"}]))
    url = "http://127.0.0.1:%d/blob" % port

    def fetch():
        with urllib.request.urlopen(url, timeout=5) as r:
            return len(r.read())
    assert poll(fetch, 15, what="httpd serving") == 200000
    before = poll(lambda: stats_of(client, cid), 10, what="resource_statistics")
    for _ in range(3):
        assert fetch() == 200000
    after = stats_of(client, cid)
    assert after["net_tx_bytes"] - before["net_tx_bytes"] >= 3 * 200000, (before, after)
    assert after["net_rx_bytes"] > before["net_rx_bytes"], (before, after)


def test_oom_is_reported_as_memory_limitation(berthd, client, new_id):
    cid = new_id("oom")
    # tail buffers its whole input: /dev/zero has no newline, so it grows
    # until the kernel's OOM killer ends it at the 32 MB limit.
    w = client.run(launch_call(cid, "tail /dev/zero", resources=[scalar("mem", 32)]), timeout=60)
    assert w["state"] == "TASK_FAILED", w
    assert w["reason"] == "REASON_CONTAINER_LIMITATION_MEMORY", w
    assert [r["name"] for r in w["limitation"]["resources"]] == ["mem"], w
    assert "32 MB" in w["message"], w
    m = client.get("/metrics/snapshot").json()
    assert m["containerizer/docker/ooms"] >= 1, m


def test_exit_137_on_its_own_is_not_oom(berthd, client, new_id):
    cid = new_id("e137")
    w = client.run(launch_call(cid, "exit 137", resources=[scalar("mem", 64)]))
    assert w["exit_code"] == 137, w
    assert w["state"] == "TASK_FAILED", w
    assert "reason" not in w and "limitation" not in w, w


def test_update_of_cpus_alone_keeps_mem_in_the_record(berthd, client, new_id):
    cid = new_id("updkeep")
    client.launch_ok(launch_call(cid, "sleep 300", resources=[scalar("cpus", 0.5), scalar("mem", 64)]))
    r = client.post_call(update_call(cid, [scalar("cpus", 1)]))
    assert r.status == 200, r
    got = {r["name"]: r["scalar"]["value"] for r in client.container(cid)["resources"]}
    assert got == {"cpus": 1, "mem": 64}, got
    cgroup_of(berthd, cid).check("limit", 64 << 20)


# ----------------------------------------------------------------------------
# the cgroup finder itself, on recorded kernel files of both layouts (this
# machine has only one of them)


def _fixture_cgroup(name, pid, mountinfo):
    root = os.path.join(FIXTURES, name)
    return cgroup_util.Cgroup(pid, proc_root=os.path.join(root, "proc"),
                              mountinfo=mountinfo % {"cg": os.path.join(root, "cgroup")})


V2_MOUNTINFO = ("24 30 0:22 / /sys rw - sysfs sysfs rw\n"
                "30 24 0:26 / %(cg)s rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n")
V1_MOUNTINFO = "".join("%d 31 0:%d / %%(cg)s/%s rw - cgroup cgroup rw,%s\n" % (32 + i, 29 + i, c, c)
                       for i, c in enumerate(["cpu", "cpuacct", "memory", "pids"]))


def test_cgroup_finder_on_v2_files():
    cg = _fixture_cgroup("cgroup-v2", 4242, V2_MOUNTINFO)
    assert cg.v2
    assert cg.dir("memory").endswith("/cgroup/system.slice/docker-c0ffee.scope")
    assert (cg.value("limit"), cg.value("soft")) == (64 << 20, 32 << 20)
    assert (cg.value("period"), cg.value("quota")) == (100000, 50000)
    assert cg.value("shares") == 100  # cpu.weight
    assert cg.want("shares", 1024) == 39 and cg.want("shares", 2) == 1 and cg.want("shares", 262144) == 10000
    un = _fixture_cgroup("cgroup-v2-unlimited", 7, V2_MOUNTINFO)
    assert (un.value("limit"), un.value("quota")) == (None, None)
    un.check("shares", 1024)
    un.check("limit", None)


def test_cgroup_finder_on_v1_files():
    cg = _fixture_cgroup("cgroup-v1", 4242, V1_MOUNTINFO)
    assert not cg.v2
    assert cg.dir("cpu").endswith("/cgroup/cpu/docker/c0ffee")
    cg.check("shares", 1024)
    cg.check("limit", 64 << 20)
    cg.check("quota", 50000)
