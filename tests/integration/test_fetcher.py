"""The fetcher (API.md §6): every URI option, archives, hostile archives,
the cache (hits, eviction, one download for many launches), failures named
in the launch error, a kill during FETCHING, and the fetch log."""

import io
import os
import tarfile
import threading
import zipfile

import pytest

import berthlib
from berthlib import launch_call, poll
from fetch_server import FetchServer


@pytest.fixture
def server():
    s = FetchServer().start()
    yield s
    s.stop()


def uri(value, **opts):
    u = {"value": value}
    u.update(opts)
    return u


def launch_with_uris(cid, uris, command="true"):
    body = launch_call(cid, command=command)
    body["launch_container"]["command"]["uris"] = uris
    return body


def tar_bytes(members, mode):
    """members: list of (TarInfo, data or None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def file_info(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    return info, data


def special_info(name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3  # /dev/null's numbers
    return info, None


def sandbox_file(berthd, cid, name):
    with open(os.path.join(berthd.sandbox(cid), name), "rb") as f:
        return f.read()


def metrics(client):
    return client.get("/metrics/snapshot").json()


def test_plain_executable_and_output_file_reach_the_task(berthd, client, new_id, server):
    cid = new_id("plain")
    server.put("/data.txt", b"payload\n")
    server.put("/tool.sh", b"#!/bin/sh\necho tool ran\n")
    server.put("/x.bin", b"renamed bytes\n")
    before = metrics(client)
    body = launch_with_uris(cid, [
        uri(server.url("/data.txt")),
        uri(server.url("/tool.sh"), executable=True),
        uri(server.url("/x.bin?version=2"), output_file="renamed"),
    ], command='cd "$MESOS_SANDBOX" && ./tool.sh && cat data.txt renamed')
    w = client.run(body)
    assert w["state"] == "TASK_FINISHED", w
    assert sandbox_file(berthd, cid, "stdout") == b"tool ran\npayload\nrenamed bytes\n"
    assert os.stat(os.path.join(berthd.sandbox(cid), "tool.sh")).st_mode & 0o777 == 0o755
    log = sandbox_file(berthd, cid, "fetch.log").decode()
    assert server.url("/tool.sh") in log and "renamed" in log
    after = metrics(client)
    assert after["containerizer/fetcher/fetches"] == before["containerizer/fetcher/fetches"] + 1
    assert after["containerizer/fetcher/uris"] == before["containerizer/fetcher/uris"] + 3
    assert after["containerizer/fetcher/bytes"] >= before["containerizer/fetcher/bytes"] + 8 + 24 + 14


@pytest.mark.parametrize("ext,mode", [("tar.gz", "w:gz"), ("tar.xz", "w:xz"), ("tar.bz2", "w:bz2"),
                                      ("zip", None)])
def test_archives_are_extracted(berthd, client, new_id, server, ext, mode):
    cid = new_id("arch")
    if mode:
        d = tarfile.TarInfo("dir")
        d.type, d.mode = tarfile.DIRTYPE, 0o755
        data = tar_bytes([(d, None), file_info("dir/inner.txt", b"inside " + ext.encode()),
                          file_info("./top.txt", b"top")], mode)
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("dir/inner.txt", b"inside " + ext.encode())
            z.writestr("top.txt", b"top")
        data = buf.getvalue()
    server.put("/a." + ext, data)
    server.put("/kept." + ext, data)
    w = client.run(launch_with_uris(cid, [uri(server.url("/a." + ext)),
                                          uri(server.url("/kept." + ext), extract=False)]))
    assert w["state"] == "TASK_FINISHED", w
    assert sandbox_file(berthd, cid, "dir/inner.txt") == b"inside " + ext.encode()
    assert sandbox_file(berthd, cid, "top.txt") == b"top"
    # extract: false keeps the archive as it came
    assert sandbox_file(berthd, cid, "kept." + ext) == data


def hostile_archives(outside):
    rel_out = os.path.relpath(outside, "/")
    return {
        "dotdot": [file_info("../../../../../../../../%s/dotdot" % rel_out, b"x")],
        "absolute": [file_info(os.path.join(outside, "absolute"), b"x")],
        "symlink_then_through": [special_info("out", tarfile.SYMTYPE, outside),
                                 file_info("out/through", b"x")],
        "relative_symlink_out": [special_info("up", tarfile.SYMTYPE, "../../../../../../../../" + rel_out)],
        "hardlink_out": [special_info("hard", tarfile.LNKTYPE, os.path.join(outside, "victim"))],
        "hardlink_dotdot": [special_info("hard", tarfile.LNKTYPE, "../../../../../../../../%s/victim" % rel_out)],
        "device": [special_info("null", tarfile.CHRTYPE)],
        "block_device": [special_info("blk", tarfile.BLKTYPE)],
        "fifo": [special_info("fifo", tarfile.FIFOTYPE)],
    }


@pytest.mark.parametrize("case", ["dotdot", "absolute", "symlink_then_through", "relative_symlink_out",
                                  "hardlink_out", "hardlink_dotdot", "device", "block_device", "fifo"])
def test_hostile_archive_fails_the_launch_and_writes_nothing_outside(berthd, client, new_id, server, case):
    cid = new_id("hostile")
    outside = os.path.join(berthd.root, "outside-" + case)
    os.makedirs(outside)
    with open(os.path.join(outside, "victim"), "wb") as f:
        f.write(b"untouched")
    server.put("/evil.tar", tar_bytes(hostile_archives(outside)[case], "w"))
    r = client.launch(launch_with_uris(cid, [uri(server.url("/evil.tar"))]))
    assert r.status == 500, r.text
    assert "Failed to fetch '%s'" % server.url("/evil.tar") in r.text
    assert sorted(os.listdir(outside)) == ["victim"]
    st = os.stat(os.path.join(outside, "victim"))
    assert st.st_nlink == 1
    with open(os.path.join(outside, "victim"), "rb") as f:
        assert f.read() == b"untouched"
    sandbox = berthd.sandbox(cid)
    for dirpath, dirnames, filenames in os.walk(sandbox):
        for n in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, n))
            assert not (os.path.stat.S_ISCHR(st.st_mode) or os.path.stat.S_ISBLK(st.st_mode)
                        or os.path.stat.S_ISFIFO(st.st_mode)), n
    w = client.wait_ok(cid)
    assert w["state"] == "TASK_FAILED" and w["reason"] == "REASON_CONTAINER_LAUNCH_FAILED", w


def test_404_is_named_in_the_launch_error(berthd, client, new_id, server):
    cid = new_id("missing")
    before = metrics(client)
    r = client.launch(launch_with_uris(cid, [uri(server.url("/nothing-here"))]))
    assert r.status == 500, r.text
    assert "Failed to fetch '%s': HTTP 404" % server.url("/nothing-here") in r.text
    w = client.wait_ok(cid)
    assert w["state"] == "TASK_FAILED", w
    assert "HTTP 404" in w["message"]
    assert "HTTP 404" in sandbox_file(berthd, cid, "fetch.log").decode()
    assert metrics(client)["containerizer/fetcher/fetch_failures"] == \
        before["containerizer/fetcher/fetch_failures"] + 1


def test_local_files_come_only_from_allowed_host_paths(berthd, client, new_id):
    src = os.path.join(berthd.allowed_dir, "local.txt")
    with open(src, "wb") as f:
        f.write(b"local bytes")
    cid = new_id("local")
    w = client.run(launch_with_uris(cid, [uri("file://" + src), uri(src, output_file="again")]))
    assert w["state"] == "TASK_FINISHED", w
    assert sandbox_file(berthd, cid, "local.txt") == b"local bytes"
    assert sandbox_file(berthd, cid, "again") == b"local bytes"
    cid = new_id("denied")
    r = client.launch(launch_with_uris(cid, [uri("/etc/hostname")]))
    assert r.status == 500, r.text
    assert "Failed to fetch '/etc/hostname'" in r.text and "--allowed_host_paths" in r.text


def test_cache_hit_is_served_with_the_file_gone_from_the_server(berthd, client, new_id, server):
    server.put("/cached.txt", b"from the cache")
    first = new_id("cache1")
    w = client.run(launch_with_uris(first, [uri(server.url("/cached.txt"), cache=True)]))
    assert w["state"] == "TASK_FINISHED", w
    server.delete("/cached.txt")
    second = new_id("cache2")
    w = client.run(launch_with_uris(second, [uri(server.url("/cached.txt"), cache=True)]))
    assert w["state"] == "TASK_FINISHED", w
    assert sandbox_file(berthd, second, "cached.txt") == b"from the cache"
    assert server.count("/cached.txt") == 1
    assert "served from the cache" in sandbox_file(berthd, second, "fetch.log").decode()


def test_cache_evicts_the_least_recently_used(berthd_factory, server):
    d = berthd_factory("--fetcher_cache_size=3KB")
    server.put("/a.bin", b"a" * 2048)
    server.put("/b.bin", b"b" * 2048)
    for i, path in enumerate(["/a.bin", "/b.bin", "/b.bin", "/a.bin"]):
        cid = "evict-%d" % i
        w = d.client.run(launch_with_uris(cid, [uri(server.url(path), cache=True)]))
        assert w["state"] == "TASK_FINISHED", w
    # a, then b (a evicted: 4 KB > 3 KB), b again from the cache, a downloaded again
    assert server.count("/b.bin") == 1
    assert server.count("/a.bin") == 2
    cache = os.path.join(d.work_dir, "fetcher-cache")
    assert sum(os.path.getsize(os.path.join(cache, n)) for n in os.listdir(cache)) <= 3072


def test_kill_during_fetching_stops_the_download(berthd, client, new_id, server):
    cid = new_id("slowkill")
    result = {}
    t = threading.Thread(target=lambda: result.setdefault(
        "r", client.launch(launch_with_uris(cid, [uri(server.url("/slow/big.bin"))]), timeout=120)))
    t.start()
    assert server.slow_started.wait(30), "the download never started"
    assert client.container(cid)["stage"] == "FETCHING"
    r = client.kill(cid)
    assert r.status == 200, r.text
    # the server sees the connection close: the download ended, not just the launch
    assert server.slow_closed.wait(15), "the download went on after the kill"
    t.join(30)
    assert result["r"].status == 500, result["r"].text
    w = client.wait_ok(cid)
    assert w["state"] == "TASK_KILLED", w
    cache = os.path.join(berthd.work_dir, "fetcher-cache")
    assert [n for n in os.listdir(cache) if n.endswith(".part")] == []


def test_ten_launches_of_one_cached_uri_download_it_once(berthd, client, new_id, server):
    server.put("/shared.bin", b"s" * 100000)
    ids = [new_id("ten") for _ in range(10)]
    results = {}

    def go(cid):
        results[cid] = client.launch(
            launch_with_uris(cid, [uri(server.url("/delayed/shared.bin"), cache=True)]), timeout=120)

    threads = [threading.Thread(target=go, args=(cid,)) for cid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)
    for cid in ids:
        assert results[cid].status == 200, (cid, results[cid].text)
        assert client.wait_ok(cid)["state"] == "TASK_FINISHED"
        assert sandbox_file(berthd, cid, "shared.bin") == b"s" * 100000
    assert server.count("/delayed/shared.bin") == 1


def test_a_file_over_the_size_cap_fails_the_launch(berthd_factory, server):
    d = berthd_factory("--fetcher_max_size=1KB")
    server.put("/big.bin", b"x" * 4096)
    r = d.client.launch(launch_with_uris("toobig", [uri(server.url("/big.bin"))]))
    assert r.status == 500, r.text
    assert "Failed to fetch '%s': larger than --fetcher_max_size" % server.url("/big.bin") in r.text


def test_a_download_past_the_timeout_fails_the_launch(berthd_factory, server):
    d = berthd_factory("--fetcher_timeout=2secs")
    r = d.client.launch(launch_with_uris("tooslow", [uri(server.url("/slow/x.bin"))]), timeout=60)
    assert r.status == 500, r.text
    assert "Failed to fetch '%s': timed out" % server.url("/slow/x.bin") in r.text
    assert server.slow_closed.wait(15)
