#!/usr/bin/env python3
"""Times emfleet.GaussianMixture(...).fit(X) from Python against `emfleet gmm fit` on the same file
and against sklearn.mixture.GaussianMixture, in one run. Called by scripts/bench-python.sh.

All three fit 1,000,000 × 16 rows (the tour's data, `emfleet data generate --seed 1`) with K = 16,
full covariances, `random_from_data` initialisation and tol = 0 for the same number of EM
iterations, so that each does the same work. Python's times include everything the call does:
validating X, writing it to a private .npy (for an in-memory array), starting the binary, the fit,
and reading the model back. The command line's is the wall time of the process.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import sklearn
import sklearn.mixture

import emfleet


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--emfleet", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.makedirs(args.data_dir, exist_ok=True)
    path = os.path.join(args.data_dir, "tour-1000000x16.npy")
    if not os.path.exists(path):
        subprocess.run([args.emfleet, "data", "generate", "--samples", "1000000", "--features", "16",
                        "--components", "16", "--seed", "1", "--out", path], check=True, capture_output=True)
    X = np.load(path)  # in memory, as a notebook's array
    mapped = np.load(path, mmap_mode="r")
    common = dict(n_components=16, covariance_type="full", max_iter=args.iterations, tol=0.0,
                  init_params="random_from_data", random_state=0)
    warnings.simplefilter("ignore")

    def cli():
        with tempfile.TemporaryDirectory() as scratch:
            t = time.perf_counter()
            subprocess.run([args.emfleet, "gmm", "fit", "--data", path, "--components", "16", "--covariance", "full",
                            "--max-iter", str(args.iterations), "--tol", "0", "--init", "random-from-data",
                            "--seed", "0", "--quiet", "--out", os.path.join(scratch, "m.json")],
                           check=True, capture_output=True)
            return time.perf_counter() - t

    def python(data):
        t = time.perf_counter()
        gm = emfleet.GaussianMixture(**common).fit(data)
        elapsed = time.perf_counter() - t
        assert gm.n_iter_ == args.iterations
        return elapsed

    rounds = {"cli": [], "array": [], "memmap": []}
    for _ in range(args.repeats):  # interleaved, so that a noisy moment hits all three alike
        rounds["cli"].append(cli())
        rounds["array"].append(python(X))
        rounds["memmap"].append(python(mapped))
    t = time.perf_counter()
    reference = sklearn.mixture.GaussianMixture(**common).fit(X)
    sklearn_seconds = time.perf_counter() - t
    assert reference.n_iter_ == args.iterations

    cli_s = statistics.median(rounds["cli"])
    print(f"scikit-learn {sklearn.__version__}, numpy {np.__version__}; {os.cpu_count()} cores; "
          f"{args.iterations} EM iterations, tol 0, random_from_data; median of {args.repeats} for emfleet")
    print()
    print("| fit of 1,000,000 × 16, K = 16, full | seconds | ÷ command line | scikit-learn ÷ this |")
    print("|---|---|---|---|")
    print(f"| `emfleet gmm fit --data x.npy …` (command line, process wall time) | {cli_s:.2f} | 1.00 | {sklearn_seconds / cli_s:.1f}× |")
    for key, name in (("array", "`emfleet.GaussianMixture(...).fit(X)`, X a NumPy array (written to a private .npy)"),
                      ("memmap", "`emfleet.GaussianMixture(...).fit(X)`, X `np.load(path, mmap_mode=\"r\")` (file passed as is)")):
        s = statistics.median(rounds[key])
        print(f"| {name} | {s:.2f} | {s / cli_s:.3f} | {sklearn_seconds / s:.1f}× |")
    print(f"| `sklearn.mixture.GaussianMixture(...).fit(X)` | {sklearn_seconds:.2f} | {sklearn_seconds / cli_s:.1f} | 1.0× |")
    print()
    print("all runs (s): " + "; ".join(f"{k} " + ", ".join(f"{v:.2f}" for v in vs) for k, vs in rounds.items()))


if __name__ == "__main__":
    sys.exit(main())
