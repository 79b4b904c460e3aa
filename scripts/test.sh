#!/usr/bin/env bash
# The test command: install what is missing, build, run every suite
# (unit, unit under valgrind, integration), print a summary.
#
#   sudo scripts/test.sh                 everything
#   sudo scripts/test.sh --suite unit    one meson suite (unit, valgrind, integration, kmod)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${DSM_BUILD_DIR:-$top/build}

"$top/scripts/setup.sh"
rc=0
meson test -C "$build" --print-errorlogs "$@" || rc=$?
python3 "$top/scripts/test_summary.py" "$build/meson-logs/testlog.json" || rc=1
exit $rc
