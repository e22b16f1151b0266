#!/usr/bin/env bash
# Minibatch training against scikit-learn (and Keras when importable) in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release >/dev/null
python3 -c "import sklearn" 2>/dev/null || python3 -m pip install --quiet scikit-learn
exec python3 scripts/bench_mlp.py --emfleet .build/release/emfleet --data-dir bench-data "$@"
