#!/bin/bash
# Session 21: DPO seed 0 for experiment A, after run_s21.sh (one torch job at a time).
set -x
while pgrep -f "run_s21.sh" > /dev/null; do sleep 15; done
cd /work/expA_wt2
export PYTHONPATH=/work/expA_wt2/src
PY=/work/main/.venv/bin/python
OUT=/work/runs/expA
COMMON="--heldout mbpp --out $OUT --labels $OUT/labels.parquet --eval-problems 0 --train-groups 0 --max-steps 256 --max-new-tokens 512 --batch-size 64"
nice -n -5 $PY benchmarks/paper_repro.py $COMMON --seeds 0 --methods offline_rl_default sft dpo --only dpo --mbpp-split validation
nice -n -5 $PY benchmarks/paper_repro.py $COMMON --seeds 0 --methods offline_rl_default sft dpo --only dpo --mbpp-split test
echo "$(date -u +%FT%TZ) dpo queue done"
