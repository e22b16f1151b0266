#!/usr/bin/env bash
# gmm select on the README tour's 16-component data against scikit-learn's BIC choice, in one run
# (see docs/BENCHMARKS.md, "Model selection on the tour's data").
# Usage: scripts/bench-select.sh [--samples 100000] [--components 12...20] [--skip-sklearn]
# Data goes to bench-data/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release >/dev/null
python3 -c "import sklearn" 2>/dev/null || python3 -m pip install --quiet --break-system-packages scikit-learn
exec python3 scripts/bench_select.py --emfleet .build/release/emfleet --data-dir bench-data "$@"
