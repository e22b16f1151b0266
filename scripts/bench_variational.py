#!/usr/bin/env python3
"""Automatic model selection by variational Bayes against BIC, on real data with known groups.

For Old Faithful (Tests/Fixtures/faithful.npy), iris (iris.npy) and the standardised wine
measurements (wine.npy through `emfleet data convert --standardise`): `emfleet gmm fit --variational P
--components 10` for both weight priors, full and diagonal covariances and seeds 0-4, counting the
effective components (and how many of the 5 fits converged within MAX_ITER iterations) (expected weight at least 0.01, as `gmm fit` prints them); BIC's choice from
`emfleet gmm select --components 1...10` for the same covariance type (seed 0); and, for reference,
the effective components of scikit-learn's BayesianGaussianMixture(n_components=10, random_state=seed)
under the same threshold. Prints a Markdown table for docs/BENCHMARKS.md.

usage: python3 scripts/bench_variational.py [MAX_ITER]   (default 100, scikit-learn's; both sides use it;
       EMFLEET_BIN: the binary, default .build/debug/emfleet)
"""
import csv
import os
import re
import subprocess
import sys
import tempfile
import warnings
from collections import Counter

import numpy as np
from sklearn.mixture import BayesianGaussianMixture

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
EMFLEET = os.environ.get("EMFLEET_BIN", os.path.join(ROOT, ".build", "debug", "emfleet"))
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures")
SEEDS = range(5)
K = 10
THRESHOLD = 0.01
MAX_ITER = int(sys.argv[1]) if len(sys.argv) > 1 else 100


def run(*args):
    return subprocess.run([EMFLEET, *args], check=True, capture_output=True, text=True).stdout


def effective(data, prior, covariance, seed, work):
    out = os.path.join(work, "vb.json")
    text = run("gmm", "fit", "--data", data, "--components", str(K), "--covariance", covariance, "--variational", prior,
               "--seed", str(seed), "--max-iter", str(MAX_ITER), "--quiet", "--out", out)
    return int(re.search(r"effective components: (\d+) of", text).group(1)), text.startswith("converged")


def bic_choice(data, covariance, work):
    table = os.path.join(work, "bic.csv")
    run("gmm", "select", "--data", data, "--components", f"1...{K}", "--covariance", covariance, "--quiet",
        "--out", os.path.join(work, "best.json"), "--table", table)
    with open(table) as f:
        rows = list(csv.DictReader(f))
    best = min(rows, key=lambda r: float(r["bic"]))
    return int(best["components"])


def sklearn_effective(X, prior, covariance, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bgm = BayesianGaussianMixture(n_components=K, covariance_type=covariance, weight_concentration_prior_type=prior,
                                      random_state=seed, max_iter=MAX_ITER).fit(X)
    return int(np.sum(bgm.weights_ >= THRESHOLD))


def spread(counts):
    return ", ".join(f"{k}×{n}" if n > 1 else f"{k}" for k, n in sorted(Counter(counts).items()))


def main():
    with tempfile.TemporaryDirectory() as work:
        wine = os.path.join(work, "wine-standardised.npy")
        run("data", "convert", os.path.join(FIXTURES, "wine.npy"), wine, "--standardise")
        datasets = [("Old Faithful", os.path.join(FIXTURES, "faithful.npy"), "2 (short and long eruptions)"),
                    ("iris", os.path.join(FIXTURES, "iris.npy"), "3 species"),
                    ("wine, standardised", wine, "3 cultivars")]
        print(f"binary: {EMFLEET}; K = {K}; seeds {SEEDS.start}-{SEEDS.stop - 1}; max_iter {MAX_ITER}; effective: expected weight ≥ {THRESHOLD}")
        print()
        print("| data | groups | covariance | BIC's K (`gmm select`) | effective K, dirichlet-process | effective K, dirichlet-distribution "
              "| scikit-learn, dirichlet-process | scikit-learn, dirichlet-distribution |")
        print("|---|---|---|---|---|---|---|---|")
        for name, path, groups in datasets:
            X = np.load(path)
            for covariance in ["full", "diag"]:
                cells = [name, groups, covariance, str(bic_choice(path, covariance, work))]
                for prior in ["dirichlet-process", "dirichlet-distribution"]:
                    fits = [effective(path, prior, covariance, seed, work) for seed in SEEDS]
                    converged = sum(c for _, c in fits)
                    cells.append(f"{spread([k for k, _ in fits])} ({converged}/{len(fits)} converged)")
                for prior in ["dirichlet_process", "dirichlet_distribution"]:
                    cells.append(spread([sklearn_effective(X, prior, covariance, seed) for seed in SEEDS]))
                print("| " + " | ".join(cells) + " |")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
