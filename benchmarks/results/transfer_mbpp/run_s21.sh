#!/bin/bash
# Session 21 queue for experiment A (issue 12), one torch job at a time, from worktree /work/expA_wt.
set -x
cd /work/expA_wt
export PYTHONPATH=/work/expA_wt/src
PY=/work/main/.venv/bin/python
OUT=/work/runs/expA
COMMON="--heldout mbpp --out $OUT --labels $OUT/labels.parquet --eval-problems 0 --train-groups 0 --max-steps 256 --max-new-tokens 512 --batch-size 64"
# 1. DPO, seed 0 (reference log-probs on the fly: 256 of 470 pairs trained)
$PY benchmarks/paper_repro.py $COMMON --seeds 0 --methods offline_rl_default sft dpo --only dpo --mbpp-split validation
$PY benchmarks/paper_repro.py $COMMON --seeds 0 --methods offline_rl_default sft dpo --only dpo --mbpp-split test
# 2. n=5 at T=0.8 on the MBPP test part: base (resumes) and offline RL, seed 0
$PY benchmarks/paper_repro.py $COMMON --seeds 0 --methods offline_rl_default sft --only offline_rl_default --mbpp-split test --n-samples 5
echo "$(date -u +%FT%TZ) queue done"
