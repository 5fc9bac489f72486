#!/bin/bash
# Issue 12, experiment A: the token-matched DPO control (dpo_tokmatch: 2 (Accepted, rejected)
# pairs a step, about offline RL's tokens) at DPO's validation-chosen lr 3e-6 and beta 0.1,
# 256 steps, split seed 0; training seed 0 then 1, each on the MBPP test part then validation.
# Labels judged afresh by this commit's `ocrl label` (the machine is new). One torch job at a time.
set -x
cd /work/expA_wt
export PYTHONPATH=/work/expA_wt/src
PY=/work/main/.venv/bin/python
OUT=/work/runs/expA_dpo_tok
C="--heldout mbpp --out $OUT --labels $OUT/labels.parquet --eval-problems 0 --train-groups 0 --max-steps 256 --max-new-tokens 512 --batch-size 64 --seeds 0 1 --learning-rate 3e-6 --dpo-token-pairs 2 --methods offline_rl_default dpo dpo_tokmatch"
echo "$(date -u +%FT%TZ) start; commit $(git rev-parse HEAD)"
$PY benchmarks/paper_repro.py $C --only dpo_tokmatch --mbpp-split test
echo "$(date -u +%FT%TZ) dpo_tokmatch test done"
$PY benchmarks/paper_repro.py $C --only dpo_tokmatch --mbpp-split validation
echo "$(date -u +%FT%TZ) dpo_tokmatch validation done"
$PY benchmarks/paper_repro.py $C --only dpo_tokmatch_s1 --mbpp-split test
echo "$(date -u +%FT%TZ) dpo_tokmatch_s1 test done"
$PY benchmarks/paper_repro.py $C --only dpo_tokmatch_s1 --mbpp-split validation
echo "$(date -u +%FT%TZ) dpo_tokmatch_s1 validation done"
