# Sourced by scripts/train-*.sh: where runs live, the Python, and how a training run starts and is found. The caller
# sets RUN (its run directory) after sourcing, and THREADS / OMP_THREADS if its defaults differ.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${DINOF_CACHE:-$HOME/.cache/dinof}"
PY="$CACHE/venv/bin/python"
THREADS="${THREADS:--1}"  # torch threads: -1 adapts to the machine's load
# running: true when $RUN's recorded process is alive (sets $pid).
running() { pid="$(cat "$RUN/pid" 2>/dev/null || true)"; [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
# start_detached ARGS...: `python -m dinof_train ARGS` from onnx/, detached (survives the calling shell) at the
# lowest CPU and I/O priority; output appended to $RUN/stdout.log, pid in $RUN/pid.
start_detached() {
  if running; then echo "already running: pid $pid ($RUN)"; return 0; fi
  mkdir -p "$RUN"
  cd "$ROOT/onnx"
  # setsid puts the run in its own scheduler autogroup, where `nice` only ranks it against itself: the new session's
  # first process lowers its group's priority too (from inside, so it cannot race setsid), or the training takes a
  # full share of the cores from compilers and tests (Linux autogroup).
  OMP_NUM_THREADS="${OMP_THREADS:-2}" MKL_NUM_THREADS="${OMP_THREADS:-2}" setsid nohup \
    sh -c 'echo 19 > /proc/self/autogroup 2>/dev/null; exec "$@"' sh \
    ionice -c3 nice -n 19 "$PY" -m dinof_train "$@" >>"$RUN/stdout.log" 2>&1 </dev/null &
  echo $! > "$RUN/pid"
  echo "started pid $! -> $RUN (log: $RUN/train_log.jsonl)"
}
