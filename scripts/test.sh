#!/usr/bin/env bash
# One command: set up, lint, type-check, then run the whole test suite inside a
# network namespace that has only loopback, so no media leaves the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy orchestrator rooms mixer
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  # timeout: a hang must fail the run, not eat CI's 90 minutes.
  # Firefox gathers no ICE candidate without a default route: one through lo (it reaches
  # nothing outside), with the resolvers unreachable so name lookups still fail at once.
  netns='ip link set lo up && ip route add default dev lo src 127.0.0.1 &&
    for ns in $(awk "/^nameserver/ {print \$2}" /etc/resolv.conf); do ip route add unreachable "$ns" 2>/dev/null || true; done'
  exec timeout -k 30 2700 unshare -n sh -c "$netns"' && exec .venv/bin/python -m pytest "$@"' pytest "$@"
fi
echo "test: cannot create a network namespace (need root); running on the host's loopback" >&2
exec timeout -k 30 2700 .venv/bin/python -m pytest "$@"
