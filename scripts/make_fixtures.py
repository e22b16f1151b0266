#!/usr/bin/env python3
"""Writes scikit-learn reference cases for emfleet's EM engine into Tests/Fixtures/.

Each case is CASE.train.npy and CASE.test.npy (float64 rows) and CASE.json: the initial
weights, means and covariances (scikit-learn is given the matching precisions), and what
scikit-learn's GaussianMixture computes from them with tol=0 for a fixed number of
iterations: weights, means, covariances, the per-iteration lower bounds, and on the held-out
rows predict_proba, score_samples, score, BIC and AIC.

usage: python3 scripts/make_fixtures.py [OUT_DIR]   (default Tests/Fixtures)
The files are committed, so `swift test` needs no Python.
"""
import json
import os
import sys
import warnings

import numpy as np
import sklearn
from sklearn.mixture import GaussianMixture

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures")
ITERATIONS = 12


def blobs(rng, n, d, k, spread=5.0):
    means = rng.normal(0, spread, size=(k, d))
    labels = rng.integers(0, k, size=n)
    X = np.empty((n, d))
    for j in range(k):
        idx = labels == j
        A = rng.normal(size=(d, d)) / np.sqrt(d)
        X[idx] = means[j] + rng.normal(size=(idx.sum(), d)) @ (A + 0.3 * np.eye(d)).T
    return X


def initial_parameters(rng, X, k, cov_type):
    """A deliberately rough start: k random rows as means, equal weights, broad covariances."""
    n, d = X.shape
    means = X[rng.choice(n, size=k, replace=False)] + rng.normal(0, 0.5, size=(k, d))
    weights = rng.dirichlet(np.ones(k) * 5)
    base = np.cov(X.T) + 0.1 * np.eye(d)
    if cov_type == "full":
        covs = np.stack([base * rng.uniform(0.5, 1.5) for _ in range(k)])
        precisions = np.linalg.inv(covs)
    elif cov_type == "tied":
        covs = base
        precisions = np.linalg.inv(covs)
    elif cov_type == "diag":
        covs = np.stack([np.diag(base) * rng.uniform(0.5, 1.5) for _ in range(k)])
        precisions = 1.0 / covs
    else:
        covs = np.array([np.mean(np.diag(base)) * rng.uniform(0.5, 1.5) for _ in range(k)])
        precisions = 1.0 / covs
    return weights, means, covs, precisions


def write_case(name, X, X_test, k, cov_type, reg_covar, rng):
    weights, means, covs, precisions = initial_parameters(rng, X, k, cov_type)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(
            n_components=k, covariance_type=cov_type, tol=0.0, reg_covar=reg_covar, max_iter=ITERATIONS,
            weights_init=weights, means_init=means, precisions_init=precisions, random_state=0,
        ).fit(X)
    np.save(os.path.join(OUT, f"{name}.train.npy"), X)
    np.save(os.path.join(OUT, f"{name}.test.npy"), X_test)
    case = {
        "sklearn_version": sklearn.__version__,
        "covariance_type": cov_type,
        "n_components": k,
        "reg_covar": reg_covar,
        "iterations": ITERATIONS,
        "init": {"weights": weights.tolist(), "means": means.tolist(), "covariances": np.asarray(covs).tolist()},
        "expected": {
            "weights": gm.weights_.tolist(),
            "means": gm.means_.tolist(),
            "covariances": gm.covariances_.tolist(),
            "lower_bounds": [float(v) for v in gm.lower_bounds_],
            "n_iter": int(gm.n_iter_),
            "test_predict_proba": gm.predict_proba(X_test).tolist(),
            "test_predict": gm.predict(X_test).tolist(),
            "test_score_samples": gm.score_samples(X_test).tolist(),
            "test_score": float(gm.score(X_test)),
            "test_bic": float(gm.bic(X_test)),
            "test_aic": float(gm.aic(X_test)),
        },
    }
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump(case, f, indent=1)
    print(f"{name}: {X.shape[0]} rows, D={X.shape[1]}, K={k}, {cov_type}, final lower bound {gm.lower_bounds_[-1]:.10f}")


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261126)
    for cov_type in ["full", "tied", "diag", "spherical"]:
        X = blobs(rng, 1500, 4, 3)
        X_test = blobs(rng, 300, 4, 3)
        write_case(f"{cov_type}", X, X_test, 3, cov_type, 1e-6, rng)
    # A near-degenerate component: one cluster lies almost on a line, so its covariance is
    # nearly singular and reg_covar carries it.
    d = 3
    X = blobs(rng, 1200, d, 2)
    t = rng.normal(size=(300, 1))
    line = np.array([8.0, -6.0, 4.0]) + t * np.array([[1.0, 2.0, -1.0]]) + rng.normal(scale=1e-5, size=(300, d))
    X = np.vstack([X, line])
    X_test = np.vstack([blobs(rng, 200, d, 2), line[:50] + rng.normal(scale=1e-5, size=(50, d))])
    write_case("degenerate_full", X, X_test, 3, "full", 1e-6, rng)
    # Data far from the origin: the anchor must keep every digit.
    X = blobs(rng, 1000, 3, 3) + 1e6
    X_test = blobs(rng, 200, 3, 3) + 1e6
    write_case("offset_full", X, X_test, 3, "full", 1e-6, rng)
    # Wide rows: D = 64 takes the whitened form of the E-step (Sources/Mixture/ChunkWorkspace.swift).
    for cov_type in ["full", "tied"]:
        X = blobs(rng, 800, 64, 3)
        X_test = blobs(rng, 200, 64, 3)
        write_case(f"wide_{cov_type}", X, X_test, 3, cov_type, 1e-6, rng)


if __name__ == "__main__":
    main()
