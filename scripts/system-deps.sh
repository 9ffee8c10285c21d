#!/usr/bin/env bash
# Installs the system packages the test suite runs for real: PostgreSQL (the metadata store
# suite runs against it) and Chromium (the browser suite drives it through Playwright, by path:
# never `playwright install`), and iproute2 (the Ray tests run in a loopback-only network
# namespace). Does nothing when they are present; needs root (or sudo) otherwise.
set -euo pipefail

need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v ip >/dev/null || need+=(iproute2)  # the Ray tests run in a loopback-only netns

[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
  echo "system-deps: missing ${need[*]} and no root to install them; those tests will be skipped." >&2
  exit 0
fi
echo "system-deps: installing ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
