#!/usr/bin/env bash
# What an epoch of `mlp train` costs beyond its computing (checkpoints included), against
# scikit-learn's MLPClassifier((128, 64), batch_size=256, max_iter=200) on breast cancer, one run.
#   scripts/bench-epoch-overhead.sh [--repeats N] [--emfleet-args "--checkpoint-every 1"]
# EMFLEET=path/to/emfleet measures another build (default: this tree's release build).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${EMFLEET:-}" ]]; then
    swift build -c release >/dev/null
    EMFLEET=.build/release/emfleet
fi
python3 -c "import sklearn" 2>/dev/null || python3 -m pip install --quiet scikit-learn
exec python3 scripts/bench_epoch_overhead.py --emfleet "$EMFLEET" "$@"
