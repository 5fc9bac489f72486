#!/bin/bash
# Issue 12, after run_div_s1.sh: greedy MBPP test score of the offline RL seed-1 model that
# run_div_s1.sh trained (this commit's prepare: 1,039 groups), reusing the model and base's
# test evaluation in the same OUT. One torch job at a time.
set -x
while pgrep -f run_div_s1.sh >/dev/null; do sleep 20; done
cd /work/expA_wt
export PYTHONPATH=/work/expA_wt/src
PY=/work/main/.venv/bin/python
OUT=/work/runs/expA_tok_s1
C="--heldout mbpp --out $OUT --labels $OUT/labels.parquet --eval-problems 0 --train-groups 0 --max-steps 256 --max-new-tokens 512 --batch-size 64 --seeds 0 1 --sft-token-groups 2 --methods offline_rl_default sft sft_tokmatch"
echo "$(date -u +%FT%TZ) start; commit $(git rev-parse HEAD)"
$PY benchmarks/paper_repro.py $C --only offline_rl_default_s1 --mbpp-split test
echo "$(date -u +%FT%TZ) offline_rl_default_s1 test done"
