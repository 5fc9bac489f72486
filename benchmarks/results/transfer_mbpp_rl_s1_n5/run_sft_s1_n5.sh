#!/bin/bash
# Issue 12, experiment A: SFT with training seed 1 sampled n=5 at T=0.8 on the MBPP test part,
# in the OUT of run_rl_s1_n5.sh / run_sft_n5.sh (base's n=5 samples reused), the second seed of
# SFT's sampled test figures. One torch job at a time.
set -x
cd /work/expA_wt
export PYTHONPATH=/work/expA_wt/src
PY=/work/main/.venv/bin/python
OUT=/work/runs/expA_rl_s1_n5
C="--heldout mbpp --out $OUT --labels /work/runs/expA_dpo_tok/labels.parquet --eval-problems 0 --train-groups 0 --max-steps 256 --max-new-tokens 512 --batch-size 64 --seeds 0 1 --methods offline_rl_default sft"
echo "$(date -u +%FT%TZ) start; commit $(git rev-parse HEAD)"
$PY benchmarks/paper_repro.py $C --only sft_s1 --mbpp-split test --n-samples 5
echo "$(date -u +%FT%TZ) sft_s1 n5 test done"
