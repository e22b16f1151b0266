#!/usr/bin/env bash
# Runs the README's Python snippets (a model file loaded into scikit-learn's GaussianMixture, a
# variational one into BayesianGaussianMixture, a k-means one into KMeans) and checks that their
# predictions equal `emfleet gmm predict` / `emfleet kmeans predict` on the same rows (for
# variational models the probabilities too, to 1e-8; for k-means the inertia, to 1e-10).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
emfleet="${EMFLEET_BIN:-$root/.build/release/emfleet}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The snippet is the ```python block between the README's sklearn-snippet markers.
awk '/<!-- sklearn-snippet:begin -->/{on=1; next} /<!-- sklearn-snippet:end -->/{on=0} on && !/^```/' \
    "$root/README.md" > "$work/snippet.py"
[[ -s "$work/snippet.py" ]] || { echo "check-readme-sklearn: no snippet between the README's markers" >&2; exit 1; }
awk '/<!-- sklearn-variational-snippet:begin -->/{on=1; next} /<!-- sklearn-variational-snippet:end -->/{on=0} on && !/^```/' \
    "$root/README.md" > "$work/variational.py"
[[ -s "$work/variational.py" ]] || { echo "check-readme-sklearn: no snippet between the README's variational markers" >&2; exit 1; }
awk '/<!-- kmeans-snippet:begin -->/{on=1; next} /<!-- kmeans-snippet:end -->/{on=0} on && !/^```/' \
    "$root/README.md" > "$work/kmeans.py"
[[ -s "$work/kmeans.py" ]] || { echo "check-readme-sklearn: no snippet between the README's k-means markers" >&2; exit 1; }

cd "$work"
"$emfleet" data generate --samples 20000 --features 5 --components 4 --seed 11 --out data.npy >/dev/null
for covariance in full tied diag spherical; do
    "$emfleet" gmm fit --data data.npy --components 4 --covariance "$covariance" --seed 3 --quiet --out model.json >/dev/null
    "$emfleet" gmm predict --model model.json --data data.npy --out emfleet-labels.npy >/dev/null
    # The snippet leaves its predictions in `labels`.
    python3 - <<'PY' "$covariance"
import sys
import numpy as np
exec(open("snippet.py").read())
ours = np.load("emfleet-labels.npy")
mismatches = int(np.sum(labels != ours))
print(f"README snippet, {sys.argv[1]:9s}: scikit-learn and emfleet disagree on {mismatches} of {len(ours)} rows")
sys.exit(1 if mismatches else 0)
PY
done
for prior in dirichlet-process dirichlet-distribution; do
    for covariance in full tied diag spherical; do
        "$emfleet" gmm fit --data data.npy --components 6 --covariance "$covariance" --variational "$prior" --seed 3 --quiet \
            --out model.json >/dev/null
        "$emfleet" gmm predict --model model.json --data data.npy --out emfleet-labels.npy >/dev/null
        "$emfleet" gmm predict --model model.json --data data.npy --proba --out emfleet-proba.npy >/dev/null
        python3 - <<'PY' "$prior" "$covariance"
import sys
import numpy as np
exec(open("variational.py").read())
ours = np.load("emfleet-labels.npy")
mismatches = int(np.sum(labels != ours))
proba = bgm.predict_proba(np.load("data.npy"))
difference = float(np.max(np.abs(proba - np.load("emfleet-proba.npy"))))
print(f"README variational snippet, {sys.argv[1]:22s} {sys.argv[2]:9s}: {mismatches} of {len(ours)} labels differ, "
      f"largest probability difference {difference:.1e}")
sys.exit(1 if mismatches or difference > 1e-8 else 0)
PY
    done
done
for init in k-means++ random; do
    "$emfleet" kmeans fit --data data.npy -k 6 --init "$init" --seed 4 --quiet --out centres.json >/dev/null
    "$emfleet" kmeans predict --model centres.json --data data.npy --out emfleet-labels.npy >/dev/null
    "$emfleet" kmeans score --model centres.json --data data.npy --json > score.json
    python3 - <<'PY' "$init"
import json, sys
import numpy as np
exec(open("kmeans.py").read())
ours = np.load("emfleet-labels.npy")
mismatches = int(np.sum(labels != ours))
inertia = json.load(open("score.json"))["inertia"]
relative = abs(-km.score(np.load("data.npy")) - inertia) / inertia
print(f"README k-means snippet, {sys.argv[1]:9s}: {mismatches} of {len(ours)} labels differ; inertia differs by {relative:.1e} (relative)")
sys.exit(1 if mismatches or relative > 1e-10 else 0)
PY
done
