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
  # scripts/loopback-net.sh: lo up, and the default route through lo that Firefox needs.
  exec timeout -k 30 2700 unshare -n sh -c 'scripts/loopback-net.sh && exec .venv/bin/python -m pytest "$@"' pytest "$@"
fi
echo "test: cannot create a network namespace (need root); running on the host's loopback" >&2
exec timeout -k 30 2700 .venv/bin/python -m pytest "$@"
