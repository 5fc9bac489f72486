#!/bin/bash
# Issue 16: the transposed projections, measured with the experiment queue paused.
set -x
cd /work/main
export PYTHONPATH=/work/main/src
PY=/work/main/.venv/bin/python
pkill -STOP -f paper_repro.py
trap 'pkill -CONT -f paper_repro.py' EXIT
sleep 5
echo "$(date -u +%FT%TZ) load $(cat /proc/loadavg)"
$PY benchmarks/matmul_rows.py
echo "$(date -u +%FT%TZ) load $(cat /proc/loadavg)"
$PY benchmarks/generation_throughput.py --prompts 48 --max-new-tokens 384 --batch-size 64 --repeats 2 --sides baseline ocrl --baseline-rev 2aef47b --out benchmarks/results/generation_throughput_humaneval_n1_projections.json
echo "$(date -u +%FT%TZ) load $(cat /proc/loadavg)"
