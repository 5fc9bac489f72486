#!/bin/bash
# Issue 12, experiment A: DPO with training seed 1 (the one run of the method still missing),
# everything else as section 9's DPO seed 0. One torch job at a time.
set -x
cd /work/expA_wt
export PYTHONPATH=/work/expA_wt/src
PY=/work/main/.venv/bin/python
OUT=/work/runs/expA_s1
COMMON="--heldout mbpp --out $OUT --labels $OUT/labels.parquet --eval-problems 0 --train-groups 0 --max-steps 256 --max-new-tokens 512 --batch-size 64"
echo "$(date -u +%FT%TZ) start; commit $(git rev-parse HEAD)"
$PY benchmarks/paper_repro.py $COMMON --seeds 1 --methods offline_rl_default sft dpo --only dpo --mbpp-split validation
$PY benchmarks/paper_repro.py $COMMON --seeds 1 --methods offline_rl_default sft dpo --only dpo --mbpp-split test
echo "$(date -u +%FT%TZ) dpo s1 queue done"
