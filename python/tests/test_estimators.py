"""The emfleet estimators against scikit-learn's, through the real binary."""
import os
import pickle

import numpy as np
import pytest
import sklearn.cluster
import sklearn.mixture
import sklearn.neural_network
from sklearn.base import clone
from sklearn.datasets import make_blobs, make_regression

import emfleet
from emfleet._binary import npy_path


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=600, n_features=3, centers=3, cluster_std=[1.0, 1.5, 0.5], random_state=0)
    return X, y


def _start(X, k, covariance_type):
    """A start both libraries take: scikit-learn's k-means initialisation, made explicit."""
    reference = sklearn.mixture.GaussianMixture(k, covariance_type=covariance_type, max_iter=1, random_state=0).fit(X)
    return dict(weights_init=reference.weights_, means_init=reference.means_, precisions_init=reference.precisions_)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_gaussian_mixture_matches_sklearn_from_the_same_start(blobs, covariance_type):
    X, _ = blobs
    start = _start(X, 3, covariance_type)
    ours = emfleet.GaussianMixture(3, covariance_type=covariance_type, tol=1e-8, **start).fit(X)
    theirs = sklearn.mixture.GaussianMixture(3, covariance_type=covariance_type, tol=1e-8, **start).fit(X)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    np.testing.assert_allclose(ours.weights_, theirs.weights_, rtol=1e-8)
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-8)
    np.testing.assert_allclose(ours.covariances_, theirs.covariances_, rtol=1e-8)
    np.testing.assert_allclose(ours.precisions_cholesky_, theirs.precisions_cholesky_, rtol=1e-7)
    np.testing.assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=1e-10)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-8)
    np.testing.assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-9)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.score(X) == pytest.approx(theirs.score(X), rel=1e-10)
    assert ours.bic(X) == pytest.approx(theirs.bic(X), rel=1e-10)
    assert ours.aic(X) == pytest.approx(theirs.aic(X), rel=1e-10)


def test_to_sklearn_and_back_keep_the_model(blobs):
    X, _ = blobs
    ours = emfleet.GaussianMixture(3, random_state=1).fit(X)
    theirs = ours.to_sklearn()
    assert isinstance(theirs, sklearn.mixture.GaussianMixture)
    assert theirs.get_params()["n_components"] == 3
    np.testing.assert_allclose(theirs.predict_proba(X), ours.predict_proba(X), atol=1e-10)
    back = emfleet.GaussianMixture.from_sklearn(theirs, workers=None)
    np.testing.assert_array_equal(back.means_, ours.means_)
    np.testing.assert_allclose(back.score_samples(X), theirs.score_samples(X), rtol=1e-10)


def test_sample_draws_from_the_model(blobs):
    X, _ = blobs
    gm = emfleet.GaussianMixture(3, random_state=2).fit(X)
    drawn, labels = gm.sample(3000)
    assert drawn.shape == (3000, 3) and labels.shape == (3000,)
    assert set(np.unique(labels)) <= {0, 1, 2}
    for k in range(3):
        np.testing.assert_allclose(drawn[labels == k].mean(axis=0), gm.means_[k], atol=0.25)
    with pytest.raises(ValueError, match="at least one sample"):
        gm.sample(0)


def test_integer_sample_weights_repeat_rows(blobs):
    X, _ = blobs
    counts = np.random.RandomState(3).randint(0, 4, size=len(X))
    start = _start(np.repeat(X, counts, axis=0), 3, "full")
    weighted = emfleet.GaussianMixture(3, tol=1e-10, **start).fit(X, sample_weight=counts)
    repeated = emfleet.GaussianMixture(3, tol=1e-10, **start).fit(np.repeat(X, counts, axis=0))
    np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-8)
    np.testing.assert_allclose(weighted.covariances_, repeated.covariances_, rtol=1e-7)
    assert weighted.score(X, sample_weight=counts) == pytest.approx(repeated.score(np.repeat(X, counts, axis=0)), rel=1e-10)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_warm_start_continues_em(blobs):
    X, _ = blobs
    start = _start(X, 3, "diag")
    stepwise = emfleet.GaussianMixture(3, covariance_type="diag", max_iter=1, warm_start=True, **start)
    with pytest.warns(sklearn.exceptions.ConvergenceWarning):
        stepwise.fit(X)
    stepwise.fit(X)
    at_once = emfleet.GaussianMixture(3, covariance_type="diag", max_iter=2, **start).fit(X)
    np.testing.assert_allclose(stepwise.means_, at_once.means_, rtol=1e-12)
    np.testing.assert_allclose(stepwise.covariances_, at_once.covariances_, rtol=1e-12)


def test_pickle_holds_the_parameters_not_a_path(blobs, tmp_path):
    X, _ = blobs
    gm = emfleet.GaussianMixture(2, random_state=0).fit(X)
    data = pickle.dumps(gm)
    assert b"/tmp/emfleet-" not in data
    again = pickle.loads(data)
    np.testing.assert_array_equal(again.predict(X), gm.predict(X))
    fresh = clone(gm)
    assert fresh.get_params() == gm.get_params() and not hasattr(fresh, "means_")


def test_workers_give_the_model_of_one_process(blobs):
    X, _ = blobs
    alone = emfleet.GaussianMixture(3, random_state=4, shards=4).fit(X)
    fleet = emfleet.GaussianMixture(3, random_state=4, shards=4, workers=2).fit(X)
    np.testing.assert_array_equal(alone.means_, fleet.means_)
    np.testing.assert_array_equal(alone.covariances_, fleet.covariances_)
    np.testing.assert_array_equal(alone.predict(X), fleet.predict(X))


def test_npy_files_and_memmaps_are_read_in_place(blobs, tmp_path):
    X, _ = blobs
    path = str(tmp_path / "x.npy")
    np.save(path, X)
    mapped = np.load(path, mmap_mode="r")
    assert npy_path(path) == (path, X.shape)
    assert npy_path(mapped) == (path, X.shape)
    assert npy_path(mapped[1:]) is None and npy_path(mapped[:, :2]) is None and npy_path(np.array(mapped)) is None
    from_array = emfleet.GaussianMixture(3, random_state=5).fit(X)
    from_path = emfleet.GaussianMixture(3, random_state=5).fit(path)
    from_map = emfleet.GaussianMixture(3, random_state=5).fit(mapped)
    np.testing.assert_array_equal(from_array.means_, from_path.means_)
    np.testing.assert_array_equal(from_array.means_, from_map.means_)
    np.testing.assert_array_equal(from_path.predict(path), from_array.predict(X))
    assert from_path.n_features_in_ == 3


def test_bad_data_in_a_file_is_the_binarys_one_line_value_error(tmp_path):
    X = np.random.RandomState(0).rand(50, 2)
    X[7, 1] = np.nan
    path = str(tmp_path / "bad.npy")
    np.save(path, X)
    with pytest.raises(ValueError) as raised:
        emfleet.GaussianMixture(2).fit(path)
    assert isinstance(raised.value, emfleet.EmfleetValueError)
    message = str(raised.value)
    assert "bad.npy" in message and "\n" not in message


def test_errors_of_the_binary_keep_its_message(blobs, tmp_path):
    X, _ = blobs
    gm = emfleet.GaussianMixture(3, random_state=0, report=str(tmp_path / "file-not-dir.txt"))
    (tmp_path / "file-not-dir.txt").write_text("a file where the report directory should go")
    with pytest.raises(emfleet.EmfleetError) as raised:
        gm.fit(X)
    assert "--report" in str(raised.value) and "\n" not in str(raised.value)


def test_a_missing_binary_says_how_to_build_it(monkeypatch, blobs):
    monkeypatch.setenv("EMFLEET_BIN", "/nonexistent/emfleet")
    with pytest.raises(emfleet.EmfleetError, match="swift build -c release"):
        emfleet.GaussianMixture(2).fit(blobs[0])


def test_report_writes_the_html_page(blobs, tmp_path):
    X, _ = blobs
    emfleet.GaussianMixture(3, random_state=0, report=str(tmp_path / "report")).fit(X)
    assert (tmp_path / "report" / "index.html").read_text().startswith("<!DOCTYPE html>")


def test_verbose_prints_the_binarys_iterations(blobs, capsys):
    X, _ = blobs
    gm = emfleet.GaussianMixture(3, random_state=0, verbose=1).fit(X)
    printed = capsys.readouterr().out
    assert "fitting 3 full components to 600 rows" in printed
    assert f"after {gm.n_iter_} iterations" in printed


def test_bayesian_mixture_scores_as_sklearn_does_with_its_parameters(blobs):
    X, _ = blobs
    for prior in ("dirichlet_process", "dirichlet_distribution"):
        ours = emfleet.BayesianGaussianMixture(n_components=5, weight_concentration_prior_type=prior, random_state=0).fit(X)
        theirs = ours.to_sklearn()
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-9)
        np.testing.assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-9)
        assert ours.weights_.sum() == pytest.approx(1.0, rel=1e-12)
        if prior == "dirichlet_process":
            assert (ours.weights_ > 0.1).sum() == 3  # the three blobs; the other components fade


def test_kmeans_matches_sklearn_from_the_same_centres(blobs):
    X, _ = blobs
    centres = X[[0, 100, 200]]
    weights = np.random.RandomState(1).rand(len(X))
    ours = emfleet.KMeans(3, init=centres, n_init=1).fit(X, sample_weight=weights)
    theirs = sklearn.cluster.KMeans(3, init=centres, n_init=1, algorithm="lloyd").fit(X, sample_weight=weights)
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-10)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-10)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X), rtol=1e-10)
    assert ours.score(X, sample_weight=weights) == pytest.approx(theirs.score(X, sample_weight=weights), rel=1e-10)
    np.testing.assert_array_equal(ours.to_sklearn().predict(X), ours.predict(X))


def test_mlp_classifier_learns_and_converts(blobs):
    X, y = blobs
    labels = np.array(["north", "south", "west"])[y]
    net = emfleet.MLPClassifier(hidden_layer_sizes=(16,), max_iter=60, random_state=0).fit(X, labels)
    assert list(net.classes_) == ["north", "south", "west"]
    assert net.score(X, labels) > 0.95
    assert net.n_iter_ == len(net.loss_curve_) and net.loss_ == net.loss_curve_[-1]
    proba = net.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    np.testing.assert_array_equal(net.predict(X), net.classes_[proba.argmax(axis=1)])
    theirs = net.to_sklearn()
    np.testing.assert_allclose(theirs.predict_proba(X), proba, atol=1e-9)
    back = emfleet.MLPClassifier.from_sklearn(theirs)
    np.testing.assert_allclose(back.predict_proba(X), proba, atol=1e-9)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_warm_start_trains_on_from_the_fitted_weights(blobs):
    X, y = blobs
    labels = np.array(["a", "b", "c"])[y]
    net = emfleet.MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0, warm_start=True).fit(X, labels)
    first = list(net.loss_curve_)
    net.fit(X, labels)
    assert len(net.loss_curve_) == 6 and net.n_iter_ == 6 and net.loss_curve_[:3] == first
    # The second fit goes on from where the first ended (a fresh start's first epoch is first[0]).
    assert net.loss_curve_[3] < first[-1] < first[0]
    cold = emfleet.MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X, labels)
    assert cold.loss_curve_ == first
    with pytest.raises(ValueError, match="--init-model"):
        emfleet.MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0, warm_start=True).fit(X, labels).set_params(
            hidden_layer_sizes=(5,)).fit(X, labels)


def test_mlp_classifier_with_two_classes_and_weights(blobs):
    X, y = blobs
    two = (y == 0).astype(int)
    weights = np.where(two == 1, 2.0, 1.0)
    net = emfleet.MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=1).fit(X, two, sample_weight=weights)
    assert net.out_activation_ == "logistic" and net.predict_proba(X).shape == (len(X), 2)
    np.testing.assert_allclose(net.to_sklearn().predict_proba(X), net.predict_proba(X), atol=1e-9)


def test_mlp_regressor_fits_a_line_and_scores_r2():
    X, y = make_regression(n_samples=400, n_features=4, noise=0.1, random_state=0)
    net = emfleet.MLPRegressor(hidden_layer_sizes=(16,), max_iter=150, learning_rate_init=0.01, random_state=0).fit(X, y)
    predicted = net.predict(X)
    from sklearn.metrics import r2_score

    assert net.score(X, y) == pytest.approx(r2_score(y, predicted), rel=1e-6)
    assert net.score(X, y) > 0.9
    np.testing.assert_allclose(net.to_sklearn().predict(X), predicted, rtol=1e-8, atol=1e-8)


def test_bind_fits_on_remote_workers_with_the_same_model(blobs):
    import socket
    import subprocess

    X, _ = blobs
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = f"tcp://127.0.0.1:{port}"
    worker = subprocess.Popen([emfleet.find_binary(), "worker", "--connect", endpoint],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        remote = emfleet.GaussianMixture(3, random_state=4, shards=4, bind=endpoint, min_workers=1).fit(X)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    alone = emfleet.GaussianMixture(3, random_state=4, shards=4, memory_limit="256M").fit(X)
    np.testing.assert_array_equal(remote.means_, alone.means_)
    np.testing.assert_array_equal(remote.covariances_, alone.covariances_)


def test_from_sklearn_takes_models_fitted_by_sklearn(blobs):
    X, _ = blobs
    theirs = sklearn.mixture.BayesianGaussianMixture(n_components=4, covariance_type="diag", random_state=0).fit(X)
    ours = emfleet.BayesianGaussianMixture.from_sklearn(theirs)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-9)
    np.testing.assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-9)
    centres = sklearn.cluster.KMeans(3, n_init=1, random_state=0).fit(X)
    mine = emfleet.KMeans.from_sklearn(centres)
    np.testing.assert_array_equal(mine.predict(X), centres.predict(X))
    assert mine.score(X) == pytest.approx(centres.score(X), rel=1e-10)
    gm = sklearn.mixture.GaussianMixture(3, covariance_type="tied", random_state=0).fit(X)
    np.testing.assert_allclose(emfleet.GaussianMixture.from_sklearn(gm).score_samples(X), gm.score_samples(X), rtol=1e-10)


# -- partial_fit of the networks: one epoch per call, the optimizer's state kept between calls -----


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_mlp_partial_fit_twice_is_fit_with_max_iter_2(blobs, solver):
    X, y = blobs
    params = dict(hidden_layer_sizes=(8,), random_state=0, batch_size=64, solver=solver, learning_rate_init=0.01)
    net = emfleet.MLPClassifier(**params)
    net.partial_fit(X, y, classes=np.unique(y))
    net.partial_fit(X, y)
    whole = emfleet.MLPClassifier(max_iter=2, **params).fit(X, y)
    assert net.n_iter_ == 2 and net.t_ == 2 * len(X) and len(net.loss_curve_) == 2
    # The second call is the second epoch: the optimizer's state, the epoch's row order and the
    # first call's standardisation carried over, so the weights are the same bits.
    assert net.loss_curve_ == whole.loss_curve_
    for ours, theirs in zip(net.coefs_ + net.intercepts_, whole.coefs_ + whole.intercepts_):
        np.testing.assert_array_equal(ours, theirs)
    # partial_fit after fit goes on from fit's optimizer too.
    after_fit = emfleet.MLPClassifier(max_iter=1, **params).fit(X, y).partial_fit(X, y)
    assert after_fit.n_iter_ == 2 and after_fit.loss_curve_ == whole.loss_curve_
    np.testing.assert_array_equal(after_fit.coefs_[0], whole.coefs_[0])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_regressor_partial_fit_goes_on_as_one_training():
    X, y = make_regression(n_samples=300, n_features=4, noise=0.1, random_state=0)
    params = dict(hidden_layer_sizes=(8,), random_state=0, batch_size=50, solver="sgd", learning_rate_init=0.001)
    net = emfleet.MLPRegressor(**params)
    for _ in range(3):
        net.partial_fit(X, y)
    whole = emfleet.MLPRegressor(max_iter=3, n_iter_no_change=100, **params).fit(X, y)
    assert net.n_iter_ == 3 and net.loss_curve_ == whole.loss_curve_
    np.testing.assert_array_equal(net.predict(X), whole.predict(X))


def test_mlp_partial_fit_needs_classes_first_and_keeps_counting(blobs):
    X, y = blobs
    net = emfleet.MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call to partial_fit"):
        net.partial_fit(X, y)
    # A first batch without class 2 still makes an output for it.
    some = y != 2
    net.partial_fit(X[some], y[some], classes=[0, 1, 2])
    assert list(net.classes_) == [0, 1, 2] and net.predict_proba(X).shape == (len(X), 3)
    standardisation = net._model["standardisation"]
    net.partial_fit(X[:100] + 5.0, y[:100])
    net.partial_fit(X, y)
    assert net.n_iter_ == 3 and len(net.loss_curve_) == 3 and net.t_ == some.sum() + 100 + len(X)
    # Later batches are standardised as the first was (the network's inputs do not move).
    assert net._model["standardisation"] == standardisation
    with pytest.raises(ValueError, match="classes=.* is not the same"):
        net.partial_fit(X, y, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
        net.partial_fit(X, np.where(y == 0, 7, y))
    with pytest.raises(ValueError, match="X has 2 features"):
        net.partial_fit(X[:, :2], y)
    with pytest.raises(ValueError, match="early_stopping"):
        emfleet.MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])
    assert not hasattr(emfleet.MLPClassifier(solver="lbfgs"), "partial_fit")


def test_mlp_partial_fit_state_survives_pickling_and_clone_drops_it(blobs):
    X, y = blobs
    net = emfleet.MLPClassifier(hidden_layer_sizes=(8,), random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    copy = pickle.loads(pickle.dumps(net))
    assert isinstance(copy._optimizer_state, bytes) and copy._optimizer_state == net._optimizer_state
    net.partial_fit(X, y)
    copy.partial_fit(X, y)
    np.testing.assert_array_equal(copy.coefs_[0], net.coefs_[0])
    assert not hasattr(clone(net), "_optimizer_state")


# -- warm_start of the variational mixture: variational EM goes on from the fitted posterior ------


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("prior", ["dirichlet_process", "dirichlet_distribution"])
def test_bayesian_mixture_warm_start_goes_on_as_sklearn_does(blobs, covariance_type, prior):
    X, _ = blobs
    params = dict(n_components=4, covariance_type=covariance_type, weight_concentration_prior_type=prior, max_iter=5,
                  tol=1e-12, random_state=0, warm_start=True)
    theirs = sklearn.mixture.BayesianGaussianMixture(**params).fit(X)
    # The same start for both: scikit-learn's model after 5 iterations; then 5 more in each.
    ours = emfleet.BayesianGaussianMixture.from_sklearn(theirs)
    theirs.fit(X)
    ours.fit(X)
    assert ours.n_iter_ == theirs.n_iter_ == 5
    for name in ("weight_concentration_", "mean_precision_", "means_", "degrees_of_freedom_", "covariances_",
                 "precisions_cholesky_", "weights_"):
        np.testing.assert_allclose(np.asarray(getattr(ours, name)), np.asarray(getattr(theirs, name)), rtol=1e-8, atol=1e-10,
                                   err_msg=name)
    np.testing.assert_allclose(ours.lower_bounds_, theirs.lower_bounds_, rtol=1e-9)
    # And emfleet's own fit warm-started twice is its fit of 10 iterations.
    stepwise = emfleet.BayesianGaussianMixture(**params).fit(X).fit(X)
    at_once = emfleet.BayesianGaussianMixture(**{**params, "max_iter": 10, "warm_start": False}).fit(X)
    np.testing.assert_array_equal(stepwise.means_, at_once.means_)
    np.testing.assert_array_equal(stepwise.covariances_, at_once.covariances_)
    assert stepwise.lower_bounds_ == at_once.lower_bounds_[5:]
