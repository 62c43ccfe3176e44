"""A bounded, seeded soak of berthd's recovery (API.md §8).

200 random operations (launch short and long tasks, duplicate launches,
KILL, REMOVE, WAIT, GET_CONTAINERS) against one private berthd, which is
SIGKILLed at 8 random moments (mostly while a request is in flight) and
restarted on the same work dir, socket and agent id.  A model of what was
acknowledged is checked after every restart and at the end:

- an acknowledged LAUNCH (200) survives every crash; an acknowledged REMOVE
  (200) stays removed; no launch stage (FETCHING/PULLING/MOUNTING) survives
  a restart; docker containers match the records;
- every termination is one the task could have had (its exit code, or
  TASK_KILLED once killed, or a launch failure for a launch cut by a crash),
  never REASON_EXECUTOR_TERMINATED (nothing removes containers behind
  berthd's back here), and a termination once seen never changes;
- outputs: short tasks' stdout byte for byte, long tasks' counters without
  gap or duplicate across all the restarts;
- finally KILL + WAIT answer for all, and REMOVE of all leaves no docker
  container, sandbox or link.

It is part of the default suite (CI): bounded to about 4 minutes — past a
time budget only the operations that carry a crash are still run, so a slow
machine does fewer operations but every crash is injected (the test counts
the SIGKILLs it delivered), and pytest-timeout, when installed, caps the
whole test.  Long tasks that ran until the final kill must have printed.

Environment: BERTH_SOAK_SEED (default fixed), BERTH_SOAK_OPS (200),
BERTH_SOAK_CRASHES (8), BERTH_SOAK_BUDGET (seconds for the operations, 200).
"""

import http.client
import os
import random
import time

import pytest

from berthlib import launch_call, read_file
from recovery_util import (
    LAUNCH_STAGES, Async, check_docker_matches, check_invariants,
    counter_lines, daemons_fixture, kill_wait_all, remove_all_and_check_clean,
    ticker_cmd)

daemons = pytest.fixture(name="daemons")(daemons_fixture)

SEED = int(os.environ.get("BERTH_SOAK_SEED", "20261125"))
OPS = int(os.environ.get("BERTH_SOAK_OPS", "200"))
CRASHES = int(os.environ.get("BERTH_SOAK_CRASHES", "8"))
BUDGET = float(os.environ.get("BERTH_SOAK_BUDGET", "200"))
MAX_LONG = 6            # long tasks running at once
SHORT_OUT = b"s-begin\ns-end\n"

# A hard cap when pytest-timeout is installed (scripts/test.sh uses it then);
# without it the `timeout` mark would be unknown, so it is only added then.
try:
    import pytest_timeout
    _marks = [pytest.mark.timeout(480)] if pytest_timeout else []
except ImportError:
    _marks = []


class Entry:
    def __init__(self, cid, kind, code=None, sleep_us=0):
        self.cid = cid
        self.kind = kind              # "short" | "long"
        self.code = code              # short: its exit code
        self.sleep_us = sleep_us
        self.launch = None            # "ok" | "uncertain"
        self.kill = None              # None | "ok" | "uncertain"
        self.removed = False          # False | True | "uncertain"
        self.seen = None              # first termination seen (WAIT)

    def body(self):
        if self.kind == "short":
            cmd = "echo s-begin; usleep %d; echo s-end; exit %d" % (self.sleep_us, self.code)
        else:
            cmd = ticker_cmd(100000)
        return launch_call(self.cid, cmd)

    def natural(self):
        return ("TASK_FINISHED" if self.code == 0 else "TASK_FAILED"), self.code

    def __repr__(self):
        return "<%s %s code=%s launch=%s kill=%s removed=%s seen=%s>" % (
            self.cid, self.kind, self.code, self.launch, self.kill,
            self.removed, self.seen)


class Soak:
    def __init__(self, d, rng):
        self.d = d
        self.c = d.client
        self.rng = rng
        self.entries = {}
        self.n = 0
        self.log = []                 # (op index, description) for reports
        self.counts = {}

    # -- helpers --------------------------------------------------------------
    def fail(self, msg):
        tail = "\n".join("  #%d %s" % x for x in self.log[-25:])
        raise AssertionError("seed %d: %s\nlast operations:\n%s" % (SEED, msg, tail))

    def check(self, cond, msg):
        if not cond:
            self.fail(msg)

    def live(self, pred=lambda e: True):
        return [e for e in self.entries.values() if e.removed is not True and pred(e)]

    def pick(self, pred=lambda e: True):
        cands = self.live(pred)
        return self.rng.choice(cands) if cands else None

    def allowed(self, e, term):
        """Is `term` a termination e could have?  Returns a reason or None."""
        st, reason, code = term.get("state"), term.get("reason"), term.get("exit_code")
        if reason == "REASON_EXECUTOR_TERMINATED":
            return "REASON_EXECUTOR_TERMINATED though nothing removed it"
        if reason == "REASON_CONTAINER_LAUNCH_FAILED":
            return None if e.launch == "uncertain" else "launch failed after LAUNCH answered 200"
        if st == "TASK_KILLED":
            if e.kill is None and e.kind == "short" and not getattr(e, "final_kill", False):
                return "TASK_KILLED but never killed"
            # SIGKILL (stop timeout 0) → 137; a short task may also have
            # ended by itself just as the kill came (still TASK_KILLED).
            ok = (137, 143) + ((e.code,) if e.kind == "short" else ())
            if code is not None and code not in ok:
                return "TASK_KILLED with exit code %r" % code
            return None
        if e.kind == "long":
            return "a long task ended %s without being killed" % st
        nst, ncode = e.natural()
        if (st, code) != (nst, ncode):
            return "expected %s exit %d, got %s exit %r" % (nst, ncode, st, code)
        if term.get("exit_status") != ncode << 8:
            return "exit_status %r for exit code %d" % (term.get("exit_status"), ncode)
        return None

    def note_termination(self, e, term):
        why = self.allowed(e, term)
        self.check(why is None, "%s: %s: %r (%r)" % (e.cid, why, term, e))
        if e.seen is None:
            e.seen = term
        else:
            for k in ("state", "reason", "exit_code", "exit_status"):
                self.check(e.seen.get(k) == term.get(k),
                           "%s: termination changed from %r to %r" % (e.cid, e.seen, term))

    # -- operations: each returns a description; `cut` tells whether the
    # -- request may be cut by a crash (then no reply is no error) ------------
    def op_launch(self, cut, kind):
        self.n += 1
        if kind == "short":
            e = Entry("s%d" % self.n, "short", self.rng.choice([0, 0, 1, 3, 42]),
                      self.rng.randrange(0, 1500000, 1000))
        else:
            e = Entry("l%d" % self.n, "long")
        self.entries[e.cid] = e
        e.launch = "uncertain"
        r = self.request(cut, self.c.launch, e.body())
        if r is None:
            return "LAUNCH %s (%s): cut" % (e.cid, kind)
        self.check(r.status == 200, "LAUNCH %s: %r" % (e.cid, r))
        e.launch = "ok"
        return "LAUNCH %s (%s) 200" % (e.cid, kind)

    def op_dup(self, cut):
        e = self.pick(lambda e: e.launch == "ok" and e.removed is False)
        if e is None:
            return None
        r = self.request(cut, self.c.launch, e.body())
        if r is not None:
            self.check(r.status == 202, "duplicate LAUNCH %s: %r" % (e.cid, r))
        return "LAUNCH %s again: %s" % (e.cid, r.status if r else "cut")

    def op_kill(self, cut):
        e = self.pick()
        if e is None:
            return None
        prev = e.kill
        e.kill = "uncertain" if prev is None else prev
        r = self.request(cut, self.c.kill, e.cid)
        if r is None:
            return "KILL %s: cut" % e.cid
        if r.status == 404 and (e.launch == "uncertain" or e.removed == "uncertain"):
            e.kill = prev
            return "KILL %s: 404 (never recorded / removed)" % e.cid
        self.check(r.status == 200, "KILL %s: %r (%r)" % (e.cid, r, e))
        e.kill = "ok"
        return "KILL %s 200" % e.cid

    def op_remove(self, cut):
        e = self.pick()
        if e is None:
            return None
        r = self.request(cut, self.c.remove, e.cid)
        if r is None:
            if e.removed is False:
                e.removed = "uncertain"
            return "REMOVE %s: cut" % e.cid
        if r.status == 200:
            self.check(e.removed is not True, "REMOVE %s twice gave 200" % e.cid)
            self.check(not (e.kind == "long" and e.kill is None and e.launch == "ok"),
                       "REMOVE %s gave 200 for a running, never killed task" % e.cid)
            e.removed = True
        elif r.status == 409:
            self.check(e.seen is None, "REMOVE %s: 409 after it was seen terminated (%r): %r"
                       % (e.cid, e.seen, r))
        elif r.status == 404:
            self.check(e.launch == "uncertain" or e.removed == "uncertain",
                       "REMOVE %s: 404 for a container launched and not removed (%r)" % (e.cid, e))
            e.removed = True
        else:
            self.fail("REMOVE %s: %r" % (e.cid, r))
        return "REMOVE %s %d" % (e.cid, r.status)

    def op_wait(self, cut):
        # Only what ends by itself or was killed: a WAIT on a running long
        # task would block for ever.
        e = self.pick(lambda e: e.kind == "short" or e.kill is not None)
        if e is None:
            return None
        r = self.request(cut, self.c.wait, e.cid, timeout=45)
        if r is None:
            return "WAIT %s: cut" % e.cid
        if r.status == 404:
            self.check(e.launch == "uncertain" or e.removed == "uncertain",
                       "WAIT %s: 404 (%r)" % (e.cid, e))
            return "WAIT %s 404" % e.cid
        self.check(r.status == 200, "WAIT %s: %r" % (e.cid, r))
        self.note_termination(e, r.json()["wait_container"])
        return "WAIT %s %s" % (e.cid, e.seen.get("state"))

    def op_list(self, cut):
        r = self.request(cut, self.c.post_call, {"type": "GET_CONTAINERS"})
        if r is None:
            return "GET_CONTAINERS: cut"
        self.check(r.status == 200, "GET_CONTAINERS: %r" % r)
        self.check_known({c["container_id"]["value"]: c
                          for c in r.json()["get_containers"].get("containers") or []},
                         after_restart=False)
        return "GET_CONTAINERS"

    def request(self, cut, fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except (OSError, http.client.HTTPException) as e:
            if cut:
                return None
            self.fail("%s%r: %r" % (fn.__name__, args[:1], e))

    # -- checks -----------------------------------------------------------------
    def check_known(self, known, after_restart):
        for cid, c in known.items():
            e = self.entries.get(cid)
            self.check(e is not None, "berthd knows %s, never launched" % cid)
            self.check(e.removed is not True, "%s was removed (200) but is known: %r" % (cid, c))
            if after_restart:
                self.check(c["stage"] not in LAUNCH_STAGES,
                           "%s still %s after the restart" % (cid, c["stage"]))
            if c["stage"] == "TERMINATED":
                self.note_termination(e, c.get("termination") or {})
        for e in self.live(lambda e: e.launch == "ok" and e.removed is False):
            self.check(e.cid in known, "%s (LAUNCH 200, never removed) unknown: %r" % (e.cid, e))

    def choose(self, crash):
        long_running = len(self.live(lambda e: e.kind == "long" and e.kill is None))
        ops = [("short", 25), ("long", 12 if long_running < MAX_LONG else 0),
               ("kill", 18 if not crash else 25), ("remove", 18), ("wait", 15 if not crash else 0),
               ("dup", 4), ("list", 6 if not crash else 0)]
        total = sum(w for _, w in ops)
        x = self.rng.uniform(0, total)
        for name, w in ops:
            x -= w
            if x < 0:
                return name
        return "short"

    def run_op(self, name, cut):
        if name in ("short", "long"):
            return self.op_launch(cut, name)
        return getattr(self, "op_" + name)(cut)


pytestmark = _marks


def test_soak_random_ops_with_crashes(daemons):
    _soak(daemons, SEED)


def _soak(daemons, seed):
    rng = random.Random(seed)
    d = daemons()
    s = Soak(d, rng)
    crash_at = set(rng.sample(range(8, max(OPS - 5, 9)), min(CRASHES, max(OPS - 13, 0))))
    t0 = time.monotonic()
    done_ops = crashes = skipped = 0
    for i in range(OPS):
        crash = i in crash_at
        if time.monotonic() - t0 > BUDGET and not crash:
            skipped += 1
            continue
        name = s.choose(crash)
        if not crash:
            desc = s.run_op(name, cut=False)
            s.log.append((i, desc or "(%s: nothing to do)" % name))
        else:
            a = Async(s.run_op, name, True)
            time.sleep(rng.uniform(0.0, 0.35))
            pid = d.proc.pid
            d.kill9()
            assert d.proc.returncode == -9, "berthd %d: %s" % (pid, d.describe_exit())
            a.join(90)
            if a.exc is not None:
                raise a.exc
            crashes += 1
            s.log.append((i, "%s -- with berthd SIGKILLed meanwhile" % (a.result or name)))
            d.restart()
            s.check_known(d.containers(), after_restart=True)
            check_docker_matches(d)
        done_ops += 1
    elapsed = time.monotonic() - t0
    print("soak seed %d: %d ops (%d skipped past the budget), %d crashes in %.0fs; %d containers"
          % (seed, done_ops, skipped, crashes, elapsed, len(s.entries)))
    assert crashes == len(crash_at) == min(CRASHES, max(OPS - 13, 0)), (crashes, len(crash_at))

    # Final: the invariants, every container answers WAIT, nothing leaks.
    known = check_invariants(d)
    s.check_known(known, after_restart=False)
    for e in s.entries.values():
        e.final_kill = True
    # Long tasks still running now (never killed before) have been running
    # since their LAUNCH 200: each must have printed.
    running_long = {e.cid for e in s.entries.values()
                    if e.kind == "long" and e.kill is None and e.launch == "ok" and e.removed is False}
    waits = kill_wait_all(d)
    long_lines = {}
    for cid, w in waits.items():
        e = s.entries[cid]
        s.note_termination(e, w)
        out = read_file(d.stdout_path(cid))
        if e.kind == "short":
            if (w.get("state"), w.get("exit_code")) == e.natural():
                s.check(out == SHORT_OUT, "%s: stdout %r" % (cid, out))
            else:
                s.check(SHORT_OUT.startswith(out), "%s: stdout %r" % (cid, out))
        else:
            try:
                long_lines[cid] = counter_lines(out)
                counter_lines(read_file(d.stderr_path(cid)), prefix="e")
            except AssertionError as ex:
                s.fail("%s: %s" % (cid, ex))
    silent = sorted(cid for cid in running_long if long_lines.get(cid, 0) == 0)
    s.check(running_long and not silent,
            "long tasks running until the end: %s; without output: %s" % (sorted(running_long), silent))
    print("long tasks' output lines: %s" % sorted(long_lines.items()))
    remove_all_and_check_clean(d)
