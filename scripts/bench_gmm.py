#!/usr/bin/env python3
"""Times emfleet's EM against scikit-learn's GaussianMixture on the same files, in one run.

Called by scripts/bench-gmm.sh, which builds emfleet in release first. Prints a Markdown
table: seconds per EM iteration for both, their ratio, emfleet's GEMM throughput against a
cblas_dgemm peak measured in the same run, and each process's peak resident memory.
"""
import argparse
import json
import os
import re
import subprocess
import sys

# scikit-learn's side, as in ../shared/anchors/sklearn_gmm.py: fit time / n_iter with tol=0,
# run in its own process so its peak memory is measured alone.
SKLEARN = r"""
import sys, time, warnings
import numpy as np
from sklearn.mixture import GaussianMixture
X = np.load(sys.argv[1]); k = int(sys.argv[2]); cov = sys.argv[3]; iters = int(sys.argv[4])
warnings.simplefilter("ignore")
t = time.perf_counter()
g = GaussianMixture(n_components=k, covariance_type=cov, max_iter=iters, tol=0,
                    init_params="random_from_data", random_state=0).fit(X)
dt = time.perf_counter() - t
print(f"RESULT {dt / g.n_iter_:.6f} {g.n_iter_} {g.lower_bound_:.10f}")
"""

CASES = [
    # name, rows, features, components, covariance, seed
    ("a", 1_000_000, 16, 16, "full", 1),
    ("b", 200_000, 64, 32, "full", 2),
]


def timed(command):
    """Runs `command` under /usr/bin/time; returns (stdout, peak RSS in MB)."""
    completed = subprocess.run(["/usr/bin/time", "-f", "PEAK_RSS_KB %M"] + command,
                               capture_output=True, text=True)
    if completed.returncode != 0:
        sys.exit(f"bench: {' '.join(command)} failed:\n{completed.stderr}")
    peak = re.search(r"PEAK_RSS_KB (\d+)", completed.stderr)
    return completed.stdout, int(peak.group(1)) / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--emfleet", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--cases", default="a,b")
    parser.add_argument("--skip-sklearn", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.data_dir, exist_ok=True)

    info = json.loads(subprocess.run([args.emfleet, "info", "--measure-dgemm", "--json"],
                                     capture_output=True, text=True, check=True).stdout)
    peak = info["dgemm_gflops_all_cores"]
    print(f"machine: {info['cores']} cores, OpenBLAS core {info['openblas_core']}, "
          f"cblas_dgemm 1024³ peak {peak:.1f} GFLOP/s (all cores), {info['dgemm_gflops_1_thread']:.1f} (1 thread)")
    print()
    print("| case | N | D | K | cov | emfleet s/iter | scikit-learn s/iter | speed-up | emfleet GFLOP/s (% of dgemm peak) "
          "| emfleet peak RSS | data size | scikit-learn peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, n, d, k, cov, seed in CASES:
        if name not in args.cases.split(","):
            continue
        path = os.path.join(args.data_dir, f"gmm-{name}-{n}x{d}-k{k}-s{seed}.npy")
        if not os.path.exists(path):
            subprocess.run([args.emfleet, "data", "generate", "--samples", str(n), "--features", str(d),
                            "--components", str(k), "--seed", str(seed), "--out", path],
                           check=True, stdout=subprocess.DEVNULL)
        model = os.path.join(args.data_dir, f"model-{name}.json")
        out, ours_rss = timed([args.emfleet, "gmm", "fit", "--data", path, "--components", str(k),
                               "--covariance", cov, "--max-iter", str(args.iterations), "--tol", "0",
                               "--init", "random-from-data", "--out", model])
        # The summary line: "... after 10 iterations; mean log-likelihood X; 1.51 s; ..."
        summary = re.search(r"after (\d+) iterations; mean log-likelihood (\S+); ([\d.]+) s", out)
        iterations, fit_seconds = int(summary.group(1)), float(summary.group(3))
        ours = fit_seconds / iterations
        # The two GEMMs per iteration of the quadratic-feature formulation:
        # scores = F·C and statistics += Rᵀ·F, with F of width P = D(D+1)/2 + D.
        width = d * (d + 1) // 2 + d
        gflops = 4 * n * k * width / ours / 1e9
        data_mb = os.path.getsize(path) / 2**20
        if args.skip_sklearn:
            theirs, theirs_rss, ratio = float("nan"), float("nan"), float("nan")
        else:
            out, theirs_rss = timed([sys.executable, "-c", SKLEARN, path, str(k), cov, str(args.iterations)])
            theirs = float(re.search(r"RESULT (\S+)", out).group(1))
            ratio = theirs / ours
        print(f"| ({name}) | {n:,} | {d} | {k} | {cov} | {ours:.3f} | {theirs:.3f} | {ratio:.1f}× "
              f"| {gflops:.1f} ({100 * gflops / peak:.0f}%) | {ours_rss:.0f} MB | {data_mb:.0f} MB | {theirs_rss:.0f} MB |",
              flush=True)


if __name__ == "__main__":
    main()
