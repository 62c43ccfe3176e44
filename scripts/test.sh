#!/usr/bin/env bash
# The one command that runs everything: machine setup, build (warnings are
# errors), unit tests, then the integration tests against real dockerd.
# Then the hardening jobs: the unit tests under valgrind, an ASan+UBSan
# build whose unit tests and berthd run everything again, and a short run of
# every fuzz target (scripts/fuzz.sh).
# Extra arguments go to pytest (both runs), e.g. scripts/test.sh -k launch -x
#
# Env:
#   BERTH_SKIP_APT=1        passed on to setup.sh
#   BERTH_TEST_TIMEOUT=N    per-test limit in seconds (default 600), so one
#                           hung test cannot eat CI's whole time budget
#   BERTH_SKIP_SANITIZERS=1 skip the valgrind and ASan+UBSan runs (on by default)
#   BERTH_SKIP_FUZZ=1       skip the fuzz smoke run (on by default)
set -euo pipefail

# Work from the repo root whatever the caller's cwd (CI runs a fresh clone).
cd "$(dirname "$(readlink -f "$0")")/.."
ROOT=$PWD

step() { printf '\n[test] === %s\n' "$*"; }

step "setup"
bash scripts/setup.sh

step "format (clang-format, .clang-format)"
# The C follows one style; a change that does not is refused here, before
# anything is built.  Fix with: clang-format -i <files>
git ls-files -z 'src/*.[ch]' 'cmd/*.c' 'tests/unit/*.[ch]' 'tests/fuzz/*.[ch]' |
  xargs -0 clang-format --dry-run --Werror

step "configure (build/, --werror)"
# -Dtests=true: a build/ the demo configured without the unit tests gets them.
if [ -f build/meson-private/coredata.dat ]; then
  meson setup --reconfigure --werror -Dtests=true build
else
  meson setup --werror -Dtests=true build
fi

step "build"
ninja -C build

# A runner that ran nothing must fail the script, not pass it: meson test
# with no test defined exits 0, so count what it reports as run.
meson_test() {
  local out rc=0
  out=$(mktemp)
  meson test "$@" 2>&1 | tee "$out" || rc=$?
  if [ "$rc" = 0 ]; then
    local ran
    ran=$(awk '/^(Ok|Expected Fail):/ {n += $NF} END {print n + 0}' "$out")
    if [ "$ran" -eq 0 ]; then
      printf '[test] FAILED: meson test %s ran no test\n' "$*"
      rc=1
    fi
  fi
  rm -f "$out"
  return $rc
}

step "unit tests"
meson_test -C build --print-errorlogs

step "local Slurm (scripts/slurm.sh up)"
# test_slurm.py's Slurm tests need it; they skip, saying why, if it fails.
bash scripts/slurm.sh up || printf '[test] scripts/slurm.sh up failed: the Slurm tests will skip\n'

step "integration tests"
# The tests find build/berthd and build/berth through this; the rest tells
# them what setup.sh prepared.
export BERTH_BUILD_DIR=$ROOT/build
export BERTH_TEST_IMAGE=busybox:local
export BERTH_TEST_REGISTRY=127.0.0.1:5000
export BERTH_TEST_REGISTRY_IMAGE=127.0.0.1:5000/busybox:local
export BERTH_TEST_BIG_IMAGE=127.0.0.1:5000/berth-big:local
pytest_args=(-v -ra -p no:cacheprovider)
if /usr/bin/python3 -c 'import pytest_timeout' 2>/dev/null; then
  pytest_args+=("--timeout=${BERTH_TEST_TIMEOUT:-600}")
fi
# pytest exits 5 when it collects no tests: that counts as a failure here.
/usr/bin/python3 -m pytest "${pytest_args[@]}" tests/integration "$@"

# Hardening: memory errors, leaks and undefined behaviour.  Each step prints
# how long it took ("took N s").
timed() {
  local t0=$SECONDS rc=0
  "$@" || rc=$?
  printf '[test] took %d s\n' $((SECONDS - t0))
  return $rc
}

if [ "${BERTH_SKIP_SANITIZERS:-0}" = 1 ]; then
  step "sanitizers: skipped (BERTH_SKIP_SANITIZERS=1)"
else
  step "unit tests under valgrind"
  # Definite and indirect leaks fail; "possible" ones are left to ASan,
  # valgrind reports those for libraries' own caches.
  timed meson_test -C build --print-errorlogs --num-processes 2 --timeout-multiplier 5 \
    --wrapper 'valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=1 --quiet'

  step "configure + build (build-asan/, ASan+UBSan, --werror)"
  if [ -f build-asan/meson-private/coredata.dat ]; then
    timed meson setup --reconfigure --werror -Db_sanitize=address,undefined -Db_lundef=false build-asan
  else
    timed meson setup --werror -Db_sanitize=address,undefined -Db_lundef=false build-asan
  fi
  timed ninja -C build-asan

  # Leaks are errors; UBSan stops at its first report so it cannot scroll by.
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

  step "unit tests (ASan+UBSan)"
  timed meson_test -C build-asan --print-errorlogs

  step "integration tests against the ASan+UBSan berthd"
  # A private log dir: every berthd log in it is from this run, and a
  # sanitizer report in any of them fails the run even when its test passed
  # (a leak is reported as berthd exits, after the test).
  asan_logs=$ROOT/build-asan/it-logs
  rm -rf "$asan_logs"
  mkdir -p "$asan_logs"
  rc=0
  timed env BERTH_BUILD_DIR="$ROOT/build-asan" BERTH_TEST_LOG_DIR="$asan_logs" \
    /usr/bin/python3 -m pytest "${pytest_args[@]}" tests/integration "$@" || rc=$?
  # "No report" only counts when there were logs to read: no log at all
  # means the check saw nothing (wrong dir, no daemon started), a failure.
  shopt -s nullglob
  logs=("$asan_logs"/*.log)
  shopt -u nullglob
  if [ "${#logs[@]}" -eq 0 ]; then
    printf '\n[test] FAILED: no berthd log in %s, so no sanitizer report could be seen\n' "$asan_logs"
    exit 1
  fi
  grc=0
  reports=$(grep -lE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "${logs[@]}") || grc=$?
  if [ "$grc" -gt 1 ]; then
    printf '\n[test] FAILED: could not read the berthd logs in %s (grep status %d)\n' "$asan_logs" "$grc"
    exit 1
  fi
  if [ -n "$reports" ]; then
    for f in $reports; do
      printf '\n[test] sanitizer report in %s:\n' "$f"
      grep -nE -A 30 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$f" | head -n 80
    done
    printf '\n[test] FAILED: sanitizer reports in berthd logs (above)\n'
    exit 1
  fi
  printf '[test] no sanitizer report in %d berthd logs\n' "${#logs[@]}"
  [ "$rc" = 0 ] || exit "$rc"
  unset ASAN_OPTIONS UBSAN_OPTIONS
fi

if [ "${BERTH_SKIP_FUZZ:-0}" = 1 ]; then
  step "fuzz smoke: skipped (BERTH_SKIP_FUZZ=1)"
else
  step "fuzz smoke (every target 15 s)"
  timed bash scripts/fuzz.sh 15
fi

step "all passed"
