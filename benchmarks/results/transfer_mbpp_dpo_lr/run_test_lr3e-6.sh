#!/bin/bash
# The MBPP test part for DPO at lr 3e-6 (seed 0): base and dpo, greedy. The lr 1e-6 training
# (validation sweep) is SIGSTOPped meanwhile; the choice of lr is made on validation only
# (choice_rule.txt, written before either result of lr 1e-6 was known).
set -x
cd /work/expA_wt
export PYTHONPATH=/work/expA_wt/src
PY=/work/main/.venv/bin/python
pkill -STOP -f "learning-rate 1e-6"
trap 'pkill -CONT -f "learning-rate 1e-6"' EXIT
echo "$(date -u +%FT%TZ) start; commit $(git rev-parse HEAD)"
$PY benchmarks/paper_repro.py --heldout mbpp --out /work/runs/dpo_lr/lr3e-6 --labels /work/runs/expA_s1/labels.parquet --eval-problems 0 \
    --train-groups 0 --max-steps 256 --max-new-tokens 512 --batch-size 64 --seeds 0 \
    --learning-rate 3e-6 --methods offline_rl_default sft dpo --only dpo --mbpp-split test
echo "$(date -u +%FT%TZ) lr 3e-6 test done"
