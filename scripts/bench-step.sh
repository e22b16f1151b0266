#!/usr/bin/env bash
# The time of one training step in one process on one thread: a 128-row minibatch through a
# 32-128-64-10 ReLU network with softmax cross-entropy, forward and backward in float64, and the
# Adam update. The passes run at BLAS speed; per-row loops would be about ten times slower. (The
# test suite asserts no wall-clock time: this prints the number instead.)
# Prints the best and the median step time of epochs 2 to EPOCHS (default 21) of STEPS steps
# (default 100; epoch 1 is a warm-up) and the OpenBLAS kernel.
# Usage: scripts/bench-step.sh [EPOCHS] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-21}
steps=${2:-100}
[[ $epochs =~ ^[0-9]+$ ]] && ((epochs >= 2)) || { echo "bench-step: EPOCHS must be at least 2, got '$epochs'" >&2; exit 2; }
[[ $steps =~ ^[1-9][0-9]*$ ]] || { echo "bench-step: STEPS must be a positive integer, got '$steps'" >&2; exit 2; }
swift build -c release >/dev/null
emfleet=.build/release/emfleet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$emfleet" data generate --samples $((128 * steps)) --features 32 --components 10 --seed 1 \
    --out "$work/x.npy" --labels "$work/y.npy" >/dev/null
"$emfleet" mlp train --data "$work/x.npy" --labels "$work/y.npy" --hidden 128,64 --activation relu --loss cross-entropy \
    --batch-size 128 --epochs "$epochs" --precision float64 --threads 1 --seed 1 --out "$work/m.json" \
    --log-format json >"$work/log"
"$emfleet" info --json >"$work/info.json"
python3 - "$work/log" "$work/info.json" "$steps" <<'PY'
import json, statistics, sys
log, info, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
epochs = [e for e in (json.loads(l) for l in open(log) if l.startswith("{")) if e.get("event") == "epoch"]
per_step = [e["seconds"] / steps for e in epochs[1:]]
core = json.load(open(info))["openblas_core"]
print(f"training step, 32-128-64-10 relu cross-entropy, 128 rows, float64, 1 thread, with Adam: "
      f"best {min(per_step) * 1e6:.0f} µs, median {statistics.median(per_step) * 1e6:.0f} µs "
      f"({len(per_step)} epochs of {steps} steps after a warm-up; OpenBLAS {core})")
PY
