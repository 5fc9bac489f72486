#!/bin/bash
# Issue 12, experiment A: DPO's learning rate chosen on the MBPP validation part only
# (seed 0; lr 1e-5 made the model worse on validation, -0.050). One torch job at a time.
set -x
cd /work/expA_wt
export PYTHONPATH=/work/expA_wt/src
PY=/work/main/.venv/bin/python
LABELS=/work/runs/expA_s1/labels.parquet
echo "$(date -u +%FT%TZ) start; commit $(git rev-parse HEAD)"
for LR in 3e-6 1e-6; do
  OUT=/work/runs/dpo_lr/lr$LR
  $PY benchmarks/paper_repro.py --heldout mbpp --out $OUT --labels $LABELS --eval-problems 0 \
    --train-groups 0 --max-steps 256 --max-new-tokens 512 --batch-size 64 --seeds 0 \
    --learning-rate $LR --methods offline_rl_default sft dpo --only dpo --mbpp-split validation
  echo "$(date -u +%FT%TZ) lr $LR validation done"
done
