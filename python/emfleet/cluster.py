"""`KMeans`, fitted and applied by `emfleet kmeans`."""
import json
import warnings

import numpy as np
import sklearn.cluster
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from . import _binary
from ._base import FLEET_CONSTRAINTS, FleetMixin, number, seed_from


class KMeans(FleetMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):
    """scikit-learn's `KMeans` (Lloyd's algorithm), fitted in the emfleet binary (`emfleet kmeans fit`).

    The same parameters, defaults and attributes; `algorithm="elkan"` gives Lloyd's result (the same
    fixed point, computed without Elkan's bounds). Plus emfleet's `workers`, `bind`, `min_workers`,
    `shards`, `threads`, `memory_limit` and `report`.
    """

    _parameter_constraints = {**sklearn.cluster.KMeans._parameter_constraints, **FLEET_CONSTRAINTS}

    def __init__(self, n_clusters=8, *, init="k-means++", n_init="auto", max_iter=300, tol=1e-4, verbose=0,
                 random_state=None, copy_x=True, algorithm="lloyd", workers=None, bind=None, min_workers=None,
                 shards=None, threads=None, memory_limit=None, report=None):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.copy_x = copy_x
        self.algorithm = algorithm
        self.workers = workers
        self.bind = bind
        self.min_workers = min_workers
        self.shards = shards
        self.threads = threads
        self.memory_limit = memory_limit
        self.report = report

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Fits the centres in the binary; `sample_weight` makes each row count its weight."""
        if callable(self.init):
            raise NotImplementedError("a callable init runs Python code; give 'k-means++', 'random' or an array of centres")
        with _binary.Scratch() as scratch:
            data, rows = self._data_file(X, scratch, reset=True)
            if rows < self.n_clusters:
                raise _binary.EmfleetValueError(f"n_samples={rows} should be >= n_clusters={self.n_clusters}.")
            model_path = scratch.file("model.json")
            args = ["kmeans", "fit", "--data", data, "-k", self.n_clusters, "--max-iter", self.max_iter,
                    f"--tol={number(self.tol)}", "--seed", seed_from(self.random_state), "--out", model_path]
            if isinstance(self.init, str):
                args += ["--init", self.init]
            else:
                centres = np.asarray(self.init, dtype=np.float64)
                if centres.shape != (self.n_clusters, self.n_features_in_):
                    raise ValueError(
                        f"The shape of the initial centers {centres.shape} does not match the number of clusters "
                        f"{self.n_clusters}." if centres.shape[0] != self.n_clusters else
                        f"The shape of the initial centers {centres.shape} does not match the number of features "
                        f"of the data {self.n_features_in_}.")
                args += ["--init", scratch.write_array("init.npy", centres)]
            if self.n_init != "auto":
                args += ["--n-init", 1 if not isinstance(self.init, str) else self.n_init]
            weights = self._weights_file(sample_weight, rows, scratch)
            if weights is not None:
                args += ["--sample-weight", weights]
            args += self._fleet_arguments()
            if not self.verbose:
                args.append("--quiet")
            _binary.run(args, verbose=self.verbose)
            with open(model_path) as f:
                self._set_model(json.load(f))
            labels = scratch.file("labels.npy")
            _binary.run(["kmeans", "predict", "--model", model_path, "--data", data, "--out", labels] + self._apply_arguments())
            self.labels_ = np.load(labels).astype(np.int32, copy=False)
        distinct = len(np.unique(self.labels_))
        if distinct < self.n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({distinct}) found smaller than n_clusters ({self.n_clusters}). "
                "Possibly due to duplicate points in X.", ConvergenceWarning, stacklevel=2)
        return self

    def _set_model(self, doc):
        self._model = doc
        self.cluster_centers_ = np.array(doc["cluster_centers"], dtype=float)
        self.inertia_ = float(doc["inertia"])
        self.n_iter_ = int(doc["n_iter"])
        self._n_features_out = self.cluster_centers_.shape[0]

    def _document(self):
        check_is_fitted(self, "cluster_centers_")
        doc = dict(getattr(self, "_model", None) or {})
        centres = np.asarray(self.cluster_centers_, dtype=float)
        doc.update({"format": "emfleet.kmeans", "version": 1, "n_clusters": int(centres.shape[0]),
                    "n_features": int(centres.shape[1]), "cluster_centers": centres.tolist(),
                    "inertia": float(getattr(self, "inertia_", 0.0)), "n_iter": int(getattr(self, "n_iter_", 0))})
        doc.setdefault("converged", True)
        doc.setdefault("inertia_history", [])
        doc.setdefault("options", {"clusters": int(centres.shape[0]), "initialisation": "k-means++",
                                   "maxIterations": int(self.max_iter), "tolerance": float(self.tol), "seed": 0})
        doc.setdefault("training", {"rows": 0, "shards": 1, "kept_start": 0})
        return doc

    def _apply(self, X, flag):
        check_is_fitted(self, "cluster_centers_")
        return self._predict_rows("kmeans", X, flag)

    def predict(self, X):
        """The nearest centre of each row (`emfleet kmeans predict`)."""
        return self._apply(X, []).astype(np.int32, copy=False)

    def transform(self, X):
        """Each row's Euclidean distance to every centre (`emfleet kmeans predict --distances`)."""
        return self._apply(X, ["--distances"])

    def fit_transform(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def fit_predict(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).labels_

    def score(self, X, y=None, sample_weight=None):
        """The negative inertia of X under the centres (`emfleet kmeans score`)."""
        check_is_fitted(self, "cluster_centers_")
        with _binary.Scratch() as scratch:
            data, rows = self._data_file(X, scratch, reset=False)
            model = scratch.write_json("model.json", self._document())
            args = ["kmeans", "score", "--model", model, "--data", data, "--json"]
            weights = self._weights_file(sample_weight, rows, scratch)
            if weights is not None:
                args += ["--sample-weight", weights]
            return float(json.loads(_binary.run(args + self._apply_arguments()))["score"])

    def to_sklearn(self):
        """scikit-learn's `KMeans` with these parameters and these centres."""
        own = self.get_params(deep=False)
        estimator = sklearn.cluster.KMeans(**{k: v for k, v in own.items() if k in sklearn.cluster.KMeans().get_params()})
        for name in ("cluster_centers_", "labels_", "inertia_", "n_iter_", "n_features_in_", "feature_names_in_", "_n_features_out"):
            if hasattr(self, name):
                setattr(estimator, name, getattr(self, name))
        estimator._n_threads = 1  # set by scikit-learn's fit; its predict reads it
        return estimator

    @classmethod
    def from_sklearn(cls, estimator, **fleet):
        """An emfleet `KMeans` with `estimator`'s parameters (and centres, when fitted)."""
        mine = cls(**estimator.get_params(deep=False), **fleet)
        for name in ("cluster_centers_", "labels_", "inertia_", "n_iter_", "n_features_in_", "feature_names_in_", "_n_features_out"):
            if hasattr(estimator, name):
                setattr(mine, name, getattr(estimator, name))
        if hasattr(mine, "cluster_centers_"):
            mine._model = mine._document()
        return mine
