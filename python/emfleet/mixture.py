"""`GaussianMixture` and `BayesianGaussianMixture`, fitted and applied by `emfleet gmm`."""
import json
import warnings

import numpy as np
import sklearn.mixture
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture._gaussian_mixture import (
    _check_means,
    _check_precisions,
    _check_weights,
    _compute_precision_cholesky,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _binary
from ._base import FLEET_CONSTRAINTS, FleetMixin, number, numbers, output_dtype, seed_from

_INIT = {"kmeans": "kmeans", "k-means++": "k-means++", "random": "random", "random_from_data": "random-from-data"}


class _MixtureBase(FleetMixin, DensityMixin, BaseEstimator):
    """Fit by `emfleet gmm fit`, applied by `emfleet gmm predict|score|sample`; the fitted model is
    the document the binary writes (`_model`), with scikit-learn's attributes read from it."""

    _sklearn_class = None
    _variational = False

    # -- fitting ---------------------------------------------------------------------------------

    def _fit_arguments(self):
        return []

    def _check_rows(self, rows):
        pass

    def _initial_model(self):
        """The model EM starts from (`--init-model`), or None to initialise in the binary."""
        return None

    def _fit_file(self, X, y=None, sample_weight=None):
        with _binary.Scratch() as scratch:
            data, rows = self._data_file(X, scratch, reset=True, ensure_min_samples=1)
            if rows < self.n_components:
                raise _binary.EmfleetValueError(
                    f"Expected n_samples >= n_components but got n_components = {self.n_components}, n_samples = {rows}")
            self._check_rows(rows)
            # A warm start continues the earlier fit, whose last lower bound the first iteration is
            # compared with, as in scikit-learn.
            warm = self.warm_start and hasattr(self, "lower_bound_") and hasattr(self, "weights_")
            previous = self.lower_bound_ if warm else None
            initial = self._initial_model()
            weights = self._weights_file(sample_weight, rows, scratch)
            seed = seed_from(self.random_state)
            doc = self._run_fit(scratch, data, weights, initial, seed, self.max_iter)
            history = doc.get("log_likelihood_history") or []
            if previous is not None and np.isfinite(previous) and history and abs(history[0] - previous) < self.tol:
                # scikit-learn stops after this first iteration, converged.
                if len(history) > 1:
                    doc = self._run_fit(scratch, data, weights, initial, seed, 1)
                doc["converged"] = True
            self._set_model(doc)
        if not self.converged_:
            warnings.warn(
                "Best performing initialization did not converge. Try different init parameters, "
                "or increase max_iter, tol, or check for degenerate data.", ConvergenceWarning)
        return self

    def _run_fit(self, scratch, data, weights, initial, seed, max_iter):
        """One `emfleet gmm fit`; returns the model document it wrote."""
        model_path = scratch.file("model.json")
        args = ["gmm", "fit", "--data", data, "--components", self.n_components,
                "--covariance", self.covariance_type, "--max-iter", max(1, max_iter), f"--tol={number(self.tol)}",
                f"--reg-covar={number(self.reg_covar)}", "--init", _INIT[self.init_params],
                "--n-init", 1 if initial is not None and "given" not in initial else self.n_init, "--seed", seed, "--out", model_path]
        if initial is not None and "given" in initial:
            args += ["--init-given", scratch.write_json("given.json", initial["given"])]
        elif initial is not None:
            args += ["--init-model", scratch.write_json("init.json", initial)]
        if max_iter == 0:
            args += ["--initialise-only"]
        if weights is not None:
            args += ["--sample-weight", weights]
        args += self._fit_arguments() + self._fleet_arguments()
        if not self.verbose:
            args.append("--quiet")
        _binary.run(args, verbose=self.verbose)
        with open(model_path) as f:
            return json.load(f)

    def fit(self, X, y=None, sample_weight=None):
        """Fits the mixture in the binary (`emfleet gmm fit`); `sample_weight` makes each row count its weight."""
        return self._fit(X, y, sample_weight)

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fits, then labels the rows of X with the fitted model."""
        return self.fit(X, y, sample_weight).predict(X)

    # -- the model document and the attributes -----------------------------------------------------

    def _set_model(self, doc):
        self._model = doc
        # In the dtype of the data, as scikit-learn's are; the document keeps the binary's doubles.
        dtype = getattr(self, "_input_dtype", np.float64)
        self.weights_ = np.array(doc["weights"], dtype=dtype)
        self.means_ = np.array(doc["means"], dtype=dtype)
        self.covariances_ = np.array(doc["covariances"], dtype=dtype)
        self.converged_ = bool(doc["converged"])
        self.n_iter_ = int(doc["n_iter"])
        history = doc.get("log_likelihood_history") or []
        self.lower_bounds_ = [float(v) for v in history]
        self.lower_bound_ = float(doc["lower_bound"]) if doc.get("lower_bound") is not None else -np.inf
        if not hasattr(self, "n_features_in_"):
            self.n_features_in_ = int(doc["n_features"])
        self._set_precisions()

    def _set_precisions(self):
        # Precisions follow from the covariances as scikit-learn computes them (its own functions).
        self.precisions_cholesky_ = _compute_precision_cholesky(self.covariances_, self.covariance_type)
        estimator = sklearn.mixture.GaussianMixture(n_components=self.n_components, covariance_type=self.covariance_type)
        estimator._set_parameters((self.weights_, self.means_, self.covariances_, self.precisions_cholesky_))
        self.precisions_ = estimator.precisions_

    def _document(self):
        """The model file for the binary, from the current attributes (which a user may have set)."""
        check_is_fitted(self, ["weights_", "means_", "covariances_"])
        doc = dict(getattr(self, "_model", None) or {})
        means = np.asarray(self.means_)

        def field(name, value):
            # The binary's own doubles while the attribute still holds them (in float32 data's
            # dtype, rounded); the attribute's values once someone has set others.
            value = np.asarray(value)
            stored = doc.get(name)
            if stored is not None and np.shape(stored) == value.shape and np.array_equal(np.asarray(stored, dtype=value.dtype), value):
                return stored
            return value.astype(float).tolist()

        doc.update({
            "format": "emfleet.gaussian-mixture", "version": doc.get("version", 1),
            "kind": doc.get("kind", "gaussian-mixture"), "covariance_type": self.covariance_type,
            "n_components": int(means.shape[0]), "n_features": int(means.shape[1]),
            "weights": field("weights", self.weights_), "means": field("means", means),
            "covariances": field("covariances", self.covariances_),
            "converged": bool(getattr(self, "converged_", True)), "n_iter": int(getattr(self, "n_iter_", 0)),
            "log_likelihood_history": [float(v) for v in getattr(self, "lower_bounds_", [])],
        })
        lower_bound = getattr(self, "lower_bound_", None)
        if lower_bound is not None and np.isfinite(lower_bound):
            doc["lower_bound"] = float(lower_bound)
        else:
            doc.pop("lower_bound", None)
        return doc

    # -- applying the model ----------------------------------------------------------------------

    def _per_row(self, X, flag):
        check_is_fitted(self, ["weights_", "means_", "covariances_"])
        return self._predict_rows("gmm", X, flag)

    def predict(self, X):
        """Each row's most probable component (`emfleet gmm predict`)."""
        return self._per_row(X, []).astype(np.int64, copy=False)

    def predict_proba(self, X):
        """Each row's posterior probability of every component (`emfleet gmm predict --proba`)."""
        return self._per_row(X, ["--proba"]).astype(output_dtype(X), copy=False)

    def score_samples(self, X):
        """Each row's log-likelihood (`emfleet gmm predict --log-likelihood`)."""
        return self._per_row(X, ["--log-likelihood"]).reshape(-1).astype(output_dtype(X), copy=False)

    def _score_report(self, X, sample_weight=None):
        check_is_fitted(self, ["weights_", "means_", "covariances_"])
        with _binary.Scratch() as scratch:
            data, rows = self._data_file(X, scratch, reset=False)
            model = scratch.write_json("model.json", self._document())
            args = ["gmm", "score", "--model", model, "--data", data, "--json"]
            weights = self._weights_file(sample_weight, rows, scratch)
            if weights is not None:
                args += ["--sample-weight", weights]
            return json.loads(_binary.run(args + self._apply_arguments()))

    def score(self, X, y=None, sample_weight=None):
        """The mean log-likelihood of the rows of X (weighted: Σ w·log p / Σ w), by `emfleet gmm score`."""
        return float(self._score_report(X, sample_weight)["mean_log_likelihood"])

    def sample(self, n_samples=1):
        """Draws `n_samples` rows and their components from the fitted mixture (`emfleet gmm sample`)."""
        check_is_fitted(self, ["weights_", "means_", "covariances_"])
        if n_samples < 1:
            raise ValueError(
                "Invalid value for 'n_samples': %d . The sampling requires at least one sample." % (n_samples))
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        with _binary.Scratch() as scratch:
            model = scratch.write_json("model.json", self._document())
            out, labels = scratch.file("x.npy"), scratch.file("y.npy")
            _binary.run(["gmm", "sample", "--model", model, "--count", n_samples, "--seed", seed,
                         "--out", out, "--labels", labels])
            return np.load(out), np.load(labels).astype(np.int64, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    # -- scikit-learn's own estimator --------------------------------------------------------------

    def _sklearn_parameters(self):
        own = self.get_params(deep=False)
        return {k: v for k, v in own.items() if k in self._sklearn_class().get_params(deep=False)}

    def to_sklearn(self):
        """The scikit-learn estimator of the same name with these parameters and this fitted model."""
        estimator = self._sklearn_class(**self._sklearn_parameters())
        if hasattr(self, "weights_"):
            for name in self._fitted_attributes():
                if hasattr(self, name):
                    setattr(estimator, name, getattr(self, name))
        return estimator

    @classmethod
    def from_sklearn(cls, estimator, **fleet):
        """An emfleet estimator with `estimator`'s parameters (and fitted model, when fitted); `fleet`
        sets emfleet's own parameters (`workers=`, …)."""
        mine = cls(**estimator.get_params(deep=False), **fleet)
        if hasattr(estimator, "weights_"):
            for name in mine._fitted_attributes():
                if hasattr(estimator, name):
                    value = getattr(estimator, name)
                    setattr(mine, name, value.copy() if isinstance(value, np.ndarray) else value)
            mine._model = mine._document()
        return mine

    def _fitted_attributes(self):
        return ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_", "converged_",
                "n_iter_", "lower_bound_", "lower_bounds_", "n_features_in_", "feature_names_in_"]


class GaussianMixture(_MixtureBase):
    """scikit-learn's `GaussianMixture`, fitted by EM in the emfleet binary.

    The same parameters, defaults and attributes, plus `sample_weight` on `fit` and `score`, and
    emfleet's `workers` (local worker processes), `bind`/`min_workers` (a coordinator for remote
    workers), `shards`, `threads`, `memory_limit` and `report` (a directory for the HTML report).
    """

    _sklearn_class = sklearn.mixture.GaussianMixture
    _parameter_constraints = {**sklearn.mixture.GaussianMixture._parameter_constraints, **FLEET_CONSTRAINTS}

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3, reg_covar=1e-6, max_iter=100, n_init=1,
                 init_params="kmeans", weights_init=None, means_init=None, precisions_init=None, random_state=None,
                 warm_start=False, verbose=0, verbose_interval=10, workers=None, bind=None, min_workers=None,
                 shards=None, threads=None, memory_limit=None, report=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.workers = workers
        self.bind = bind
        self.min_workers = min_workers
        self.shards = shards
        self.threads = threads
        self.memory_limit = memory_limit
        self.report = report

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit(self, X, y=None, sample_weight=None):
        return self._fit_file(X, y, sample_weight)

    def _initial_model(self):
        if self.warm_start and hasattr(self, "weights_") and hasattr(self, "converged_"):
            return self._document()
        given = [v is not None for v in (self.weights_init, self.means_init, self.precisions_init)]
        if not any(given):
            return None
        n_features = self.n_features_in_
        weights = _check_weights(self.weights_init, self.n_components, xp=np) if self.weights_init is not None else None
        means = _check_means(self.means_init, self.n_components, n_features, xp=np) if self.means_init is not None else None
        precisions = (_check_precisions(self.precisions_init, self.covariance_type, self.n_components, n_features, xp=np)
                      if self.precisions_init is not None else None)
        covariances = _covariances_from_precisions(precisions, self.covariance_type) if precisions is not None else None
        if not all(given):
            # The others come from the init_params start, in the binary (gmm fit --init-given).
            parts = {"weights": weights, "means": means, "covariances": covariances}
            return {"given": {name: np.asarray(v, dtype=float).tolist() for name, v in parts.items() if v is not None}}
        return {"format": "emfleet.gaussian-mixture", "version": 1, "kind": "gaussian-mixture",
                "covariance_type": self.covariance_type, "n_components": self.n_components, "n_features": n_features,
                "weights": weights.tolist(), "means": means.tolist(), "covariances": covariances.tolist(),
                "converged": False, "n_iter": 0, "log_likelihood_history": []}

    def _n_parameters(self):
        """The model's free parameters, as the binary counts them for BIC and AIC (`gmm score`)."""
        check_is_fitted(self, "means_")
        return int(self._score_report(np.asarray(self.means_, dtype=np.float64)[:1])["free_parameters"])

    def bic(self, X):
        """Bayesian information criterion of the model on X (`emfleet gmm score`)."""
        return float(self._score_report(X)["bic"])

    def aic(self, X):
        """Akaike information criterion of the model on X (`emfleet gmm score`)."""
        return float(self._score_report(X)["aic"])


def _covariances_from_precisions(precisions, covariance_type):
    if covariance_type == "full":
        return np.array([np.linalg.inv(p) for p in precisions])
    if covariance_type == "tied":
        return np.linalg.inv(precisions)
    return 1.0 / precisions


_VARIATIONAL_PRIOR = {"dirichlet_process": "dirichlet-process", "dirichlet_distribution": "dirichlet-distribution"}


class BayesianGaussianMixture(_MixtureBase):
    """scikit-learn's `BayesianGaussianMixture`, fitted by variational Bayes in the emfleet binary
    (`gmm fit --variational`), with emfleet's fleet parameters as in `GaussianMixture`."""

    _sklearn_class = sklearn.mixture.BayesianGaussianMixture
    _variational = True
    _parameter_constraints = {**sklearn.mixture.BayesianGaussianMixture._parameter_constraints, **FLEET_CONSTRAINTS}

    def __init__(self, *, n_components=1, covariance_type="full", tol=1e-3, reg_covar=1e-6, max_iter=100, n_init=1,
                 init_params="kmeans", weight_concentration_prior_type="dirichlet_process",
                 weight_concentration_prior=None, mean_precision_prior=None, mean_prior=None,
                 degrees_of_freedom_prior=None, covariance_prior=None, random_state=None, warm_start=False,
                 verbose=0, verbose_interval=10, workers=None, bind=None, min_workers=None, shards=None,
                 threads=None, memory_limit=None, report=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.workers = workers
        self.bind = bind
        self.min_workers = min_workers
        self.shards = shards
        self.threads = threads
        self.memory_limit = memory_limit
        self.report = report

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit(self, X, y=None, sample_weight=None):
        if self.max_iter < 1:
            raise _binary.EmfleetValueError("max_iter=0 (initialisation only) is not offered by the emfleet binary; give max_iter >= 1")
        return self._fit_file(X, y, sample_weight)

    def _initial_model(self):
        # warm_start: variational EM goes on from the fitted posterior (weight_concentration_,
        # mean_precision_, means_, degrees_of_freedom_, covariances_), as scikit-learn's does.
        if self.warm_start and hasattr(self, "weights_") and hasattr(self, "converged_"):
            return self._document()
        return None

    def _check_rows(self, rows):
        if rows < 2 and self.covariance_prior is None:
            raise _binary.EmfleetValueError(
                f"n_samples = {rows}: the default covariance prior (the data's covariance) needs at least 2 rows; "
                "give covariance_prior")

    def _fit_arguments(self):
        args = ["--variational", _VARIATIONAL_PRIOR[self.weight_concentration_prior_type]]
        if self.weight_concentration_prior is not None:
            args.append(f"--weight-concentration-prior={number(self.weight_concentration_prior)}")
        if self.mean_precision_prior is not None:
            args.append(f"--mean-precision-prior={number(self.mean_precision_prior)}")
        if self.mean_prior is not None:
            args.append(f"--mean-prior={numbers(self.mean_prior)}")
        if self.degrees_of_freedom_prior is not None:
            args.append(f"--degrees-of-freedom-prior={number(self.degrees_of_freedom_prior)}")
        if self.covariance_prior is not None:
            args.append(f"--covariance-prior={numbers(self.covariance_prior)}")
        return args

    def _set_model(self, doc):
        super()._set_model(doc)
        v = doc["variational"]
        self.weight_concentration_prior_ = float(v["weight_concentration_prior"])
        self.mean_precision_prior_ = float(v["mean_precision_prior"])
        self.mean_prior_ = np.array(v["mean_prior"], dtype=float)
        self.degrees_of_freedom_prior_ = float(v["degrees_of_freedom_prior"])
        self.covariance_prior_ = np.array(v["covariance_prior"], dtype=float) if np.ndim(v["covariance_prior"]) else float(v["covariance_prior"])
        concentration = v["weight_concentration"]
        self.weight_concentration_ = (tuple(np.array(c, dtype=float) for c in concentration)
                                      if v["weight_concentration_prior_type"] == "dirichlet_process"
                                      else np.array(concentration, dtype=float))
        self.mean_precision_ = np.array(v["mean_precision"], dtype=float)
        self.degrees_of_freedom_ = np.array(v["degrees_of_freedom"], dtype=float)

    def _document(self):
        doc = super()._document()
        doc["version"], doc["kind"] = 2, "bayesian-gaussian-mixture"
        v = dict(doc.get("variational") or {})
        concentration = self.weight_concentration_
        v.update({
            "weight_concentration_prior_type": self.weight_concentration_prior_type,
            "weight_concentration_prior": float(self.weight_concentration_prior_),
            "mean_precision_prior": float(self.mean_precision_prior_),
            "mean_prior": np.asarray(self.mean_prior_, dtype=float).tolist(),
            "degrees_of_freedom_prior": float(self.degrees_of_freedom_prior_),
            "covariance_prior": np.asarray(self.covariance_prior_, dtype=float).tolist(),
            "weight_concentration": ([np.asarray(c, dtype=float).tolist() for c in concentration]
                                     if isinstance(concentration, tuple) else np.asarray(concentration, dtype=float).tolist()),
            "mean_precision": np.asarray(self.mean_precision_, dtype=float).tolist(),
            "degrees_of_freedom": (np.asarray(self.degrees_of_freedom_, dtype=float).tolist()),
        })
        doc["variational"] = v
        return doc

    def _fitted_attributes(self):
        return super()._fitted_attributes() + [
            "weight_concentration_prior_", "mean_precision_prior_", "mean_prior_", "degrees_of_freedom_prior_",
            "covariance_prior_", "weight_concentration_", "mean_precision_", "degrees_of_freedom_"]
