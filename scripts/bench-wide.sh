#!/usr/bin/env bash
# Benchmarks `emfleet gmm fit` on wide rows (D = 16 … 784, full covariances) against
# scikit-learn in the same run, in both forms of the E-step (see docs/BENCHMARKS.md, "Wide data").
# Usage: scripts/bench-wide.sh [--dimensions 64,128,256,784] [--iterations 5] [--skip-sklearn]
# Data goes to bench-data/ (git-ignored) and is generated once.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release >/dev/null
python3 -c "import sklearn" 2>/dev/null || python3 -m pip install --quiet scikit-learn
exec python3 scripts/bench_wide.py --emfleet .build/release/emfleet --data-dir bench-data "$@"
