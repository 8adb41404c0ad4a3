#!/usr/bin/env bash
# One command: set up, then run the example show with synthetic studios.
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_BROWSER=0 scripts/setup.sh
exec .venv/bin/broadcast demo "$@"
