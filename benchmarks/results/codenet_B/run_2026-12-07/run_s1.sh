#!/usr/bin/env bash
set -euo pipefail
while pgrep -f run_rest.sh >/dev/null; do sleep 10; done
cd /work/expB_wt
export PYTHONPATH=/work/expB_wt/src
PY=/work/main/.venv/bin/python
D=/work/runs/codenet_B
C="--heldout codenet --codenet-dir $D --problems $D/train.jsonl --samples $D/logs.jsonl.gz --labels $D/labels.parquet --out $D/repro_g64 --eval-problems 0 --train-groups 0 --max-steps 40 --max-new-tokens 512 --batch-size 64 --mixed-on reward --partial-credit --max-completion-length 512 --max-prompt-length 448 --methods offline_rl_default offline_rl_grpo --seeds 0 1"
$PY benchmarks/paper_repro.py $C --mbpp-split test --only offline_rl_default_s1
echo "TEST_S1_DONE $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
$PY -c 'import sys; from ocrl.cli import main; sys.argv[0]="ocrl"; main()' eval --model $D/repro_g64/train/offline_rl_default_s1 --problems $D/mbpp_test.jsonl --max-new-tokens 512 --batch-size 64 --timeout 3 --out $D/mbpp_test/offline_rl_default_s1
echo "MBPP_S1_DONE $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
