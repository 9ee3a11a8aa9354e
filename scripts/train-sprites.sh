#!/usr/bin/env bash
# Issue 21: train the class-conditional 32×32 RGBA sprite score network (preset sprites-cond: VP SDE, premultiplied
# alpha, label dropout for classifier-free guidance, training split only, no flows: flows are trained later,
# flows-only, on this score) in the background at the lowest CPU and I/O priority. Idempotent and resumable: a
# second call (after a crash, a reboot or a killed session) resumes from the last checkpoint, written every
# ckpt_every seconds (atomically: a kill at any moment loses at most that much work). The run stops by itself
# after ITERATIONS steps (default: the preset's).
#   scripts/train-sprites.sh            start or resume (detached; survives the calling shell)
#   scripts/train-sprites.sh status     last log line, steps/s over the last logs, running or not
#   scripts/train-sprites.sh stop       stop it (SIGTERM to the run's pid); the next start resumes
#   scripts/train-sprites.sh snapshot   write the last checkpoint, compacted (float16 EMA, no optimiser state; about
#                                       4.5 MB), to onnx/train-state/sprites-cond.pt, to be committed: the cache dies
#                                       with the machine, and 20,000 steps take longer than one machine lives.
# A start with no checkpoint in $RUN resumes from onnx/train-state/sprites-cond.pt when there is one.
# Log: $RUN/train_log.jsonl (one JSON line per log_every steps), stdout/stderr: $RUN/stdout.log.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/train-common.sh"
RUN="${RUN:-$CACHE/runs/sprites-cond}"
STATE="$ROOT/onnx/train-state/sprites-cond.pt"
case "${1:-}" in
  status)
    tail -n 1 "$RUN/train_log.jsonl" 2>/dev/null || echo "no log yet at $RUN"
    "$PY" - "$RUN/train_log.jsonl" <<'PYEOF' 2>/dev/null || true
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if '"score_loss"' in l]
if len(recs) >= 2:
    a, b = recs[max(0, len(recs) - 11)], recs[-1]
    if b["elapsed"] > a["elapsed"]:
        print(f"{(b['elapsed'] - a['elapsed']) / (b['step'] - a['step']):.2f} s/step over steps {a['step']}-{b['step']}")
PYEOF
    if running; then echo "running: pid $pid ($RUN)"; else echo "not running"; fi
    exit 0 ;;
  stop)
    if running; then kill "$pid"; echo "stopped pid $pid"; else echo "not running"; fi
    exit 0 ;;
  snapshot)
    [ -f "$RUN/checkpoint.pt" ] || { echo "no checkpoint at $RUN/checkpoint.pt" >&2; exit 1; }
    mkdir -p "$(dirname "$STATE")"
    cd "$ROOT/onnx" && "$PY" -m dinof_train compact-checkpoint --ckpt "$RUN/checkpoint.pt" --out "$STATE"
    exit 0 ;;
  "") ;;
  *) echo "usage: $0 [status|stop|snapshot]" >&2; exit 2 ;;
esac
if running; then echo "already running: pid $pid ($RUN)"; exit 0; fi
[ -f "$CACHE/data/sprites/.done" ] || bash "$ROOT/scripts/fetch-data.sh" sprites
mkdir -p "$RUN"
if [ ! -f "$RUN/checkpoint.pt" ] && [ -f "$STATE" ]; then
  cp "$STATE" "$RUN/checkpoint.pt"
  echo "resuming from the committed state $STATE"
fi
extra=()
[ -n "${ITERATIONS:-}" ] && extra+=(--iterations "$ITERATIONS")
start_detached train --preset sprites-cond --out "$RUN" --resume --threads "$THREADS" --quiet "${extra[@]}"
