#!/bin/bash
# Issue 12, experiment A, after run_tok_s1.sh: diversity at n=5, T=0.8 on the MBPP validation
# part for seed 1 (the "diversity kept" had seed 0 only): base and the token-matched SFT
# (seed 1, trained by run_tok_s1.sh), then offline RL's defaults trained with seed 1 in the same
# OUT (base's n=5 reused). One torch job at a time.
set -x
while pgrep -f run_tok_s1.sh >/dev/null; do sleep 30; done
cd /work/expA_wt
export PYTHONPATH=/work/expA_wt/src
PY=/work/main/.venv/bin/python
OUT=/work/runs/expA_tok_s1
C="--heldout mbpp --out $OUT --labels $OUT/labels.parquet --eval-problems 0 --train-groups 0 --max-steps 256 --max-new-tokens 512 --batch-size 64 --seeds 0 1 --sft-token-groups 2 --methods offline_rl_default sft sft_tokmatch"
echo "$(date -u +%FT%TZ) start; commit $(git rev-parse HEAD)"
$PY benchmarks/paper_repro.py $C --only sft_tokmatch_s1 --mbpp-split validation --n-samples 5
echo "$(date -u +%FT%TZ) sft_tokmatch_s1 n5 validation done"
$PY benchmarks/paper_repro.py $C --only offline_rl_default_s1 --mbpp-split validation --n-samples 5
echo "$(date -u +%FT%TZ) offline_rl_default_s1 n5 validation done"
