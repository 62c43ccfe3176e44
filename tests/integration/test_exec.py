"""EXEC and ATTACH_CONTAINER_INPUT (berth extensions, README "EXEC"):
`berth exec` and `berth run -i` against a private berthd and the real
dockerd, and the upgraded wire protocol itself through a raw socket."""

import fcntl
import json
import os
import pty
import select
import signal
import socket
import struct
import subprocess
import termios
import time

import pytest

from berthlib import free_port, launch_call
from conftest import BERTH_CLI

DEADLINE = 60.0


@pytest.fixture(scope="module")
def cli(berthd):
    def run(*args, stdin=subprocess.DEVNULL, input=None, timeout=60):
        argv = [BERTH_CLI, "--addr", berthd.addr] + list(args)
        env = dict(os.environ)
        env.pop("BERTH_ADDR", None)
        try:
            return subprocess.run(argv, capture_output=True, timeout=timeout,
                                  stdin=None if input is not None else stdin,
                                  input=input, env=env)
        except subprocess.TimeoutExpired:
            raise AssertionError("berth %s did not finish in %ds" % (" ".join(args), timeout))
    return run


@pytest.fixture(scope="module")
def target(berthd):
    """One long-running container the exec tests share."""
    cid = "exec-target"
    berthd.client.launch_ok(launch_call(cid, "sleep 600"))
    yield cid
    berthd.client.cleanup(cid)


# -- the raw protocol ---------------------------------------------------------

def upgrade(berthd, call, headers=None):
    """POST call as an upgrade; returns (socket, status, head, rest)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(DEADLINE)
    s.connect(berthd.sock)
    body = json.dumps(call).encode()
    extra = headers if headers is not None else {"Connection": "Upgrade", "Upgrade": "tcp"}
    lines = ["POST /api/v1 HTTP/1.1", "Host: berthd", "Content-Type: application/json",
             "Content-Length: %d" % len(body)] + ["%s: %s" % kv for kv in extra.items()]
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return s, status, head.decode(errors="replace"), rest


def read_answer(s, head, rest):
    """The body of a plain (refused) answer: berthd keeps the connection."""
    length = 0
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return rest


def read_all(s, rest=b""):
    data = rest
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def frames(data):
    """Splits the session stream into [(stream, payload)]; asserts it ends
    on a frame boundary."""
    out = []
    while data:
        assert len(data) >= 8, "stream ends mid-header: %r" % data
        stream, size = data[0], struct.unpack(">I", data[4:8])[0]
        assert data[1:4] == b"\0\0\0", data[:8]
        assert len(data) >= 8 + size, "stream ends mid-frame"
        out.append((stream, data[8:8 + size]))
        data = data[8 + size:]
    return out


def exec_call(cid, cmd, **extra):
    e = {"container_id": {"value": cid}, "command": cmd}
    e.update(extra)
    return {"type": "EXEC", "exec": e}


def test_wire_frames_separate_streams_and_end_with_the_exit_code(berthd, target):
    s, status, head, rest = upgrade(berthd, exec_call(
        target, {"shell": True, "value": "echo out; echo err >&2; exit 3"}))
    with s:
        assert status == 101, head
        assert "upgrade: tcp" in head.lower(), head
        s.shutdown(socket.SHUT_WR)
        got = frames(read_all(s, rest))
    out = b"".join(p for st, p in got if st == 1)
    err = b"".join(p for st, p in got if st == 2)
    assert out == b"out\n" and err == b"err\n", got
    assert got[-1][0] == 4, got
    assert json.loads(got[-1][1]) == {"exit_code": 3}
    assert [st for st, _ in got].count(4) == 1


def test_wire_without_upgrade_headers_is_refused(berthd, target):
    s, status, head, rest = upgrade(berthd, exec_call(target, {"value": "true"}), headers={})
    with s:
        assert status == 400, head
        assert b"Upgrade" in read_answer(s, head, rest)


@pytest.mark.parametrize("call,status,words", [
    ({"command": {"value": "true"}}, 400, "container_id"),
    ({"container_id": {"value": "x"}}, 400, "exec.command"),
    ({"container_id": {"value": "x"}, "command": {"shell": True}}, 400, "value"),
    ({"container_id": {"value": "x"}, "command": {"value": "true"}, "tty": "yes"}, 400, "exec.tty"),
    ({"container_id": {"value": "x"}, "command": {"shell": False, "value": "a", "arguments": [1]}}, 400,
     "arguments"),
    ({"container_id": {"value": "x"}, "command": {"value": "true",
      "environment": {"variables": [{"name": "A=B", "value": "v"}]}}}, 400, "name"),
    ({"container_id": {"value": "x"}, "command": {"value": "true"},
      "tty_info": {"window_size": {"rows": 0, "columns": 80}}}, 400, "window_size"),
    ({"container_id": {"value": "no-such"}, "command": {"value": "true"}}, 404, "no such container: no-such"),
])
def test_wire_bad_calls_are_refused_before_any_upgrade(berthd, call, status, words):
    s, got, head, rest = upgrade(berthd, {"type": "EXEC", "exec": call})
    with s:
        assert got == status, head
        assert words in read_answer(s, head, rest).decode()


def test_wire_stdin_half_close_ends_the_commands_stdin(berthd, target):
    s, status, head, rest = upgrade(berthd, exec_call(
        target, {"shell": False, "value": "wc", "arguments": ["-c"]}, stdin=True))
    with s:
        assert status == 101, head
        s.sendall(b"x" * 100000)
        s.shutdown(socket.SHUT_WR)
        got = frames(read_all(s, rest))
    assert b"".join(p for st, p in got if st == 1).strip() == b"100000"
    assert json.loads(got[-1][1]) == {"exit_code": 0}


def test_client_that_vanishes_mid_exec_leaves_berthd_and_container_healthy(berthd, target, cli):
    for _ in range(5):
        s, status, head, rest = upgrade(berthd, exec_call(
            target, {"value": "i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); sleep 0.01; done"},
            stdin=True))
        assert status == 101, head
        s.recv(10)
        # Gone without a word: RST on close, unread data pending.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    assert berthd.alive()
    assert berthd.client.health().status == 200
    p = cli("exec", target, "echo", "still")
    assert p.returncode == 0 and p.stdout == b"still\n", p
    states = {c["container_id"]["value"]: c["stage"] for c in berthd.client.get_containers()}
    assert states[target] == "RUNNING"


def test_attach_input_needs_a_container_launched_with_stdin(berthd, target):
    s, status, head, rest = upgrade(berthd, {
        "type": "ATTACH_CONTAINER_INPUT",
        "attach_container_input": {"container_id": {"value": target}}})
    with s:
        assert status == 409, head
        assert b"container.docker.stdin" in read_answer(s, head, rest)


# -- berth exec ---------------------------------------------------------------

def test_exec_output_and_exit_codes(cli, target):
    p = cli("exec", target, "sh", "-c", "echo out; echo err >&2")
    assert p.returncode == 0, p
    assert p.stdout == b"out\n" and p.stderr == b"err\n", p
    p = cli("exec", target, "sh", "-c", "exit 3")
    assert p.returncode == 3, p


def test_exec_takes_an_id_prefix_and_the_global_options(berthd, cli, target):
    """As the other commands: a unique prefix names the container, an
    unknown one is berthd's one wording, and --addr may follow "exec"."""
    p = cli("exec", target[:-2], "echo", "via-prefix")
    assert p.returncode == 0 and p.stdout == b"via-prefix\n", p
    p = cli("exec", target + "-nope", "true")
    assert p.returncode == 1, p
    assert p.stderr == ("berth: no such container: %s-nope\n" % target).encode(), p
    env = dict(os.environ)
    env.pop("BERTH_ADDR", None)
    p = subprocess.run([BERTH_CLI, "exec", "--addr", berthd.addr, target, "echo", "--addr"],
                       capture_output=True, timeout=60, env=env)
    assert p.returncode == 0 and p.stdout == b"--addr\n", p


def test_exec_missing_command_is_127_and_not_executable_is_126(cli, target):
    p = cli("exec", target, "no-such-command")
    assert p.returncode == 127, p
    assert b"not found" in p.stdout + p.stderr, p
    p = cli("exec", target, "/etc/passwd")
    assert p.returncode == 126, p
    # A command that runs and exits 126 itself keeps its code.
    p = cli("exec", target, "sh", "-c", "echo executable file not found; exit 126")
    assert p.returncode == 126, p


def test_exec_stdin_with_i_and_not_without(cli, target):
    p = cli("exec", "-i", target, "cat", input=b"hi\n")
    assert p.returncode == 0 and p.stdout == b"hi\n", p
    # docker's rule: without -i the command's stdin is closed.
    p = cli("exec", target, "cat", input=b"hi\n")
    assert p.returncode == 0 and p.stdout == b"", p


def test_exec_large_streams_both_ways(cli, target):
    data = os.urandom(3 * 1024 * 1024)
    p = cli("exec", "-i", target, "cat", input=data, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout == data


def test_exec_env_user_workdir(cli, target):
    p = cli("exec", "-e", "FOO=bar baz", "-u", "65534", "-w", "/tmp", target,
            "sh", "-c", 'echo "$FOO|$(id -u)|$(pwd)"')
    assert p.returncode == 0, p
    assert p.stdout == b"bar baz|65534|/tmp\n"


def test_exec_on_unknown_or_stopped_container_says_so(berthd, cli, new_id):
    p = cli("exec", "no-such-ctr", "true")
    assert p.returncode == 1, p
    assert b"no such container: no-such-ctr" in p.stderr, p
    cid = new_id("exec-done")
    berthd.client.launch_ok(launch_call(cid, "true"))
    berthd.client.wait_ok(cid)
    p = cli("exec", cid, "true")
    assert p.returncode == 1, p
    assert b"is not running" in p.stderr, p


def test_exec_usage_errors(cli):
    p = cli("exec")
    assert p.returncode == 125 and b"container ID" in p.stderr, p
    p = cli("exec", "someid")
    assert p.returncode == 125 and b"command" in p.stderr, p
    p = cli("exec", "--bogus", "x", "true")
    assert p.returncode == 125, p
    p = cli("exec", "--help")
    assert p.returncode == 0 and b"Usage: berth exec" in p.stdout, p


def pty_run(argv, env, rows=40, cols=100, send=b"", expect=b"READY"):
    """Runs argv on a fresh pty; returns (output, exit code, termios before
    and after)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)
    out = b""
    sent = False
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if not sent and expect in out:
            os.write(master, send)
            sent = True
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    code = proc.wait(timeout=DEADLINE)
    after = termios.tcgetattr(slave)
    os.close(slave)
    os.close(master)
    return out, code, before, after


def test_exec_tty_gets_a_terminal_of_our_size_and_restores_ours(berthd, target):
    env = dict(os.environ, BERTH_ADDR=berthd.addr)
    out, code, before, after = pty_run(
        [BERTH_CLI, "exec", "-it", target, "sh", "-c",
         "[ -t 0 ] && [ -t 1 ] && echo IS_A_TTY; echo READY; read line; echo got=$line; stty size; exit 4"],
        env, send=b"hello\r")
    assert code == 4, out
    assert b"IS_A_TTY" in out, out
    assert b"got=hello" in out, out
    assert b"40 100" in out, out
    # Raw mode is gone once berth is: echo and line editing are back.
    assert before == after


def test_exec_tty_without_a_terminal_here(cli, target):
    p = cli("exec", "-t", target, "sh", "-c", "[ -t 1 ] && echo TTY; printf 'a\\n'")
    assert p.returncode == 0, p
    assert p.stdout == b"TTY\r\na\r\n", p


# -- berth run -i -------------------------------------------------------------

def test_run_i_passes_piped_stdin(berthd, cli):
    cid = "exec-run-i"
    try:
        p = cli("run", "--name", cid, "-i", "busybox:local", "cat", input=b"x\n")
        assert p.returncode == 0, p
        assert p.stdout == b"x\n", p
    finally:
        berthd.client.cleanup(cid)


def test_run_without_i_does_not_read_stdin(berthd, cli):
    cid = "exec-run-no-i"
    try:
        p = cli("run", "--name", cid, "busybox:local", "cat", input=b"x\n")
        assert p.returncode == 0, p
        assert p.stdout == b"", p
    finally:
        berthd.client.cleanup(cid)


def test_run_i_large_input_and_exit_code(berthd, cli):
    cid = "exec-run-i-big"
    data = os.urandom(2 * 1024 * 1024)
    try:
        p = cli("run", "--name", cid, "-i", "busybox:local", "sh", "-c", "wc -c; exit 6",
                input=data, timeout=120)
        assert p.returncode == 6, p
        assert p.stdout.strip() == str(len(data)).encode(), p
    finally:
        berthd.client.cleanup(cid)


def test_shutdown_with_a_live_session_is_clean(berthd_factory):
    d = berthd_factory()
    d.client.launch_ok(launch_call("exec-shut", "sleep 600"))
    s, status, head, rest = upgrade(d, exec_call("exec-shut", {"value": "sleep 600"}, stdin=True))
    assert status == 101, head
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(timeout=30) == 0, d.log_tail()
    # berthd's end closes the session's connection.
    s.settimeout(10)
    assert read_all(s, rest) is not None
    s.close()


def test_exec_and_run_i_over_tcp_need_the_token(berthd_factory, tmp_path):
    token = "tok-" + os.urandom(12).hex()
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    bad = tmp_path / "bad"
    bad.write_text("not-the-token\n")
    port = free_port()
    d = berthd_factory("--listen=tcp:127.0.0.1:%d" % port, "--token_file=%s" % token_file)
    addr = "tcp:127.0.0.1:%d" % port
    d.client.launch_ok(launch_call("exec-tcp", "sleep 600"))

    def cli(*args, input=b"", env=None):
        e = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
        e.update(env or {})
        return subprocess.run([BERTH_CLI] + list(args), capture_output=True, timeout=60,
                              input=input, env=e)

    p = cli("--addr", addr, "--token_file", str(token_file), "exec", "-i", "exec-tcp", "cat", input=b"tcp\n")
    assert p.returncode == 0 and p.stdout == b"tcp\n", p
    p = cli("exec", "exec-tcp", "echo", "env", env={"BERTH_ADDR": addr, "BERTH_TOKEN": token})
    assert p.returncode == 0 and p.stdout == b"env\n", p
    p = cli("--addr", addr, "--token_file", str(bad), "exec", "exec-tcp", "echo", "no")
    assert p.returncode == 1 and p.stdout == b"" and b"token" in p.stderr, p
    p = cli("--addr", addr, "--token_file", str(token_file), "run", "--name", "exec-tcp-run", "-i",
            "busybox:local", "cat", input=b"piped\n")
    assert p.returncode == 0 and p.stdout == b"piped\n", p


def test_a_quiet_session_outlives_the_idle_timeout(berthd, target, cli):
    """No byte either way for longer than the server's idle timeout (30 s,
    server.c CONNECTION_TIMEOUT_SECS) and the guard's header deadline: the
    session is not cut, the late output and the exit code arrive."""
    p = cli("exec", "-i", target, "sh", "-c", "sleep 35; echo late; exit 9", stdin=subprocess.PIPE, timeout=90)
    assert p.returncode == 9, p
    assert p.stdout == b"late\n", p
