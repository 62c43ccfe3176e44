"""What a docker user reaches for in the `berth` CLI (issue 17): ps -q,
--filter and --format, rm -f, prune, version, id prefixes, global options
anywhere, ports bound to one address, docker run's exit codes 127/126, and
honest answers (refused updates, raised minimums, one wording for an
unknown id, rounded numbers, '-' for what stats cannot know)."""

import json
import os
import secrets
import socket
import subprocess
import urllib.request

import pytest

import conftest
from berthlib import (assert_text_error, docker_ids, docker_inspect, free_port,
                      launch_call, poll, scalar)
from conftest import BERTH_CLI


@pytest.fixture(scope="module")
def cli(berthd):
    """berth with BERTH_ADDR set; addr=False leaves it to the arguments."""
    if not os.access(BERTH_CLI, os.X_OK):
        pytest.fail("berth CLI not built: %s is missing" % BERTH_CLI)

    def run(*args, timeout=60, addr=True, stdin=subprocess.DEVNULL):
        e = dict(os.environ)
        e.pop("BERTH_ADDR", None)
        if addr:
            e["BERTH_ADDR"] = berthd.addr
        try:
            return subprocess.run([BERTH_CLI] + list(args), capture_output=True,
                                  timeout=timeout, stdin=stdin, env=e)
        except subprocess.TimeoutExpired:
            raise AssertionError("berth %s did not finish in %ds" % (" ".join(args), timeout))
    return run


@pytest.fixture
def ids(berthd):
    """Unique container ids for one test, removed (killed first) after it."""
    tag = secrets.token_hex(3)
    made = []

    def make(name):
        cid = "%s-%s" % (name, tag)
        made.append(cid)
        return cid

    yield make
    for cid in made:
        berthd.client.cleanup(cid, timeout=60)


def out(p):
    return p.stdout.decode()


def err(p):
    return p.stderr.decode()


def lines(p):
    return out(p).split()


def finished(berthd, cid, command="true", **kw):
    """A container that ran to its end."""
    w = berthd.client.run(launch_call(cid, command, **kw), timeout=60)
    return w


def running(berthd, cid, **kw):
    berthd.client.launch_ok(launch_call(cid, "sleep 300", **kw))


def labelled(*pairs):
    return {"parameters": [{"key": "label", "value": "%s=%s" % p} for p in pairs]}


# --- ps -q, --filter, --format -------------------------------------------------


def test_rm_of_ps_aq_removes_every_container(berthd, cli, ids):
    a, b = ids("rmall-a"), ids("rmall-b")
    finished(berthd, a)
    finished(berthd, b, "exit 3")
    p = cli("ps", "-aq")
    assert p.returncode == 0, p
    assert set(lines(p)) >= {a, b}, p
    p = cli("rm", *lines(p))
    assert p.returncode == 0, p
    assert set(lines(p)) >= {a, b}, p
    assert berthd.client.container(a) is None and berthd.client.container(b) is None
    assert a not in lines(cli("ps", "-aq"))


def test_ps_quiet_and_filters(berthd, cli, ids):
    web, db, failed = ids("flt-web"), ids("flt-db"), ids("flt-failed")
    running(berthd, web, docker_extra=labelled(("team", "web"), ("tier", "1")))
    running(berthd, db, docker_extra=labelled(("team", "db")))
    finished(berthd, failed, "exit 3", docker_extra=labelled(("team", "web")))
    mine = {web, db, failed}

    def q(*flags):
        p = cli("ps", "-q", *flags)
        assert p.returncode == 0, p
        return [i for i in lines(p) if i in mine]

    assert q() == [web, db]
    assert q("-a") == [web, db, failed]
    assert q("--filter", "status=running") == [web, db]
    assert q("--filter", "status=failed") == [failed]           # ended: no -a needed
    assert q("--filter", "status=TASK_FAILED") == [failed]
    assert q("-a", "--filter", "status=exited") == [failed]
    assert q("-a", "--filter", "label=team=web") == [web, failed]
    assert q("-a", "--filter", "label=tier") == [web]
    assert q("-a", "-f", "label=team=web", "-f", "status=running") == [web]   # keys AND
    assert q("-a", "-f", "status=running", "-f", "status=failed") == [web, db, failed]  # one key ORs
    assert q("-a", "--filter", "name=flt-d") == [db]
    assert q("-aqf", "name=flt-w") == [web]                     # bundled short flags
    for bad in ("status=sleeping", "colour=red", "label=", "status"):
        p = cli("ps", "--filter", bad)
        assert p.returncode == 125, p
        assert bad in err(p), p


def test_ps_format_and_reason(berthd, cli, ids):
    ok, oom = ids("fmt-ok"), ids("fmt-oom")
    running(berthd, ok, docker_extra=labelled(("team", "web")))
    # tail buffers /dev/zero whole until the OOM killer ends it at 32 MB.
    w = finished(berthd, oom, "tail /dev/zero", resources=[scalar("mem", 32)])
    assert w["reason"] == "REASON_CONTAINER_LIMITATION_MEMORY", w

    p = cli("ps", "-a", "--format", "{{.ID}}|{{.Image}}|{{.State}}|{{.Reason}}|{{.ExitCode}}|{{.Label \"team\"}}")
    assert p.returncode == 0, p
    rows = {r.split("|")[0]: r for r in out(p).splitlines()}
    assert rows[ok] == "%s|busybox:local|RUNNING|||web" % ok, rows
    assert rows[oom] == "%s|busybox:local|TASK_FAILED|out of memory|137|" % oom, rows

    p = cli("ps", "-a", "--filter", "name=" + oom)
    assert p.returncode == 0, p
    assert "TASK_FAILED (137, out of memory)" in out(p), p

    p = cli("ps", "-a", "--filter", "name=fmt-", "--format", r"table {{.ID}}\t{{.Status}}")
    assert p.returncode == 0, p
    head, *body = out(p).splitlines()
    assert head.split() == ["CONTAINER", "ID", "STATUS"], p
    assert sorted(r.split()[0] for r in body) == sorted([ok, oom]), p
    assert head.index("STATUS") == body[0].index(body[0].split()[1]), p   # aligned

    p = cli("ps", "-a", "--filter", "name=" + ok, "--format", "{{json .}}")
    assert json.loads(out(p))["container_id"]["value"] == ok, p

    for bad, named in (("{{.Nope}}", "{{.Nope}}"), ("{{.ID", "without '}}'"),
                       ("{{.Label team}}", "{{.Label team}}")):
        p = cli("ps", "--format", bad)
        assert p.returncode == 125, p
        assert named in err(p), p


# --- rm -f, prune, version -----------------------------------------------------


def test_rm_force_kills_waits_and_removes(berthd, cli, ids):
    cid = ids("rmf")
    # A grace period longer than the call's timeout: rm -f must not wait it out.
    berthd.client.launch_ok(launch_call(cid, "trap '' TERM; sleep 300", grace_secs=600))
    name = berthd.docker_name(cid)
    p = cli("rm", cid)
    assert p.returncode == 1, p        # without -f a running container stays
    assert berthd.client.container(cid)["stage"] == "RUNNING"
    p = cli("rm", "-f", cid, timeout=60)
    assert p.returncode == 0, p
    assert lines(p) == [cid], p
    assert berthd.client.container(cid) is None
    assert docker_ids("name=" + name) == []


def test_prune_removes_terminated_only(berthd, cli, ids):
    done, live = ids("prune-done"), ids("prune-live")
    finished(berthd, done)
    running(berthd, live)
    # Not a terminal: no question asked, nothing removed, told to use -f.
    p = cli("prune")
    assert p.returncode == 125, p
    assert "-f" in err(p), p
    assert berthd.client.container(done) is not None
    p = cli("prune", "-f")
    assert p.returncode == 0, p
    assert done in lines(p) and live not in lines(p), p
    assert berthd.client.container(done) is None
    assert berthd.client.container(live)["stage"] == "RUNNING"


def test_prune_asks_on_a_terminal(berthd, ids):
    import pty
    done = ids("prune-tty")
    finished(berthd, done)
    e = dict(os.environ, BERTH_ADDR=berthd.addr)
    for answer, removed in ((b"n\n", False), (b"y\n", True)):
        m, s = pty.openpty()
        try:
            p = subprocess.Popen([BERTH_CLI, "prune"], stdin=s, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=e)
            os.close(s)
            s = -1
            os.write(m, answer)
            o, er = p.communicate(timeout=60)
        finally:
            os.close(m)
            if s >= 0:
                os.close(s)
        assert p.returncode == 0, (o, er)
        assert b"Are you sure" in er, er
        assert (done.encode() in o.split()) == removed, o
        assert (berthd.client.container(done) is None) == removed


def test_version_shows_client_server_and_docker_api(berthd, cli):
    v = berthd.client.get("/version").json()
    p = cli("version")
    assert p.returncode == 0, p
    text = out(p)
    assert "Client:" in text and "Server:" in text, text
    assert text.count(v["version"]) == 2, text
    assert "Docker API:  %s" % v["docker_api_version"] in text, text
    p = cli("version", "--addr", "unix:/nonexistent/berthd.sock", addr=False)
    assert p.returncode == 1, p
    assert "Client:" in out(p) and "Server:" not in out(p), p


# --- id prefixes, global options -----------------------------------------------


def test_id_prefixes(berthd, cli):
    tag = secrets.token_hex(3)
    alpha, alps, exact, longer = ("pfx%s-alpha" % tag, "pfx%s-alps" % tag,
                                  "pfx%s-x" % tag, "pfx%s-x2" % tag)
    for cid in (alpha, alps, exact, longer):
        running(berthd, cid)
    try:
        p = cli("inspect", "pfx%s-alph" % tag)
        assert p.returncode == 0, p
        assert json.loads(out(p))["container_id"]["value"] == alpha
        # An exact id wins over the longer ids it prefixes.
        p = cli("inspect", exact)
        assert json.loads(out(p))["container_id"]["value"] == exact, p
        p = cli("inspect", "pfx%s-al" % tag)
        assert p.returncode == 1, p
        assert "ambiguous" in err(p) and alpha in err(p) and alps in err(p), p
        p = cli("inspect", "pfx%s-zz" % tag)
        assert p.returncode == 1, p
        assert err(p) == "berth: no such container: pfx%s-zz\n" % tag, p
        # kill, wait and rm take prefixes too, and go on past a bad one.
        p = cli("kill", "pfx%s-alph" % tag, "pfx%s-nope" % tag, "pfx%s-alps" % tag)
        assert p.returncode == 1, p
        assert lines(p) == [alpha, alps], p
        assert "no such container: pfx%s-nope" % tag in err(p), p
        p = cli("wait", "pfx%s-alph" % tag)
        assert p.returncode == 0 and len(lines(p)) == 1, p
        p = cli("rm", "-f", "pfx%s-x2" % tag, "pfx%s-alp" % tag)
        assert p.returncode == 1 and lines(p) == [longer], p
    finally:
        for cid in (alpha, alps, exact, longer):
            berthd.client.cleanup(cid, timeout=60)


def test_global_options_after_the_command(berthd, cli, ids):
    cid = ids("glob")
    p = cli("run", "--name", cid, "--addr", berthd.addr, "busybox:local", "echo", "hi", addr=False)
    assert p.returncode == 0 and out(p) == "hi\n", p
    p = cli("ps", "-a", "-q", "--addr", berthd.addr, addr=False)
    assert p.returncode == 0 and cid in lines(p), p
    p = cli("inspect", cid, "--addr=" + berthd.addr, addr=False)
    assert p.returncode == 0, p
    # logs parses its own options: the global ones after it, and a prefix.
    p = cli("logs", cid[:-1], "--addr", berthd.addr, addr=False)
    assert p.returncode == 0 and out(p) == "hi\n", p
    p = cli("logs", "--addr=" + berthd.addr, cid + "-nope", addr=False)
    assert p.returncode == 1 and err(p) == "berth: no such container: %s-nope\n" % cid, p
    p = cli("--addr", berthd.addr, "rm", cid, addr=False)
    assert p.returncode == 0 and lines(p) == [cid], p


# --- ports on one address ------------------------------------------------------


def http_get(ip, port):
    with urllib.request.urlopen("http://%s:%d/hostname" % (ip, port), timeout=5) as f:
        return f.status


def refused(ip, port):
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect((ip, port))
        return False
    except ConnectionRefusedError:
        return True
    finally:
        s.close()


def test_port_bound_to_127_0_0_1_only(berthd, cli, ids):
    cid = ids("port1")
    port = free_port()
    p = cli("run", "-d", "--name", cid, "-p", "127.0.0.1:%d:8080" % port,
            "busybox:local", "httpd", "-f", "-p", "8080", "-h", "/etc")
    assert p.returncode == 0, p
    hc = docker_inspect(berthd.docker_name(cid))["HostConfig"]
    assert hc["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}, hc
    assert poll(lambda: http_get("127.0.0.1", port) == 200, 20, interval=0.3, what="GET 127.0.0.1")
    # 127.0.0.2 is this host too: a port bound to every address answers there.
    assert refused("127.0.0.2", port)


def test_port_host_ip_default_flag(berthd, berthd_factory, ids):
    call = lambda cid, port: launch_call(  # noqa: E731
        cid, "exec httpd -f -p 8080 -h /etc", network="BRIDGE",
        port_mappings=[{"host_port": port, "container_port": 8080, "protocol": "tcp"}])
    # Default: every address.
    cid, port = ids("portall"), free_port()
    berthd.client.launch_ok(call(cid, port))
    hc = docker_inspect(berthd.docker_name(cid))["HostConfig"]
    assert hc["PortBindings"]["8080/tcp"][0]["HostIp"] == "", hc
    assert poll(lambda: http_get("127.0.0.2", port) == 200, 20, interval=0.3, what="GET 127.0.0.2")
    berthd.client.cleanup(cid)
    # --docker_port_host_ip for mappings that name no address.
    d = berthd_factory("--docker_port_host_ip=127.0.0.1")
    cid, port = "portflag", free_port()
    try:
        d.client.launch_ok(call(cid, port))
        hc = docker_inspect(d.docker_name(cid))["HostConfig"]
        assert hc["PortBindings"]["8080/tcp"][0]["HostIp"] == "127.0.0.1", hc
        assert poll(lambda: http_get("127.0.0.1", port) == 200, 20, interval=0.3, what="GET 127.0.0.1")
        assert refused("127.0.0.2", port)
    finally:
        d.client.cleanup(cid)


@pytest.mark.parametrize("value", ["localhost", "127.0.0.1:80", "1.2.3"])
def test_bad_port_host_ip_flag_refuses_to_start(value, tmp_path):
    p = subprocess.run([conftest.BERTHD, "--work_dir=%s" % tmp_path,
                        "--listen=unix:%s/s.sock" % tmp_path, "--docker_port_host_ip=" + value],
                       capture_output=True, timeout=30)
    assert p.returncode != 0
    assert "--docker_port_host_ip" in p.stderr.decode() and value in p.stderr.decode(), p
    assert not os.path.exists(os.path.join(str(tmp_path), "s.sock"))


@pytest.mark.parametrize("host_ip", ["localhost", "127.0.0.1:80", "", 7])
def test_bad_host_ip_is_400(berthd, ids, host_ip):
    cid = ids("badip")
    r = berthd.client.launch(launch_call(
        cid, "true", network="BRIDGE",
        port_mappings=[{"host_port": free_port(), "container_port": 80, "host_ip": host_ip}]))
    assert_text_error(r, 400)
    assert "host_ip" in r.text, r
    assert berthd.client.container(cid) is None


# --- exit codes 127 and 126 ----------------------------------------------------


@pytest.mark.parametrize("command,code,words", [
    (["nopecmd"], 127, "executable file not found"),
    (["/nope/cmd"], 127, "no such file or directory"),
    (["/etc/passwd"], 126, "permission denied"),
])
def test_missing_and_non_executable_commands(berthd, cli, ids, command, code, words):
    cid = ids("exec%d" % code)
    p = cli("run", "--name", cid, "busybox:local", *command)
    assert p.returncode == code, p
    assert words in err(p).lower(), p
    w = berthd.client.wait_ok(cid)
    assert w["exit_code"] == code and w["exit_status"] == code << 8, w
    assert w["state"] == "TASK_FAILED" and w["reason"] == "REASON_CONTAINER_LAUNCH_FAILED", w
    # A launch that failed for another reason has no code.
    other = ids("exec-other")
    p = cli("run", "--name", other, "127.0.0.1:5000/absent-%s:x" % secrets.token_hex(3))
    assert p.returncode == 125, p
    assert "exit_code" not in berthd.client.wait_ok(other), p


# --- honest answers ------------------------------------------------------------


def test_update_cannot_lift_a_hard_memory_limit(berthd, cli, ids):
    cid = ids("memlim")
    p = cli("run", "-d", "--name", cid, "--mem-limit", "64", "busybox:local", "sleep", "300")
    assert p.returncode == 0, p
    hc = docker_inspect(berthd.docker_name(cid))["HostConfig"]
    assert hc["Memory"] == 64 << 20, hc
    p = cli("update", cid, "--mem-limit", "inf")
    assert p.returncode == 1, p
    assert "hard memory limit of 64 MB" in err(p) and "cannot lift" in err(p), p
    r = berthd.client.post_call({"type": "UPDATE_CONTAINER", "update_container": {
        "container_id": {"value": cid}, "limits": {"mem": {"value": "inf"}}}})
    assert_text_error(r, 409)
    assert "cannot lift" in r.text, r
    assert docker_inspect(berthd.docker_name(cid))["HostConfig"]["Memory"] == 64 << 20
    # A finite new limit still works.
    p = cli("update", cid, "--mem-limit", "96")
    assert p.returncode == 0, p
    assert docker_inspect(berthd.docker_name(cid))["HostConfig"]["Memory"] == 96 << 20


def test_cpu_limit_is_a_hard_cap(berthd, cli, ids):
    cid = ids("cpulim")
    p = cli("run", "-d", "--name", cid, "--cpu-limit", "0.5", "busybox:local", "sleep", "300")
    assert p.returncode == 0, p
    hc = docker_inspect(berthd.docker_name(cid))["HostConfig"]
    assert (hc["CpuQuota"], hc["CpuPeriod"]) == (50000, 100000), hc
    p = cli("stats", "--no-stream", cid)
    assert p.returncode == 0, p
    assert out(p).splitlines()[1].split()[2] == "0.5", p


def test_raised_minimums_are_said(berthd, cli, ids):
    cid = ids("mins")
    p = cli("run", "-d", "--name", cid, "--mem", "2", "--cpus", "0.001", "busybox:local", "sleep", "300")
    assert p.returncode == 0, p
    assert "mem 2 MB raised to Docker's minimum 32 MB" in err(p), p
    assert "cpus 0.001 raised to Docker's minimum CpuShares 2" in err(p), p
    hc = docker_inspect(berthd.docker_name(cid))["HostConfig"]
    assert hc["Memory"] == 32 << 20 and hc["CpuShares"] == 2, hc
    p = cli("update", cid, "--mem", "3")
    assert p.returncode == 0 and "mem 3 MB raised" in err(p), p


def test_one_wording_for_an_unknown_id(berthd, cli):
    nope = "nope-" + secrets.token_hex(3)
    want = "berth: no such container: %s\n" % nope
    for args in (["inspect", nope], ["logs", nope], ["rm", nope], ["rm", "-f", nope], ["kill", nope],
                 ["wait", nope], ["stats", "--no-stream", nope], ["update", nope, "--mem", "64"],
                 ["kill", "-s", "TERM", nope]):
        p = cli(*args)
        assert p.returncode == 1, (args, p)
        assert err(p) == want, (args, p)
    for call in ({"type": "KILL_CONTAINER", "kill_container": {"container_id": {"value": nope}}},
                 {"type": "WAIT_CONTAINER", "wait_container": {"container_id": {"value": nope}}},
                 {"type": "REMOVE_CONTAINER", "remove_container": {"container_id": {"value": nope}}}):
        r = berthd.client.post_call(call)
        assert_text_error(r, 404)
        assert r.text.strip() == "no such container: %s" % nope, r
    r = berthd.client.get("/files/read?path=/sandboxes/%s/stdout&offset=0" % nope)
    assert r.status == 404, r
    assert r.text.strip() == "no such container: %s" % nope, r


def test_numbers_are_rounded(berthd, cli, ids):
    cid = ids("round")
    berthd.client.launch_ok(launch_call(cid, "sleep 300", resources=[scalar("cpus", 0.28), scalar("mem", 33.3)]))
    raw = berthd.client.get("/containers").text
    assert "0.28000000000000003" not in raw and "0.28" in raw, raw
    p = cli("inspect", cid)
    assert p.returncode == 0, p
    assert "0.28000000000000003" not in out(p) and '"value": 0.28' in out(p), p


def test_stats_dash_for_what_is_not_known(berthd, cli, ids):
    host, bridge = ids("st-host"), ids("st-bridge")
    running(berthd, host, network="HOST")
    running(berthd, bridge, network="BRIDGE")
    # berthd leaves out counters that would be the node's, not the container's.
    def stats(cid):
        return berthd.client.container(cid).get("resource_statistics")
    h = poll(lambda: stats(host), 20, what="statistics of " + host)
    b = poll(lambda: stats(bridge), 20, what="statistics of " + bridge)
    assert "net_rx_bytes" not in h and "net_tx_bytes" not in h, h
    assert "net_rx_bytes" in b and "net_tx_bytes" in b, b
    assert h["cpus_quota"] is False, h
    p = cli("stats", "--no-stream", host, bridge)
    assert p.returncode == 0, p
    head, row_h, row_b = out(p).splitlines()
    # CONTAINER ID, CPU %, CPU LIMIT, MEM USAGE / LIMIT (3 words), MEM %, NET I/O...
    cells_h, cells_b = row_h.split(), row_b.split()
    assert cells_h[2] == "-", p          # a cpus share is no limit
    assert cells_h[7] == "-", p          # no network counters on HOST
    assert cells_b[8] == "/", p          # "rx / tx" on BRIDGE
