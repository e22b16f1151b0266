#!/usr/bin/env bash
# Untuned `mlp train` against scikit-learn's MLPClassifier() on iris, breast cancer and Palmer
# penguins (75/25 split, fixed seed): held-out accuracy over several seeds.
#   scripts/bench-defaults.sh [--seeds N] [--emfleet-args "--epochs 10"]
# EMFLEET=path/to/emfleet measures another build (default: this tree's release build).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${EMFLEET:-}" ]]; then
    swift build -c release >/dev/null
    EMFLEET=.build/release/emfleet
fi
python3 -c "import sklearn" 2>/dev/null || python3 -m pip install --quiet scikit-learn
python3 -c "import palmerpenguins" 2>/dev/null || python3 -m pip install --quiet palmerpenguins || true
exec python3 scripts/bench_defaults.py --emfleet "$EMFLEET" "$@"
