#!/usr/bin/env bash
# Runs a command that starts Ray inside a loopback-only network namespace, deleted afterwards
# with every process left in it. Ray opens ports beyond loopback even when told 127.0.0.1;
# where no namespace can be made (needs root and iproute2) the command runs on this host's
# network, with a warning.
# Usage: scripts/ray-netns.sh COMMAND [ARGS...]
set -euo pipefail
export RAY_AUTH_MODE=disabled  # else Ray writes a token under ~/.ray and demands it

NS="lepton-ray-$$"
if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null && ip netns add "$NS" 2>/dev/null; then
  cleanup() {
    ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns delete "$NS" 2>/dev/null || true
  }
  trap cleanup EXIT
  ip netns exec "$NS" ip link set lo up
  ip netns exec "$NS" "$@"
else
  echo "ray-netns: no network namespace (needs root and iproute2); Ray listens on this host's network" >&2
  "$@"
fi
