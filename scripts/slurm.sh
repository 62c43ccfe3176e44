#!/usr/bin/env bash
# A local Slurm of one node on 127.0.0.1 for berth's tests and demos:
# munged, slurmctld and slurmd from Debian's packages (installed here, not by
# setup.sh: running berth does not need them).  The config is written by
# this script; the daemons run detached and keep their pids in $RUN.
#   scripts/slurm.sh up      install if missing, write the config, start (idempotent)
#   scripts/slurm.sh down    stop the daemons
#   scripts/slurm.sh status  say what runs; exit 0 when the node is idle or busy
set -euo pipefail

CONF_DIR=/etc/slurm
RUN=/run/berth-slurm
LOG_DIR=/var/log/berth-slurm
SPOOL=/var/spool/berth-slurm
PACKAGES=(slurm-wlm munge)

step() { printf '[slurm] %s\n' "$*"; }
die() { printf '[slurm] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  step "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
}

write_config() {
  local host node
  host=$(hostname -s)
  # The node's real CPUs and memory, as slurmd itself sees them.
  node=$(slurmd -C | head -n1 | sed "s/^NodeName=[^ ]*/NodeName=$host NodeAddr=127.0.0.1/")
  mkdir -p "$CONF_DIR" "$RUN" "$LOG_DIR" "$SPOOL/ctld" "$SPOOL/d"
  cat >"$CONF_DIR/slurm.conf.new" <<CONF
# Written by berth's scripts/slurm.sh: one node on 127.0.0.1.
ClusterName=berth
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
# No cgroup plugins: berth's containers live in dockerd's cgroups anyway,
# and berth run binds each one to its step's berth process instead.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
KillWait=2
# Without it a job asking no memory gets all of the node's, and jobs queue.
DefMemPerCPU=256
MinJobAge=30
$node State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  mv "$CONF_DIR/slurm.conf.new" "$CONF_DIR/slurm.conf"
}

up() {
  install_packages
  write_config
  local started=0
  alive "$RUN/slurmctld.pid" || started=1
  if ! alive "$RUN/munged.pid"; then
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
    [ -s /etc/munge/munge.key ] || { mungekey --create 2>/dev/null || create-munge-key; chown munge:munge /etc/munge/munge.key; }
    step "starting munged"
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
    for _ in $(seq 1 50); do [ -S /run/munge/munge.socket.2 ] && break; sleep 0.1; done
    cp /run/munge/munged.pid "$RUN/munged.pid"
  fi
  if ! alive "$RUN/slurmctld.pid"; then
    step "starting slurmctld"
    spawn_daemon "$LOG_DIR/slurmctld.out" /usr/sbin/slurmctld -D -i
  fi
  if ! alive "$RUN/slurmd.pid"; then
    step "starting slurmd"
    spawn_daemon "$LOG_DIR/slurmd.out" /usr/sbin/slurmd -D
  fi
  # Daemons already up read a rewritten config only when told.
  if [ "$started" = 0 ] && ! cmp -s "$CONF_DIR/slurm.conf" "$RUN/slurm.conf.applied"; then
    step "config changed: scontrol reconfigure"
    scontrol reconfigure
  fi
  cp "$CONF_DIR/slurm.conf" "$RUN/slurm.conf.applied"
  for _ in $(seq 1 60); do
    if state=$(sinfo -h -o %T 2>/dev/null) && [[ $state =~ ^(idle|mixed|allocated) ]]; then
      step "up: node $(hostname -s) $state ($(sinfo -h -o '%c cpus, %m MB'))"
      return 0
    fi
    sleep 0.5
  done
  die "the node did not come up; see $LOG_DIR/slurmctld.log and $LOG_DIR/slurmd.log"
}

down() {
  for d in slurmd slurmctld munged; do
    if alive "$RUN/$d.pid"; then
      step "stopping $d"
      kill "$(cat "$RUN/$d.pid")"
      for _ in $(seq 1 50); do alive "$RUN/$d.pid" || break; sleep 0.1; done
    fi
    rm -f "$RUN/$d.pid"
  done
}

status() {
  local ok=0
  for d in munged slurmctld slurmd; do
    if alive "$RUN/$d.pid"; then step "$d: running (pid $(cat "$RUN/$d.pid"))"; else step "$d: stopped"; ok=1; fi
  done
  [ $ok -eq 0 ] && step "node: $(sinfo -h -o %T 2>/dev/null || echo unknown)"
  return $ok
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: $0 up|down|status" ;;
esac
