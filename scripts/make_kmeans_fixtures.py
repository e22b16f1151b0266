#!/usr/bin/env python3
"""Reference k-means fits by scikit-learn's KMeans(algorithm="lloyd", n_init=1) from fixed starts.

Writes Tests/Fixtures/kmeans_cases.json: for each case, the data file (already in Tests/Fixtures),
the initial centres, max_iter and tol, and scikit-learn's cluster_centers_, labels_, inertia_
and n_iter_. The cases cover real data (iris, wine), a start with a centre far from every row
(an empty cluster relocated to the farthest row), a run stopped by max_iter (labels from a
final assignment), and sample weights (integers with zeros, reals, and an empty cluster).

usage: python3 scripts/make_kmeans_fixtures.py [OUT_DIR]   (default Tests/Fixtures)
"""
import json
import os
import sys

import numpy as np
from sklearn.cluster import KMeans
from sklearn.cluster._kmeans import kmeans_plusplus

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")


def case(name, data_file, k, init, max_iter=300, tol=1e-4, sample_weight=None):
    x = np.load(os.path.join(OUT, data_file))
    model = KMeans(n_clusters=k, init=init, n_init=1, max_iter=max_iter, tol=tol, algorithm="lloyd").fit(x, sample_weight=sample_weight)
    return {
        "name": name, "data": data_file, "clusters": k, "max_iter": max_iter, "tol": tol,
        "init": np.asarray(init).tolist(),
        "sample_weight": None if sample_weight is None else np.asarray(sample_weight, dtype=float).tolist(),
        "cluster_centers": model.cluster_centers_.tolist(), "labels": model.labels_.tolist(),
        "inertia": float(model.inertia_), "n_iter": int(model.n_iter_),
    }


def main():
    iris = np.load(os.path.join(OUT, "iris.npy"))
    wine = np.load(os.path.join(OUT, "wine.npy"))
    cases = []
    for k, seed in [(3, 0), (5, 1), (8, 2)]:
        init, _ = kmeans_plusplus(iris, n_clusters=k, random_state=seed)
        cases.append(case(f"iris-k{k}", "iris.npy", k, init))
    for k, seed in [(3, 3), (6, 4)]:
        init, _ = kmeans_plusplus(wine, n_clusters=k, random_state=seed)
        cases.append(case(f"wine-k{k}", "wine.npy", k, init))
    # A centre no row is nearest to: relocated to the row farthest from its centre.
    init, _ = kmeans_plusplus(iris, n_clusters=3, random_state=5)
    init = np.vstack([init, iris.mean(axis=0) + 100.0])
    cases.append(case("iris-empty-cluster", "iris.npy", 4, init))
    # Two iterations only: not converged, labels from a final assignment.
    init, _ = kmeans_plusplus(wine, n_clusters=4, random_state=6)
    cases.append(case("wine-max-iter-2", "wine.npy", 4, init, max_iter=2))
    # Sample weights: integers with zeros among them, and positive reals.
    rng = np.random.default_rng(20261202)
    init, _ = kmeans_plusplus(iris, n_clusters=3, random_state=7)
    cases.append(case("iris-integer-weights", "iris.npy", 3, init, sample_weight=rng.integers(0, 4, size=len(iris))))
    init, _ = kmeans_plusplus(wine, n_clusters=3, random_state=8)
    cases.append(case("wine-real-weights", "wine.npy", 3, init, sample_weight=rng.uniform(0.1, 5.0, size=len(wine))))
    # An empty cluster relocated to a weighted far row.
    init, _ = kmeans_plusplus(iris, n_clusters=3, random_state=9)
    init = np.vstack([init, iris.mean(axis=0) + 100.0])
    cases.append(case("iris-weights-empty-cluster", "iris.npy", 4, init, sample_weight=rng.uniform(0.5, 2.0, size=len(iris))))
    with open(os.path.join(OUT, "kmeans_cases.json"), "w") as f:
        json.dump({"sklearn": __import__("sklearn").__version__, "cases": cases}, f, indent=1)
        f.write("\n")
    for c in cases:
        print(f"{c['name']}: n_iter {c['n_iter']}, inertia {c['inertia']:.6f}")


if __name__ == "__main__":
    main()
