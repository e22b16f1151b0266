#!/usr/bin/env python3
"""gmm select against scikit-learn's choice by BIC on the README tour's data, in one run.

Called by scripts/bench-select.sh. Generates the tour's data (16 features, 16 components, seed 1),
runs `emfleet gmm select` over the K range with the old default (one start per candidate) and with
select's default, and fits scikit-learn's GaussianMixture (its defaults: k-means start, one start,
random_state=0) for every K of the range, keeping the least BIC. Prints a Markdown table.
"""
import argparse
import json
import os
import subprocess
import sys
import time

SKLEARN = r"""
import sys, time, warnings
import numpy as np
from sklearn.mixture import GaussianMixture
X = np.load(sys.argv[1]); low, high = int(sys.argv[2]), int(sys.argv[3]); n_init = int(sys.argv[4])
warnings.simplefilter("ignore")
t = time.perf_counter()
rows = []
for k in range(low, high + 1):
    g = GaussianMixture(n_components=k, covariance_type="full", n_init=n_init, random_state=0).fit(X)
    rows.append((k, g.bic(X), g.score(X)))
best = min(rows, key=lambda r: r[1])
print("RESULT", best[0], f"{time.perf_counter() - t:.1f}", " ".join(f"{k}:{b:.2f}:{s:.6f}" for k, b, s in rows))
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--emfleet", required=True)
    parser.add_argument("--data-dir", default="bench-data")
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--components", default="12...20")
    parser.add_argument("--skip-sklearn", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.data_dir, exist_ok=True)
    data = os.path.join(args.data_dir, f"tour-{args.samples}.npy")
    if not os.path.exists(data):
        subprocess.run([args.emfleet, "data", "generate", "--samples", str(args.samples), "--features", "16",
                        "--components", "16", "--seed", "1", "--out", data], check=True, capture_output=True)
    low, high = (int(v) for v in args.components.split("..."))
    rows = []
    for label, extra in [("emfleet gmm select, --n-init 1 (the old default)", ["--n-init", "1"]),
                         ("emfleet gmm select, its default", [])]:
        table = os.path.join(args.data_dir, "select-table.json")
        start = time.perf_counter()
        subprocess.run([args.emfleet, "gmm", "select", "--data", data, "--components", args.components, "--covariance", "full",
                        "--out", os.path.join(args.data_dir, "select.json"), "--table", table, "--quiet"] + extra,
                       check=True, capture_output=True)
        seconds = time.perf_counter() - start
        candidates = json.load(open(table))
        best = min(candidates, key=lambda c: c["bic"])
        at16 = next((c for c in candidates if c["components"] == 16), None)
        rows.append((label, best["components"], at16["mean_log_likelihood"] if at16 else float("nan"), seconds))
    if not args.skip_sklearn:
        out = subprocess.run([sys.executable, "-c", SKLEARN, data, str(low), str(high), "1"], capture_output=True, text=True, check=True).stdout
        fields = next(line for line in out.splitlines() if line.startswith("RESULT")).split()
        at16 = next((float(f.split(":")[2]) for f in fields[3:] if f.startswith("16:")), float("nan"))
        rows.append(("scikit-learn GaussianMixture (n_init=1, random_state=0)", int(fields[1]), at16, float(fields[2])))
    print(f"{args.samples} rows x 16 features, 16 generating components (seed 1), K = {args.components}, full covariances, BIC\n")
    print("| | chosen K | mean log-likelihood at K = 16 | seconds |")
    print("|---|---:|---:|---:|")
    for label, k, ll, seconds in rows:
        print(f"| {label} | {k} | {ll:.4f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
