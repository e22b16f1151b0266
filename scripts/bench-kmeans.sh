#!/usr/bin/env bash
# Benchmarks emfleet's k-means against scikit-learn's KMeans and Spark MLlib's KMeans in the same
# run, with a plain pass over the rows as the floor (see docs/BENCHMARKS.md).
# Usage: scripts/bench-kmeans.sh [--iterations 20] [--repeats 3] [--skip-spark]
# Data goes to bench-data/ (git-ignored) and is generated once.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release >/dev/null
python3 -c "import sklearn" 2>/dev/null || python3 -m pip install --quiet scikit-learn
exec python3 scripts/bench_kmeans.py --emfleet .build/release/emfleet --data-dir bench-data "$@"
