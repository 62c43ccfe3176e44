#!/usr/bin/env bash
# The one command that shows berth working: prepares the machine, builds,
# starts berthd with its defaults (work dir /var/lib/berth, socket
# unix:/run/berth/berthd.sock) unless one already answers there, runs a demo
# task and lists containers. berthd is left running afterwards.
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."

SOCK=/run/berth/berthd.sock
LOG=/var/log/berthd.log

step() { printf '[demo] %s\n' "$*"; }
die() { printf '[demo] ERROR: %s\n' "$*" >&2; exit 1; }

# HTTP status of /health, or 000 when nothing answers on the socket.
health() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 3 --unix-socket "$SOCK" http://x/health 2>/dev/null || true
}

# Pid of the process listening on $SOCK (for the stop hint).
berthd_pid() {
  ss -xlpnH 2>/dev/null | grep -F " $SOCK " | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n1
}

step "setup"
# Only what running needs: no test tools, registry or pull-test images.
bash scripts/setup.sh run

step "build"
# The unit tests need cmocka, a test tool the run part does not install.
if [ ! -f build/meson-private/coredata.dat ]; then
  meson setup -Dtests=false build
fi
ninja -C build

code=$(health)
if [ "$code" != 000 ]; then
  step "berthd already answers on $SOCK (health $code), reusing it"
else
  step "starting build/berthd (log $LOG)"
  # Detached like setup.sh's daemons: own session, no terminal, so it keeps
  # running after this script and after the shell that ran it.
  (
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      case $fd in 0|1|2|255) ;; *) eval "exec $fd>&-" 2>/dev/null || true ;; esac
    done
    exec setsid nohup "$PWD/build/berthd" </dev/null >>"$LOG" 2>&1
  ) &
  pid=$!
fi

# Wait for 200: berthd answers 503 while dockerd is not reachable.
for _ in $(seq 1 30); do
  code=$(health)
  [ "$code" = 200 ] && break
  if [ -n "${pid:-}" ] && ! kill -0 "$pid" 2>/dev/null; then
    die "berthd exited during startup; last lines of $LOG:
$(tail -n 20 "$LOG" 2>/dev/null)"
  fi
  sleep 1
done
[ "$code" = 200 ] || die "berthd /health on $SOCK is '$code', not 200, after 30 s; last lines of $LOG:
$(tail -n 20 "$LOG" 2>/dev/null)"
step "berthd healthy on $SOCK"

step "\$ berth run busybox:local sh -c 'echo hello from berth; uname -a'"
build/berth run busybox:local sh -c 'echo hello from berth; uname -a'

step "\$ berth ps -a"
build/berth ps -a

pid=$(berthd_pid)
step "berthd is still running (pid ${pid:-?}, log $LOG, work dir /var/lib/berth)."
step "stop it with: kill ${pid:-\$(pgrep -x berthd)}"
