"""A task that attacks berthd through its own sandbox (README "Security").

The sandbox is bind-mounted read-write and docker lets a task mknod, so a
task can replace stdout/stderr and the files the API reads with device
nodes, FIFOs, symlinks to host paths and hard links, and nest directories
past PATH_MAX.  berthd, root on the host, must then never open a device
node or FIFO, never create, open or delete anything outside the sandbox,
never block, and answer REMOVE truthfully -- across a kill -9 restart, the
files API, REMOVE and a relaunch of the same id.

"Opened" is watched with inotify on the host: it reports a real open
(IN_OPEN) but not the O_PATH pin berthd uses to look before it opens.
Device nodes are char 1:3 (the null device) and 5:0 (the tty), harmless if
they ever were opened, which the test would then report.
"""

import base64
import struct
import ctypes
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import urllib.parse

import pytest

import berthlib
from berthlib import launch_call, poll, shell_cmd

IN_ACCESS, IN_MODIFY, IN_OPEN = 0x1, 0x2, 0x20
IN_NONBLOCK, IN_DONT_FOLLOW = 0o4000, 0x02000000
_libc = ctypes.CDLL(None, use_errno=True)

LEVEL = "d" * 100
DEEP_LEVELS = 60  # 60 * 101 bytes: past PATH_MAX (4096)


class OpenWatch:
    """inotify watches on paths (never followed, never opened by the watch
    itself); opened() lists those something opened, read or wrote."""

    def __init__(self):
        self.fd = _libc.inotify_init1(IN_NONBLOCK)
        assert self.fd >= 0, "inotify_init1: errno %d" % ctypes.get_errno()
        self.wds = {}

    def add(self, path):
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(path),
                                     IN_OPEN | IN_ACCESS | IN_MODIFY | IN_DONT_FOLLOW)
        assert wd >= 0, "inotify_add_watch %s: errno %d" % (path, ctypes.get_errno())
        self.wds[wd] = path

    def opened(self):
        hits = []
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return hits
            i = 0
            while i + 16 <= len(buf):
                wd, mask, _cookie, size = struct.unpack_from("iIII", buf, i)
                if mask & (IN_OPEN | IN_ACCESS | IN_MODIFY) and wd in self.wds:
                    hits.append(self.wds[wd])
                i += 16 + size

    def close(self):
        os.close(self.fd)


@pytest.fixture
def outside():
    """A host directory outside the work dir that planted links point at:
    a file with content, a FIFO nobody reads, and a name that must stay
    absent."""
    d = tempfile.mkdtemp(prefix="bt-outside-")
    with open(os.path.join(d, "target"), "w") as f:
        f.write("keep\n")
    os.mkfifo(os.path.join(d, "fifo"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def outside_intact(d):
    assert sorted(os.listdir(d)) == ["fifo", "target"], os.listdir(d)
    with open(os.path.join(d, "target")) as f:
        assert f.read() == "keep\n"
    assert stat.S_ISFIFO(os.lstat(os.path.join(d, "fifo")).st_mode)


def nest_cmd():
    """sh text: LEVEL/LEVEL/... DEEP_LEVELS deep, built from the bottom up
    by renames (a shell cannot cd past PATH_MAX), a file at the bottom."""
    return ("mkdir %s && echo deep > %s/f && i=1 && while [ $i -lt %d ]; do "
            "mkdir wrap && mv %s wrap/%s && mv wrap %s || exit 1; i=$((i+1)); done"
            % (LEVEL, LEVEL, DEEP_LEVELS, LEVEL, LEVEL, LEVEL))


def plant_script(outside_dir, then="sleep 3600"):
    """sh -c text: in the sandbox, replace stdout/stderr and add every kind
    of hostile entry, nest past PATH_MAX, mark done, then `then`."""
    o = outside_dir
    return " && ".join([
        "cd $MESOS_SANDBOX",
        "echo hello > file",
        "ln file hard",
        "rm -f stdout stderr",
        "mknod stdout c 1 3",
        "mkfifo stderr",
        "mknod tty c 5 0",
        "mkfifo fifo",
        "ln -s %s/target link_out" % o,
        "ln -s %s/absent link_absent" % o,
        "ln -s %s/fifo link_fifo" % o,
        "ln -s /dev/watchdog link_dev",
        "mkdir sub && ln -s %s sub/up" % o,
        nest_cmd(),
        "touch planted",
        then,
    ])


PLANTED = ["stdout", "stderr", "tty", "fifo"]


def kill9_restart(d):
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=10)
    d.restart()


def files_get(client, what, path, **query):
    q = "path=" + urllib.parse.quote(path, safe="/")
    for k, v in query.items():
        q += "&%s=%s" % (k, v)
    return client.get("/files/%s?%s" % (what, q), timeout=20)


def all_entries(client, path):
    """Every /files/browse entry of path, page by page."""
    out, offset = [], 0
    while True:
        r = files_get(client, "browse", path, offset=offset, limit=1000)
        assert r.status == 200, r
        page = r.json()
        out += page
        if len(page) < 1000:
            return out
        offset += len(page)


def test_planted_nodes_and_links_are_never_opened_across_restart(berthd, client, new_id, outside):
    cid = new_id("plant")
    box = berthd.sandbox(cid)
    client.launch_ok(launch_call(cid, plant_script(outside)))
    poll(lambda: os.path.exists(os.path.join(box, "planted")), 60, what="task planted its sandbox")
    watch = OpenWatch()
    try:
        for name in PLANTED:
            watch.add(os.path.join(box, name))
        watch.add(os.path.join(outside, "fifo"))
        watch.add(os.path.join(outside, "target"))
        # Recovery reopens stdout/stderr of the running task.
        kill9_restart(berthd)
        assert client.health().status == 200
        for name in PLANTED + ["link_out", "link_absent", "link_fifo", "link_dev", "sub/up/target"]:
            r = files_get(client, "read", "/sandboxes/%s/%s" % (cid, name), offset=0, length=100)
            assert r.status in (400, 404), (name, r)
        r = files_get(client, "read", "/sandboxes/%s/hard" % cid, offset=0)
        assert r.status == 200 and r.json()["data"] == "hello\n", r
        names = {e["path"].rsplit("/", 1)[1] for e in all_entries(client, "/sandboxes/" + cid)}
        assert set(PLANTED + ["link_out", "link_fifo", "hard", "sub", LEVEL]) <= names, names
        assert client.health().status == 200
        assert watch.opened() == []
        # REMOVE of a sandbox nested past PATH_MAX: the truth, and it is gone.
        assert client.kill(cid).status == 200
        client.wait_ok(cid)
        r = client.remove(cid)
        assert r.status == 200, r
        assert not os.path.lexists(box)
        assert client.container(cid) is None
        assert watch.opened() == []
        outside_intact(outside)
    finally:
        watch.close()
    assert berthd.alive()


def test_relaunch_after_remove_creates_nothing_through_planted_links(berthd, client, new_id, outside):
    """The issue's chain: stdout/stderr linked to host paths (one a FIFO
    nobody reads) next to a tree past PATH_MAX; REMOVE, then the same id
    again."""
    cid = new_id("relaunch")
    box = berthd.sandbox(cid)
    script = " && ".join([
        "cd $MESOS_SANDBOX",
        nest_cmd(),
        "rm -f stdout stderr",
        "ln -s %s/absent stdout" % outside,
        "ln -s %s/fifo stderr" % outside,
    ])
    assert client.run(launch_call(cid, script))["exit_status"] == 0
    watch = OpenWatch()
    try:
        watch.add(os.path.join(outside, "fifo"))
        r = client.remove(cid)
        assert r.status == 200, r
        assert not os.path.lexists(box)
        body = launch_call(cid, "echo again")
        w = client.run(body)
        assert w["exit_status"] == 0
        assert client.health().status == 200
        r = files_get(client, "read", "/sandboxes/%s/stdout" % cid, offset=0)
        assert r.status == 200 and r.json()["data"] == "again\n", r
        assert watch.opened() == []
        outside_intact(outside)
    finally:
        watch.close()
    assert berthd.alive()


def test_remove_that_fails_is_reported_and_can_be_retried(berthd, client, new_id, tmp_path):
    """A mount inside the sandbox (made here on the host, standing for any
    entry the walk cannot delete): REMOVE must not answer 200 nor forget the
    container, must not delete what is mounted, and succeeds once the mount
    is gone."""
    cid = new_id("stuck")
    box = berthd.sandbox(cid)
    assert client.run(launch_call(cid, "mkdir $MESOS_SANDBOX/mnt"))["exit_status"] == 0
    src = tmp_path / "mounted"
    src.mkdir()
    (src / "precious").write_text("keep\n")
    mnt = os.path.join(box, "mnt")
    subprocess.run(["mount", "--bind", str(src), mnt], check=True)
    try:
        r = client.remove(cid)
        assert r.status != 200, r
        assert r.status >= 400, r
        assert client.container(cid) is not None, "record deleted though the sandbox is still there"
        assert (src / "precious").read_text() == "keep\n"
    finally:
        subprocess.run(["umount", "-l", mnt], check=False)
    r = client.remove(cid)
    assert r.status == 200, r
    assert not os.path.lexists(box)
    assert client.container(cid) is None
    assert (src / "precious").read_text() == "keep\n"


def test_browse_pages_and_shows_every_name(berthd, client, new_id):
    cid = new_id("names")
    # 2,500 files and three names that are not UTF-8.
    script = ("cd $MESOS_SANDBOX && mkdir many && cd many && "
              "i=0; while [ $i -lt 2500 ]; do : > f$i; i=$((i+1)); done; "
              "printf x > \"$(printf 'bad\\377name')\" && printf y > \"$(printf '\\300\\200')\" "
              "&& printf z > \"$(printf 'ok\\342\\202')\"")
    assert client.run(launch_call(cid, script))["exit_status"] == 0
    r = files_get(client, "browse", "/sandboxes/%s/many" % cid)
    assert r.status == 200
    assert len(r.json()) == 1000, "the default page"
    r = files_get(client, "browse", "/sandboxes/%s/many" % cid, limit=100000)
    assert len(r.json()) == 1000, "limit is capped"
    entries = all_entries(client, "/sandboxes/%s/many" % cid)
    assert len(entries) == 2503
    raw = set()
    prefix = ("/sandboxes/%s/many/" % cid).encode()
    for e in entries:
        json.dumps(e, ensure_ascii=False).encode("utf-8")  # valid text
        if "path_base64" in e:
            exact = base64.b64decode(e["path_base64"])
            assert exact.startswith(prefix)
            raw.add(exact[len(prefix):])
            assert "\ufffd" in e["path"]
    assert raw == {b"bad\xffname", b"\xc0\x80", b"ok\xe2\x82"}
    # The exact bytes read the file back.
    exact = base64.b64encode(prefix + b"bad\xffname").decode()
    r = client.get("/files/read?path_base64=%s&offset=0" % urllib.parse.quote(exact, safe=""))
    assert r.status == 200 and r.json()["data"] == "x", r
    for bad in ["%%%", base64.b64encode(prefix + b"a\0b").decode(), base64.b64encode(b"/etc/passwd").decode()]:
        r = client.get("/files/read?path_base64=%s&offset=0" % urllib.parse.quote(bad, safe=""))
        assert r.status == 400, (bad, r)


def test_browse_page_of_longest_worst_names_is_bounded(berthd, client, new_id):
    """1,200 names of 255 bytes, none of them UTF-8: a page holds 1,000, and
    its size stays a few MB (each name is shown twice, lossy and exact)."""
    cid = new_id("longnames")
    stem = "\\377" * 251
    script = ("cd $MESOS_SANDBOX && mkdir w && cd w && i=1000; while [ $i -lt 2200 ]; do "
              ": > \"$(printf '%s')$i\"; i=$((i+1)); done" % stem)
    assert client.run(launch_call(cid, script), timeout=120)["exit_status"] == 0
    r = files_get(client, "browse", "/sandboxes/%s/w" % cid)
    assert r.status == 200
    page = r.json()
    assert len(page) == 1000
    assert all(len(base64.b64decode(e["path_base64"])) == len("/sandboxes/%s/w/" % cid) + 255 for e in page)
    assert len(r.body) < 4 * 1024 * 1024, len(r.body)
    print("browse page of 1000 worst names: %d bytes" % len(r.body))


def test_read_reply_is_bounded_and_huge_offsets_are_clean(berthd, client, new_id):
    cid = new_id("ctl")
    # 4 MiB of control bytes: each is six bytes of JSON.
    script = "head -c 4194304 /dev/zero | tr '\\0' '\\1' > $MESOS_SANDBOX/ctl"
    assert client.run(launch_call(cid, script))["exit_status"] == 0
    r = files_get(client, "read", "/sandboxes/%s/ctl" % cid, offset=0, length=4194304)
    assert r.status == 200
    assert len(r.body) <= 4 * 1024 * 1024 + 1024, len(r.body)
    data = r.json()["data"]
    assert data and set(data) == {"\x01"}
    r = files_get(client, "read", "/sandboxes/%s/ctl" % cid, offset=0, length=4194304, encoding="base64")
    assert r.status == 200 and len(base64.b64decode(r.json()["data"])) == 4194304
    for offset in (2 ** 63 - 1, 2 ** 63 - 4096, 4194304, 4194305):
        r = files_get(client, "read", "/sandboxes/%s/ctl" % cid, offset=offset, length=4096)
        assert r.status == 200, (offset, r)
        assert r.json() == {"data": "", "offset": offset}
    r = files_get(client, "read", "/sandboxes/%s/ctl" % cid, offset=2 ** 63)
    assert r.status == 400, r


def as_uid(uid, *argv):
    return subprocess.run(list(argv), user=uid, group=uid, extra_groups=[],
                          capture_output=True, timeout=30)


def test_state_closed_to_local_users_and_sandbox_open_to_task_user(berthd_factory, tmp_path):
    d = berthd_factory()
    # The harness's root dir is private; open it as /var/lib is, so only
    # berthd's own modes stand between another user and the work dir.
    os.chmod(d.root, 0o755)
    cid = "as-nobody"
    secret = "s3cret-%d" % os.getpid()
    body = launch_call(cid, shell_cmd("id -u && echo written > $MESOS_SANDBOX/by-task && ls -ld $MESOS_SANDBOX",
                                      env={"TOKEN": secret}))
    body["launch_container"]["command"]["user"] = "nobody"
    w = d.client.run(body)
    assert w["exit_status"] == 0, w
    with open(os.path.join(d.sandbox(cid), "by-task")) as f:
        assert f.read() == "written\n"
    with open(d.stdout_path(cid)) as f:
        assert f.read().split("\n")[0] == "65534"
    meta = os.path.join(d.work_dir, "meta")
    stored = b""
    for name in os.listdir(meta):
        with open(os.path.join(meta, name), "rb") as f:
            stored += f.read()
    assert secret.encode() in stored, "the secret is in the state files: the test means something"
    assert stat.S_IMODE(os.stat(d.work_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(meta).st_mode) == 0o700
    for name in os.listdir(meta):
        assert stat.S_IMODE(os.stat(os.path.join(meta, name)).st_mode) == 0o600, name
    for path in [d.work_dir, meta, os.path.join(meta, "berth.db"), os.path.join(meta, "berth.db-wal"),
                 d.stdout_path(cid), os.path.join(d.work_dir, "sandboxes")]:
        r = as_uid(65534, "cat", path) if not os.path.isdir(path) else as_uid(65534, "ls", path)
        assert r.returncode != 0 and b"ermission denied" in r.stderr, (path, r)
    d.client.remove(cid)


def test_modes_are_fixed_for_an_existing_work_dir(berthd_factory):
    d = berthd_factory()
    d.stop()
    meta = os.path.join(d.work_dir, "meta")
    os.chmod(d.work_dir, 0o755)
    os.chmod(meta, 0o755)
    os.chmod(os.path.join(d.work_dir, "sandboxes"), 0o755)
    for name in os.listdir(meta):
        os.chmod(os.path.join(meta, name), 0o644)
    d.start()
    assert stat.S_IMODE(os.stat(d.work_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(d.work_dir, "sandboxes")).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(meta).st_mode) == 0o700
    for name in os.listdir(meta):
        assert stat.S_IMODE(os.stat(os.path.join(meta, name)).st_mode) == 0o600, name
