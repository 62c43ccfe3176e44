#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang in build-fuzz/ and
# runs each for SECONDS (default 20).  Fails on any crash, leak, sanitizer
# report or broken property; the input that did it is left in
# build-fuzz/fuzz-artifacts/<target>/ and its log in build-fuzz/fuzz-logs/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 60 spec cgroups
#
# Seeds come from tests/fuzz/corpus/<target>/ (read only); what a run
# learns goes to build-fuzz/fuzz-corpus/<target>/ and is reused by later
# runs on this machine.
#
# Env:
#   BERTH_FUZZ_STRICT=1   fuzz_image_ref also fails on berth's known
#                         looseness against Docker's reference grammar
#   BERTH_FUZZ_JOBS=N     targets run N at a time (default: 1)
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."
ROOT=$PWD
BUILD=$ROOT/build-fuzz
SECONDS_EACH=${1:-20}
shift || true
case $SECONDS_EACH in '' | *[!0-9]*)
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
  exit 2
  ;;
esac

step() { printf '[fuzz] %s\n' "$*"; }

command -v clang >/dev/null || {
  echo "[fuzz] clang is missing (scripts/setup.sh installs it)" >&2
  exit 1
}

# Quiet unless something fails: then the whole output.
quiet() {
  local out
  if ! out=$("$@" 2>&1); then
    printf '%s\n' "$out" >&2
    echo "[fuzz] failed: $*" >&2
    exit 1
  fi
}

if [ -f "$BUILD/meson-private/coredata.dat" ]; then
  quiet meson setup --reconfigure --werror -Dfuzz=true "$BUILD"
else
  CC=clang quiet meson setup --werror -Dfuzz=true "$BUILD"
fi
# Only the fuzz targets (and what they link), not berthd or the unit tests.
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do
    t=${f#tests/fuzz/fuzz_}
    targets+=("${t%.c}")
  done
fi
step "building ${#targets[@]} targets in $BUILD"
quiet ninja -C "$BUILD" $(printf 'tests/fuzz/fuzz_%s ' "${targets[@]}")

mkdir -p "$BUILD/fuzz-logs"
# ASan's defaults plus leak checks; UBSan stops at the first report.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

run_one() {
  local t=$1 exe=$BUILD/tests/fuzz/fuzz_$1
  local corpus=$BUILD/fuzz-corpus/$t artifacts=$BUILD/fuzz-artifacts/$t log=$BUILD/fuzz-logs/$t.log
  rm -rf "$artifacts"
  mkdir -p "$corpus" "$artifacts"
  local args=(-max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
              -artifact_prefix="$artifacts/")
  [ -f "tests/fuzz/$t.dict" ] && args+=(-dict="tests/fuzz/$t.dict")
  if "$exe" "${args[@]}" "$corpus" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
    step "$t: ok ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs)"
    return 0
  fi
  step "$t: FAILED, last lines of $log:"
  tail -n 40 "$log" | sed 's/^/    /'
  ls "$artifacts" | sed "s|^|    artifact: $artifacts/|"
  return 1
}

jobs=${BERTH_FUZZ_JOBS:-1}
step "running each target for ${SECONDS_EACH}s, $jobs at a time"
failed=()
pids=()
names=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  names+=("$t")
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || failed+=("${names[0]}")
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed+=("${names[$i]}")
done

if [ ${#failed[@]} -gt 0 ]; then
  step "FAILED: ${failed[*]}"
  exit 1
fi
step "all ${#targets[@]} targets ran ${SECONDS_EACH}s without a crash"
