#!/bin/bash
# #16 measurements on a quiet machine: the experiment queue (process group 2372) is stopped
# for their duration and continued after. Code: /work/main at HEAD (sampler of 901e068).
set -x
cd /work/main
kill -STOP -- -2372
sleep 3
echo "$(date -u +%FT%TZ) start; load $(cat /proc/loadavg); commit $(git rev-parse HEAD)"
.venv/bin/python benchmarks/generation_throughput.py --prompts 16 --max-new-tokens 128 --repeats 2 --sides baseline ocrl --out /work/runs/qs_c/generation_throughput_issue_setting.json
echo "$(date -u +%FT%TZ) bench done; load $(cat /proc/loadavg)"
/usr/bin/time -v .venv/bin/ocrl quickstart --out /work/runs/qs_c/out > /work/runs/qs_c/quickstart.log 2> /work/runs/qs_c/time_v.txt
echo "$(date -u +%FT%TZ) quickstart done rc=$?; load $(cat /proc/loadavg)"
kill -CONT -- -2372
