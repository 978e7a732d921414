#!/usr/bin/env bash
# The GPU figures of docs/gpu.md and docs/noise.md, in one run on one CUDA machine (scored with 3
# jitter draws, as those pages were; copied into reports/benchmarks/*_h200.json and reports/gpu/):
#   bash scripts/gpu_check.sh OUT_DIR
# 1. the paper recipe's training step (ResNet-50, 224 px, batch 128, AMP, channels_last) fed from
#    memory and by the real pipeline (CPU workers; GPU decoding), eager and torch.compile'd;
# 2. bbadj bench evaluate on the GPU (a COCO-val-sized set, extrapolated from its first boxes);
# 3. a short paper-recipe training on coco128's train split (from scratch: ImageNet weights are not
#    downloadable offline) and its evaluation on the val split, with the time per step;
# 4. the default CPU recipe (params.yaml) trained on the GPU with seeds 0, 1, 2: the same study on
#    another machine's kernels (docs/noise.md).
# Each step has its own time limit and the run goes on past a failure: the log says which failed.
set -uo pipefail
out=${1:?usage: gpu_check.sh OUT_DIR}
mkdir -p "$out"
bb="python3 -m bbadj"
log() { echo "== $(date -u +%H:%M:%S) $*"; }
step() { local limit=$1; shift; log "$*"; timeout "$limit" "$@" || echo "!! exit $? from: $*"; }

log "device"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import torch, torchvision, timm; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'timm', timm.__version__, torch.cuda.get_device_name(0))"
nproc

paper=(--set model.backbone=resnet50 --set model.pretrained=none --set model.train_from=stem --set model.hidden=256
       --set data.crop_size=224 --set data.buffer_ratio=1.1 --set data.hflip=0.0 --set train.amp=true
       --set train.channels_last=true --set train.device=cuda --set eval.device=cuda)
workers=$(( $(nproc) - 2 ))

step 240 $bb bench train-step "${paper[@]}" --set train.batch_size=128 --set data.num_workers=$workers \
  --steps 30 --warmup 10 --rounds 2 --no-progress --out "$out/train_step_r50_s224_cuda.json"
step 180 $bb bench train-step "${paper[@]}" --set train.batch_size=128 --set data.num_workers=0 --gpu-decode \
  --steps 30 --warmup 10 --rounds 2 --no-progress --out "$out/train_step_r50_s224_cuda_gpudecode.json"
step 240 $bb bench train-step "${paper[@]}" --set train.batch_size=128 --set data.num_workers=$workers --compile \
  --steps 30 --warmup 10 --rounds 2 --no-progress --out "$out/train_step_r50_s224_cuda_compile.json"
step 180 $bb bench evaluate "${paper[@]}" --set eval.batch_size=512 --set data.num_workers=$workers \
  --annotations data/coco128/annotations/val.json --images data/coco128/images --max-boxes 8192 \
  --no-progress --out "$out/evaluate_r50_s224_cuda.json"

step 240 $bb train "${paper[@]}" --set train.batch_size=64 --set train.lr=1e-4 --set train.max_steps=300 \
  --set train.warmup_steps=30 --set data.num_workers=$workers --out /tmp/paper300 --no-progress
step 120 $bb evaluate --checkpoint /tmp/paper300/model.pt --eval-set coco128 --repeats 3 --set eval.device=cuda \
  --out "$out/paper300_coco128.json" --no-progress
cp /tmp/paper300/train_log.jsonl "$out/paper300_train_log.jsonl" 2>/dev/null

for seed in 0 1 2; do
  step 120 $bb train --set train.device=cuda --set train.seed=$seed --out /tmp/l4_s$seed --no-progress
  step 120 $bb evaluate --checkpoint /tmp/l4_s$seed/model.pt --eval-set coco128 --repeats 3 --set eval.device=cuda \
    --out "$out/l4_seed${seed}_cuda_coco128.json" --no-progress
done
log "done"
