#!/usr/bin/env bash
# Idempotent set-up shared by the README's two commands: a virtual environment in .venv,
# torch pinned to the CPU wheel first (an unpinned torch pulls GBs of CUDA), then ocrl itself.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && ! command -v bwrap >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    # bubblewrap gives the sandbox its network, PID and filesystem isolation.
    (apt-get install -y -q bubblewrap >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q bubblewrap >/dev/null 2>&1; }) \
        || echo "warning: could not install bubblewrap; the sandbox will run in rlimits-only mode" >&2
fi
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
