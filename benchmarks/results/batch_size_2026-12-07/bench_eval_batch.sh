#!/bin/bash
cd /work/bench_wt
export PYTHONPATH=/work/bench_wt/src
OCRL=/work/main/.venv/bin/ocrl
pkill -STOP -f paper_repro.py
echo "paused $(date -u +%T)"
for B in 64 32; do
  rm -rf /work/runs/scratch/eval_b$B
  $OCRL eval --problems humaneval --limit 82 --max-new-tokens 608 --batch-size $B --out /work/runs/scratch/eval_b$B
done
pkill -CONT -f paper_repro.py
echo "resumed $(date -u +%T)"
