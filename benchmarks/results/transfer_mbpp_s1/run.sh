#!/bin/bash
# Experiment A (issue 12): seed 1, ocrl defaults, no tuning; each stage resumable.
set -x
cd /work/expA_wt
export PYTHONPATH=/work/expA_wt/src
PY=/work/main/.venv/bin/python
OUT=/work/runs/expA_s1
COMMON="--heldout mbpp --out $OUT --labels $OUT/labels.parquet --eval-problems 0 --train-groups 0 --max-steps 256 --max-new-tokens 512 --batch-size 64 --seeds 1 --methods offline_rl_default sft"
$PY benchmarks/paper_repro.py $COMMON --only offline_rl_default --mbpp-split validation
$PY benchmarks/paper_repro.py $COMMON --only offline_rl_default --mbpp-split test
$PY benchmarks/paper_repro.py $COMMON --only sft --mbpp-split validation
$PY benchmarks/paper_repro.py $COMMON --only sft --mbpp-split test
