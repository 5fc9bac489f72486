#!/bin/bash
# Issue 12: offline RL at its defaults with seed 0 on this commit's prepare (1,039 groups), in
# the seed-1 run's OUT (base's evaluations reused), so the current pipeline has both seeds on
# the MBPP test and validation parts. One torch job at a time.
set -x
cd /work/expA_wt
export PYTHONPATH=/work/expA_wt/src
PY=/work/main/.venv/bin/python
OUT=/work/runs/expA_tok_s1
C="--heldout mbpp --out $OUT --labels $OUT/labels.parquet --eval-problems 0 --train-groups 0 --max-steps 256 --max-new-tokens 512 --batch-size 64 --seeds 0 1 --sft-token-groups 2 --methods offline_rl_default sft sft_tokmatch"
echo "$(date -u +%FT%TZ) start; commit $(git rev-parse HEAD)"
$PY benchmarks/paper_repro.py $C --only offline_rl_default --mbpp-split test
echo "$(date -u +%FT%TZ) offline_rl_default test done"
$PY benchmarks/paper_repro.py $C --only offline_rl_default --mbpp-split validation
echo "$(date -u +%FT%TZ) offline_rl_default validation done"
