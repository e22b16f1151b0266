#!/usr/bin/env bash
# The cost of emfleet's Python round trip (array to .npy, process start, model back) against the
# same fit by the command line, and scikit-learn's GaussianMixture, in one run (docs/BENCHMARKS.md).
# Usage: scripts/bench-python.sh [--iterations 10] [--repeats 3]
# Data goes to bench-data/ (git-ignored), generated once; the package is installed into a venv.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release >/dev/null
python3 -c "import sklearn" 2>/dev/null || python3 -m pip install --quiet scikit-learn
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv --system-site-packages "$work/venv"
"$work/venv/bin/python" -m pip install --quiet ./python 2>&1 | grep -v "^\[notice\]" || true
EMFLEET_BIN="$PWD/.build/release/emfleet" "$work/venv/bin/python" scripts/bench_python.py \
    --emfleet "$PWD/.build/release/emfleet" --data-dir bench-data "$@"
