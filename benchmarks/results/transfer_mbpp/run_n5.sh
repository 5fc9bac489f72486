#!/bin/bash
# Experiment A (issue 12): diversity, n=5 at T=0.8, base and offline RL (seed 0), MBPP validation (the test part would take 40 minutes here).
set -x
cd /work/expA_wt
export PYTHONPATH=/work/expA_wt/src
PY=/work/main/.venv/bin/python
OUT=/work/runs/expA
COMMON="--heldout mbpp --out $OUT --labels $OUT/labels.parquet --eval-problems 0 --train-groups 0 --max-steps 256 --max-new-tokens 512 --batch-size 64 --seeds 0 --methods offline_rl_default sft"
$PY benchmarks/paper_repro.py $COMMON --only offline_rl_default --mbpp-split validation --n-samples 5
