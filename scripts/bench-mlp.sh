#!/usr/bin/env bash
# Minibatch training against scikit-learn (and Keras when importable) in the same run, and against
# PyTorch (one process and DDP over gloo) at 784-256-128-10 and 32-128-64-10 when torch is
# importable (`pip install torch`, for the benchmark only). --only-torch runs that comparison alone.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release >/dev/null
python3 -c "import sklearn" 2>/dev/null || python3 -m pip install --quiet scikit-learn
torch=()
python3 -c "import torch" 2>/dev/null && torch=(--torch)
exec python3 scripts/bench_mlp.py --emfleet .build/release/emfleet --data-dir bench-data "${torch[@]}" "$@"
