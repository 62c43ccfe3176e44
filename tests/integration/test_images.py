"""Image collection (API.md §3 PRUNE_IMAGES, §5 --image_gc_*): berthd removes
only images its own pulls brought, never one a known container uses (any
stage, TERMINATED until removed), an excluded one, or one it did not pull;
the automatic collection removes least recently used first and spares
images used within --image_gc_min_age; the metrics move.

dockerd and the registry are shared: every image these tests remove is one
they made themselves (a unique image pushed to the local registry under
berth-prune-<random>, its local tag removed so that berthd must pull it),
and each test removes its own images at its end.  busybox:local and the
other shared images are never removed (berthd never pulled them).
"""

import json
import os
import re
import secrets
import sqlite3
import subprocess
import time

import pytest

import berthlib
from berthlib import launch_call, poll
from conftest import BERTH_CLI

REGISTRY = berthlib.REGISTRY
BASE = berthlib.DEFAULT_IMAGE
DOCKER = "/usr/bin/docker"


def docker(*args, check=True):
    p = subprocess.run([DOCKER] + list(args), capture_output=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("docker %s failed (%d): %s" % (
            " ".join(args), p.returncode, p.stderr.decode(errors="replace")))
    return p


def present(ref):
    return docker("image", "inspect", ref, check=False).returncode == 0


@pytest.fixture
def images():
    """make(push=True): a unique image (its own id, so removing it frees
    its own bytes) named <registry>/berth-prune-<random>:1.  Pushed and
    then removed locally, so a launch pulls it; push=False keeps it as a
    local tag only (an image berthd did not pull).  Every image made is
    removed at the end, and only those."""
    made = []
    foreign = []

    def make(push=True):
        suffix = secrets.token_hex(4)
        ref = "%s/berth-prune-%s:1" % (REGISTRY, suffix)
        made.append(ref)
        cid = docker("create", BASE, "true").stdout.decode().strip()
        try:
            docker("commit", "-c", "LABEL berth.test=%s" % suffix, cid, ref)
        finally:
            docker("rm", cid, check=False)
        if push:
            docker("push", "-q", ref)
            docker("rmi", ref)
            assert not present(ref)
        return ref

    def container(ref):
        """A docker container of our own (not berthd's) using ref."""
        cid = docker("create", ref, "true").stdout.decode().strip()
        foreign.append(cid)
        return cid

    make.container = container
    yield make
    for cid in foreign:
        docker("rm", "-f", cid, check=False)
    for ref in made:
        if present(ref):
            docker("rmi", ref, check=False)


def prune(client, excluded=()):
    call = {"type": "PRUNE_IMAGES",
            "prune_images": {"excluded_images": [
                {"type": "DOCKER", "docker": {"name": n}} for n in excluded]}}
    r = client.post_call(call, timeout=120)
    assert r.status == 200, (r.status, r.text)
    return r.json()


def records(client):
    r = client.get("/images")
    assert r.status == 200, r.text
    return {i["name"]: i for i in r.json()["images"]}


def run_and_remove(client, cid, image):
    assert client.run(launch_call(cid, "true", image=image))["state"] == "TASK_FINISHED"
    assert client.remove(cid).status == 200


def snapshot(client):
    return client.get("/metrics/snapshot").json()


def test_prune_removes_only_unused_images_berth_pulled(berthd_factory, images):
    flag_ex = images()
    d = berthd_factory("--image_gc_interval=0secs", "--image_gc_excluded_images=" + flag_ex)
    c = d.client
    free, running, ended, call_ex = images(), images(), images(), images()
    local = images(push=False)
    before = snapshot(c)
    for n, ref in enumerate([free, call_ex, flag_ex]):
        run_and_remove(c, "done-%d" % n, ref)
    c.launch_ok(launch_call("runs", "sleep 300", image=running))
    c.run(launch_call("ended", "true", image=ended))  # TERMINATED, not removed
    run_and_remove(c, "local", local)
    try:
        recs = records(c)
        # Every pull is recorded with docker's id; the local tag, which
        # berthd did not pull, is not.
        assert set(recs) == {free, running, ended, call_ex, flag_ex}, recs
        assert recs[free]["docker_id"].startswith("sha256:")
        assert recs[running]["in_use"] and recs[ended]["in_use"] and not recs[free]["in_use"]

        result = prune(c, excluded=[call_ex])
        assert result["removed"] == [free], result
        assert result["kept"] == [], result
        assert result["bytes_freed"] > 0
        assert not present(free)
        for ref in (running, ended, call_ex, flag_ex, local):
            assert present(ref), ref
        assert free not in records(c)

        after = snapshot(c)
        assert after["containerizer/docker/image_gc/removed"] == before["containerizer/docker/image_gc/removed"] + 1
        assert after["containerizer/docker/image_gc/runs/prune"] == before["containerizer/docker/image_gc/runs/prune"] + 1
        assert after["containerizer/docker/image_gc/freed_bytes"] >= result["bytes_freed"]
        text = c.get("/metrics").text
        for family in ("berth_images_removed_total", "berth_image_freed_bytes_total",
                       "berth_image_gc_runs_total"):
            assert "# TYPE %s counter" % family in text
        assert 'berth_image_gc_runs_total{trigger="prune"} 1' in text

        # Once their containers are gone, the CLI prunes them too; the
        # excluded ones stay whatever the call says.
        c.cleanup("runs")
        c.cleanup("ended")
        env = dict(os.environ, BERTH_ADDR="unix:" + d.sock)
        p = subprocess.run([BERTH_CLI, "image", "prune", "--exclude", call_ex],
                           capture_output=True, timeout=120, env=env)
        assert p.returncode == 0, p.stderr
        assert sorted(p.stdout.decode().split()) == sorted([running, ended])
        assert not present(running) and not present(ended)
        assert present(call_ex) and present(flag_ex) and present(local)
        p = subprocess.run([BERTH_CLI, "image", "ls"], capture_output=True, timeout=60, env=env)
        assert p.returncode == 0, p.stderr
        lines = p.stdout.decode().splitlines()
        assert lines[0].split()[0] == "IMAGE"
        assert sorted(line.split()[0] for line in lines[1:]) == sorted([call_ex, flag_ex])
    finally:
        c.cleanup("runs")
        c.cleanup("ended")


def test_launches_record_their_use(berthd_factory, images):
    d = berthd_factory("--image_gc_interval=0secs")
    ref = images()
    run_and_remove(d.client, "first", ref)
    first = records(d.client)[ref]
    assert first["pulled_at"] == first["last_used"]
    # No pull this time: the use is recorded all the same.
    run_and_remove(d.client, "second", ref)
    second = records(d.client)[ref]
    assert second["pulled_at"] == first["pulled_at"]
    assert second["last_used"] > first["last_used"]
    assert second["docker_id"] == first["docker_id"]
    # Across a restart, the record is kept.
    d.stop()
    d.start()
    assert records(d.client)[ref] == dict(second, in_use=False)


def test_image_another_container_uses_is_kept_and_reported(berthd_factory, images):
    d = berthd_factory("--image_gc_interval=0secs")
    ref = images()
    run_and_remove(d.client, "once", ref)
    images.container(ref)  # not berthd's: docker refuses the removal
    result = prune(d.client)
    assert result["removed"] == [], result
    assert [k["name"] for k in result["kept"]] == [ref], result
    assert "container" in result["kept"][0]["reason"]
    assert present(ref)
    assert ref in records(d.client)
    assert "image gc: kept %s" % ref in open(d.log_path).read()


def test_prune_errors_are_400(berthd_factory):
    c = berthd_factory("--image_gc_interval=0secs").client
    bad = [
        {"excluded_images": {}},
        {"excluded_images": [{"type": "APPC", "appc": {"name": "x"}}]},
        {"excluded_images": [{"type": "DOCKER", "docker": {}}]},
        {"excluded_images": [{"type": "DOCKER", "docker": {"name": "UPPER/Case"}}]},
        {"excluded_images": ["busybox:local"]},
    ]
    for body in bad:
        r = c.post_call({"type": "PRUNE_IMAGES", "prune_images": body})
        berthlib.assert_text_error(r, 400)
        assert "prune_images.excluded_images" in r.text, r.text
    r = c.post_call({"type": "PRUNE_IMAGES", "prune_images": 5})
    berthlib.assert_text_error(r, 400)
    assert "prune_images" in r.text, r.text
    # With nothing berthd pulled, there is nothing to do.
    r = c.post_call({"type": "PRUNE_IMAGES"})
    assert r.status == 200 and r.json()["removed"] == [], r.text


@pytest.mark.parametrize("flags,words", [
    (["--image_gc_threshold=101"], ["--image_gc_threshold", "101"]),
    (["--image_gc_threshold=ninety"], ["--image_gc_threshold"]),
    (["--image_gc_interval=5"], ["--image_gc_interval"]),
    (["--image_gc_excluded_images=Bad Name"], ["--image_gc_excluded_images", "Bad Name"]),
])
def test_bad_image_gc_flags_refuse_to_start(flags, words, tmp_path):
    import conftest
    p = subprocess.run([conftest.BERTHD, "--work_dir=%s" % tmp_path,
                        "--listen=unix:%s/s.sock" % tmp_path] + flags,
                       capture_output=True, timeout=30)
    assert p.returncode != 0
    for w in words:
        assert w in p.stderr.decode(), p.stderr


def set_last_used(db, name, when):
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.execute("UPDATE images SET last_used = ? WHERE name = ?", (when, name))
    finally:
        conn.close()


def test_automatic_collection_removes_least_recently_used_first(berthd_factory, images):
    """The disk is always fuller than a threshold of 0: every interval the
    collection removes berthd's unused images, oldest use first, sparing
    those used within --image_gc_min_age.  Two images are made to look
    used 2 and 1 hours ago by writing their records while berthd is
    stopped, as a berthd that ran them then would have."""
    d = berthd_factory("--image_gc_interval=0secs")
    c = d.client
    oldest, older, fresh, running = images(), images(), images(), images()
    for n, ref in enumerate([fresh, older, oldest]):
        run_and_remove(c, "gc-%d" % n, ref)
    c.launch_ok(launch_call("gc-runs", "sleep 300", image=running))
    d.stop()
    db = os.path.join(d.work_dir, "meta", "berth.db")
    now = time.time()
    set_last_used(db, oldest, now - 7200)
    set_last_used(db, older, now - 3600)
    set_last_used(db, running, now - 9000)  # old, but its container runs
    d.flags += ["--image_gc_interval=1secs", "--image_gc_threshold=0", "--image_gc_min_age=30mins"]
    d.start()
    try:
        poll(lambda: not present(older), 60, what="the collection to remove " + older)
        assert not present(oldest)
        assert present(fresh) and present(running)
        log = open(d.log_path).read()
        removed = re.findall(r"image gc: removed (\S+) \(", log)
        assert removed == [oldest, older], removed
        assert set(records(c)) == {fresh, running}
        snap = snapshot(c)
        assert snap["containerizer/docker/image_gc/removed"] == 2
        assert snap["containerizer/docker/image_gc/runs/disk"] >= 1
        assert snap["containerizer/docker/image_gc/freed_bytes"] > 0
        assert 0 < snap["containerizer/docker/image_gc/disk_used_ratio"] <= 1
        text = c.get("/metrics").text
        assert re.search(r'berth_image_gc_runs_total\{trigger="disk"\} [1-9]', text), text
        assert "# TYPE berth_image_disk_used_ratio gauge" in text
    finally:
        c.cleanup("gc-runs")
