"""Health checks (API.md §3): COMMAND through docker's exec, HTTP and TCP
inside the container's network namespace (a container with network NONE
has no address anyone else could reach, so a passing HTTP or TCP check
there proves the probe entered its namespace), the grace period, the
health entry of GET_CONTAINERS, a destroy after consecutive failures with
the reason and message, checks that never pile up, and checks re-armed
after a kill -9 of berthd.

Intervals are fractions of a second so the tests are quick; nothing here
asserts how long anything took.
"""

import os

import pytest

from berthlib import launch_call, poll
from recovery_util import check_termination, daemons_fixture

daemons = pytest.fixture(name="daemons")(daemons_fixture)

REASON = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
HTTPD = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"


def with_check(call, check, **timing):
    hc = {"delay_seconds": 0, "interval_seconds": 0.1, "timeout_seconds": 5,
          "consecutive_failures": 2, "grace_period_seconds": 0}
    hc.update(check)
    hc.update(timing)
    call["launch_container"]["health_check"] = hc
    return call


def command_check(value, **timing):
    return {"type": "COMMAND", "command": {"value": value}}, timing


def launch_checked(client, cid, command, check, network="NONE", **timing):
    call = with_check(launch_call(cid, command, network=network), check, **timing)
    client.launch_ok(call)


def health_of(client, cid):
    return client.container(cid).get("health")


def wait_status(client, cid, status, timeout=30):
    return poll(lambda: (h := health_of(client, cid)) and h["status"] == status and h,
                timeout, what="health %s of %s" % (status, cid))


def killed_by_check(client, cid, message_re):
    w = client.wait_ok(cid, timeout=60)
    check_termination(cid, w, "TASK_KILLED", reason=REASON, message_re=message_re)
    return w


# ---------------------------------------------------------------- COMMAND


def test_command_check_passes_and_health_is_reported(berthd, client, new_id):
    """A command that exits 0 makes the container HEALTHY; the entry has
    the contract's shape and the metric counts healthy checks."""
    cid = new_id("cmd-ok")
    launch_checked(client, cid, "sleep 600", {"type": "COMMAND", "command": {"value": "test -d /proc"}})
    h = wait_status(client, cid, "HEALTHY")
    assert h["consecutive_failures"] == 0, h
    assert set(h) <= {"status", "consecutive_failures", "last_message"}, h
    snap = client.get("/metrics/snapshot").json()
    assert snap["containerizer/health_checks/healthy"] >= 1, snap
    assert 'berth_health_checks_total{result="healthy"}' in client.get("/metrics").text
    assert client.container(cid)["stage"] == "RUNNING"


def test_command_check_failing_kills_with_reason_and_message(berthd, client, new_id):
    """A command that exits 3 fails; after consecutive_failures in a row the
    container is destroyed: TASK_KILLED, the health reason, the failure
    (status and the command's output) in the message."""
    cid = new_id("cmd-bad")
    launch_checked(client, cid, "sleep 600",
                   {"type": "COMMAND", "command": {"value": "echo broken-here >&2; exit 3"}})
    killed_by_check(client, cid, "status 3.*broken-here")
    h = health_of(client, cid)
    assert h["status"] == "UNHEALTHY" and h["consecutive_failures"] == 2, h


def test_hostile_check_output_is_reported_as_clean_text(berthd, client, new_id):
    """The check's output is the task's bytes: invalid UTF-8, NUL, escape
    sequences and a flood.  The message is valid JSON text without control
    characters, bounded, and berthd keeps answering."""
    cid = new_id("cmd-hostile")
    evil = (r"printf '\377\376bad\000nul\033[31mred\r\n\t'; "
            r"head -c 100000 /dev/zero | tr '\0' x; exit 5")
    launch_checked(client, cid, "sleep 600", {"type": "COMMAND", "command": {"value": evil}})
    w = killed_by_check(client, cid, "status 5")
    msg = w["message"]
    assert not any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in msg), repr(msg)
    assert "bad" in msg and len(msg.encode()) < 4096, repr(msg[:300])
    h = health_of(client, cid)
    assert h["status"] == "UNHEALTHY", h
    assert not any(ord(ch) < 0x20 for ch in h["last_message"]), repr(h["last_message"])
    assert client.get("/health").status == 200


def test_command_check_shell_false_runs_argv(berthd, client, new_id):
    """shell false: [value] + arguments are the argv, no shell involved
    (joined into a shell line, `test a b = a b` would be an error)."""
    cid = new_id("cmd-argv")
    check = {"type": "COMMAND",
             "command": {"shell": False, "value": "test", "arguments": ["a b", "=", "a b"]}}
    launch_checked(client, cid, "sleep 600", check)
    wait_status(client, cid, "HEALTHY")


def test_timed_out_check_does_not_pile_up(berthd, client, new_id):
    """A check that hangs times out (a failure); the next one does not start
    while it still runs, so the container sees one check command, not one
    per interval."""
    cid = new_id("cmd-hang")
    check = {"type": "COMMAND", "command": {"value": "echo run >> /mnt/mesos/sandbox/runs; sleep 60"}}
    launch_checked(client, cid, "sleep 600", check, timeout_seconds=1, consecutive_failures=4)
    w = killed_by_check(client, cid, "still running|timed out")
    runs = client.files_read("/sandboxes/%s/runs" % cid, 0).json()["data"]
    assert runs == "run\n", (runs, w)


# ---------------------------------------------------------------- HTTP


def test_http_check_passes_inside_network_none(berthd, client, new_id):
    """httpd listens on 127.0.0.1:8080 of a container without a network:
    only a probe inside its namespace can reach it."""
    cid = new_id("http-ok")
    launch_checked(client, cid, HTTPD,
                   {"type": "HTTP", "http": {"port": 8080, "path": "/index.html"}},
                   grace_period_seconds=30)
    h = wait_status(client, cid, "HEALTHY")
    assert h["consecutive_failures"] == 0, h


def test_http_check_failing_status_kills(berthd, client, new_id):
    """A 404 is not in 200-399: failures, then the destroy naming the
    status.  (The grace period covers httpd's start: a refusal before it
    listens would not count, and the message is the last failure's.)"""
    cid = new_id("http-404")
    launch_checked(client, cid, HTTPD,
                   {"type": "HTTP", "http": {"port": 8080, "path": "/missing"}},
                   grace_period_seconds=1, consecutive_failures=3)
    killed_by_check(client, cid, "answered 404")


def test_http_check_statuses_list(berthd, client, new_id):
    """With statuses [404], a 404 is healthy."""
    cid = new_id("http-list")
    launch_checked(client, cid, HTTPD,
                   {"type": "HTTP", "http": {"port": 8080, "path": "/missing", "statuses": [404]}},
                   grace_period_seconds=30)
    wait_status(client, cid, "HEALTHY")


def test_http_check_nothing_listening_kills(berthd, client, new_id):
    """Connection refused inside the namespace is a failure."""
    cid = new_id("http-none")
    launch_checked(client, cid, "sleep 600", {"type": "HTTP", "http": {"port": 8081}})
    killed_by_check(client, cid, "8081.*refused")


# ---------------------------------------------------------------- TCP


def test_tcp_check_passes(berthd, client, new_id):
    cid = new_id("tcp-ok")
    launch_checked(client, cid, HTTPD, {"type": "TCP", "tcp": {"port": 8080}}, grace_period_seconds=30)
    wait_status(client, cid, "HEALTHY")


def test_tcp_check_failing_kills(berthd, client, new_id):
    """A port nothing listens on: refused, destroyed."""
    cid = new_id("tcp-bad")
    launch_checked(client, cid, HTTPD, {"type": "TCP", "tcp": {"port": 9}})
    killed_by_check(client, cid, "refused")


def test_tcp_check_in_bridge_network_uses_the_namespace(berthd, client, new_id):
    """In a BRIDGE container too, 127.0.0.1 is the container's own
    loopback: nothing on the host listens for it."""
    cid = new_id("tcp-bridge")
    call = with_check(launch_call(cid, HTTPD, network="BRIDGE"), {"type": "TCP", "tcp": {"port": 8080}},
                      grace_period_seconds=30)
    client.launch_ok(call)
    wait_status(client, cid, "HEALTHY")


# ---------------------------------------------------------------- grace


def test_failures_within_grace_do_not_count(berthd, client, new_id):
    """A check failing within the grace period (and no success yet) leaves
    the container STARTING with no failure counted, and the message shown."""
    cid = new_id("grace")
    launch_checked(client, cid, "sleep 600", {"type": "COMMAND", "command": {"value": "exit 7"}},
                   grace_period_seconds=600, consecutive_failures=1)
    h = poll(lambda: (h := health_of(client, cid)) and h.get("last_message") and h,
             30, what="a failed check within grace")
    assert "status 7" in h["last_message"], h
    assert h["status"] == "STARTING" and h["consecutive_failures"] == 0, h
    e = client.container(cid)
    assert e["stage"] == "RUNNING", e


def test_first_success_ends_the_grace_period(berthd, client, new_id):
    """After one success, a failure counts even within the grace period."""
    cid = new_id("grace-end")
    check = {"type": "COMMAND",
             "command": {"value": "if [ -f /tmp/seen ]; then exit 5; fi; touch /tmp/seen"}}
    launch_checked(client, cid, "sleep 600", check, grace_period_seconds=600, consecutive_failures=1)
    killed_by_check(client, cid, "status 5")


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("check,field", [
    ({"type": "UDP"}, "health_check.type"),
    ({"type": "HTTP"}, "health_check.http"),
    ({"type": "HTTP", "http": {"port": 0}}, "health_check.http.port"),
    ({"type": "HTTP", "http": {"port": 80, "path": "x"}}, "health_check.http.path"),
    ({"type": "HTTP", "http": {"port": 80, "scheme": "https"}}, "health_check.http.scheme"),
    ({"type": "HTTP", "http": {"port": 80, "statuses": [99]}}, "health_check.http.statuses"),
    ({"type": "TCP", "tcp": {"port": 70000}}, "health_check.tcp.port"),
    ({"type": "COMMAND", "command": {}}, "health_check.command.value"),
    ({"type": "TCP", "tcp": {"port": 80}, "interval_seconds": -1}, "health_check.interval_seconds"),
    ({"type": "TCP", "tcp": {"port": 80}, "consecutive_failures": 0}, "health_check.consecutive_failures"),
    ("TCP", "health_check"),
])
def test_bad_health_check_is_400(berthd, client, new_id, check, field):
    cid = new_id("bad")
    call = launch_call(cid, "true")
    call["launch_container"]["health_check"] = check
    r = client.launch(call)
    assert r.status == 400, r
    assert field in r.text, r
    assert client.post_call({"type": "GET_CONTAINERS"}).status == 200
    assert all(e["container_id"]["value"] != cid for e in client.get_containers())


# ---------------------------------------------------------------- restart


def test_checks_rearmed_after_kill9(daemons):
    """berthd is SIGKILLed while a checked container runs; the restarted
    berthd checks it again (STARTING until the first result), and a check
    that then fails destroys it with the health reason."""
    d = daemons()
    c = d.client
    cid = "hc-restart"
    check = {"type": "COMMAND", "command": {"value": "test ! -e /mnt/mesos/sandbox/fail"}}
    c.launch_ok(with_check(launch_call(cid, "sleep 600", network="NONE"), check))
    wait_status(c, cid, "HEALTHY")
    d.kill9()
    d.restart()
    wait_status(c, cid, "HEALTHY")
    with open(os.path.join(d.work_dir, "sandboxes", cid, "fail"), "w") as f:
        f.write("x")
    killed_by_check(c, cid, "status 1")


def test_http_checks_rearmed_after_kill9(daemons):
    """The same for an HTTP probe: the restarted berthd finds the
    container's pid again and probes inside its namespace."""
    d = daemons()
    c = d.client
    cid = "hc-http-restart"
    c.launch_ok(with_check(launch_call(cid, HTTPD, network="NONE"),
                           {"type": "HTTP", "http": {"port": 8080, "path": "/index.html"}},
                           grace_period_seconds=30))
    wait_status(c, cid, "HEALTHY")
    d.kill9()
    d.restart()
    wait_status(c, cid, "HEALTHY")
    c.kill(cid)
    w = c.wait_ok(cid, timeout=60)
    check_termination(cid, w, "TASK_KILLED")
