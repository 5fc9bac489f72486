#!/bin/bash
# Session 21: time the generation benchmark (ocrl vs ocrl-bf16) on a quiet machine by pausing
# offline RL's n=5 test eval (SIGSTOP/SIGCONT), recorded in pauses_s21.txt.
while pgrep -f "run_s21_dpo.sh" > /dev/null; do sleep 10; done
for i in $(seq 1 60); do P=$(pgrep -f "offline_rl_default --mbpp-split test --n-samples 5" | head -1); [ -n "$P" ] && break; sleep 2; done
sleep 20
kill -STOP $P
echo "$(date -u +%FT%TZ) SIGSTOP $P (offline RL n5 test) for the generation benchmark" >> /work/runs/expA/pauses_s21.txt
cd /work/main
uptime > /work/runs/gen_bench_s21.log
.venv/bin/python benchmarks/generation_throughput.py --prompts 48 --max-new-tokens 384 --sides ocrl ocrl-bf16 --out /work/runs/gen_bench_s21.json >> /work/runs/gen_bench_s21.log 2>&1
kill -CONT $P
echo "$(date -u +%FT%TZ) SIGCONT $P" >> /work/runs/expA/pauses_s21.txt
