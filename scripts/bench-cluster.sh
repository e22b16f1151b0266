#!/usr/bin/env bash
# Distributed EM against the single-process engine in the same run (see docs/BENCHMARKS.md).
# Usage: scripts/bench-cluster.sh [--iterations 10] [--repeats 3] [--many 8,32,128] [--pairs 8] [--status-only]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release >/dev/null
exec python3 scripts/bench_cluster.py --emfleet .build/release/emfleet --data-dir bench-data "$@"
