#!/usr/bin/env bash
# The floor of a training epoch: its matrix products alone at OpenBLAS's sgemm rate, for the
# batch cut into 1, 2, 4 and 8 shards, on 1 and 2 threads (scripts/kernels/step_products.c).
# Usage: scripts/bench-step-products.sh [ROWS BATCH WIDTHS...]   (default: 54000 256 784 256 128 10,
# the training rows of bench-mlp.sh's 784-256-128-10 case)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 "$root/scripts/kernels/step_products.c" -o "$work/step_products" -lopenblas
rows=${1:-54000}; batch=${2:-256}
if (($# > 2)); then widths=("${@:3}"); else widths=(784 256 128 10); fi
for threads in 1 2; do
    for shards in 1 2 4 8; do
        "$work/step_products" "$rows" "$batch" "$shards" "$threads" "${widths[@]}"
    done
done
