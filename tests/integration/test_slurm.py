"""berth as a job step: containers bound to their client (WAIT_CONTAINER
kill_on_disconnect, `berth run` in the foreground) and, against a local
Slurm brought up by scripts/slurm.sh, `srun berth run` (API.md §3, §9)."""

import json
import os
import signal
import socket
import subprocess
import time

import pytest

from berthlib import docker_inspect, launch_call, poll
from conftest import BERTH_CLI

# Bounds for polls, not timing claims: the end must come, these only stop
# a broken build from hanging the suite.
END_TIMEOUT = 30


def stage(berthd, cid):
    c = berthd.client.container(cid)
    return c.get("stage") if c else None


def docker_running(berthd, cid):
    try:
        return docker_inspect(berthd.docker_name(cid))["State"]["Running"]
    except AssertionError:
        return False


def ended(berthd, cid):
    return stage(berthd, cid) == "TERMINATED" and not docker_running(berthd, cid)


def open_wait(berthd, cid, **extra):
    """A WAIT_CONTAINER parked on a raw connection the test can drop."""
    body = json.dumps({"type": "WAIT_CONTAINER",
                       "wait_container": dict({"container_id": {"value": cid}}, **extra)}).encode()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(berthd.sock)
    s.sendall(b"POST /api/v1 HTTP/1.1\r\nHost: berthd\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    return s


def berth_env(berthd, **extra):
    e = dict(os.environ)
    e["BERTH_ADDR"] = berthd.addr
    for k in [k for k in e if k.startswith("SLURM_")]:
        del e[k]
    e.update(extra)
    return e


def wait_stage(berthd, cid, want):
    poll(lambda: stage(berthd, cid) == want, END_TIMEOUT, what="%s %s" % (cid, want))


# ---------------------------------------------------------------------------
# Bound to its client, outside Slurm


def test_wait_kill_on_disconnect_destroys_when_client_leaves(berthd, new_id):
    cid = new_id("kod")
    berthd.client.launch_ok(launch_call(cid, "sleep 300"))
    s = open_wait(berthd, cid, kill_on_disconnect=True)
    time.sleep(0.5)  # let berthd park the wait before the hang-up
    assert stage(berthd, cid) == "RUNNING"
    s.close()
    poll(lambda: ended(berthd, cid), END_TIMEOUT, what="the bound container's end")
    assert berthd.client.wait_ok(cid)["state"] == "TASK_KILLED"


def test_wait_without_flag_leaves_container_when_client_leaves(berthd, new_id):
    cid = new_id("plain")
    berthd.client.launch_ok(launch_call(cid, "sleep 300"))
    s = open_wait(berthd, cid)
    s2 = open_wait(berthd, cid, kill_on_disconnect=False)
    time.sleep(0.5)
    s.close()
    s2.close()
    # The hang-ups are seen within the server's poll period; a marker WAIT
    # bound on a second container shows berthd has acted on hang-ups since.
    marker = new_id("marker")
    berthd.client.launch_ok(launch_call(marker, "sleep 300"))
    m = open_wait(berthd, marker, kill_on_disconnect=True)
    time.sleep(0.5)
    m.close()
    poll(lambda: ended(berthd, marker), END_TIMEOUT, what="the marker's end")
    assert stage(berthd, cid) == "RUNNING"
    assert docker_running(berthd, cid)


def test_wait_kill_on_disconnect_must_be_boolean(berthd, new_id):
    cid = new_id("kodbad")
    berthd.client.launch_ok(launch_call(cid, "sleep 300"))
    r = berthd.client.post_call({"type": "WAIT_CONTAINER", "wait_container": {
        "container_id": {"value": cid}, "kill_on_disconnect": "yes"}})
    assert r.status == 400, r
    assert "kill_on_disconnect" in r.text
    assert stage(berthd, cid) == "RUNNING"


def test_berthd_shutdown_is_not_the_client_leaving(berthd_factory):
    d = berthd_factory()
    cid = "kodstop"
    d.client.launch_ok(launch_call(cid, "sleep 300"))
    s = open_wait(d, cid, kill_on_disconnect=True)
    time.sleep(0.5)
    d.stop()  # SIGTERM: berthd closes the bound connection itself
    s.close()
    assert docker_running(d, cid)
    d.start()
    assert stage(d, cid) == "RUNNING"
    assert docker_running(d, cid)
    d.client.cleanup(cid)


def start_berth_run(berthd, cid, *args, env=None):
    return subprocess.Popen([BERTH_CLI, "run", "--name", cid] + list(args),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env or berth_env(berthd), start_new_session=True)


def test_sigkill_of_berth_run_ends_its_container(berthd, new_id):
    cid = new_id("runkill")
    p = start_berth_run(berthd, cid, "busybox:local", "sh", "-c", "echo up; sleep 300")
    try:
        assert p.stdout.readline() == b"up\n"
        assert stage(berthd, cid) == "RUNNING"
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        poll(lambda: ended(berthd, cid), END_TIMEOUT, what="the container of a SIGKILLed berth run to end")
        assert berthd.client.wait_ok(cid)["state"] == "TASK_KILLED"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_detached_berth_run_outlives_its_client(berthd, new_id):
    cid = new_id("rund")
    p = subprocess.run([BERTH_CLI, "run", "-d", "--name", cid, "busybox:local", "sleep", "300"],
                       capture_output=True, timeout=60, env=berth_env(berthd))
    assert p.returncode == 0, p
    assert p.stdout == (cid + "\n").encode()
    # A bound container on a second client shows hang-ups have been acted on.
    marker = new_id("marker")
    m = start_berth_run(berthd, marker, "busybox:local", "sh", "-c", "echo up; sleep 300")
    assert m.stdout.readline() == b"up\n"
    m.kill()
    m.wait()
    poll(lambda: ended(berthd, marker), END_TIMEOUT, what="the marker's end")
    assert stage(berthd, cid) == "RUNNING"
    assert docker_running(berthd, cid)


# ---------------------------------------------------------------------------
# Under a local Slurm (scripts/slurm.sh)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SLURM_SH = os.path.join(REPO_ROOT, "scripts", "slurm.sh")
# A job past its --time (1 minute, Slurm's least) is ended by slurmctld's
# periodic time-limit check: the bound allows for both.
TIME_LIMIT_TIMEOUT = 180


@pytest.fixture(scope="module")
def slurm():
    """The local Slurm; skip (saying why) only when slurm.sh cannot bring it up."""
    try:
        p = subprocess.run(["bash", SLURM_SH, "up"], capture_output=True, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.skip("scripts/slurm.sh up did not finish in 300 s")
    if p.returncode != 0:
        pytest.skip("scripts/slurm.sh up failed: %s" % (p.stdout + p.stderr).decode(errors="replace")[-500:])


def srun_argv(*args, opts=()):
    return ["srun", "--export=ALL", "-N1", "-n1"] + list(opts) + [BERTH_CLI, "run"] + list(args)


def job_container(berthd, marker_prefix="slurm-"):
    """Ids of berthd's containers named after a Slurm step."""
    return [c["container_id"]["value"] for c in berthd.client.get_containers()
            if c["container_id"]["value"].startswith(marker_prefix)]


def wait_job_container(berthd, known):
    """The one new slurm-… container, once RUNNING; its job id."""
    def new_running():
        for cid in job_container(berthd):
            if cid not in known and stage(berthd, cid) == "RUNNING":
                return cid
        return None
    cid = poll(new_running, 120, interval=0.2, what="the step's container running")
    return cid, cid[len("slurm-"):].split(".")[0]


def berth_pids(marker):
    """Pids of berth processes whose arguments hold marker."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0] == BERTH_CLI.encode() and marker.encode() in argv:
            pids.append(int(d))
    return pids


def cleanup_jobs(job_ids):
    for j in job_ids:
        subprocess.run(["scancel", j], capture_output=True)


def test_srun_passes_exit_code_and_output(slurm, berthd):
    p = subprocess.run(srun_argv("busybox:local", "sh", "-c", "echo out; echo err >&2; exit 7"),
                       capture_output=True, timeout=180, env=berth_env(berthd))
    assert p.returncode == 7, p
    assert p.stdout == b"out\n", p
    # srun adds lines of its own (waiting for resources, the task's exit code).
    task_err = [line for line in p.stderr.splitlines(keepends=True) if not line.startswith(b"srun: ")]
    assert task_err == [b"err\n"], p


def test_srun_container_named_and_labelled_after_the_step(slurm, berthd):
    p = subprocess.run(["srun", "--export=ALL", "-N1", "-n1", "sh", "-c",
                        'echo "$SLURM_JOB_ID"; exec "$0" run busybox:local true', BERTH_CLI],
                       capture_output=True, timeout=180, env=berth_env(berthd))
    assert p.returncode == 0, p
    job = p.stdout.decode().split()[0]
    cid = "slurm-%s.0.0" % job
    assert stage(berthd, cid) == "TERMINATED"
    labels = docker_inspect(berthd.docker_name(cid))["Config"]["Labels"]
    assert labels.get("slurm.job_id") == job
    ps = subprocess.run([BERTH_CLI, "ps", "-a"], capture_output=True, timeout=30, env=berth_env(berthd))
    assert ps.returncode == 0, ps
    assert cid in ps.stdout.decode()


def run_then_end(berthd, end, marker, opts=(), timeout=END_TIMEOUT):
    """srun a long step, end it with end(job, srun_process), and check its
    container is gone within timeout."""
    known = set(job_container(berthd))
    p = subprocess.Popen(srun_argv("busybox:local", "sh", "-c", "echo up; sleep 300", marker, opts=opts),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=berth_env(berthd), start_new_session=True)
    job = None
    try:
        cid, job = wait_job_container(berthd, known)
        end(job, p)
        poll(lambda: ended(berthd, cid), timeout, interval=0.5, what="container %s to end" % cid)
        assert berthd.client.wait_ok(cid)["state"] == "TASK_KILLED"
    finally:
        if job:
            cleanup_jobs([job])
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=30)


def test_scancel_ends_the_container(slurm, berthd):
    run_then_end(berthd, lambda job, p: subprocess.run(["scancel", job], check=True), "scancel-marker")


def test_job_past_its_time_ends_the_container(slurm, berthd):
    run_then_end(berthd, lambda job, p: None, "timelimit-marker", opts=["--time=1"], timeout=TIME_LIMIT_TIMEOUT)


def test_kill9_of_the_steps_berth_ends_the_container(slurm, berthd):
    def kill_berth(job, p):
        pids = berth_pids("kill9-marker")
        assert len(pids) == 1, pids
        os.kill(pids[0], signal.SIGKILL)
    run_then_end(berthd, kill_berth, "kill9-marker")


def cgroup_dir(pid, controller):
    with open("/proc/%d/cgroup" % pid) as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controller in controllers.split(","):
                return "/sys/fs/cgroup/%s%s" % (controllers, path)
    raise AssertionError("no %s cgroup for pid %d" % (controller, pid))


def read_int(path):
    with open(path) as f:
        return int(f.read())


def test_allocation_reaches_the_containers_cgroup(slurm, berthd):
    known = set(job_container(berthd))
    script = "srun --export=ALL %s run busybox:local sh -c 'echo up; sleep 300'" % BERTH_CLI
    p = subprocess.run(["sbatch", "--parsable", "-c1", "--mem=120", "-o", "/dev/null", "--wrap", script],
                       capture_output=True, timeout=60, env=berth_env(berthd))
    assert p.returncode == 0, p
    job = p.stdout.decode().strip().split(";")[0]
    try:
        cid, seen_job = wait_job_container(berthd, known)
        assert seen_job == job
        pid = docker_inspect(berthd.docker_name(cid))["State"]["Pid"]
        assert read_int(os.path.join(cgroup_dir(pid, "memory"), "memory.limit_in_bytes")) == 120 * 1024 * 1024
        assert read_int(os.path.join(cgroup_dir(pid, "cpu"), "cpu.shares")) == 1024
    finally:
        cleanup_jobs([job])


def test_sbatch_three_steps_run_three_containers_in_order(slurm, berthd, tmp_path):
    out = tmp_path / "job.out"
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\n" + "".join(
        "srun --export=ALL %s run busybox:local sh -c 'echo step%d' || exit 1\n" % (BERTH_CLI, i)
        for i in range(3)))
    p = subprocess.run(["sbatch", "--parsable", "--wait", "-o", str(out), str(script)],
                       capture_output=True, timeout=300, env=berth_env(berthd))
    assert p.returncode == 0, (p, out.read_text() if out.exists() else "")
    job = p.stdout.decode().strip().split(";")[0]
    assert out.read_text() == "step0\nstep1\nstep2\n"
    for step in range(3):
        cid = "slurm-%s.%d.0" % (job, step)
        assert berthd.client.wait_ok(cid)["state"] == "TASK_FINISHED"
    ps = subprocess.run([BERTH_CLI, "ps", "-a"], capture_output=True, timeout=30, env=berth_env(berthd))
    assert all("slurm-%s.%d.0" % (job, s) in ps.stdout.decode() for s in range(3)), ps.stdout
