#!/bin/bash
cd /work/bench_wt
export PYTHONPATH=/work/bench_wt/src
pkill -STOP -f paper_repro.py
echo "paused $(date -u +%T) commit $(git rev-parse --short HEAD)"
rm -rf /work/runs/qs_windows
/usr/bin/time -v /work/main/.venv/bin/ocrl quickstart --out /work/runs/qs_windows
echo "quickstart rc $? $(date -u +%T) load $(cat /proc/loadavg)"
pkill -CONT -f paper_repro.py
echo "resumed $(date -u +%T)"
