#!/usr/bin/env bash
# Stepwise (online) EM against batch EM from the same start, in one run (see docs/BENCHMARKS.md).
# Usage: scripts/bench-online.sh [--rows 10000000] [--decays 0.6,0.8,1.0] [--repeats 3] [--extra '--workers 2']
# Data goes to bench-data/ (git-ignored) and is generated once.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release >/dev/null
exec python3 scripts/bench_online.py --emfleet .build/release/emfleet --data-dir bench-data "$@"
