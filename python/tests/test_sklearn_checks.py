"""scikit-learn's estimator checks (`check_estimator`) on every emfleet estimator.

A check that fails is listed with the reason in EXPECTED_FAILED; every other check must pass.
"""
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import emfleet

EXPECTED_FAILED = {
    "GaussianMixture": {},
    "BayesianGaussianMixture": {
        "check_sample_weight_equivalence_on_dense_data": (
            "scikit-learn's BayesianGaussianMixture takes no sample_weight; emfleet's does, but the check's 30-feature "
            "data makes the default covariance prior (the data's covariance) singular, which the binary refuses"),
    },
    "KMeans": {
        "check_sample_weight_equivalence_on_dense_data": (
            "the k-means++ start draws differently from weights than from repeated rows; scikit-learn lists "
            "the same check as failing for its own KMeans"),
    },
    "MLPClassifier": {},
    "MLPRegressor": {},
}

ESTIMATORS = [
    emfleet.GaussianMixture(),
    emfleet.BayesianGaussianMixture(),
    emfleet.KMeans(),
    emfleet.MLPClassifier(),
    emfleet.MLPRegressor(),
]


def expected_failed(estimator):
    return EXPECTED_FAILED[type(estimator).__name__]


def test_at_most_five_expected_failures_per_estimator():
    for name, failures in EXPECTED_FAILED.items():
        assert len(failures) <= 5, f"{name}: {len(failures)} expected failures"


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed)
def test_sklearn_estimator_check(estimator, check):
    check(estimator)
