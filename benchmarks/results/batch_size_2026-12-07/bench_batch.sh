#!/bin/bash
cd /work/bench_wt
export PYTHONPATH=/work/bench_wt/src
PY=/work/main/.venv/bin/python
pkill -STOP -f paper_repro.py
echo "paused $(date -u +%T)"
for B in 32 64; do
$PY benchmarks/generation_throughput.py --prompts 82 --n 3 --temperature 0.8 --max-new-tokens 608 --batch-size $B --repeats 1 --sides ocrl --out benchmarks/results/generation_throughput_humaneval_82x3_b$B.json
done
pkill -CONT -f paper_repro.py
echo "resumed $(date -u +%T)"
