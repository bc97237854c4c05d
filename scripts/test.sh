#!/usr/bin/env bash
# Set up, then run the test suite (CPU, single-threaded: see tests/conftest.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/venv.sh

# The report's browser test (tests/test_report_browser.py) needs Chromium: install Debian's
# package when it is missing — as root, or with sudo when that works without a password;
# never interactive. A failure only means that test is skipped, with the reason.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
    && ! command -v google-chrome >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    as_root=(env)
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n --preserve-env=http_proxy,https_proxy,no_proxy env)
  else
    as_root=()
  fi
  if [ ${#as_root[@]} -gt 0 ]; then
    echo "installing chromium for the browser test (apt-get)" >&2
    apt=("${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get -qq -o Acquire::Retries=1
         -o Acquire::http::Timeout=30 -o Acquire::https::Timeout=30 -o DPkg::Lock::Timeout=60)
    # Time limits on the network steps only: killing dpkg half-way would break apt.
    { timeout 300 "${apt[@]}" update \
      && timeout 600 "${apt[@]}" install -y --no-install-recommends --download-only chromium \
      && "${apt[@]}" install -y --no-install-recommends chromium; } >/dev/null 2>&1 \
      || echo "could not install chromium; the browser test will be skipped" >&2
  else
    echo "no chromium and no root or sudo to install it; the browser test will be skipped" >&2
  fi
fi

export JAX_PLATFORMS=cpu
# Two or more single-threaded workers (pytest-xdist): measured 10 min serial, see README.
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n auto --maxprocesses 4 "$@"
