#!/bin/bash
# Issue 12, experiment A, seed 0: the token-matched SFT control (SFT sees only a group's
# accepted samples: 96,551 tokens in 256 steps against offline RL's 231,748; 2 groups per step
# is the integer closest to the 2.4x ratio), then SFT (one group per step) retrained for
# diversity at n=5, T=0.8 on the validation part. Everything else as section 9 (lr 1e-5,
# 256 steps, labels and split). Waits for the DPO seed-1 queue; one torch job at a time.
set -x
while pgrep -f run_dpo_lr3e-6_s1.sh >/dev/null; do sleep 30; done
cd /work/expA_wt
export PYTHONPATH=/work/expA_wt/src
PY=/work/main/.venv/bin/python
OUT=/work/runs/expA_tok
C="--heldout mbpp --out $OUT --labels /work/runs/expA_s1/labels.parquet --eval-problems 0 --train-groups 0 --max-steps 256 --max-new-tokens 512 --batch-size 64 --seeds 0 --sft-token-groups 2 --methods offline_rl_default sft sft_tokmatch"
echo "$(date -u +%FT%TZ) start; commit $(git rev-parse HEAD)"
$PY benchmarks/paper_repro.py $C --only sft_tokmatch --mbpp-split validation
echo "$(date -u +%FT%TZ) sft_tokmatch validation done"
$PY benchmarks/paper_repro.py $C --only sft_tokmatch --mbpp-split test
echo "$(date -u +%FT%TZ) sft_tokmatch test done"
$PY benchmarks/paper_repro.py $C --only sft --mbpp-split validation --n-samples 5
echo "$(date -u +%FT%TZ) sft n5 validation done"
