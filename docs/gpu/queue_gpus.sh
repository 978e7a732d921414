#!/usr/bin/env bash
# Start DVC's experiment queue with one worker per GPU: worker k (1..N) runs its experiments with
# CUDA_VISIBLE_DEVICES=k-1, so each queued `dvc exp run` trains on a GPU of its own.
#
#   dvc exp run --queue -n fpn -S ...            # queue the runs first (docs/gpu.md)
#   bash docs/gpu/queue_gpus.sh 8                # 8 workers on GPUs 0..7 (default: every GPU nvidia-smi lists)
#   dvc queue status; dvc exp show               # watch; `dvc queue stop` ends the workers
#
# `dvc queue start -j N` starts workers 1..N with one environment and skips the ones already
# running, so starting them one at a time (-j 1, -j 2, ...) gives each its own environment; the
# script waits until `dvc queue status` counts worker k before it starts k+1, else `-j k+1` would
# start a second worker k (with the wrong device).
# GPUS="2 3" picks the devices (then N is their count). Tested on CPU: tests/test_dvc_share.py.
set -euo pipefail
if [[ -n "${GPUS:-}" ]]; then
  read -r -a gpus <<<"$GPUS"
else
  n="${1:-$(nvidia-smi -L 2>/dev/null | wc -l)}"
  [[ "$n" -ge 1 ]] || { echo "queue_gpus.sh: no GPU found; give the number of workers" >&2; exit 2; }
  gpus=($(seq 0 $((n - 1))))
fi
last=$((${#gpus[@]} - 1))
for k in "${!gpus[@]}"; do
  echo "worker $((k + 1)): CUDA_VISIBLE_DEVICES=${gpus[$k]}"
  CUDA_VISIBLE_DEVICES="${gpus[$k]}" dvc queue start -j "$((k + 1))"
  (( k < last )) || break
  end=$((SECONDS + 30))   # wait up to 30 s for worker k+1 to answer
  while (( SECONDS < end )); do
    active=0 idle=0
    read -r active idle < <(dvc queue status 2>/dev/null | sed -n 's/^Worker status: \([0-9]*\) active, \([0-9]*\) idle.*/\1 \2/p') || true
    (( active + idle > k )) && break
    sleep 0.5
  done
done
