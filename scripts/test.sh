#!/usr/bin/env bash
# The one command that runs everything: machine setup, build (warnings are
# errors), unit tests, then the integration tests against real dockerd.
# Extra arguments go to pytest, e.g. scripts/test.sh -k launch -x
#
# Env:
#   BERTH_SKIP_APT=1        passed on to setup.sh
#   BERTH_TEST_TIMEOUT=N    per-test limit in seconds (default 600), so one
#                           hung test cannot eat CI's whole time budget
set -euo pipefail

# Work from the repo root whatever the caller's cwd (CI runs a fresh clone).
cd "$(dirname "$(readlink -f "$0")")/.."
ROOT=$PWD

step() { printf '\n[test] === %s\n' "$*"; }

step "setup"
bash scripts/setup.sh

step "configure (build/, --werror)"
if [ -f build/meson-private/coredata.dat ]; then
  meson setup --reconfigure --werror build
else
  meson setup --werror build
fi

step "build"
ninja -C build

step "unit tests"
meson test -C build --print-errorlogs

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

step "all passed"
