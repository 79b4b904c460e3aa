#!/usr/bin/env bash
# The main command: install what is missing, build, and run the demo
# cluster (three dataplanes, a key-value application on each, checked).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup.sh"
exec python3 "$top/scripts/demo.py" "${DSM_BUILD_DIR:-$top/build}" "$@"
