#!/usr/bin/env bash
# Runs the README's k-means snippet (a model file loaded into scikit-learn's KMeans) and checks
# that its labels equal `emfleet kmeans predict` and its score equals `emfleet kmeans score`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
emfleet="${EMFLEET_BIN:-$root/.build/release/emfleet}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

awk '/<!-- kmeans-snippet:begin -->/{on=1; next} /<!-- kmeans-snippet:end -->/{on=0} on && !/^```/' \
    "$root/README.md" > "$work/snippet.py"
[[ -s "$work/snippet.py" ]] || { echo "check-readme-kmeans: no snippet between the README's markers" >&2; exit 1; }

cd "$work"
"$emfleet" data generate --samples 20000 --features 5 --components 6 --seed 12 --out data.npy >/dev/null
for init in k-means++ random; do
    "$emfleet" kmeans fit --data data.npy -k 6 --init "$init" --seed 4 --quiet --out centres.json >/dev/null
    "$emfleet" kmeans predict --model centres.json --data data.npy --out emfleet-labels.npy >/dev/null
    "$emfleet" kmeans score --model centres.json --data data.npy --json > score.json
    python3 - <<'PY' "$init"
import json, sys
import numpy as np
exec(open("snippet.py").read())
ours = np.load("emfleet-labels.npy")
mismatches = int(np.sum(labels != ours))
inertia = json.load(open("score.json"))["inertia"]
theirs = -km.score(np.load("data.npy"))
relative = abs(theirs - inertia) / inertia
print(f"README k-means snippet, {sys.argv[1]:9s}: {mismatches} of {len(ours)} labels differ; inertia differs by {relative:.1e} (relative)")
sys.exit(1 if mismatches or relative > 1e-10 else 0)
PY
done
