#!/bin/bash
# Issue 12, experiment A: DPO at the validation-chosen lr 3e-6 with training seed 1 (the second
# seed the issue asks for), everything else as seed 0's lr 3e-6 run. The base evaluations of that
# run's OUT are reused (paper_repro resumes). One torch job at a time.
set -x
cd /work/expA_wt
export PYTHONPATH=/work/expA_wt/src
PY=/work/main/.venv/bin/python
OUT=/work/runs/dpo_lr/lr3e-6
C="--heldout mbpp --out $OUT --labels /work/runs/expA_s1/labels.parquet --eval-problems 0 --train-groups 0 --max-steps 256 --max-new-tokens 512 --batch-size 64 --seeds 0 1 --learning-rate 3e-6 --methods offline_rl_default sft dpo --only dpo_s1"
echo "$(date -u +%FT%TZ) start; commit $(git rev-parse HEAD)"
$PY benchmarks/paper_repro.py $C --mbpp-split test
echo "$(date -u +%FT%TZ) test done"
$PY benchmarks/paper_repro.py $C --mbpp-split validation
echo "$(date -u +%FT%TZ) validation done"
