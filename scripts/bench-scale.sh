#!/usr/bin/env bash
# The coordinator against the worker count, flat and with aggregators (see docs/BENCHMARKS.md):
# 64, 256 and 1,024 worker processes on this machine, one thread each, 8,192 shards of 64 rows
# at D=16, K=16, for EM and for a training job.
# Usage: scripts/bench-scale.sh [--workers 64,256,1024] [--aggregators 32] [--iterations 8] [--jobs gmm,mlp]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release >/dev/null
exec python3 scripts/bench_scale.py --emfleet .build/release/emfleet "$@"
