#!/usr/bin/env bash
# The seed document's section-4 example, done as its code means (see README.md beside this file).
# Usage: examples/seed/run.sh [OUTPUT_DIR]      (default: a new temporary directory)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
emfleet="${EMFLEET:-$root/.build/release/emfleet}"
if [[ ! -x $emfleet ]]; then (cd "$root" && swift build -c release >/dev/null); fi
out="${1:-$(mktemp -d)}"
mkdir -p "$out"

echo "== 1,000 points: N(0, I) in 2-D, plus 2·b1 on x0 and 4·b2 on x1 (b1, b2 fair coins per point)"
"$emfleet" data generate --preset seed-example --samples 1000 --seed 42 --out "$out/raw.csv" --labels "$out/offsets.txt"
echo "== standardised, as the seed does before its mixture"
"$emfleet" data convert "$out/raw.csv" "$out/points.csv" --standardise

echo
echo "== the seed's 2-component mixture, then a 16-8-2 ReLU/softmax network (Adam, 10 epochs, batch 32)"
echo "   learning each point's component from its features, on 2 local worker processes"
"$emfleet" pipeline fit --data "$out/points.csv" --components 2 --hidden 16,8 --epochs 10 --batch-size 32 \
    --seed 42 --workers 2 --out "$out/pipeline.json" --report "$out/report" 2>/dev/null

echo
echo "== what gmm select finds on the same points (full covariances, K = 1..8)"
"$emfleet" gmm select --data "$out/points.csv" --components 1...8 --seed 42 --out "$out/best-bic.json" \
    --table "$out/select.csv" --report "$out/select-report" 2>/dev/null
"$emfleet" gmm select --data "$out/points.csv" --components 1...8 --seed 42 --criterion aic --out "$out/best-aic.json" 2>/dev/null | tail -1

echo
echo "== with the generating offsets as labels: the network with and without the mixture's posteriors"
"$emfleet" pipeline fit --data "$out/points.csv" --labels "$out/offsets.txt" --components 4 --hidden 16,8 --epochs 30 \
    --batch-size 32 --seed 42 --out "$out/pipeline-labelled.json" 2>/dev/null | grep -E "mixture:|held-out"
echo
echo "files in $out; reports: $out/report/index.html (the mixture and the network), $out/select-report/index.html (BIC/AIC against K)"
