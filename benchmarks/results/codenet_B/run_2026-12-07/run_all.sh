#!/usr/bin/env bash
# Experiment B redo (2026-12-07): /work/runs was lost between sessions. Every stage resumes.
set -euo pipefail
cd /work/expB_wt
export PYTHONPATH=/work/expB_wt/src
PY=/work/main/.venv/bin/python
OCRL="$PY -m ocrl"
D=/work/runs/codenet_B
echo "START $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
$PY benchmarks/codenet_collect.py --out $D --dtype float32 --train-problems 40
echo "COLLECT_DONE $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
C="--heldout codenet --codenet-dir $D --problems $D/train.jsonl --samples $D/logs.jsonl.gz --labels $D/labels.parquet --out $D/repro_g64 --eval-problems 0 --train-groups 0 --max-steps 40 --max-new-tokens 512 --batch-size 64 --mixed-on reward --partial-credit --max-completion-length 512 --max-prompt-length 448 --methods offline_rl_default offline_rl_grpo"
$PY benchmarks/paper_repro.py $C --mbpp-split test --only offline_rl_default
echo "TEST_DEFAULT_DONE $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
$OCRL eval --model $D/repro_g64/train/offline_rl_default --problems $D/mbpp_test.jsonl --max-new-tokens 512 --batch-size 64 --timeout 3 --out $D/mbpp_test/offline_rl_default
$OCRL eval --model smollm2-135m --problems $D/mbpp_test.jsonl --max-new-tokens 512 --batch-size 64 --timeout 3 --out $D/mbpp_test/base
echo "MBPP_DONE $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
$PY benchmarks/paper_repro.py $C --mbpp-split validation --only offline_rl_default
echo "VAL_DEFAULT_DONE $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
$PY benchmarks/paper_repro.py $C --mbpp-split validation --only offline_rl_grpo
echo "VAL_GRPO_DONE $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
