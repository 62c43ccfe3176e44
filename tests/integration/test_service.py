"""berthd as a node service: what `meson install` puts down (unit, group,
/run/berth, man pages) is valid, enables, and starts berthd as its
ExecStart says; the man pages list every flag and command."""

import grp
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile

import pytest

from berthlib import BerthClient, poll
from conftest import BERTH_CLI, BERTHD, BUILD_DIR, REPO_ROOT

UNIT = "usr/local/lib/systemd/system/berthd.service"


@pytest.fixture(scope="module")
def root():
    """`meson install` into a scratch root, with systemd's own targets
    beside it so systemd-analyze can resolve the unit's dependencies."""
    if not shutil.which("systemd-analyze"):
        pytest.fail("systemd-analyze missing: apt-get install systemd")
    d = tempfile.mkdtemp(prefix="berth-install-")
    try:
        p = subprocess.run(["meson", "install", "-C", BUILD_DIR, "--no-rebuild", "--destdir", d],
                           capture_output=True, timeout=300)
        assert p.returncode == 0, p
        targets = os.path.join(d, "usr/lib/systemd/system")
        os.makedirs(targets)
        for f in os.listdir("/usr/lib/systemd/system"):
            if f.endswith(".target"):
                shutil.copy("/usr/lib/systemd/system/" + f, targets)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def unit_values(root, key):
    with open(os.path.join(root, UNIT)) as f:
        return [line.split("=", 1)[1].strip() for line in f if line.startswith(key + "=")]


def test_install_puts_down_the_node_service(root):
    for path in ["usr/local/bin/berthd", "usr/local/bin/berth", UNIT, "usr/local/lib/sysusers.d/berth.conf",
                 "usr/local/lib/tmpfiles.d/berth.conf", "usr/local/share/man/man1/berth.1",
                 "usr/local/share/man/man8/berthd.8"]:
        assert os.path.isfile(os.path.join(root, path)), path


def test_unit_verifies_and_enables(root):
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", "--root=" + root, "/" + UNIT],
                       capture_output=True, timeout=60)
    assert p.returncode == 0 and p.stderr == b"", p
    p = subprocess.run(["systemctl", "--root=" + root, "enable", "berthd.service"], capture_output=True, timeout=60)
    assert p.returncode == 0, p
    assert os.path.islink(os.path.join(root, "etc/systemd/system/multi-user.target.wants/berthd.service"))


def test_execstart_runs_berthd_with_the_socket_group(root):
    # The group the sysusers snippet creates, created as a package install would.
    p = subprocess.run(["systemd-sysusers", os.path.join(root, "usr/local/lib/sysusers.d/berth.conf")],
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p
    gid = grp.getgrnam("berth").gr_gid
    (execstart,) = unit_values(root, "ExecStart")
    argv = shlex.split(execstart)
    argv[0] = os.path.join(root, argv[0].lstrip("/"))
    env = dict(os.environ)
    for assignment in unit_values(root, "Environment"):
        k, v = assignment.split("=", 1)
        env[k] = v
    tmp = tempfile.mkdtemp(prefix="bsvc-")
    sock = os.path.join(tmp, "berthd.sock")
    env.update(BERTH_WORK_DIR=os.path.join(tmp, "work"), BERTH_LISTEN="unix:" + sock)
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        client = BerthClient(sock)
        poll(lambda: client.health().status == 200, 30, what="/health of the unit's berthd")
        st = os.stat(sock)
        assert st.st_gid == gid
        assert stat.S_IMODE(st.st_mode) == 0o660
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


def man_text(name):
    with open(os.path.join(REPO_ROOT, "man", name)) as f:
        return f.read().replace("\\-", "-")


def test_berthd_man_page_lists_every_flag():
    p = subprocess.run([BERTHD, "--help"], capture_output=True, timeout=30)
    flags = set(re.findall(r"^  --([a-z_]+)", (p.stdout + p.stderr).decode(), re.M))
    assert len(flags) > 10, flags
    documented = set(re.findall(r"--([a-z_]+)", man_text("berthd.8")))
    assert flags <= documented, flags - documented


def test_berth_man_page_lists_every_command_and_option():
    text = man_text("berth.1")
    main = subprocess.run([BERTH_CLI, "--help"], capture_output=True, timeout=30).stdout.decode()
    commands = re.findall(r"^  ([a-z]+)  ", main, re.M)
    assert "run" in commands and len(commands) > 5, commands
    options = set(re.findall(r"--([a-z_-]+)", main))
    for c in commands:
        assert re.search(r"\\fB%s\\fR" % c, text), c
        sub = subprocess.run([BERTH_CLI, c, "--help"], capture_output=True, timeout=30).stdout.decode()
        options |= set(re.findall(r"(?<![\w-])--([a-z][a-z_-]*)", sub))
    documented = set(re.findall(r"--([a-z][a-z_-]*)", text))
    assert options <= documented, options - documented
