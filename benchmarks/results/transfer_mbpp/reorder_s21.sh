#!/bin/bash
# Session 21: DPO before offline RL's n=5 test eval (time): once base's n=5 test eval is done,
# stop run_s21.sh (offline RL's n=5 chunks stay for a resume), let run_s21_dpo.sh run, then resume.
M=/work/runs/expA/eval/n5_t0.8_mbpp-test-all/base/metrics.json
while [ ! -f $M ]; do sleep 10; done
sleep 5
pkill -f "run_s21.sh"; pkill -f "only offline_rl_default --mbpp-split test --n-samples 5"
echo "$(date -u +%FT%TZ) stopped run_s21.sh after base n5 test (offline RL n5 test deferred after DPO)" >> /work/runs/expA/pauses_s21.txt
while pgrep -f "run_s21_dpo.sh" > /dev/null; do sleep 15; done
cd /work/expA_wt2
export PYTHONPATH=/work/expA_wt2/src
OUT=/work/runs/expA
nice -n -5 /work/main/.venv/bin/python benchmarks/paper_repro.py --heldout mbpp --out $OUT --labels $OUT/labels.parquet --eval-problems 0 --train-groups 0 --max-steps 256 --max-new-tokens 512 --batch-size 64 --seeds 0 --methods offline_rl_default sft --only offline_rl_default --mbpp-split test --n-samples 5
echo "$(date -u +%FT%TZ) rl n5 test done" >> /work/runs/expA/pauses_s21.txt
