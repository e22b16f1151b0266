#!/usr/bin/env bash
# Bounded-memory workers (--memory-limit) against in-memory workers, same data and shards, in one
# run (see docs/BENCHMARKS.md). Usage: scripts/bench-large.sh [--rows 30000000] [--limit 512M] [--no-cold]
# Data (3.84 GB at the default size) goes to bench-data/ (git-ignored) and is generated once.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release >/dev/null
exec python3 scripts/bench_large.py --emfleet .build/release/emfleet --data-dir bench-data "$@"
