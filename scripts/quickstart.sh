#!/usr/bin/env bash
# The README's main job: set up (idempotent), then run `ocrl quickstart` on the embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/ocrl quickstart "$@"
