#!/usr/bin/env bash
# The README's main job: set up (idempotent), then run ocrl's main job on the embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if .venv/bin/ocrl --help | grep -q quickstart; then
    exec .venv/bin/ocrl quickstart "$@"
fi
exec .venv/bin/ocrl label --out outputs/example_labels.parquet "$@"
