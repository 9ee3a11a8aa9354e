#!/usr/bin/env bash
# Issue 13, item 5: retrain only the Glow priors of the shipped MNIST bundle (score network unchanged), in the
# background, at the lowest CPU priority. Idempotent: a second call resumes the same run from its last checkpoint
# (the run stops by itself after TIME_BUDGET seconds of training, summed over resumes).
#   scripts/train-flows.sh            start or resume (detached; survives the calling shell)
#   scripts/train-flows.sh status     last log lines (bits/dim per T_m vs the noise-entropy bound and Gaussian level)
# Export once trained (score.onnx copied byte-identical from the shipped bundle):
#   python -m dinof_train export --ckpt $RUN/checkpoint.pt --score-from onnx/models/mnist --out DIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/train-common.sh"
RUN="${RUN:-$CACHE/runs/mnist-flows-L2K16H112}"
TIME_BUDGET="${TIME_BUDGET:-172800}"  # 48 h of training
if [ "${1:-}" = "status" ]; then
  { grep -h flow_bounds "$RUN/train_log.jsonl" || true; } | tail -n 1   # per T_m: noise-entropy bound and Gaussian level
  { grep -h eval_bpd_ema "$RUN/train_log.jsonl" || true; } | tail -n 1  # EMA flows on a fixed set of 1000 x(T_m)
  tail -n 1 "$RUN/train_log.jsonl"
  if running; then echo "running: pid $pid"; else echo "not running"; fi
  exit 0
fi
OMP_THREADS=1 start_detached train --preset mnist-flows --out "$RUN" --resume --time-budget "$TIME_BUDGET" --threads 1 \
  --quiet
