#!/bin/bash
# Issue 16: the transposed projections on 16 CodeNet statements and on the quickstart's
# collection setting (n=3 at T=0.8), the experiment queue paused.
set -x
cd /work/main
export PYTHONPATH=/work/main/src
PY=/work/main/.venv/bin/python
pkill -STOP -f paper_repro.py
trap 'pkill -CONT -f paper_repro.py' EXIT
sleep 3
echo "$(date -u +%FT%TZ) load $(cat /proc/loadavg)"
$PY benchmarks/generation_throughput.py --problems /work/runs/codenet_B/problems.jsonl --sample-seed 0 --prompts 16 --max-new-tokens 256 --batch-size 64 --sides baseline ocrl --baseline-rev 2aef47b --out benchmarks/results/generation_throughput_codenet_16_n1_projections.json
echo "$(date -u +%FT%TZ) load $(cat /proc/loadavg)"
$PY benchmarks/generation_throughput.py --prompts 16 --n 4 --temperature 0.8 --max-new-tokens 256 --batch-size 64 --sides baseline ocrl --baseline-rev 2aef47b --out benchmarks/results/generation_throughput_humaneval_n4_projections.json
echo "$(date -u +%FT%TZ) load $(cat /proc/loadavg)"
