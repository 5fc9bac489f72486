#!/bin/bash
# Stops run_dpo_tok.sh once seed 0's validation part is done: seed 1 (14 min of reference
# log-probs + ~62 min of training) would not finish inside this session.
while ! grep -q "dpo_tokmatch validation done" /work/runs/run_dpo_tok.log; do sleep 10; done
PGID=$(ps -o pgid= -p $(pgrep -f run_dpo_tok.sh | head -1) | tr -d ' ')
kill -TERM -- -$PGID
echo "$(date -u +%FT%TZ) stopped run_dpo_tok.sh (pgid $PGID) after seed 0"
