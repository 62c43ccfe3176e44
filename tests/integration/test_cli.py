"""The `berth` CLI against a private berthd."""

import json
import os
import re
import subprocess

import pytest

from berthlib import docker_ids, read_file
from conftest import BERTH_CLI

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@pytest.fixture(scope="module")
def cli(berthd):
    if not os.access(BERTH_CLI, os.X_OK):
        pytest.fail("berth CLI not built: %s is missing" % BERTH_CLI)

    def run(*args, timeout=60, env=None, addr=True):
        argv = [BERTH_CLI] + (["--addr", berthd.addr] if addr else []) + list(args)
        e = dict(os.environ)
        e.pop("BERTH_ADDR", None)
        if env:
            e.update(env)
        try:
            return subprocess.run(argv, capture_output=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL, env=e)
        except subprocess.TimeoutExpired:
            raise AssertionError("berth %s did not finish in %ds"
                                 % (" ".join(args), timeout))
    return run


def ps_ids(cli, *flags):
    p = cli("ps", *flags)
    assert p.returncode == 0, p
    return p.stdout.decode()


def test_run_foreground_exit_code_and_streams(berthd, cli):
    cid = "cli-fg"
    try:
        p = cli("run", "--name", cid, "busybox:local", "sh", "-c",
                "printf out; echo err >&2; exit 5")
        assert p.returncode == 5, p
        # Tell a daemon-side loss from a CLI-side one.
        assert read_file(berthd.stdout_path(cid)) == b"out"
        assert read_file(berthd.stderr_path(cid)) == b"err\n"
        assert p.stdout == b"out", p
        assert p.stderr == b"err\n", p
    finally:
        berthd.client.cleanup(cid)


def test_run_foreground_binary_stdout(berthd, cli):
    cid = "cli-bin"
    try:
        p = cli("run", "--name", cid, "busybox:local", "printf", r"\000\377x")
        assert p.returncode == 0, p
        # Tell a daemon-side loss from a CLI-side one.
        assert read_file(berthd.stdout_path(cid)) == b"\x00\xffx"
        assert p.stdout == b"\x00\xffx", p
    finally:
        berthd.client.cleanup(cid)


def test_run_detached_ps_kill_wait_rm(berthd, cli):
    p = cli("run", "-d", "busybox:local", "sleep", "300")
    assert p.returncode == 0, p
    cid = p.stdout.decode().strip()
    assert ID_RE.match(cid), p
    try:
        c = berthd.client.container(cid)
        assert c is not None and c["stage"] == "RUNNING", c
        assert cid in ps_ids(cli)
        assert cid in ps_ids(cli, "-a")

        p = cli("kill", cid)
        assert p.returncode == 0, p
        assert p.stdout.decode().split() == [cid], p   # as docker kill does
        p = cli("wait", cid, timeout=30)
        # berth wait prints the exit code (SIGKILL: 137) and exits 0.
        assert p.returncode == 0, p
        assert p.stdout == b"137\n", p
        p = cli("wait", "--json", cid, timeout=30)
        assert p.returncode == 0, p
        w = json.loads(p.stdout)
        assert w["state"] == "TASK_KILLED" and w["exit_code"] == 137, w
        assert berthd.client.container(cid)["stage"] == "TERMINATED"
        # Terminated: gone from `ps`, still in `ps -a`.
        assert cid not in ps_ids(cli)
        assert cid in ps_ids(cli, "-a")

        p = cli("rm", cid)
        assert p.returncode == 0, p
        assert p.stdout.decode().split() == [cid], p
        assert cid not in ps_ids(cli, "-a")
        assert berthd.client.container(cid) is None
        assert docker_ids("berth.agent_id=" + berthd.agent_id,
                          "berth.container_id=" + cid) == []
    finally:
        berthd.client.cleanup(cid)


def test_wait_reports_exit_code(berthd, cli):
    p = cli("run", "-d", "--name", "cli-wait4", "busybox:local", "sh", "-c",
            "sleep 1; exit 4")
    assert p.returncode == 0, p
    assert p.stdout.decode().strip() == "cli-wait4"
    try:
        p = cli("wait", "cli-wait4", timeout=30)
        assert p.returncode == 0, p
        assert p.stdout == b"4\n", p
    finally:
        berthd.client.cleanup("cli-wait4")


def test_addr_from_environment(berthd, cli):
    p = cli("ps", "-a", addr=False, env={"BERTH_ADDR": berthd.addr})
    assert p.returncode == 0, p
    p = cli("ps", "-a", addr=False, env={"BERTH_ADDR": berthd.sock})
    assert p.returncode == 0, p


@pytest.mark.parametrize("args", [
    ("rm", "no-such-container"),
    ("wait", "no-such-container"),
    ("kill", "no-such-container"),
    ("run", "--name", "bad id", "busybox:local", "true"),
], ids=["rm-unknown", "wait-unknown", "kill-unknown", "run-bad-id"])
def test_error_is_one_line_nonzero(berthd, cli, args):
    p = cli(*args, timeout=30)
    assert p.returncode != 0, p
    err = p.stderr.decode()
    assert err.strip() != "", p
    assert len(err.rstrip("\n").splitlines()) == 1, p
    assert p.stdout == b"", p


def test_error_from_berthd_is_reported(berthd, cli):
    """A 409 from berthd (REMOVE of a running container) is one line on
    stderr and a non-zero exit."""
    p = cli("run", "-d", "--name", "cli-busy", "busybox:local", "sleep", "300")
    assert p.returncode == 0, p
    try:
        p = cli("rm", "cli-busy")
        assert p.returncode != 0, p
        err = p.stderr.decode().rstrip("\n")
        assert err and len(err.splitlines()) == 1, p
        assert berthd.client.container("cli-busy")["stage"] == "RUNNING"
    finally:
        berthd.client.cleanup("cli-busy")


def test_unreachable_daemon(berthd, cli):
    p = subprocess.run([BERTH_CLI, "--addr", "unix:/nonexistent/berthd.sock",
                        "ps"], capture_output=True, timeout=30)
    assert p.returncode != 0, p
    assert p.stderr.strip() != b"", p
