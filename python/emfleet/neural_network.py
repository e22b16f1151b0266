"""`MLPClassifier` and `MLPRegressor`, trained and applied by `emfleet mlp`."""
import json
import warnings

import numpy as np
import sklearn.neural_network
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from . import _binary
from ._base import FLEET_CONSTRAINTS, FleetMixin, number, seed_from

_ACTIVATION = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "identity": "linear"}
_SKLEARN_ACTIVATION = {v: k for k, v in _ACTIVATION.items()}


class _MLPBase(FleetMixin, BaseEstimator):
    """Trained by `emfleet mlp train`, applied by `emfleet mlp predict|evaluate`; the fitted model is
    the document the binary writes (`_model`)."""

    _sklearn_class = None

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, precision="float64", workers=None, bind=None,
                 min_workers=None, shards=None, threads=None, memory_limit=None, report=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.precision = precision
        self.workers = workers
        self.bind = bind
        self.min_workers = min_workers
        self.shards = shards
        self.threads = threads
        self.memory_limit = memory_limit
        self.report = report

    def _check_solver(self):
        # scikit-learn offers partial_fit for the stochastic solvers only.
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. {self.solver} is not stochastic.")
        return True

    def _unsupported(self):
        if self.solver == "lbfgs":
            raise NotImplementedError("solver='lbfgs': emfleet trains by minibatch gradients; use 'adam' or 'sgd'")
        if self.solver == "sgd" and self.learning_rate != "constant":
            raise NotImplementedError(f"learning_rate={self.learning_rate!r}: emfleet's sgd has a constant rate (or its own schedules)")
        if not self.shuffle:
            raise NotImplementedError("shuffle=False: emfleet always visits the rows in a seeded order")

    def _training_arguments(self, data, labels, loss, rows, model_path, state_path):
        """The `emfleet mlp train` options every training shares: the network, the optimizer, the
        batches, the seed, the files (the optimizer's state goes to `state_path` at the end)."""
        hidden = [int(h) for h in np.atleast_1d(self.hidden_layer_sizes)]
        if any(h < 1 for h in hidden):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden}.")
        batch = min(200, rows) if self.batch_size == "auto" else max(1, min(int(self.batch_size), rows))
        args = ["mlp", "train", "--data", data, "--labels", labels, "--loss", loss,
                "--hidden", ",".join(map(str, hidden)), "--activation", _ACTIVATION[self.activation],
                "--optimizer", self.solver, f"--lr={number(self.learning_rate_init)}",
                f"--weight-decay={number(self.alpha)}", "--batch-size", batch, "--seed", seed_from(self.random_state),
                "--precision", self.precision, "--out", model_path, "--optimizer-state", state_path]
        if self.solver == "sgd":
            args.append(f"--momentum={number(self.momentum)}")
            if self.nesterovs_momentum:
                args.append("--nesterov")
        else:
            args += [f"--beta1={number(self.beta_1)}", f"--beta2={number(self.beta_2)}", f"--epsilon={number(self.epsilon)}"]
        return args

    @staticmethod
    def _read_state(path):
        # The optimizer's state as bytes kept in the estimator (a pickle holds it, not a path).
        with open(path, "rb") as f:
            return f.read()

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Trains the network in the binary; `sample_weight` scales each row's loss and gradient."""
        self._unsupported()
        with _binary.Scratch() as scratch:
            data, rows = self._data_file(X, scratch, reset=True, ensure_min_samples=2 if self.early_stopping else 1)
            labels, loss = self._labels_file(y, rows, scratch)
            model_path, state_path = scratch.file("model.json"), scratch.file("optimizer.state")
            # A fit starts its optimizer afresh (warm_start too, as scikit-learn's); its final state
            # is kept for partial_fit to go on with.
            args = self._training_arguments(data, labels, loss, rows, model_path, state_path)
            args += ["--epochs", self.max_iter, "--patience", self.n_iter_no_change, f"--tol={number(self.tol)}"]
            if self.early_stopping:
                args.append(f"--validation-split={number(self.validation_fraction)}")
            weights = self._weights_file(sample_weight, rows, scratch)
            if weights is not None:
                args += ["--sample-weight", weights]
            # warm_start: train on from the fitted weights (and their input standardisation); the
            # optimizer starts afresh, as scikit-learn's does on a warm-started fit.
            earlier = self._model if self.warm_start and hasattr(self, "_model") else None
            if earlier is not None:
                args += ["--init-model", scratch.write_json("start.json", earlier)]
            args += self._fleet_arguments()
            if not self.verbose:
                args.append("--quiet")
            _binary.run(args, verbose=self.verbose)
            with open(model_path) as f:
                self._set_model(json.load(f), rows)
            self._optimizer_state = self._read_state(state_path)
            if earlier is not None:
                # scikit-learn counts a warm-started fit's epochs on from the earlier ones.
                previous = [float(h["loss"]) for h in earlier.get("history") or []]
                self.loss_curve_ = previous + self.loss_curve_
                self.n_iter_ = len(self.loss_curve_)
                self.t_ = self.n_iter_ * rows
        if self.n_iter_ == self.max_iter and self._model.get("best_epoch", self.n_iter_) == self.n_iter_:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization hasn't converged yet.",
                ConvergenceWarning)
        return self

    def _partial_fit(self, X, y, sample_weight, labels_file):
        """One epoch over (X, y) in the binary, on from the current weights, the optimizer's state and
        the epoch count (`mlp train --init-model … --optimizer-state …`); the input standardisation
        stays that of the first call."""
        self._unsupported()
        if self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        earlier = getattr(self, "_model", None)
        with _binary.Scratch() as scratch:
            data, rows = self._data_file(X, scratch, reset=earlier is None)
            labels, loss, extra = labels_file(y, rows, scratch)
            model_path, state_path = scratch.file("model.json"), scratch.file("optimizer.state")
            args = self._training_arguments(data, labels, loss, rows, model_path, state_path) + ["--epochs", 1] + extra
            if earlier is not None:
                args += ["--init-model", scratch.write_json("start.json", earlier)]
                state = getattr(self, "_optimizer_state", None)
                if state is not None:
                    with open(state_path, "wb") as f:
                        f.write(state)
            weights = self._weights_file(sample_weight, rows, scratch)
            if weights is not None:
                args += ["--sample-weight", weights]
            args += self._fleet_arguments()
            if not self.verbose:
                args.append("--quiet")
            _binary.run(args, verbose=self.verbose)
            curve = list(self.loss_curve_) if earlier is not None else []
            seen = self.t_ if earlier is not None else 0
            with open(model_path) as f:
                self._set_model(json.load(f), rows)
            self._optimizer_state = self._read_state(state_path)
        # scikit-learn counts on: one more epoch, these rows more samples.
        self.loss_curve_ = curve + self.loss_curve_
        self.n_iter_ = len(self.loss_curve_)
        self.t_ = seen + rows
        self.best_loss_ = min(self.loss_curve_)
        return self

    def _set_model(self, doc, rows):
        self._model = doc
        history = doc.get("history") or []
        self.loss_curve_ = [float(h["loss"]) for h in history]
        self.n_iter_ = len(history)
        self.t_ = self.n_iter_ * rows
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else np.nan
        if self.early_stopping:
            self.best_loss_ = None
            self.validation_scores_ = [float(h.get("validation_accuracy", h.get("validation_r2", np.nan))) for h in history]
            self.best_validation_score_ = max(self.validation_scores_) if self.validation_scores_ else np.nan
        else:
            self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else np.nan
        layers = doc["layers"]
        coefs = [np.array(layer["weights"], dtype=float) for layer in layers]
        intercepts = [np.array(layer["biases"], dtype=float) for layer in layers]
        # The network sees (x − mean)·scale: fold that into the first layer, so that coefs_ and
        # intercepts_ act on raw rows as scikit-learn's do.
        mean = np.array(doc["standardisation"]["mean"], dtype=float)
        scale = np.array(doc["standardisation"]["scale"], dtype=float)
        intercepts[0] = intercepts[0] - (mean * scale) @ coefs[0]
        coefs[0] = coefs[0] * scale[:, None]
        self.coefs_, self.intercepts_ = coefs, intercepts
        self.n_layers_ = len(layers) + 1
        self.n_outputs_ = int(doc["architecture"]["outputs"])
        loss = doc["architecture"]["loss"]
        self.out_activation_ = {"cross-entropy": "softmax", "binary-cross-entropy": "logistic", "mse": "identity"}[loss]

    def _document(self):
        check_is_fitted(self, "_model")
        return self._model

    def _outputs(self, X, flag):
        check_is_fitted(self, "_model")
        with _binary.Scratch() as scratch:
            data, _ = self._data_file(X, scratch, reset=False)
            model = scratch.write_json("model.json", self._document())
            out = scratch.file("out.csv" if not flag and self._model["task"] != "regression" else "out.npy")
            _binary.run(["mlp", "predict", "--model", model, "--data", data, "--out", out] + flag + self._apply_arguments())
            if out.endswith(".csv"):
                with open(out) as f:
                    next(f)
                    return np.array([line.rstrip("\n") for line in f])
            return np.load(out)

    def _evaluate(self, X, y, sample_weight, scratch_labels):
        check_is_fitted(self, "_model")
        with _binary.Scratch() as scratch:
            data, rows = self._data_file(X, scratch, reset=False)
            labels = scratch_labels(y, rows, scratch)
            model = scratch.write_json("model.json", self._document())
            args = ["mlp", "evaluate", "--model", model, "--data", data, "--labels", labels, "--json"]
            weights = self._weights_file(sample_weight, rows, scratch)
            if weights is not None:
                args += ["--sample-weight", weights]
            return json.loads(_binary.run(args + self._apply_arguments()))

    def to_sklearn(self):
        """The scikit-learn estimator of the same name with these parameters and these weights
        (the input standardisation folded into the first layer)."""
        own = self.get_params(deep=False)
        estimator = self._sklearn_class(**{k: v for k, v in own.items() if k in self._sklearn_class().get_params()})
        for name in ("coefs_", "intercepts_", "n_layers_", "n_outputs_", "out_activation_", "loss_", "best_loss_",
                     "loss_curve_", "n_iter_", "t_", "n_features_in_", "feature_names_in_", "classes_",
                     "validation_scores_", "best_validation_score_"):
            if hasattr(self, name):
                setattr(estimator, name, getattr(self, name))
        if hasattr(self, "classes_"):
            from sklearn.preprocessing import LabelBinarizer

            estimator._label_binarizer = LabelBinarizer().fit(self.classes_)
        return estimator

    @classmethod
    def from_sklearn(cls, estimator, **fleet):
        """An emfleet estimator with `estimator`'s parameters and weights (when fitted)."""
        mine = cls(**estimator.get_params(deep=False), **fleet)
        if not hasattr(estimator, "coefs_"):
            return mine
        activation = _ACTIVATION[estimator.activation]
        loss = {"softmax": "cross-entropy", "logistic": "binary-cross-entropy", "identity": "mse"}[estimator.out_activation_]
        inputs = estimator.coefs_[0].shape[0]
        doc = {
            "format": "emfleet.mlp", "version": 1,
            "task": "regression" if loss == "mse" else "classification",
            "architecture": {"inputs": inputs, "hidden": [c.shape[1] for c in estimator.coefs_[:-1]],
                             "outputs": estimator.coefs_[-1].shape[1], "activation": activation, "loss": loss},
            "layers": [{"weights": c.tolist(), "biases": b.tolist()} for c, b in zip(estimator.coefs_, estimator.intercepts_)],
            "standardisation": {"mean": [0.0] * inputs, "scale": [1.0] * inputs},
            "classes": [str(i) for i in range(len(estimator.classes_))] if hasattr(estimator, "classes_") else None,
            "history": [{"epoch": i + 1, "loss": float(v), "accuracy": 0.0} for i, v in enumerate(getattr(estimator, "loss_curve_", []))],
            "best_epoch": int(getattr(estimator, "n_iter_", 0)),
            "options": {"hidden": [c.shape[1] for c in estimator.coefs_[:-1]], "activation": activation, "loss": loss,
                        "optimizer": {"kind": "adam", "momentum": 0.9, "nesterov": False,
                                                                  "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
                        "learning_rate": 0.001, "schedule": {"type": "constant"}, "batch_size": 200, "epochs": 1, "seed": 0,
                        "weight_decay": 0.0, "validation_fraction": 0.0, "patience": 0, "tolerance": 0.0,
                        "precision": "float64"},
            "training": {"rows": int(getattr(estimator, "t_", 0) // max(1, getattr(estimator, "n_iter_", 1))), "shards": 1},
        }
        if hasattr(estimator, "classes_"):
            mine.classes_ = estimator.classes_.copy()
        mine.n_features_in_ = inputs
        if hasattr(estimator, "feature_names_in_"):
            mine.feature_names_in_ = estimator.feature_names_in_
        mine._set_model(doc, doc["training"]["rows"])
        for name in ("loss_curve_", "loss_", "best_loss_", "n_iter_", "t_"):
            if hasattr(estimator, name):
                setattr(mine, name, getattr(estimator, name))
        return mine


class MLPClassifier(ClassifierMixin, _MLPBase):
    """scikit-learn's `MLPClassifier`, trained in the emfleet binary (adam or sgd; the input columns
    standardised inside the network, as emfleet does; `alpha` is emfleet's `--weight-decay`).

    Plus `precision` ("float64", as scikit-learn computes, or "float32", emfleet's default) and the
    fleet parameters `workers`, `bind`, `min_workers`, `shards`, `threads`, `memory_limit`, `report`.
    """

    _sklearn_class = sklearn.neural_network.MLPClassifier
    _parameter_constraints = {**sklearn.neural_network.MLPClassifier._parameter_constraints, **FLEET_CONSTRAINTS,
                              "precision": [StrOptions({"float32", "float64"})]}

    @staticmethod
    def _checked_labels(y, rows):
        if y is None:
            raise ValueError("MLPClassifier requires y to be passed, but the target y is None.")
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if len(y) != rows:
            raise ValueError(f"Found input variables with inconsistent numbers of samples: [{rows}, {len(y)}]")
        return y

    def _labels_file(self, y, rows, scratch):
        y = self._checked_labels(y, rows)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"The labels hold one class ({self.classes_[0]!r}); a classifier needs two or more")
        np.save(scratch.file("labels.npy"), codes.astype(np.int64))
        return scratch.file("labels.npy"), "binary-cross-entropy" if len(self.classes_) == 2 else "cross-entropy"

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y), going on from the current weights and optimizer state (scikit-learn's
        `partial_fit`); `classes` (every class of all the calls) is needed on the first call."""
        _check_partial_fit_first_call(self, classes)

        def labels(y, rows, scratch):
            y = self._checked_labels(y, rows)
            found = np.unique(y)
            unknown = np.setdiff1d(found, self.classes_)
            if len(unknown):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. 'y' has {found}.")
            if len(self.classes_) < 2:
                raise ValueError(f"classes holds one class ({self.classes_[0]!r}); a classifier needs two or more")
            np.save(scratch.file("labels.npy"), np.searchsorted(self.classes_, y).astype(np.int64))
            # Every class has its output, whether this batch holds it or not.
            names = ",".join(str(i) for i in range(len(self.classes_)))
            return (scratch.file("labels.npy"), "binary-cross-entropy" if len(self.classes_) == 2 else "cross-entropy",
                    ["--classes", names])

        return self._partial_fit(X, y, sample_weight, labels)

    def _class_order(self):
        # The model's classes are the codes 0…C−1 as text, in the binary's order.
        return np.array([int(c) for c in self._model["classes"]])

    def predict(self, X):
        """Each row's class (`emfleet mlp predict`)."""
        codes = self._outputs(X, []).astype(np.int64)
        return self.classes_[codes]

    def predict_proba(self, X):
        """Each row's probability of every class (`emfleet mlp predict --proba`), in `classes_` order."""
        written = np.atleast_2d(self._outputs(X, ["--proba"]))
        proba = np.empty_like(written)
        proba[:, self._class_order()] = written
        return proba

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def score(self, X, y, sample_weight=None):
        """Accuracy on (X, y), weighted with `sample_weight` (`emfleet mlp evaluate`)."""
        check_is_fitted(self, "_model")

        def labels(y, rows, scratch):
            y = column_or_1d(y)
            if len(y) != rows:
                raise ValueError(f"Found input variables with inconsistent numbers of samples: [{rows}, {len(y)}]")
            known = np.isin(y, self.classes_)
            if not known.all():
                raise ValueError(f"y contains previously unseen labels: {np.unique(np.asarray(y)[~known]).tolist()}")
            np.save(scratch.file("labels.npy"), np.searchsorted(self.classes_, y).astype(np.int64))
            return scratch.file("labels.npy")

        return float(self._evaluate(X, y, sample_weight, labels)["accuracy"])


class MLPRegressor(RegressorMixin, _MLPBase):
    """scikit-learn's `MLPRegressor` (one target), trained in the emfleet binary with the mean squared
    error; parameters as `MLPClassifier`."""

    _sklearn_class = sklearn.neural_network.MLPRegressor
    _parameter_constraints = {**sklearn.neural_network.MLPRegressor._parameter_constraints, **FLEET_CONSTRAINTS,
                              "precision": [StrOptions({"float32", "float64"})]}

    @staticmethod
    def _target_file(y, rows, scratch):
        if y is None:
            raise ValueError("MLPRegressor requires y to be passed, but the target y is None.")
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if y.ndim != 1:
            raise NotImplementedError(f"y of shape {y.shape}: emfleet's regression network has one output; fit one model per target")
        y = y.astype(np.float64)
        if len(y) != rows:
            raise ValueError(f"Found input variables with inconsistent numbers of samples: [{rows}, {len(y)}]")
        if not np.isfinite(y).all():
            raise ValueError("Input y contains NaN or infinity.")
        path = scratch.file("targets.txt")
        with open(path, "w") as f:
            f.write("\n".join(repr(float(v)) for v in y) + "\n")
        return path

    def _labels_file(self, y, rows, scratch):
        return self._target_file(y, rows, scratch), "mse"

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), going on from the current weights and optimizer state (scikit-learn's
        `partial_fit`)."""
        return self._partial_fit(X, y, sample_weight, lambda y, rows, scratch: (self._target_file(y, rows, scratch), "mse", []))

    def predict(self, X):
        """Each row's prediction (`emfleet mlp predict`)."""
        return self._outputs(X, []).reshape(-1)

    def score(self, X, y, sample_weight=None):
        """R² on (X, y), weighted with `sample_weight` (`emfleet mlp evaluate`)."""
        return float(self._evaluate(X, y, sample_weight, self._target_file)["r2"])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = False
        tags.target_tags.single_output = True
        return tags
