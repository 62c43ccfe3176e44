"""A container's cgroup limits as the kernel holds them, on cgroup v1 and v2.

The cgroup is found the way berthd finds it: from /proc/<pid>/cgroup of the
container's process, joined to where that hierarchy is mounted (from
/proc/self/mountinfo).  A controller mounted as a v1 hierarchy is read
there; otherwise the unified (v2) hierarchy is.  Values are asked for in
the v1 vocabulary the tests are written in ("shares", "period", "quota",
"limit", "soft"); `want()` turns a v1 expectation into what this hierarchy
holds (v2 keeps cpu.weight, runc's conversion of the shares, and "max" for
no limit).
"""

import os

V1_FILES = {
    "shares": ("cpu", "cpu.shares"),
    "period": ("cpu", "cpu.cfs_period_us"),
    "quota": ("cpu", "cpu.cfs_quota_us"),
    "limit": ("memory", "memory.limit_in_bytes"),
    "soft": ("memory", "memory.soft_limit_in_bytes"),
}
# v1 reports "no limit" as a huge number; compare as None.
V1_UNLIMITED = 1 << 62


def parse_proc_cgroup(text):
    """/proc/<pid>/cgroup → ({v1 controller: path}, v2 path or None)."""
    v1, v2 = {}, None
    for line in text.splitlines():
        if not line.strip():
            continue
        hid, controllers, path = line.split(":", 2)
        if hid == "0" and controllers == "":
            v2 = path
            continue
        for ctrl in controllers.split(","):
            v1[ctrl] = path
    return v1, v2


def parse_mountinfo(text):
    """/proc/self/mountinfo → ({v1 controller: (mount root, mount point)},
    (root, mount point) of the cgroup2 mount or None)."""
    v1, v2 = {}, None
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        root, point = fields[3], fields[4]
        fstype, opts = fields[sep + 1], fields[sep + 3] if len(fields) > sep + 3 else ""
        if fstype == "cgroup2" and v2 is None:
            v2 = (root, point)
        elif fstype == "cgroup":
            for opt in opts.split(","):
                v1.setdefault(opt, (root, point))
    return v1, v2


def _join(mount, path):
    root, point = mount
    if root != "/" and (path == root or path.startswith(root + "/")):
        path = path[len(root):]
    return os.path.join(point, path.lstrip("/"))


class Cgroup:
    """The cgroup of process `pid`.  proc_root and mountinfo let the unit
    check below point it at recorded files instead of the live system."""

    def __init__(self, pid, proc_root="/proc", mountinfo=None):
        with open(os.path.join(proc_root, str(pid), "cgroup")) as f:
            self.v1_paths, self.v2_path = parse_proc_cgroup(f.read())
        if mountinfo is None:
            with open("/proc/self/mountinfo") as f:
                mountinfo = f.read()
        self.v1_mounts, self.v2_mount = parse_mountinfo(mountinfo)

    def uses_v1(self, controller):
        return controller in self.v1_paths and controller in self.v1_mounts

    @property
    def v2(self):
        return not (self.uses_v1("cpu") and self.uses_v1("memory"))

    def dir(self, controller):
        if self.uses_v1(controller):
            return _join(self.v1_mounts[controller], self.v1_paths[controller])
        assert self.v2_path is not None and self.v2_mount is not None, (
            "no v1 %s hierarchy and no cgroup2 mount for this process" % controller)
        return _join(self.v2_mount, self.v2_path)

    def _read(self, controller, name):
        with open(os.path.join(self.dir(controller), name)) as f:
            return f.read().strip()

    def value(self, key):
        """The kernel's value for a v1-named key, in this hierarchy's units
        (None for "no limit")."""
        controller, v1_name = V1_FILES[key]
        if self.uses_v1(controller):
            v = int(self._read(controller, v1_name))
            return None if (key in ("limit", "soft") and v >= V1_UNLIMITED) or (key == "quota" and v < 0) else v
        if key == "shares":
            return int(self._read("cpu", "cpu.weight"))
        if key in ("period", "quota"):
            quota, period = self._read("cpu", "cpu.max").split()
            if key == "period":
                return int(period)
            return None if quota == "max" else int(quota)
        v = self._read("memory", "memory.max" if key == "limit" else "memory.low")
        return None if v == "max" or (key == "soft" and v == "0") else int(v)

    def want(self, key, v1_value):
        """What value() gives when the v1 setting is v1_value (-1 / None:
        no limit)."""
        if v1_value is None or (key == "quota" and v1_value < 0):
            return None
        if key == "shares" and not self.uses_v1("cpu"):
            # runc's conversion of shares to cpu.weight.
            return 1 + ((v1_value - 2) * 9999) // 262142
        return v1_value

    def check(self, key, v1_value):
        got, want = self.value(key), self.want(key, v1_value)
        assert got == want, "cgroup %s of %s = %r, want %r (v1 %r)" % (
            key, self.dir(V1_FILES[key][0]), got, want, v1_value)


def of_container(inspect):
    """The Cgroup of a running container, from docker inspect's State.Pid."""
    pid = inspect["State"]["Pid"]
    assert pid > 0, "container is not running: %r" % inspect["State"]
    return Cgroup(pid)
