#!/bin/bash
# Issue 12, experiment A, after the token-matched DPO control's seed 0: offline RL at its
# defaults with training seed 1, sampled n=5 at T=0.8 on the MBPP test part (sampled pass@1,
# pass@5 and diversity; the test part had these for seed 0 only), base's n=5 alongside in the
# same OUT. Labels reused from the DPO run (the same commit's `ocrl label`). One torch job at a time.
set -x
while ! grep -q "stopped run_dpo_tok.sh" /work/runs/stop_after_s0.log 2>/dev/null; do sleep 15; done
sleep 5
cd /work/expA_wt
export PYTHONPATH=/work/expA_wt/src
PY=/work/main/.venv/bin/python
OUT=/work/runs/expA_rl_s1_n5
C="--heldout mbpp --out $OUT --labels /work/runs/expA_dpo_tok/labels.parquet --eval-problems 0 --train-groups 0 --max-steps 256 --max-new-tokens 512 --batch-size 64 --seeds 0 1 --methods offline_rl_default"
echo "$(date -u +%FT%TZ) start; commit $(git rev-parse HEAD)"
$PY benchmarks/paper_repro.py $C --only offline_rl_default_s1 --mbpp-split test --n-samples 5
echo "$(date -u +%FT%TZ) offline_rl_default_s1 n5 test done"
