#!/usr/bin/env bash
# Runs the Ray tests (tests/ray, marked `ray`) in one process: they share one Ray session.
# Ray opens ports beyond loopback even when told 127.0.0.1, so where this can make a network
# namespace (root and iproute2) the tests run inside a loopback-only one, deleted afterwards
# with every process left in it.
# Usage: scripts/ray-tests.sh [PYTHON] [PYTEST ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
shift || true
export RAY_AUTH_MODE=disabled  # else Ray writes a token under ~/.ray and demands it

if ! "$PY" -c "import ray" 2>/dev/null; then
  # the tests skip themselves with the reason and the install command
  exec "$PY" -m pytest -p no:xdist -m ray tests/ray "$@"
fi
NS="lepton-ray-$$"
if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null && ip netns add "$NS" 2>/dev/null; then
  cleanup() {
    ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns delete "$NS" 2>/dev/null || true
  }
  trap cleanup EXIT
  ip netns exec "$NS" ip link set lo up
  ip netns exec "$NS" "$PY" -m pytest -p no:xdist -m ray tests/ray "$@"
else
  echo "ray-tests: no network namespace (needs root and iproute2); Ray listens on this host's network" >&2
  "$PY" -m pytest -p no:xdist -m ray tests/ray "$@"
fi
