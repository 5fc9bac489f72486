#!/bin/bash
# Issue 16 benchmarks from a worktree of da56949 + this session's output_layer/sampler changes;
# the DPO run in the background is SIGSTOPped throughout and resumed at the end.
set -x
cd /work/bench_wt
export PYTHONPATH=/work/bench_wt/src
PY=/work/main/.venv/bin/python
pkill -STOP -f paper_repro.py
trap 'pkill -CONT -f paper_repro.py' EXIT
sleep 2
echo "$(date -u +%FT%TZ) start; load $(cut -d' ' -f1-3 /proc/loadavg)"
$PY benchmarks/int8_sampling.py --problems ../shared/data/mbpp/problems.jsonl --out /work/runs/int8/evals
echo "$(date -u +%FT%TZ) int8 done; load $(cut -d' ' -f1-3 /proc/loadavg)"
$PY benchmarks/generation_throughput.py --prompts 48 --max-new-tokens 384 --batch-size 64 --repeats 2 --sides baseline ocrl --baseline-rev da56949 --out benchmarks/results/generation_throughput_humaneval_n1_output_slices.json
echo "$(date -u +%FT%TZ) he done; load $(cut -d' ' -f1-3 /proc/loadavg)"
$PY benchmarks/generation_throughput.py --problems /work/runs/codenet_B/problems.jsonl --sample-seed 0 --prompts 16 --max-new-tokens 256 --batch-size 64 --sides baseline ocrl --baseline-rev da56949 --out benchmarks/results/generation_throughput_codenet_16_n1_output_slices.json
echo "$(date -u +%FT%TZ) codenet done; load $(cut -d' ' -f1-3 /proc/loadavg)"
$PY benchmarks/sampler_step_parts.py --parts output_layer
echo "$(date -u +%FT%TZ) all done; load $(cut -d' ' -f1-3 /proc/loadavg)"
