"""bench/run's figures 8-10: scale, crun beside runc, the raw attach floor.

Imported by bench/run; `lib` is bench/run's module (its helpers and tables),
`b` its Bench.  Kept apart so bench/run stays readable.

8  scale: berthd, dockerd and the shims at 0, 100, 300 (500 with --big)
   running containers, all measured in one run, and a PNG plot (gnuplot).
9  launch latency on runc and crun, berth and the raw API.
10 log capture against the floor: the same attach stream read raw.
"""

import json
import os
import socket
import subprocess
import time

now = time.perf_counter

# Mass containers use network NONE: dockerd 20.10 can deadlock in
# libnetwork when many bridge endpoints start at once, and host networking
# would not exercise any per-container network state either.
SCALE_NETWORK = "NONE"
# Launches in flight at once while filling a count: dockerd on 2 cores is
# the limit, and a cap keeps the other users of this dockerd served.
SCALE_CONCURRENCY = 6


def launch_body(cid, command, network=None, runtime=None, kill_grace_ns=None, image="busybox:local"):
    docker = {"image": image}
    if network:
        docker["network"] = network
    if runtime:
        docker["parameters"] = [{"key": "runtime", "value": runtime}]
    lc = {"container_id": {"value": cid}, "command": {"shell": True, "value": command},
          "container": {"type": "DOCKER", "docker": docker}}
    if kill_grace_ns is not None:
        lc["kill_policy"] = {"grace_period": {"nanoseconds": kill_grace_ns}}
    return {"type": "LAUNCH_CONTAINER", "launch_container": lc}


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def loop_cpu_ns(pid):
    """CPU time of berthd's main thread (the libuv loop), in ns."""
    try:
        with open("/proc/%d/task/%d/schedstat" % (pid, pid)) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pids_named(name):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % p) as f:
                if f.read().strip() == name:
                    out.append(int(p))
        except OSError:
            continue
    return out


def shim_rss(lib, full_ids):
    """RSS (KiB), count and open fds of the containerd shims of the given docker ids."""
    total, n, fds = 0, 0, 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and b"containerd-shim" in argv[0] and b"-id" in argv:
            cid = argv[argv.index(b"-id") + 1].decode()
            if cid in full_ids:
                r = lib.rss_kib(int(p))
                if r:
                    total += r
                    n += 1
                    fds += fd_count(int(p)) or 0
    return total, n, fds


def slope(xs, ys):
    """Least-squares slope of ys over xs (None if fewer than 2 points)."""
    pts = [(x, y) for x, y in zip(xs, ys) if y is not None]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    den = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / den if den else None


class Scale:
    def __init__(self, b, lib):
        self.b = b
        self.lib = lib
        self.berthd = b.berthd
        self.ids = []
        self.seq = 0

    # --- filling and probing --------------------------------------------------------
    def launch_one(self, cid, command="sleep 3600", **kw):
        st, data = self.berthd.call(launch_body(cid, command, network=SCALE_NETWORK, **kw))
        if st != 200:
            self.lib.anomaly("LAUNCH_CONTAINER failed", "LAUNCH_CONTAINER %s -> %d %r" % (cid, st, data[:300]),
                             self.berthd)
        return st == 200

    def fill(self, count):
        more = count - len(self.ids)
        if more <= 0:
            return
        new = []
        for _ in range(more):
            self.seq += 1
            new.append("scale%d" % self.seq)
        t0 = now()
        with self.lib.pool(SCALE_CONCURRENCY) as p:
            ok = list(p.map(self.launch_one, new))
        self.ids += new  # failed ones are destroyed with the rest
        self.lib.say("  scale: %d launched (%d failed) in %s, %d running"
                     % (more, ok.count(False), self.lib.fmt_time(now() - t0), len(self.ids)))

    def probe_launch(self, reps):
        vals = []
        for _ in range(reps):
            self.seq += 1
            cid = "probe%d" % self.seq
            t0 = now()
            ok = self.launch_one(cid, "sleep 300")
            t1 = now()
            if ok:
                vals.append(t1 - t0)
            self.berthd.destroy(cid)
            time.sleep(0.1)
        return vals

    def probe_kill(self, reps):
        vals = []
        for _ in range(reps):
            self.seq += 1
            cid = "pkill%d" % self.seq
            if not self.launch_one(cid, self.lib.KILL_TASK, kill_grace_ns=self.lib.KILL_GRACE_NS):
                continue
            time.sleep(0.5)
            t0 = now()
            st, _ = self.berthd.kill(cid)
            st2, data2 = self.berthd.wait(cid, timeout=60)
            t1 = now()
            w = (self.lib.jloads(data2) or {}).get("wait_container", {}) if st2 == 200 else {}
            if st == 200 and w.get("state") == "TASK_KILLED":
                vals.append(t1 - t0)
            else:
                self.lib.anomaly("KILL/WAIT failed", "scale kill %s: KILL -> %d, WAIT -> %d %r"
                                 % (cid, st, st2, data2[:300]), self.berthd)
            self.berthd.remove_checked(cid)
            time.sleep(0.1)
        return vals

    def timed(self, fn, reps, gap=0.05):
        vals = []
        for _ in range(reps):
            t0 = now()
            fn()
            vals.append(now() - t0)
            time.sleep(gap)
        return vals

    def get_containers_checked(self, count):
        st, lst = self.berthd.containers()
        if st != 200:
            self.lib.anomaly("GET /containers failed", "GET /containers -> %d" % st, self.berthd)
            return
        got = sum(1 for c in lst if "resource_statistics" in c)
        if got < count:
            self.lib.anomaly("resource_statistics missing", "scale: GET /containers -> %d of %d with statistics"
                             % (got, count), self.berthd)

    def get_metrics(self):
        st, data = self.berthd.get("/metrics")
        if st != 200:
            self.lib.anomaly("GET /metrics failed", "GET /metrics -> %d" % st, self.berthd)

    def docker_ps(self):
        label = "label=berth.agent_id=" + self.b.agent_id
        r = subprocess.run([self.b.args.docker_cli, "ps", "-q", "--no-trunc", "--filter", label],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return r.stdout.decode().split()

    def docker_stats(self, count):
        if count == 0:
            return None
        names = ["berth-%s.%s" % (self.b.agent_id, i) for i in self.ids]
        t0 = now()
        r = subprocess.run([self.b.args.docker_cli, "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}"]
                           + names, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        dt = now() - t0
        lines = [l for l in r.stdout.decode().splitlines() if l.strip()]
        if r.returncode != 0 or len(lines) != count:
            self.lib.say("warning: docker stats rc %d, %d of %d lines: %s"
                         % (r.returncode, len(lines), count, r.stderr.decode()[:200]))
            return None
        return dt

    def recovery(self, count):
        """kill -9, restart: (until all `count` RUNNING, until all carry statistics)."""
        self.berthd.kill9()
        t0 = now()
        self.berthd.spawn()
        deadline = t0 + 300
        t_running = t_stats = None
        # Polled no faster than a GET takes: at hundreds of containers a
        # GET /containers is tens of ms of berthd's loop, and back-to-back
        # polls would slow the recovery they time.
        pause = 0.005
        while now() < deadline and self.berthd.proc.poll() is None:
            g0 = now()
            try:
                st, lst = self.berthd.containers()
            except OSError:
                time.sleep(0.002)
                continue
            pause = max(0.005, now() - g0)
            if st == 200:
                running = [c for c in lst if c.get("stage") == "RUNNING"]
                if len(running) >= count and t_running is None:
                    t_running = now() - t0
                if t_running is not None and sum(1 for c in running if "resource_statistics" in c) >= count:
                    t_stats = now() - t0
                    break
            time.sleep(pause)
        if t_stats is None:
            self.lib.anomaly("recovery failed", "scale recovery with %d: berthd exit=%s, RUNNING after %s, "
                             "statistics after %s" % (count, self.berthd.proc.poll(), t_running, t_stats),
                             self.berthd)
            if self.berthd.proc.poll() is not None:
                self.berthd.start()
        return t_running, t_stats

    def measure(self, count, reps):
        lib = self.lib
        med = lib.median
        self.b.wait_statistics(count, timeout=120)
        time.sleep(2.0)
        pid = self.berthd.pid
        m = {"count": count}
        m["berthd_rss_kib"] = self.b.sample_rss()
        m["berthd_fds"] = fd_count(pid)
        dpids = pids_named("dockerd")
        cpids = pids_named("containerd")
        m["dockerd_rss_kib"] = sum(lib.rss_kib(p) or 0 for p in dpids) if dpids else None
        m["containerd_rss_kib"] = sum(lib.rss_kib(p) or 0 for p in cpids) if cpids else None
        full_ids = set(self.docker_ps())
        if len(full_ids) != count:
            lib.say("warning: docker ps lists %d of ours running, expected %d" % (len(full_ids), count))
        m["shims_rss_kib"], m["shims"], m["shims_fds"] = shim_rss(lib, full_ids)
        m["dockerd_fds"] = sum(fd_count(p) or 0 for p in dpids) if dpids else None
        m["containerd_fds"] = sum(fd_count(p) or 0 for p in cpids) if cpids else None
        m["get_containers_s"] = med(self.timed(lambda: self.get_containers_checked(count), reps, gap=0.2))
        # What one GET /containers costs berthd's loop thread (CPU, not
        # wall time: less sensitive to other load on the machine).
        k = 20
        c0 = loop_cpu_ns(pid)
        for _ in range(k):
            self.berthd.containers()
        c1 = loop_cpu_ns(pid)
        m["get_containers_loop_cpu_s"] = (c1 - c0) / 1e9 / k if c0 is not None and c1 is not None else None
        m["metrics_s"] = med(self.timed(self.get_metrics, reps))
        st, body = self.berthd.get("/metrics")
        m["metrics_bytes"] = len(body) if st == 200 else None
        m["metrics_series"] = sum(1 for l in body.decode("utf-8", "replace").splitlines()
                                  if l and not l.startswith("#")) if st == 200 else None
        m["docker_ps_s"] = med(self.timed(self.docker_ps, max(3, reps // 2)))
        label = "berth.agent_id=" + self.b.agent_id
        m["docker_list_s"] = med(self.timed(lambda: lib.list_containers(label), reps))
        m["docker_stats_s"] = self.docker_stats(count)
        m["launch_s"] = med(self.probe_launch(reps))
        m["kill_s"] = med(self.probe_kill(max(3, reps // 2)))
        m["recovery_running_s"], m["recovery_stats_s"] = self.recovery(count)
        self.b.wait_statistics(count, timeout=120)
        time.sleep(1.0)
        m["berthd_rss_after_recovery_kib"] = self.b.sample_rss()
        lib.say("  scale %d: berthd %s %s fds, GET /containers %s, /metrics %s, launch %s, kill %s, "
                "recovery %s / %s, docker ps %s, docker stats %s, dockerd %s, shims %s (%d)"
                % (count, lib.fmt_mib(m["berthd_rss_kib"]), m["berthd_fds"], lib.fmt_time(m["get_containers_s"]),
                   lib.fmt_time(m["metrics_s"]), lib.fmt_time(m["launch_s"]), lib.fmt_time(m["kill_s"]),
                   lib.fmt_time(m["recovery_running_s"] or float("nan")),
                   lib.fmt_time(m["recovery_stats_s"] or float("nan")), lib.fmt_time(m["docker_ps_s"]),
                   lib.fmt_time(m["docker_stats_s"] or float("nan")),
                   lib.fmt_mib(m["dockerd_rss_kib"] or 0), lib.fmt_mib(m["shims_rss_kib"]), m["shims"]))
        return m

    # --- the figure -------------------------------------------------------------------
    def run(self, counts, reps):
        lib = self.lib
        lib.say("figure 8: scale at %s running containers (network %s, %d launches at a time)"
                % ("/".join(str(c) for c in counts), SCALE_NETWORK, SCALE_CONCURRENCY))
        rows = []
        # A fresh berthd, so count 0 is not measured on the high-water mark
        # of the figures before (each count's recovery restarts it again).
        self.berthd.stop()
        self.berthd.start()
        time.sleep(1.0)
        try:
            for count in counts:
                self.fill(count)
                rows.append(self.measure(count, reps))
        finally:
            if self.ids:
                lib.say("  scale: destroying %d containers" % len(self.ids))
                self.berthd.destroy_all(self.ids)
                self.ids = []
        self.report(rows)
        return rows

    def report(self, rows):
        lib = self.lib
        if not rows:
            return
        xs = [r["count"] for r in rows]
        base = rows[0]
        top = rows[-1]

        def grow(key):
            if base.get(key) is None or top.get(key) is None:
                return None
            return top[key] - base[key]

        per = {k: slope(xs, [r.get(k) for r in rows]) for k in
               ("berthd_rss_kib", "berthd_rss_after_recovery_kib", "get_containers_loop_cpu_s", "berthd_fds", "dockerd_fds", "containerd_fds", "shims_fds", "dockerd_rss_kib", "containerd_rss_kib", "shims_rss_kib",
                "get_containers_s", "metrics_s", "docker_ps_s", "docker_list_s")}
        n = top["count"]
        t = lib.fmt_time
        nan = float("nan")

        def tv(x):
            return t(x) if x is not None else "n/a"

        lib.row(8, "berthd RSS at %s containers" % "/".join(map(str, xs)),
                " / ".join(lib.fmt_mib(r["berthd_rss_kib"]) for r in rows),
                "dockerd RSS", " / ".join(lib.fmt_mib(r["dockerd_rss_kib"] or 0) for r in rows), "", 1)
        lib.row("", "  the same, fresh after kill -9 + recovery",
                " / ".join(lib.fmt_mib(r["berthd_rss_after_recovery_kib"]) for r in rows),
                "shims RSS (sum)", " / ".join(lib.fmt_mib(r["shims_rss_kib"]) for r in rows), "", 1)
        if per["berthd_rss_kib"] is not None and per["dockerd_rss_kib"] and per["shims_rss_kib"]:
            lib.row("", "per container RSS (slope)", "%.1f KiB" % per["berthd_rss_kib"],
                    "dockerd + containerd + shim per container",
                    "%.0f KiB" % (per["dockerd_rss_kib"] + (per["containerd_rss_kib"] or 0) + per["shims_rss_kib"]),
                    lib.fmt_ratio(per["berthd_rss_kib"] / (per["dockerd_rss_kib"] + (per["containerd_rss_kib"] or 0)
                                                           + per["shims_rss_kib"]), "less", "more"), len(rows))
        dfds = (per["dockerd_fds"] or 0) + (per["containerd_fds"] or 0) + (per["shims_fds"] or 0)
        lib.row("", "berthd open fds (per container)",
                "%s (%.2f)" % (" / ".join(str(r["berthd_fds"]) for r in rows), per["berthd_fds"] or 0),
                "dockerd + containerd + shim fds per container", "%.1f" % dfds,
                lib.fmt_ratio((per["berthd_fds"] or 0) / dfds, "less", "more") if dfds else "", len(rows))
        lib.row("", "GET /containers with statistics", " / ".join(t(r["get_containers_s"]) for r in rows),
                "docker ps (label filter)", " / ".join(t(r["docker_ps_s"]) for r in rows),
                lib.fmt_ratio(top["get_containers_s"] / top["docker_ps_s"]), "at %d" % n)
        lib.row("", "", "", "docker stats --no-stream (once)", " / ".join(tv(r["docker_stats_s"]) for r in rows),
                lib.fmt_ratio(top["get_containers_s"] / (top["docker_stats_s"] or nan)), "at %d" % n)
        lib.row("", "  loop CPU per GET /containers", " / ".join(tv(r["get_containers_loop_cpu_s"]) for r in rows),
                "", "", "", 20)
        lib.row("", "GET /metrics", " / ".join(t(r["metrics_s"]) for r in rows), "", "", "", "")
        lib.row("", "/metrics size (bytes, series)", " / ".join("%s, %s" % (r["metrics_bytes"], r["metrics_series"])
                                                               for r in rows), "", "", "", "")
        lib.row("", "launch latency while N run", " / ".join(t(r["launch_s"]) for r in rows), "same at 0",
                t(base["launch_s"]), lib.fmt_ratio(top["launch_s"] / base["launch_s"]), "at %d" % n)
        lib.row("", "kill -> terminated while N run", " / ".join(t(r["kill_s"]) for r in rows), "same at 0",
                t(base["kill_s"]), lib.fmt_ratio(top["kill_s"] / base["kill_s"]), "at %d" % n)
        lib.row("", "kill -9 -> all RUNNING / with statistics",
                " / ".join("%s|%s" % (tv(r["recovery_running_s"]), tv(r["recovery_stats_s"])) for r in rows),
                "raw list of ours (GET /containers/json)", " / ".join(t(r["docker_list_s"]) for r in rows), "", 1)
        lib.DETAILS.append("8 per container: berthd RSS fresh after recovery %.1f KiB; loop CPU per GET /containers "
                           "%s" % (per["berthd_rss_after_recovery_kib"] or 0,
                                   t(per["get_containers_loop_cpu_s"] or nan)))
        lib.DETAILS.append("8 per container (least-squares slope over %s): berthd %.1f KiB RSS, %.3f fds; "
                           "dockerd %.0f KiB, %.2f fds; containerd %.0f KiB, %.2f fds; shim %.0f KiB, %.2f fds; "
                           "GET /containers %s, /metrics %s, docker ps %s, raw list %s"
                           % ("/".join(map(str, xs)), per["berthd_rss_kib"] or 0, per["berthd_fds"] or 0,
                              per["dockerd_rss_kib"] or 0, per["dockerd_fds"] or 0, per["containerd_rss_kib"] or 0,
                              per["containerd_fds"] or 0, per["shims_rss_kib"] or 0, per["shims_fds"] or 0, t(per["get_containers_s"] or nan),
                              t(per["metrics_s"] or nan), t(per["docker_ps_s"] or nan),
                              t(per["docker_list_s"] or nan)))
        g = {k: grow(k) for k in ("berthd_rss_kib", "dockerd_rss_kib", "containerd_rss_kib", "shims_rss_kib")}
        if all(v is not None for v in g.values()):
            node = g["dockerd_rss_kib"] + g["containerd_rss_kib"] + g["shims_rss_kib"] + g["berthd_rss_kib"]
            lib.DETAILS.append("8 growth 0 -> %d: berthd %s, dockerd %s, containerd %s, shims %s; berth's share "
                               "of the node's growth %.1f%%"
                               % (n, lib.fmt_mib(g["berthd_rss_kib"]), lib.fmt_mib(g["dockerd_rss_kib"]),
                                  lib.fmt_mib(g["containerd_rss_kib"]), lib.fmt_mib(g["shims_rss_kib"]),
                                  100.0 * g["berthd_rss_kib"] / node if node else 0))
        lib.RESULTS["scale"] = {"rows": rows, "per_container": per}


def plot(rows, path, title):
    """Six panels against the container count, as a PNG, with gnuplot."""
    if not rows:
        return False
    data = path + ".dat"
    cols = ["count", "berthd_rss_kib", "berthd_rss_after_recovery_kib", "get_containers_loop_cpu_s", "berthd_fds",
            "dockerd_fds", "containerd_fds", "shims_fds", "dockerd_rss_kib", "containerd_rss_kib", "shims_rss_kib",
            "get_containers_s", "metrics_s", "docker_ps_s", "docker_stats_s", "docker_list_s", "launch_s", "kill_s",
            "recovery_running_s", "recovery_stats_s"]
    base = rows[0]
    with open(data, "w") as f:
        f.write("# " + " ".join(cols) + "\n")
        for r in rows:
            vals = []
            for c in cols:
                v = r.get(c)
                if v is None:
                    vals.append("NaN")
                elif c.endswith("_kib") and not c.startswith("berthd_rss"):
                    vals.append("%.3f" % ((v - (base.get(c) or 0)) / 1024.0))  # growth, MiB
                elif c.endswith("_kib"):
                    vals.append("%.3f" % (v / 1024.0))
                elif c in ("dockerd_fds", "containerd_fds"):
                    vals.append(str(v - (base.get(c) or 0)))  # growth
                elif c.endswith("_s"):
                    vals.append("%.3f" % (v * 1000.0))  # ms
                else:
                    vals.append(str(v))
            f.write(" ".join(vals) + "\n")
    i = {c: n + 1 for n, c in enumerate(cols)}
    script = """
set terminal pngcairo size 1500,900 font ",10"
set output '%(out)s'
set multiplot layout 2,3 title '%(title)s'
set key top left
set grid
set xlabel 'running containers'
set style data linespoints
set title 'memory (MiB): berthd RSS, growth of dockerd, containerd, shims'
plot '%(d)s' u 1:%(rss)d t 'berthd RSS', '' u 1:%(rssf)d t 'berthd RSS, fresh after recovery', \\
     '' u 1:%(drss)d t 'dockerd growth', \\
     '' u 1:%(crss)d t 'containerd growth', '' u 1:%(srss)d t 'shims growth (sum)'
set title 'open fds: berthd, and the growth of docker''s'
plot '%(d)s' u 1:%(fds)d t 'berthd fds', '' u 1:($%(dfds)d+$%(cfds)d+$%(sfds)d) t 'dockerd + containerd + shims (growth)'
set title 'listing (ms)'
set logscale y
plot '%(d)s' u 1:%(gc)d t 'berth GET /containers + statistics', '' u 1:%(gcc)d t '  its loop CPU', '' u 1:%(met)d t 'berth /metrics', \\
     '' u 1:%(ps)d t 'docker ps', '' u 1:%(list)d t 'raw API list', '' u 1:%(stats)d t 'docker stats --no-stream'
unset logscale y
set title 'launch and kill latency while N run (ms)'
set yrange [0:*]
plot '%(d)s' u 1:%(launch)d t 'launch -> RUNNING', '' u 1:%(kill)d t 'kill -> TASK\\_KILLED'
set title 'berthd kill -9 -> recovered (ms)'
plot '%(d)s' u 1:%(rr)d t 'all RUNNING', '' u 1:%(rs)d t 'all with statistics'
set title 'per-container memory (KiB): berthd vs docker'
set logscale y
set yrange [*:*]
plot '%(d)s' u 1:($1>0 ? ($%(rss)d-%(rss0)f)*1024/$1 : NaN) t 'berthd', \\
     '' u 1:($1>0 ? ($%(drss)d+$%(crss)d)*1024/$1 : NaN) t 'dockerd+containerd', \\
     '' u 1:($1>0 ? $%(srss)d*1024/$1 : NaN) t 'shim'
unset multiplot
""" % {"out": path, "title": title.replace("'", ""), "d": data, "rss": i["berthd_rss_kib"],
       "rss0": base["berthd_rss_kib"] / 1024.0, "rssf": i["berthd_rss_after_recovery_kib"],
       "gcc": i["get_containers_loop_cpu_s"], "drss": i["dockerd_rss_kib"], "crss": i["containerd_rss_kib"],
       "srss": i["shims_rss_kib"], "fds": i["berthd_fds"], "dfds": i["dockerd_fds"], "cfds": i["containerd_fds"], "sfds": i["shims_fds"], "gc": i["get_containers_s"], "met": i["metrics_s"],
       "ps": i["docker_ps_s"], "list": i["docker_list_s"], "stats": i["docker_stats_s"], "launch": i["launch_s"],
       "kill": i["kill_s"], "rr": i["recovery_running_s"], "rs": i["recovery_stats_s"]}
    r = subprocess.run(["gnuplot"], input=script.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError("gnuplot failed: %s" % r.stderr.decode()[:500])
    return True


# --- figure 9: runc and crun ------------------------------------------------------------

def crun_available(lib):
    st, data = lib.docker("GET", "/info")
    return "crun" in ((lib.jloads(data) or {}).get("Runtimes") or {})


def fig9_runtimes(b, lib, reps):
    lib.say("figure 9: launch latency on runc and crun, %d repetitions x 4 ways" % reps)
    ways = ["berth-runc", "raw-runc", "berth-crun", "raw-crun"]
    s = {w: lib.Series() for w in ways}
    for rep in range(reps):
        for way in lib.order(rep, ways):
            who, runtime = way.split("-")
            if who == "berth":
                cid = b.uid("rt" + runtime)
                t0 = now()
                st, data = b.berthd.call(launch_body(cid, "sleep 300", runtime=runtime))
                t1 = now()
                if st != 200:
                    lib.anomaly("LAUNCH_CONTAINER failed", "LAUNCH_CONTAINER %s (%s) -> %d %r"
                                % (cid, runtime, st, data[:300]), b.berthd)
                else:
                    s[way].add(t1 - t0)
                b.berthd.destroy(cid)
            else:
                name = b.base.prefix + b.uid("rt" + runtime)
                cfg = b.base.config(name, "sleep 300")
                cfg["HostConfig"]["Runtime"] = runtime
                t0 = now()
                st, data = lib.docker("POST", "/containers/create?name=" + name, cfg)
                if st != 201:
                    raise RuntimeError("docker create %s -> %d %r" % (name, st, data[:300]))
                cid = lib.jloads(data)["Id"]
                b.base.start(cid)
                t1 = now()
                s[way].add(t1 - t0)
                b.base.remove(cid)
            time.sleep(0.1)
    b.check_no_berth_leftovers("figure 9")
    for rt in ("runc", "crun"):
        bv, rv = s["berth-" + rt].med, s["raw-" + rt].med
        lib.row(9 if rt == "runc" else "", "launch latency on %s" % rt, lib.fmt_time(bv),
                "raw API create+start on %s" % rt, lib.fmt_time(rv), lib.fmt_ratio(bv / rv), reps)
    lib.DETAILS.append("9 crun / runc: berth %s, raw API %s"
                       % (lib.fmt_ratio(s["berth-crun"].med / s["berth-runc"].med),
                          lib.fmt_ratio(s["raw-crun"].med / s["raw-runc"].med)))
    for k in s:
        lib.DETAILS.append("9 %-10s %s" % (k, s[k].spread()))
    lib.RESULTS["runtimes_launch_s"] = {k: v.values for k, v in s.items()}


# --- figure 10: log capture against the raw attach floor ------------------------------------

def raw_attach_run(b, lib, name, command, sink=None):
    """What berthd does for a task's output, with nothing else: create with
    the `local` driver, attach (stdout+stderr, multiplexed), start, read the
    stream to its end and count the payload (and, with `sink`, write it to
    that file through a 1 MiB buffer), wait.  Returns (docker id, bytes)."""
    out = open(sink, "wb", buffering=1 << 20) if sink else None
    cid = b.base.create(name, command)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(600)
    s.connect(lib.DOCKER_SOCK)
    req = ("POST %s/containers/%s/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\n"
           "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n" % (lib.DOCKER_API, cid))
    s.sendall(req.encode())
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("attach: connection closed in the headers")
        head += chunk
    status = head.split(b"\r\n", 1)[0]
    if b" 101 " not in status and b" 200 " not in status:
        raise RuntimeError("attach -> %r" % status)
    rest = head.split(b"\r\n\r\n", 1)[1]
    b.base.start(cid)
    # Frames: 8-byte header (stream, 0, 0, 0, size big-endian) then payload.
    got = 0
    need_head = 8
    hdr = bytearray()
    left = 0  # payload bytes of the current frame still to come
    pending = bytes(rest)
    while True:
        if pending:
            data = memoryview(pending)
            pending = b""
        else:
            n = s.recv_into(buf)
            if n == 0:
                break
            data = view[:n]
        pos = 0
        ln = len(data)
        while pos < ln:
            if left:
                take = min(left, ln - pos)
                if out:
                    out.write(data[pos:pos + take])
                left -= take
                got += take
                pos += take
            else:
                take = min(need_head - len(hdr), ln - pos)
                hdr += data[pos:pos + take]
                pos += take
                if len(hdr) == need_head:
                    left = int.from_bytes(hdr[4:8], "big")
                    hdr = bytearray()
    s.close()
    if out:
        out.close()
    lib.docker("POST", "/containers/%s/wait" % cid, timeout=600)
    return cid, got


def fig10_log_floor(b, lib, reps):
    cmd = "head -c %d /dev/zero" % lib.LOG_BYTES
    lib.say("figure 10: %d MiB to stdout, berth against the raw attach stream, %d repetitions"
            % (lib.LOG_BYTES >> 20, reps))
    s = {"berth": lib.Series(), "attach": lib.Series(), "file": lib.Series()}
    sizes = {"berth": [], "attach": [], "file": []}
    for rep in range(reps):
        for way in lib.order(rep, ["berth", "attach", "file"]):
            if way == "berth":
                cid = b.uid("logf")
                t0 = now()
                st, data = b.berthd.launch(cid, cmd)
                st2, data2 = b.berthd.wait(cid, timeout=600) if st == 200 else (0, b"")
                t1 = now()
                path = os.path.join(b.berthd.work_dir, "sandboxes", cid, "stdout")
                size = os.path.getsize(path) if os.path.exists(path) else -1
                if st == 200 and st2 == 200:
                    s["berth"].add(t1 - t0)
                    sizes["berth"].append(size)
                    if size != lib.LOG_BYTES:
                        lib.anomaly("sandbox stdout has the wrong size", "logs %s: %d bytes, expected %d"
                                    % (cid, size, lib.LOG_BYTES), b.berthd)
                else:
                    lib.anomaly("log task failed", "logs %s: LAUNCH -> %d, WAIT -> %d %r"
                                % (cid, st, st2, data2[:300]), b.berthd)
                b.berthd.remove_checked(cid)
            else:
                name = b.base.prefix + b.uid(way)
                sink = os.path.join(b.base.sandbox(name), "stdout") if way == "file" else None
                t0 = now()
                cid, got = raw_attach_run(b, lib, name, cmd, sink)
                t1 = now()
                s[way].add(t1 - t0)
                sizes[way].append(got)
                b.base.remove(cid)
                if sink:
                    os.unlink(sink)
            time.sleep(0.5)
    b.check_no_berth_leftovers("figure 10")
    mb = lib.LOG_BYTES / 1e6

    def tp(x):
        return "%s (%.0f MB/s)" % (lib.fmt_time(x), mb / x) if x == x else "n/a"
    bv, av = s["berth"].med, s["attach"].med
    lib.row(10, "log capture, %d MiB stdout: launch -> WAIT" % (lib.LOG_BYTES >> 20), tp(bv),
            "raw attach read into nothing: create -> EOF + wait", tp(av), lib.fmt_ratio(bv / av), reps)
    lib.row("", "", "", "the same, written to a file (1 MiB buffer)", tp(s["file"].med),
            lib.fmt_ratio(bv / s["file"].med), reps)
    for k in s:
        lib.DETAILS.append("10 %-7s %s" % (k, s[k].spread()))
    for k, v in sizes.items():
        lib.DETAILS.append("10 bytes (%s): %s" % (k, ", ".join(str(x) for x in v)))
    lib.RESULTS["log_floor_s"] = {k: v.values for k, v in s.items()}
    lib.RESULTS["log_floor_bytes"] = sizes
