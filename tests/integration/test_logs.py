"""`berth logs` and GET /logs (issue 17): stdout and stderr interleaved in
the order the task wrote them, --tail, --since, -t, --stdout/--stderr,
follow, across a rotation and across a kill -9 of berthd, and a task that
plants a link or a FIFO in place of its stdout cannot make logs read
through it."""

import base64
import datetime
import os
import re
import subprocess
import time

import pytest

from berthlib import launch_call, poll
from conftest import BERTH_CLI
from recovery_util import daemons_fixture

daemons = pytest.fixture(name="daemons")(daemons_fixture)

TS_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{9})Z (.*)$")

# Each line in its own write, a pause between writes so that docker's
# stdout and stderr copies cannot reorder them.
ALTERNATING = ("for i in 1 2 3 4; do echo out$i; usleep 100000; "
               "echo err$i >&2; usleep 100000; done")
GATE = 'while [ ! -e "$MESOS_SANDBOX/go" ]; do usleep 50000; done; '


def cli(d, *args, timeout=60, merged=False):
    argv = [BERTH_CLI, "--addr", d.addr] + list(args)
    try:
        return subprocess.run(argv, capture_output=not merged, timeout=timeout,
                              stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE if merged else None,
                              stderr=subprocess.STDOUT if merged else None)
    except subprocess.TimeoutExpired:
        raise AssertionError("berth %s did not finish in %ds" % (" ".join(args), timeout))


def logs_ok(d, *args, merged=False):
    p = cli(d, "logs", *args, merged=merged)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    return p


def api_lines(d, cid, query=""):
    """Every line GET /logs gives, following `more`: [(stream, time_ns, bytes)]."""
    out, after = [], (0, 0)
    while True:
        r = d.client.get("/logs?container_id=%s&after_stdout=%d&after_stderr=%d%s"
                         % (cid, after[0], after[1], query))
        assert r.status == 200, (r.status, r.text)
        j = r.json()
        out += [(l["stream"], l["time_ns"], base64.b64decode(l["data"])) for l in j["lines"]]
        after = (j["next"]["stdout"], j["next"]["stderr"])
        if not j["more"]:
            return out, j


def stamps(text):
    """Parses `-t` output: [(datetime, nanos, rest)]; every line must have a stamp."""
    got = []
    for line in text.splitlines():
        m = TS_RE.match(line)
        assert m, "line without an RFC 3339 timestamp: %r" % line
        t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
        got.append((t, int(m.group(2)), m.group(3)))
    return got


def check_nondecreasing(st):
    keys = [(t, ns) for t, ns, _ in st]
    assert keys == sorted(keys), "timestamps go backwards: %r" % st


def test_interleaved_in_write_order(daemons):
    d = daemons()
    cid = "lg-mix"
    w = d.client.run(launch_call(cid, ALTERNATING + "; printf tail-without-newline"))
    assert w["state"] == "TASK_FINISHED", w
    want = "".join("out%d\nerr%d\n" % (i, i) for i in range(1, 5)) + "tail-without-newline"
    # Both streams through one pipe: the order the client wrote them in.
    assert logs_ok(d, cid, merged=True).stdout.decode() == want
    # Routed as docker does: stdout lines to stdout, stderr lines to stderr.
    p = logs_ok(d, cid)
    assert p.stdout.decode() == "".join("out%d\n" % i for i in range(1, 5)) + "tail-without-newline"
    assert p.stderr.decode() == "".join("err%d\n" % i for i in range(1, 5))
    # One stream only.
    assert logs_ok(d, "--stderr", cid).stdout == b""
    assert logs_ok(d, "--stdout", cid).stderr == b""
    # The API gives the same order, with times that never decrease.
    lines, j = api_lines(d, cid)
    assert [l[2].decode() for l in lines] == want.splitlines(keepends=True)
    assert [l[0] for l in lines] == ["stdout", "stderr"] * 4 + ["stdout"]
    assert [l[1] for l in lines] == sorted(l[1] for l in lines)
    assert j["ended"] is True


def test_tail(daemons):
    d = daemons()
    cid = "lg-tail"
    w = d.client.run(launch_call(cid, "seq 1 10; usleep 200000; echo e1 >&2"))
    assert w["state"] == "TASK_FINISHED", w
    assert logs_ok(d, "--tail", "3", cid, merged=True).stdout == b"9\n10\ne1\n"
    assert logs_ok(d, "-n", "2", "--stdout", cid).stdout == b"9\n10\n"
    assert logs_ok(d, "--tail", "0", cid, merged=True).stdout == b""
    assert logs_ok(d, "--tail", "all", cid, merged=True).stdout == \
        b"".join(b"%d\n" % i for i in range(1, 11)) + b"e1\n"
    assert logs_ok(d, "--tail", "100", cid, merged=True).stdout.count(b"\n") == 11
    p = cli(d, "logs", "--tail", "x", cid)
    assert p.returncode != 0 and b"--tail" in p.stderr


def test_since_and_timestamps(daemons):
    d = daemons()
    cid = "lg-since"
    d.client.launch_ok(launch_call(cid, "echo a1; usleep 100000; echo a2 >&2; " + GATE +
                                   "echo b1; usleep 100000; echo b2 >&2"))
    poll(lambda: len(api_lines(d, cid)[0]) == 2, 30, what="the first batch in the logs")
    time.sleep(0.05)  # the cut lies strictly after the first batch's times
    cut = time.time()
    time.sleep(0.05)
    open(os.path.join(d.sandbox(cid), "go"), "w").close()
    assert d.client.wait_ok(cid)["state"] == "TASK_FINISHED"
    iso = datetime.datetime.fromtimestamp(cut, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert logs_ok(d, "--since", iso, cid, merged=True).stdout == b"b1\nb2\n"
    assert logs_ok(d, "--since", "%.6f" % cut, cid, merged=True).stdout == b"b1\nb2\n"
    assert logs_ok(d, "--since", "1h", cid, merged=True).stdout == b"a1\na2\nb1\nb2\n"
    assert logs_ok(d, "--since", "2099-01-01T00:00:00Z", cid, merged=True).stdout == b""
    st = stamps(logs_ok(d, "-t", cid, merged=True).stdout.decode())
    assert [s[2] for s in st] == ["a1", "a2", "b1", "b2"]
    check_nondecreasing(st)
    cut_dt = datetime.datetime.utcfromtimestamp(cut)
    assert all(t + datetime.timedelta(microseconds=ns // 1000) < cut_dt for t, ns, _ in st[:2])
    assert all(t + datetime.timedelta(microseconds=ns // 1000 + 1) >= cut_dt for t, ns, _ in st[2:])
    p = cli(d, "logs", "--since", "yesterday", cid)
    assert p.returncode != 0 and b"--since" in p.stderr


def test_across_rotation(daemons):
    d = daemons(extra_flags=["--log_max_size=64KB", "--log_max_files=2"])
    cid = "lg-rot"
    w = d.client.run(launch_call(cid, "seq 1 100000; usleep 200000; echo end >&2"), timeout=120)
    assert w["state"] == "TASK_FINISHED", w
    assert os.path.exists(os.path.join(d.sandbox(cid), "stdout.2"))
    want = b"".join(b"%d\n" % i for i in range(1, 100001))
    got = logs_ok(d, "--stdout", cid).stdout
    # Exactly what the kept files hold: the live one and two of 64 KiB.
    kept = sum(os.path.getsize(os.path.join(d.sandbox(cid), f)) for f in ("stdout", "stdout.1", "stdout.2"))
    assert len(got) == kept and want.endswith(got)
    assert logs_ok(d, "--tail", "3", cid, merged=True).stdout == b"99999\n100000\nend\n"
    st = stamps(logs_ok(d, "-t", "--tail", "500", cid, merged=True).stdout.decode())
    assert len(st) == 500 and st[-1][2] == "end" and st[-2][2] == "100000"
    check_nondecreasing(st)
    # Small pages: every byte once, in order.
    lines, _ = api_lines(d, cid, "&stderr=0&limit=1000")
    assert b"".join(l[2] for l in lines) == got


def test_index_stays_bounded_with_rotation(daemons):
    """15 MB through 64 KiB files: the index is rewritten without the
    records of rotated-away bytes, and logs still reads the kept tail."""
    d = daemons(extra_flags=["--log_max_size=64KB", "--log_max_files=2"])
    cid = "lg-bound"
    w = d.client.run(launch_call(cid, "seq 1 2000000"), timeout=180)
    assert w["state"] == "TASK_FINISHED", w
    idx = os.path.join(d.work_dir, "logs", cid + ".idx")
    # 24 bytes a record; unbounded, 15 MB in chunks of at most 64 KiB would
    # be 5000+ records however the chunks fall.
    size = os.path.getsize(idx)
    assert size < 100 * 1024, size
    assert oct(os.stat(idx).st_mode & 0o777) == "0o600"
    want = b"".join(b"%d\n" % i for i in range(1999990, 2000001))
    assert logs_ok(d, "--tail", "11", cid).stdout == want
    got = logs_ok(d, cid).stdout
    with open(d.stdout_path(cid), "rb") as f:
        assert got.endswith(f.read())
    assert len(got) == sum(os.path.getsize(os.path.join(d.sandbox(cid), f))
                           for f in ("stdout", "stdout.1", "stdout.2"))
    d.client.remove(cid)
    assert not os.path.exists(idx)


def test_across_kill9_and_restart(daemons):
    d = daemons()
    cid = "lg-k9"
    d.client.launch_ok(launch_call(cid, "echo o1; usleep 100000; echo e1 >&2; usleep 100000; " + GATE +
                                   "echo o2; usleep 100000; echo e2 >&2"))
    poll(lambda: len(api_lines(d, cid)[0]) == 2, 30, what="the first lines in the logs")
    d.kill9()
    open(os.path.join(d.sandbox(cid), "go"), "w").close()
    d.restart()
    assert d.client.wait_ok(cid)["state"] == "TASK_FINISHED"
    merged = logs_ok(d, cid, merged=True).stdout.decode()
    # The lines written while berthd was down come from docker's log at
    # once, so only each stream's own order is certain between them.
    assert merged.startswith("o1\ne1\n")
    assert sorted(merged.splitlines()) == ["e1", "e2", "o1", "o2"]
    with open(d.stdout_path(cid), "rb") as f:
        assert logs_ok(d, "--stdout", cid).stdout == f.read()
    check_nondecreasing(stamps(logs_ok(d, "-t", cid, merged=True).stdout.decode()))


def test_follow_prints_new_lines(daemons):
    d = daemons()
    cid = "lg-follow"
    d.client.launch_ok(launch_call(cid, "echo first; " + GATE + "echo second; usleep 100000; echo third >&2"))
    p = subprocess.Popen([BERTH_CLI, "--addr", d.addr, "logs", "-f", cid], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        assert p.stdout.readline() == b"first\n"
        open(os.path.join(d.sandbox(cid), "go"), "w").close()
        out, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert out == b"second\nthird\n"
    assert p.returncode == 0


def test_follow_with_tail_does_not_come_back_for_older_lines(daemons):
    """-f --tail 1: the last line, then only new ones; the polls after the
    first never bring back the other stream's older lines."""
    d = daemons()
    cid = "lg-ftail"
    # More stdout records after e1 than a tail's first window holds (256):
    # stderr has no line in it.
    d.client.launch_ok(launch_call(cid, "echo e1 >&2; usleep 100000; i=0; while [ $i -lt 300 ]; do "
                                   "echo o$i; usleep 3000; i=$((i+1)); done; " + GATE +
                                   "echo o300; usleep 100000; echo e2 >&2"))
    poll(lambda: len(api_lines(d, cid)[0]) == 301, 30, what="the first lines in the logs")
    p = subprocess.Popen([BERTH_CLI, "--addr", d.addr, "logs", "-f", "--tail", "1", cid], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        assert p.stdout.readline() == b"o299\n"
        time.sleep(0.5)  # a few polls with nothing new
        open(os.path.join(d.sandbox(cid), "go"), "w").close()
        out, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert out == b"o300\ne2\n"
    assert p.returncode == 0
    # The same through the API: a tail's cursor is past everything before it.
    r = d.client.get("/logs?container_id=%s&tail=1" % cid).json()
    assert r["next"] == {"stdout": os.path.getsize(d.stdout_path(cid)), "stderr": 6}, r


def test_unknown_container(daemons):
    d = daemons()
    p = cli(d, "logs", "no-such-one")
    assert p.returncode != 0
    assert b"no-such-one" in p.stderr and p.stderr.count(b"\n") == 1
    r = d.client.get("/logs?container_id=no-such-one")
    assert r.status == 404
    assert d.client.get("/logs?container_id=../x").status == 400
    assert d.client.get("/logs").status == 400
    assert d.client.get("/logs?container_id=x&tail=-1").status == 400


def test_planted_link_and_fifo_are_not_read(daemons):
    """The task swaps its stdout for a link to /etc/shadow, and stderr for a
    FIFO: logs shows what berthd captured (from its own file while it runs)
    and never reads through the link nor blocks on the FIFO."""
    d = daemons()
    cid = "lg-hostile"
    cmd = ('echo before; usleep 100000; echo ebefore >&2; usleep 200000; '
           'rm -f "$MESOS_SANDBOX/stdout" "$MESOS_SANDBOX/stderr"; '
           'ln -s /etc/shadow "$MESOS_SANDBOX/stdout"; mkfifo "$MESOS_SANDBOX/stderr"; '
           'for f in 1 2; do ln -s /etc/shadow "$MESOS_SANDBOX/stdout.$f"; done; '
           + GATE + 'echo after')
    d.client.launch_ok(launch_call(cid, cmd))
    poll(lambda: os.path.islink(d.stdout_path(cid)), 30, what="the planted link")
    # Running: berthd still holds the files it writes to.
    out = logs_ok(d, cid, merged=True).stdout
    assert out == b"before\nebefore\n", out
    open(os.path.join(d.sandbox(cid), "go"), "w").close()
    assert d.client.wait_ok(cid)["state"] == "TASK_FINISHED"
    # Terminated: the names are the task's, and the link and FIFO are refused.
    out = logs_ok(d, cid, merged=True).stdout
    assert b"root:" not in out
    out = logs_ok(d, "-t", "--tail", "5", cid, merged=True).stdout
    assert b"root:" not in out
