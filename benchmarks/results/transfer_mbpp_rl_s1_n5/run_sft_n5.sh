#!/bin/bash
# Issue 12, experiment A: SFT (accepted samples, seed 0, the SFT run) sampled n=5 at
# T=0.8 on the MBPP test part, in the OUT of run_rl_s1_n5.sh so that base's n=5 samples there
# are reused and the rows compare. One torch job at a time.
set -x
cd /work/expA_wt
export PYTHONPATH=/work/expA_wt/src
PY=/work/main/.venv/bin/python
OUT=/work/runs/expA_rl_s1_n5
C="--heldout mbpp --out $OUT --labels /work/runs/expA_dpo_tok/labels.parquet --eval-problems 0 --train-groups 0 --max-steps 256 --max-new-tokens 512 --batch-size 64 --seeds 0 1 --methods offline_rl_default sft"
echo "$(date -u +%FT%TZ) start; commit $(git rev-parse HEAD)"
$PY benchmarks/paper_repro.py $C --only sft --mbpp-split test --n-samples 5
echo "$(date -u +%FT%TZ) sft n5 test done"
