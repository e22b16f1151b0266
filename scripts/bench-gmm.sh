#!/usr/bin/env bash
# Benchmarks emfleet's EM against scikit-learn in the same run (see docs/BENCHMARKS.md).
# Usage: scripts/bench-gmm.sh [--iterations 10] [--cases a,b] [--skip-sklearn]
# Data goes to bench-data/ (git-ignored) and is generated once per seed.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release >/dev/null
python3 -c "import sklearn" 2>/dev/null || python3 -m pip install --quiet scikit-learn
exec python3 scripts/bench_gmm.py --emfleet .build/release/emfleet --data-dir bench-data "$@"
