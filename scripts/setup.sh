#!/usr/bin/env bash
# Prepare a Debian 12 machine (as root) for building and testing berth:
# packages, a running dockerd, the busybox:local image, and a local registry
# on 127.0.0.1:5000 holding images the pull tests use.
# Idempotent: every step checks first and skips what is already there, so a
# rerun on a ready machine takes a second or two.
#
# `scripts/setup.sh run` does only what building and running berth needs
# (the demo's part): packages, dockerd, busybox:local.  Without an argument
# the test part follows: test tools, crun, the registry and its images.
#
# Env:
#   BERTH_SKIP_APT=1   never run apt-get (packages are provided otherwise)
set -euo pipefail

MODE=${1:-test}
case $MODE in run|test) ;; *) printf '[setup] usage: %s [run|test]\n' "$0" >&2; exit 2 ;; esac

REGISTRY=127.0.0.1:5000
REGISTRY_DIR=/var/lib/berth-test-registry       # config + blob storage
REGISTRY_CONFIG=$REGISTRY_DIR/config.yml
REGISTRY_LOG=/var/log/berth-registry.log
DOCKERD_LOG=/var/log/berth-dockerd.log
DOCKER_SOCK=/var/run/docker.sock
BUSYBOX_IMAGE=busybox:local
BIG_REPO=berth-big                              # pushed as $REGISTRY/berth-big:local
# A second registry that wants a login (htpasswd, bcrypt), for the tests of
# --docker_config. The credentials are test-only; the tests use them.
AUTH_REGISTRY=127.0.0.1:5001
AUTH_REGISTRY_DIR=/var/lib/berth-test-registry-auth
AUTH_REGISTRY_CONFIG=$AUTH_REGISTRY_DIR/config.yml
AUTH_REGISTRY_LOG=/var/log/berth-registry-auth.log
AUTH_REGISTRY_USER=berth
AUTH_REGISTRY_PASSWORD=berth-test-secret
AUTH_SLOW_REPO=berth-slow                       # busybox + one random layer, on 5001 only
AUTH_SLOW_BYTES=$((4 * 1024 * 1024))
BIG_LAYERS=4                                    # 4 x 50 MiB random = ~200 MiB
BIG_LAYER_BYTES=$((50 * 1024 * 1024))

PACKAGES=(
  docker.io busybox-static
  libuv1-dev libcurl4-openssl-dev libjansson-dev libsqlite3-dev
  libmicrohttpd-dev libarchive-dev
  meson ninja-build gcc libc6-dev pkg-config
  git ca-certificates iproute2 curl procps util-linux
)
TEST_PACKAGES=(
  docker-registry libcmocka-dev apache2-utils
  python3-pytest python3-pytest-timeout python3-requests python3-prometheus-client
  clang libclang-rt-14-dev llvm valgrind clang-format
  crun systemd
  gnuplot-nox linux-perf
)
[ "$MODE" = run ] || PACKAGES+=("${TEST_PACKAGES[@]}")
# libc6-dev: only a Recommends of gcc, which --no-install-recommends drops.
# curl: health checks of dockerd/registry/berthd here and in demo.sh.
# procps: pgrep/pkill. python3-pytest-timeout: test.sh bounds each test.
# clang + libclang-rt-14-dev (libFuzzer, ASan/UBSan runtimes): scripts/fuzz.sh;
# llvm: llvm-symbolizer, so sanitizer reports name files and lines.
# python3-prometheus-client: test_metrics.py parses /metrics with Prometheus's own parser.
# valgrind: test.sh runs the unit tests under it.
# gnuplot-nox: bench/run --plot draws the scale figure; linux-perf: profiling
# berthd where a benchmark figure falls short (BENCHMARKS.md).
# systemd: systemd-analyze and systemd-sysusers, which test_service.py runs on
# the installed unit (systemd need not be PID 1 for that).
# crun: a second OCI runtime registered with dockerd (tasks pick it with the
# docker parameter `runtime`, see berthd's --docker_allowed_runtimes).
# libarchive-dev: the fetcher extracts tar and zip. apache2-utils: htpasswd for
# the registry with auth on 127.0.0.1:5001.

step() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---------------------------------------------------------------- packages
missing=()
for p in "${PACKAGES[@]}"; do
  # "ii " = wanted install, installed OK; anything else needs apt.
  st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [ "$st" = "ii " ] || missing+=("$p")
done
if [ "${BERTH_SKIP_APT:-0}" = 1 ]; then
  step "packages: BERTH_SKIP_APT=1, skipping apt (missing: ${missing[*]:-none})"
elif [ ${#missing[@]} -eq 0 ]; then
  step "packages: all ${#PACKAGES[@]} installed"
else
  step "packages: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
  step "packages: installed"
fi


# ------------------------------------------------------------ OCI runtimes
# crun is registered in dockerd's daemon.json under "runtimes", merged into
# whatever the file already holds (never clobbering it). Done before dockerd
# is started so a dockerd started here reads it at once; a dockerd already
# running is told with SIGHUP below, which reloads "runtimes" without a
# restart (containers and other users of dockerd are not disturbed).
DAEMON_JSON=/etc/docker/daemon.json
CRUN_PATH=/usr/bin/crun
register_crun() {
  [ -x "$CRUN_PATH" ] || die "$CRUN_PATH missing (package crun)"
  mkdir -p "${DAEMON_JSON%/*}"
  /usr/bin/python3 - "$DAEMON_JSON" "$CRUN_PATH" <<'PY'
import json, os, sys
path, crun = sys.argv[1], sys.argv[2]
cfg = {}
if os.path.exists(path) and os.path.getsize(path) > 0:
    with open(path) as f:
        try:
            cfg = json.load(f)
        except ValueError as e:
            sys.exit("%s is not valid JSON (%s); not touching it" % (path, e))
    if not isinstance(cfg, dict):
        sys.exit("%s does not hold a JSON object; not touching it" % path)
runtimes = cfg.setdefault("runtimes", {})
if not isinstance(runtimes, dict):
    sys.exit('%s: "runtimes" is not an object; not touching it' % path)
if runtimes.get("crun") == {"path": crun}:
    print("unchanged")
    sys.exit(0)
runtimes["crun"] = {"path": crun}
tmp = path + ".berth-tmp"
with open(tmp, "w") as f:
    json.dump(cfg, f, indent=2)
    f.write("\n")
os.chmod(tmp, 0o644)
os.rename(tmp, path)
print("changed")
PY
}
# True when the running dockerd lists crun among its runtimes (asked over
# the socket: the docker client on PATH may be another version).
crun_registered() {
  curl -sf --max-time 5 --unix-socket "$DOCKER_SOCK" http://localhost/info |
    /usr/bin/python3 -c 'import json,sys; sys.exit(0 if "crun" in (json.load(sys.stdin).get("Runtimes") or {}) else 1)'
}
if [ "$MODE" = test ]; then
  crun_state=$(register_crun) || die "could not register crun in $DAEMON_JSON (see above)"
  step "runtimes: crun in $DAEMON_JSON: $crun_state"
fi
# crun refuses a hybrid cgroup layout (v1 controllers plus a cgroup2 mount
# at /sys/fs/cgroup/unified) while any controller sits on the cgroup2 side
# ("cgroups in hybrid mode not supported, drop all controllers from
# cgroupv2"). On such hosts a controller no v1 hierarchy took (hugetlb on
# this CI machine) is mounted as a v1 hierarchy of its own, which moves it
# off cgroup2; nothing uses it there (subtree_control is empty), and runc
# simply finds one more v1 hierarchy.
hybrid_cgroup_fix() {
  local unified=/sys/fs/cgroup/unified c
  [ "$(stat -fc %T "$unified" 2>/dev/null)" = cgroup2fs ] || return 0
  [ -z "$(cat "$unified/cgroup.subtree_control" 2>/dev/null)" ] || return 0
  for c in $(cat "$unified/cgroup.controllers" 2>/dev/null); do
    step "runtimes: moving cgroup controller $c from cgroup2 to a v1 hierarchy (crun needs cgroup2 empty in hybrid mode)"
    mkdir -p "/sys/fs/cgroup/$c"
    mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" || die "mount cgroup v1 hierarchy $c failed"
  done
}
[ "$MODE" = run ] || hybrid_cgroup_fix

# ----------------------------------------------------------------- dockerd
docker_up() { curl -sf --max-time 3 --unix-socket "$DOCKER_SOCK" http://localhost/_ping >/dev/null 2>&1; }

if docker_up; then
  step "dockerd: already answering on $DOCKER_SOCK"
else
  started=0
  for _ in $(seq 1 60); do
    docker_up && break
    if [ $started = 0 ] && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
      step "dockerd: starting via systemctl"
      systemctl start docker || die "systemctl start docker failed (see journalctl -u docker)"
      started=1
    elif [ $started = 0 ] && ! pgrep -x dockerd >/dev/null; then
      # No systemd (CI, containers): run it ourselves. Pid files left by a
      # dockerd that was killed with the machine's processes would make the
      # new one refuse to start if the pid got reused, so drop stale ones.
      rm -f /var/run/docker.pid
      cpid=$(cat /var/run/docker/containerd/containerd.pid 2>/dev/null || true)
      if [ -n "$cpid" ] && [ "$(cat "/proc/$cpid/comm" 2>/dev/null)" != containerd ]; then
        rm -f /var/run/docker/containerd/containerd.pid
      fi
      step "dockerd: starting in background (log $DOCKERD_LOG)"
      spawn_daemon "$DOCKERD_LOG" dockerd
      started=1
    elif [ $started = 0 ]; then
      # A dockerd still starting up: wait for it. If it is shutting down
      # instead, it exits and the next round starts a new one.
      step "dockerd: a dockerd process exists but does not answer yet, waiting"
      started=2
    elif [ $started = 2 ] && ! pgrep -x dockerd >/dev/null; then
      started=0
      continue
    fi
    sleep 1
  done
  docker_up || die "dockerd does not answer on $DOCKER_SOCK after 60 s; last lines of $DOCKERD_LOG:
$(tail -n 20 "$DOCKERD_LOG" 2>/dev/null)"
  step "dockerd: up ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
fi


if [ "$MODE" = run ]; then
  step "runtimes: crun is for the test part, skipped"
elif crun_registered; then
  step "runtimes: dockerd lists crun"
else
  # Started before the file said so: reload it (SIGHUP reloads "runtimes").
  pid=$(cat /var/run/docker.pid 2>/dev/null || pgrep -xo dockerd || true)
  [ -n "$pid" ] || die "no dockerd pid to send SIGHUP to"
  step "runtimes: sending SIGHUP to dockerd ($pid) to load crun"
  kill -HUP "$pid"
  for _ in $(seq 1 20); do crun_registered && break; sleep 0.5; done
  crun_registered || die "dockerd does not list crun after SIGHUP; see its log (${DOCKERD_LOG} or journalctl -u docker)"
  step "runtimes: dockerd lists crun"
fi

# ------------------------------------------------------------ busybox:local
# Built from the host's static busybox with `docker import`, because this
# machine cannot reach Docker Hub.
if docker image inspect "$BUSYBOX_IMAGE" >/dev/null 2>&1; then
  step "image $BUSYBOX_IMAGE: exists"
else
  step "image $BUSYBOX_IMAGE: building from /bin/busybox"
  [ -x /bin/busybox ] || die "/bin/busybox missing (package busybox-static)"
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,var/tmp,dev,proc,sys,home,mnt}
  cp /bin/busybox "$rootfs/bin/busybox"
  # Every applet in /bin (like the official busybox image) and also at its
  # canonical place (e.g. /usr/bin/env) so absolute paths in scripts work.
  for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || ln -sf /bin/busybox "$rootfs/bin/$a"
  done
  for p in $(/bin/busybox --list-full 2>/dev/null || true); do
    [ -e "$rootfs/$p" ] || [ -L "$rootfs/$p" ] || ln -s /bin/busybox "$rootfs/$p"
  done
  chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"
  chmod 0700 "$rootfs/root"
  cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  # 65534 is "nogroup" on Debian and "nobody" elsewhere: accept both names.
  cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nogroup:x:65534:
EOF
  tar -C "$rootfs" --numeric-owner --owner=0 --group=0 -cf - . |
    docker import -c 'CMD ["/bin/sh"]' -m "berth test image from busybox-static" - "$BUSYBOX_IMAGE" >/dev/null
  rm -rf "$rootfs"; trap - EXIT
  docker run --rm "$BUSYBOX_IMAGE" true || die "$BUSYBOX_IMAGE built but cannot run a container"
  step "image $BUSYBOX_IMAGE: built"
fi

if [ "$MODE" = run ]; then
  step "done (run part; scripts/setup.sh without 'run' adds the test part)"
  exit 0
fi

# ---------------------------------------------------------------- registry
registry_up() { curl -sf --max-time 3 "http://$REGISTRY/v2/" >/dev/null 2>&1; }

if registry_up; then
  step "registry: already answering at http://$REGISTRY/v2/"
else
  # Our own config: Debian's /etc/docker/registry/config.yml listens on all
  # interfaces and wants htpasswd auth; tests want plain HTTP on loopback.
  mkdir -p "$REGISTRY_DIR/data"
  cat >"$REGISTRY_CONFIG" <<EOF
# Written by berth scripts/setup.sh: test registry for pull tests.
version: 0.1
log:
  level: info
  fields:
    service: berth-test-registry
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $REGISTRY
EOF
  if ss -ltnH 'sport = :5000' 2>/dev/null | grep -q .; then
    die "port 5000 is taken by something that is not a registry: $(ss -ltnpH 'sport = :5000')"
  fi
  step "registry: starting docker-registry on $REGISTRY (config $REGISTRY_CONFIG, log $REGISTRY_LOG)"
  spawn_daemon "$REGISTRY_LOG" docker-registry serve "$REGISTRY_CONFIG"
  for _ in $(seq 1 30); do registry_up && break; sleep 1; done
  registry_up || die "registry does not answer at http://$REGISTRY/v2/ after 30 s; last log lines:
$(tail -n 20 "$REGISTRY_LOG" 2>/dev/null)"
  step "registry: up"
fi

# True when the registry already holds REPO:TAG.
in_registry() {
  curl -sf --max-time 10 -o /dev/null \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$REGISTRY/v2/$1/manifests/$2"
}

# Push a local image as $REGISTRY/REPO:local, then drop the local tag so
# that tests pulling it really pull (docker treats 127.0.0.0/8 as insecure).
push_and_forget() {
  local src=$1 repo=$2
  docker tag "$src" "$REGISTRY/$repo:local"
  docker push -q "$REGISTRY/$repo:local" >/dev/null
  docker rmi "$REGISTRY/$repo:local" >/dev/null
}

if in_registry busybox local; then
  step "registry image $REGISTRY/busybox:local: exists"
else
  push_and_forget "$BUSYBOX_IMAGE" busybox
  step "registry image $REGISTRY/busybox:local: pushed"
fi

if in_registry "$BIG_REPO" local; then
  step "registry image $REGISTRY/$BIG_REPO:local: exists"
else
  # Several layers of incompressible data, so a pull moves ~200 MB in several
  # blobs and a throttled pull can be aborted mid-way. One `docker commit`
  # per layer (no `docker build`: no builder plugin is guaranteed here).
  step "registry image $REGISTRY/$BIG_REPO:local: building ${BIG_LAYERS} x ${BIG_LAYER_BYTES} bytes"
  base=$BUSYBOX_IMAGE
  built=()
  for i in $(seq 1 "$BIG_LAYERS"); do
    cid=$(docker create "$base" sh -c "mkdir -p /big && head -c $BIG_LAYER_BYTES /dev/urandom > /big/blob$i")
    docker start -a "$cid" >/dev/null
    tag=berth-big-build:$i
    docker commit -c 'CMD ["/bin/sh"]' "$cid" "$tag" >/dev/null
    docker rm "$cid" >/dev/null
    built+=("$tag"); base=$tag
  done
  push_and_forget "$base" "$BIG_REPO"
  docker rmi "${built[@]}" >/dev/null
  step "registry image $REGISTRY/$BIG_REPO:local: pushed"
fi

# ------------------------------------------------------- registry with auth
# Up means it answers /v2/ with 401 (a login is wanted), not 200.
auth_registry_up() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$AUTH_REGISTRY/v2/" 2>/dev/null)" = 401 ]
}

if auth_registry_up; then
  step "registry with auth: already answering at http://$AUTH_REGISTRY/v2/"
else
  mkdir -p "$AUTH_REGISTRY_DIR/data"
  htpasswd -Bbn "$AUTH_REGISTRY_USER" "$AUTH_REGISTRY_PASSWORD" >"$AUTH_REGISTRY_DIR/htpasswd"
  cat >"$AUTH_REGISTRY_CONFIG" <<EOF
# Written by berth scripts/setup.sh: test registry with htpasswd auth.
version: 0.1
log:
  level: info
  fields:
    service: berth-test-registry-auth
storage:
  filesystem:
    rootdirectory: $AUTH_REGISTRY_DIR/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
auth:
  htpasswd:
    realm: berth-test
    path: $AUTH_REGISTRY_DIR/htpasswd
http:
  addr: $AUTH_REGISTRY
EOF
  if ss -ltnH 'sport = :5001' 2>/dev/null | grep -q .; then
    die "port 5001 is taken by something that is not the auth registry: $(ss -ltnpH 'sport = :5001')"
  fi
  step "registry with auth: starting on $AUTH_REGISTRY (config $AUTH_REGISTRY_CONFIG, log $AUTH_REGISTRY_LOG)"
  spawn_daemon "$AUTH_REGISTRY_LOG" docker-registry serve "$AUTH_REGISTRY_CONFIG"
  for _ in $(seq 1 30); do auth_registry_up && break; sleep 1; done
  auth_registry_up || die "registry with auth does not answer 401 at http://$AUTH_REGISTRY/v2/ after 30 s; last log lines:
$(tail -n 20 "$AUTH_REGISTRY_LOG" 2>/dev/null)"
  step "registry with auth: up"
fi

# The login goes to a docker client config of its own, so root's
# ~/.docker/config.json stays as it was.
auth_docker() { DOCKER_CONFIG=$AUTH_REGISTRY_DIR/docker-client /usr/bin/docker "$@"; }
if curl -sf --max-time 10 -o /dev/null -u "$AUTH_REGISTRY_USER:$AUTH_REGISTRY_PASSWORD" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$AUTH_REGISTRY/v2/busybox/manifests/local"; then
  step "registry image $AUTH_REGISTRY/busybox:local: exists"
else
  printf '%s' "$AUTH_REGISTRY_PASSWORD" |
    auth_docker login -u "$AUTH_REGISTRY_USER" --password-stdin "$AUTH_REGISTRY" >/dev/null
  auth_docker tag "$BUSYBOX_IMAGE" "$AUTH_REGISTRY/busybox:local"
  auth_docker push -q "$AUTH_REGISTRY/busybox:local" >/dev/null
  auth_docker rmi "$AUTH_REGISTRY/busybox:local" >/dev/null
  auth_docker logout "$AUTH_REGISTRY" >/dev/null
  step "registry image $AUTH_REGISTRY/busybox:local: pushed"
fi

# An image whose one extra layer (random, so no other image shares it) is
# only in this registry: pulled through a throttling proxy it stays in
# PULLING long enough for the timeout and kill tests.
if curl -sf --max-time 10 -o /dev/null -u "$AUTH_REGISTRY_USER:$AUTH_REGISTRY_PASSWORD" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$AUTH_REGISTRY/v2/$AUTH_SLOW_REPO/manifests/local"; then
  step "registry image $AUTH_REGISTRY/$AUTH_SLOW_REPO:local: exists"
else
  printf '%s' "$AUTH_REGISTRY_PASSWORD" |
    auth_docker login -u "$AUTH_REGISTRY_USER" --password-stdin "$AUTH_REGISTRY" >/dev/null
  cid=$(auth_docker create "$BUSYBOX_IMAGE" sh -c "head -c $AUTH_SLOW_BYTES /dev/urandom > /slow-blob")
  auth_docker start -a "$cid" >/dev/null
  auth_docker commit -c 'CMD ["/bin/sh"]' "$cid" "$AUTH_REGISTRY/$AUTH_SLOW_REPO:local" >/dev/null
  auth_docker rm "$cid" >/dev/null
  auth_docker push -q "$AUTH_REGISTRY/$AUTH_SLOW_REPO:local" >/dev/null
  auth_docker rmi "$AUTH_REGISTRY/$AUTH_SLOW_REPO:local" >/dev/null
  auth_docker logout "$AUTH_REGISTRY" >/dev/null
  step "registry image $AUTH_REGISTRY/$AUTH_SLOW_REPO:local: pushed"
fi

step "done"
