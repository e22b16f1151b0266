#!/usr/bin/env python3
"""Writes scikit-learn BayesianGaussianMixture reference fits into Tests/Fixtures/variational.json.

On real data already in Tests/Fixtures (iris.npy: Fisher's iris, 150 × 4; wine_diag.train.npy: the
standardised wine measurements without the held-out rows, 142 × 13), for each covariance type and
both weight prior types, from a fixed start: the one-hot labels of scikit-learn's KMeans
(random_state 0) are the initial responsibilities, and the case records the variational
parameters right after `_initialize` from them (the start emfleet is given), then what
`BayesianGaussianMixture.fit` computes from that start with tol=0 for a fixed number of
iterations (and KMeans' centres, whose nearest-centre labels are that start): the lower bound per iteration and the final weight_concentration_, mean_precision_,
means_, degrees_of_freedom_, covariances_ and weights_, and on the training rows
predict_proba (every fifth row), predict and score_samples.

usage: python3 scripts/make_variational_fixtures.py [OUT_DIR]   (default Tests/Fixtures)
The file is committed, so `swift test` needs no Python.
"""
import json
import os
import sys
import warnings

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.mixture import BayesianGaussianMixture

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")
ITERATIONS = 20


def posterior(bgm):
    wc = bgm.weight_concentration_
    return {
        "weight_concentration": [np.asarray(w).tolist() for w in wc] if isinstance(wc, tuple) else np.asarray(wc).tolist(),
        "mean_precision": np.asarray(bgm.mean_precision_).tolist(),
        "means": np.asarray(bgm.means_).tolist(),
        "degrees_of_freedom": np.atleast_1d(bgm.degrees_of_freedom_).tolist(),
        "covariances": np.asarray(bgm.covariances_).tolist(),
    }


def case(data_name, X, k, cov_type, prior_type):
    kmeans = KMeans(n_clusters=k, n_init=1, random_state=0).fit(X)
    labels = kmeans.labels_
    # scikit-learn's labels are the nearest of its final centres, so the centres give the same start.
    assert np.array_equal(labels, np.argmin(((X[:, None, :] - kmeans.cluster_centers_[None]) ** 2).sum(2), 1))
    resp = np.zeros((len(X), k))
    resp[np.arange(len(X)), labels] = 1
    settings = dict(n_components=k, covariance_type=cov_type, weight_concentration_prior_type=prior_type, tol=0.0,
                    max_iter=ITERATIONS, reg_covar=1e-6, random_state=0)
    start = BayesianGaussianMixture(**settings)
    start._check_parameters(X)
    start._initialize(X, resp)
    bgm = BayesianGaussianMixture(**settings)
    bgm._initialize_parameters = lambda X_, random_state, xp=None: bgm._initialize(X_, resp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bgm.fit(X)
    cov_prior = bgm.covariance_prior_
    return {
        "name": f"{data_name}_{cov_type}_{prior_type}",
        "data": data_name,
        "covariance_type": cov_type,
        "weight_concentration_prior_type": prior_type,
        "n_components": k,
        "reg_covar": 1e-6,
        "iterations": ITERATIONS,
        "prior": {
            "weight_concentration_prior": float(bgm.weight_concentration_prior_),
            "mean_precision_prior": float(bgm.mean_precision_prior_),
            "mean_prior": np.asarray(bgm.mean_prior_).tolist(),
            "degrees_of_freedom_prior": float(bgm.degrees_of_freedom_prior_),
            "covariance_prior": np.atleast_1d(cov_prior).tolist(),
        },
        "kmeans_centers": kmeans.cluster_centers_.tolist(),
        "init": posterior(start),
        "expected": dict(posterior(bgm), **{
            "weights": bgm.weights_.tolist(),
            "lower_bounds": [float(np.squeeze(v)) for v in bgm.lower_bounds_],
            "n_iter": int(bgm.n_iter_),
            "predict_proba_every_fifth_row": bgm.predict_proba(X[::5]).tolist(),
            "predict": bgm.predict(X).tolist(),
            "score_samples": bgm.score_samples(X).tolist(),
        }),
    }


def main():
    iris = np.load(os.path.join(OUT, "iris.npy"))
    wine = np.load(os.path.join(OUT, "wine_diag.train.npy"))
    cases = []
    for prior_type in ["dirichlet_process", "dirichlet_distribution"]:
        for cov_type in ["full", "tied", "diag", "spherical"]:
            cases.append(case("iris", iris, 5, cov_type, prior_type))
        for cov_type in ["full", "diag"]:
            cases.append(case("wine_diag.train", wine, 4, cov_type, prior_type))
    for c in cases:
        print(f"{c['name']}: K={c['n_components']}, final lower bound {c['expected']['lower_bounds'][-1]:.10f}, "
              f"weights {np.round(c['expected']['weights'], 3).tolist()}")
    with open(os.path.join(OUT, "variational.json"), "w") as f:
        json.dump({"sklearn_version": sklearn.__version__, "cases": cases}, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
