#!/usr/bin/env bash
# Anomaly detection under the DAGMM paper's protocol on the four ODDS data sets in
# ../shared/data/anomaly: emfleet's DAGMM and Gaussian mixture energies against scikit-learn's
# GaussianMixture and IsolationForest, 10 seeds (see scripts/bench_anomaly.py for the options:
# --datasets, --methods, --seeds, --dagmm-args).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release >/dev/null
python3 -c "import sklearn" 2>/dev/null || python3 -m pip install --quiet scikit-learn
exec python3 scripts/bench_anomaly.py --emfleet .build/release/emfleet "$@"
