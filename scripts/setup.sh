#!/usr/bin/env bash
# Set up everything the service and its tests need on a Debian machine with
# Python 3.11+: system packages (only when missing), a virtual environment
# in .venv, and the project itself (editable, with test tools).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc ] || need+=(fonts-noto-cjk)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)  # bench/scale.py: clips, and the job it is compared with
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need+=(python3-venv)
if [ "${WITH_BROWSER:-1}" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v firefox-esr >/dev/null 2>&1 || need+=(firefox-esr)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
fi
# The Python packages change only with these files: when their hash matches the stamp the last
# successful install left, skip pip (quiet and offline-safe); a fresh clone has no stamp.
stamp=.venv/setup.stamp
want=$(cat pyproject.toml constraints.txt scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # Quiet unless it fails: the build backend's warnings are noise here.
  if ! .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]' >.venv/install.log 2>&1; then
    cat .venv/install.log >&2
    exit 1
  fi
  echo "$want" >"$stamp"
fi
# The web players the tests run in Chromium (hls.js, mpegts.js), pinned in tests/players.
if [ "${WITH_BROWSER:-1}" = 1 ] && command -v npm >/dev/null 2>&1 && [ ! -d tests/players/node_modules/hls.js ]; then
  npm install --prefix tests/players --no-audit --no-fund --ignore-scripts --silent
fi
# Studios' media sockets ask for 4 MiB receive buffers (rooms/udpsocket.py); the kernel caps them at rmem_max.
rmem=$(cat /proc/sys/net/core/rmem_max 2>/dev/null || echo 4194304)
if [ "$rmem" -lt 4194304 ]; then
  echo "setup: net.core.rmem_max is $rmem; for bursts without loss: sysctl -w net.core.rmem_max=4194304 (and in /etc/sysctl.d/)"
fi
echo "setup: ready (.venv)"
