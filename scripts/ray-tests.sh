#!/usr/bin/env bash
# Runs the Ray tests (tests/ray, marked `ray`) in one process, since they share one Ray session,
# inside a loopback-only network namespace (scripts/ray-netns.sh). Without Ray installed the
# tests skip themselves with the reason and the install command.
# Usage: scripts/ray-tests.sh [PYTHON] [PYTEST ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
shift || true
if ! "$PY" -c "import ray" 2>/dev/null; then
  exec "$PY" -m pytest -p no:xdist -m ray tests/ray "$@"
fi
exec bash scripts/ray-netns.sh "$PY" -m pytest -p no:xdist -m ray tests/ray "$@"
