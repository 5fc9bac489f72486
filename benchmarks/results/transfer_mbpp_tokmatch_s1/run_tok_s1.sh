#!/bin/bash
# Issue 12, experiment A: the token-matched SFT control (2 groups' accepted samples a step,
# --sft-token-groups 2, as seed 0's run) with training seed 1, the second seed the issue asks
# for; everything else as section 9 (lr 1e-5, 256 steps, split seed 0). Labels judged afresh
# by this commit's `ocrl label` (the machine was new). One torch job at a time.
set -x
cd /work/expA_wt
export PYTHONPATH=/work/expA_wt/src
PY=/work/main/.venv/bin/python
OUT=/work/runs/expA_tok_s1
C="--heldout mbpp --out $OUT --labels $OUT/labels.parquet --eval-problems 0 --train-groups 0 --max-steps 256 --max-new-tokens 512 --batch-size 64 --seeds 0 1 --sft-token-groups 2 --methods offline_rl_default sft sft_tokmatch --only sft_tokmatch_s1"
echo "$(date -u +%FT%TZ) start; commit $(git rev-parse HEAD)"
$PY benchmarks/paper_repro.py $C --mbpp-split test
echo "$(date -u +%FT%TZ) sft_tokmatch_s1 test done"
$PY benchmarks/paper_repro.py $C --mbpp-split validation
echo "$(date -u +%FT%TZ) sft_tokmatch_s1 validation done"
