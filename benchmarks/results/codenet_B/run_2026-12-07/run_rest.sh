#!/usr/bin/env bash
set -euo pipefail
cd /work/expB_wt
export PYTHONPATH=/work/expB_wt/src
PY=/work/main/.venv/bin/python
OCRL="$PY -c 'from ocrl.cli import main; main()'"
D=/work/runs/codenet_B
C="--heldout codenet --codenet-dir $D --problems $D/train.jsonl --samples $D/logs.jsonl.gz --labels $D/labels.parquet --out $D/repro_g64 --eval-problems 0 --train-groups 0 --max-steps 40 --max-new-tokens 512 --batch-size 64 --mixed-on reward --partial-credit --max-completion-length 512 --max-prompt-length 448 --methods offline_rl_default offline_rl_grpo"
for m in offline_rl_default base; do
  model=$D/repro_g64/train/offline_rl_default; [ $m = base ] && model=smollm2-135m
  $PY -c 'import sys; from ocrl.cli import main; sys.argv[0]="ocrl"; main()' eval --model $model --problems $D/mbpp_test.jsonl --max-new-tokens 512 --batch-size 64 --timeout 3 --out $D/mbpp_test/$m
done
echo "MBPP_DONE $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
$PY benchmarks/paper_repro.py $C --mbpp-split validation --only offline_rl_default
echo "VAL_DEFAULT_DONE $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
