"""What every emfleet estimator shares: the fleet parameters, data to files, seeds."""
import os
from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _check_sample_weight, validate_data

from . import _binary
from ._binary import EmfleetValueError, npy_path

FLEET_PARAMETERS = ("workers", "bind", "min_workers", "shards", "threads", "memory_limit", "report")

FLEET_CONSTRAINTS = {
    "workers": [Interval(Integral, 1, None, closed="left"), None],
    "bind": [str, None],
    "min_workers": [Interval(Integral, 1, None, closed="left"), None],
    "shards": [Interval(Integral, 1, None, closed="left"), None],
    "threads": [Interval(Integral, 1, None, closed="left"), None],
    "memory_limit": [str, Interval(Integral, 1, None, closed="left"), None],
    "report": [str, os.PathLike, None],
}


class FleetMixin:
    """The emfleet parameters (`workers`, `bind`, `min_workers`, `shards`, `threads`,
    `memory_limit`, `report`) as command-line options of a job command."""

    def _fleet_arguments(self, job=True):
        args = []
        if self.workers is not None:
            args += ["--workers", self.workers]
        if self.bind is not None:
            args += ["--bind", self.bind]
        if self.min_workers is not None:
            args += ["--min-workers", self.min_workers]
        if self.threads is not None:
            # Threads per local worker with workers=; in this process without; remote workers choose their own.
            if self.workers is not None:
                args += ["--worker-threads", self.threads]
            elif self.bind is None:
                args += ["--threads", self.threads]
        if job:
            if self.shards is not None:
                args += ["--shards", self.shards]
            if self.memory_limit is not None:
                args += ["--memory-limit", self.memory_limit]
            if self.report is not None:
                args += ["--report", os.fspath(self.report)]
        return args

    def _apply_arguments(self):
        """Options for predict and score: `workers` local processes, or `threads` in one process. Remote
        workers (`bind`) serve fits; predictions run here."""
        if self.workers is not None:
            args = ["--workers", self.workers]
            return args + (["--worker-threads", self.threads] if self.threads is not None else [])
        return ["--threads", self.threads] if self.threads is not None else []

    def _predict_rows(self, command, X, flag):
        """Runs `emfleet <command> predict` with the fitted model on X and returns its `.npy` output."""
        with _binary.Scratch() as scratch:
            data, _ = self._data_file(X, scratch, reset=False)
            model = scratch.write_json("model.json", self._document())
            out = scratch.file("out.npy")
            _binary.run([command, "predict", "--model", model, "--data", data, "--out", out] + flag + self._apply_arguments())
            return np.load(out)

    def _data_file(self, X, scratch, reset, name="X.npy", ensure_min_samples=1):
        """The path of an .npy file holding X (X's own file when it is one, else a copy in `scratch`),
        and its row count. Validates X as scikit-learn does (`n_features_in_`, finite values)."""
        given = npy_path(X)
        if given is not None:
            path, shape = given
            if len(shape) != 2:
                raise EmfleetValueError(f"{path}: expected a 2-D array of rows, got shape {shape}")
            if reset:
                self._input_dtype = np.load(path, mmap_mode="r").dtype
                self.n_features_in_ = shape[1]
                if hasattr(self, "feature_names_in_"):
                    del self.feature_names_in_
            elif shape[1] != self.n_features_in_:
                raise EmfleetValueError(
                    f"X has {shape[1]} features, but {type(self).__name__} is expecting {self.n_features_in_} features as input.")
            if shape[0] < ensure_min_samples:
                raise EmfleetValueError(f"Found array with {shape[0]} sample(s) while a minimum of {ensure_min_samples} is required.")
            return path, shape[0]
        X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32], order="C",
                          ensure_min_samples=ensure_min_samples)
        if reset:
            self._input_dtype = X.dtype
        return scratch.write_array(name, X), X.shape[0]

    @staticmethod
    def _weights_file(sample_weight, rows, scratch, X_for_check=None):
        """sample_weight as a 1-D float64 .npy in `scratch` (None stays None)."""
        if sample_weight is None:
            return None
        weights = _check_sample_weight(sample_weight, np.empty((rows, 0)), dtype=np.float64)
        return scratch.write_array("weights.npy", weights)


def output_dtype(X):
    """float32 for float32 data (scikit-learn keeps it in its outputs), else float64."""
    if isinstance(X, (str, os.PathLike)):
        dtype = np.load(os.fspath(X), mmap_mode="r").dtype
    else:
        dtype = getattr(X, "dtype", np.float64)
    return np.float32 if dtype == np.float32 else np.float64


def seed_from(random_state):
    """The binary's `--seed` for scikit-learn's `random_state`: an int is the seed itself; None or a
    RandomState draws one (so that None gives a different fit each time, as in scikit-learn)."""
    if isinstance(random_state, Integral) and not isinstance(random_state, bool) and random_state >= 0:
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def number(x):
    """A float as text that reads back to the same double."""
    return repr(float(x))


def numbers(values):
    return ",".join(repr(float(v)) for v in np.ravel(values))
