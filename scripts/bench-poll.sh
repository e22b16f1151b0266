#!/usr/bin/env bash
# What the workers' polling after a training step is worth: the bench-mlp job (32-128-64-10, batch
# 256) with a coordinator bound on ipc and two hand-started workers, `--poll-after-step 0` (sleep
# at once) against 1000 µs (the default), interleaved REPEATS times (default 3).
# Prints each run's median epoch (of epochs 2-5) and the epochs.
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}
swift build -c release >/dev/null
emfleet=.build/release/emfleet
x=bench-data/mlp-200000x32-c10-s1.npy
y=bench-data/mlp-200000x32-c10-s1.labels.npy
[[ -f $x ]] || "$emfleet" data generate --samples 200000 --features 32 --components 10 --seed 1 --out "$x" --labels "$y" >/dev/null
run() {
    local poll=$1 dir
    dir=$(mktemp -d)
    "$emfleet" mlp train --data "$x" --labels "$y" --hidden 128,64 --epochs 5 --batch-size 256 --validation-split 0.1 \
        --seed 1 --out "$dir/m.json" --log-format json --bind "ipc://$dir/c" --min-workers 2 > "$dir/log" &
    local coordinator=$!
    for _ in 1 2; do
        "$emfleet" worker --connect "ipc://$dir/c" --threads 1 --poll-after-step "$poll" --coordinator-timeout 5 2>/dev/null &
    done
    wait "$coordinator"
    wait
    python3 - "$dir/log" "$poll" <<'PY'
import json, statistics, sys
epochs = [e for e in (json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")) if e.get("event") == "epoch"]
seconds = [e["seconds"] for e in epochs]
print(f"--poll-after-step {sys.argv[2]:>4}: median {statistics.median(seconds[1:]):.3f} s/epoch;", " ".join(f"{s:.3f}" for s in seconds))
PY
    rm -rf "$dir"
}
for _ in $(seq "$repeats"); do run 0; run 1000; done
