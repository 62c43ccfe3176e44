# Shared by the scripts that start daemons (setup.sh, slurm.sh); sourced.

# Start "$@" fully detached: own session (setsid) so it outlives the script
# and CI's process group, stdin from /dev/null, output appended to log $1,
# and no inherited descriptors beyond 0-2 (a daemon holding the CI's pipe
# open would keep the CI step from finishing).  From /: a daemon must not
# hold on to the checkout it was started from (a removed checkout leaves
# Slurm's job steps without a working dir).
spawn_daemon() {
  local log=$1; shift
  (
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      case $fd in 0|1|2|255) ;; *) eval "exec $fd>&-" 2>/dev/null || true ;; esac
    done
    cd /
    exec setsid nohup "$@" </dev/null >>"$log" 2>&1
  ) &
}
