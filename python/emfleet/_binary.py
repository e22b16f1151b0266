"""Finding and running the emfleet binary, and moving arrays to and from its files.

Nothing here computes a model: every fit, prediction and score is a run of the binary on `.npy`
files in a private temporary directory that is removed afterwards.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

BUILD_HINT = "build it with `swift build -c release` in the emfleet checkout, or set EMFLEET_BIN to its path"


class EmfleetError(RuntimeError):
    """A run of the emfleet binary failed; the message is the binary's own error line."""


class EmfleetValueError(EmfleetError, ValueError):
    """The binary refused its input (status 1 or 64): bad data or a bad parameter, as scikit-learn's ValueError."""


def _checkout_binary():
    """`.build/release/emfleet` of the checkout this package came from (installed or run in place)."""
    candidates = []
    try:
        from ._checkout import CHECKOUT  # written by setup.py at install time

        candidates.append(CHECKOUT)
    except ImportError:
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    candidates.append(os.path.dirname(os.path.dirname(here)))  # python/emfleet -> the checkout
    for root in candidates:
        path = os.path.join(root, ".build", "release", "emfleet")
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def find_binary():
    """The emfleet binary: `EMFLEET_BIN`, then the package's own checkout, then `PATH`."""
    given = os.environ.get("EMFLEET_BIN")
    if given:
        if os.path.isfile(given) and os.access(given, os.X_OK):
            return given
        raise EmfleetError(f"EMFLEET_BIN={given} is not an executable file; {BUILD_HINT}")
    found = _checkout_binary() or shutil.which("emfleet")
    if found is None:
        raise EmfleetError(f"the emfleet binary was not found (EMFLEET_BIN unset, no .build/release/emfleet in the checkout, none on PATH); {BUILD_HINT}")
    return found


def _error_line(stderr, stdout):
    """The binary's one error line (`emfleet: error: …`), or its last line of output."""
    for line in stderr.splitlines():
        if line.startswith("emfleet: error:"):
            return line[len("emfleet: error:"):].strip()
    for line in stderr.splitlines():
        if line.startswith("Error: "):  # a command line that does not parse (status 64)
            return line[len("Error: "):].strip()
    lines = [line for line in (stderr + "\n" + stdout).splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


def run(args, verbose=0, json_events=False):
    """Runs `emfleet ARGS`; returns its standard output.

    With `verbose`, the binary's lines are copied to `sys.stdout` as they come (scikit-learn's
    `verbose` prints there). A failure raises `EmfleetValueError` for refused input (status 1
    or 64) and `EmfleetError` otherwise, with the binary's one-line message.
    """
    command = [find_binary()] + [str(a) for a in args]
    if verbose:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        captured = []
        for line in process.stdout:
            captured.append(line)
            sys.stdout.write(line)
        stderr = process.stderr.read()
        process.wait()
        status, stdout = process.returncode, "".join(captured)
    else:
        done = subprocess.run(command, capture_output=True, text=True)
        status, stdout, stderr = done.returncode, done.stdout, done.stderr
    if status != 0:
        message = _error_line(stderr, stdout)
        kind = EmfleetValueError if status in (1, 64) else EmfleetError
        raise kind(message)
    return stdout


class Scratch:
    """A private temporary directory for one call, removed afterwards (`with Scratch() as s`)."""

    def __enter__(self):
        self._dir = tempfile.TemporaryDirectory(prefix="emfleet-")
        self.path = self._dir.name
        return self

    def __exit__(self, *exc):
        self._dir.cleanup()

    def file(self, name):
        return os.path.join(self.path, name)

    def write_json(self, name, doc):
        path = self.file(name)
        with open(path, "w") as f:
            json.dump(doc, f)
        return path

    def write_array(self, name, array):
        path = self.file(name)
        np.save(path, np.ascontiguousarray(array))
        return path


def npy_path(X):
    """The `.npy` file behind `X` when it can be read in place: a path to an `.npy` file, or a
    `numpy.memmap` of a whole float32/float64 C-order 2-D `.npy` file (as `np.load(..., mmap_mode="r")`
    gives). Returns (path, shape) or None.
    """
    if isinstance(X, (str, os.PathLike)):
        path = os.fspath(X)
        if not path.lower().endswith(".npy"):
            raise EmfleetValueError(f"{path}: a data path must be an .npy file (emfleet data convert writes one from a table)")
        if not os.path.isfile(path):
            raise EmfleetValueError(f"{path}: no such file")
        header = np.load(path, mmap_mode="r")
        return os.path.abspath(path), header.shape
    if isinstance(X, np.memmap) and getattr(X, "filename", None) and str(X.filename).lower().endswith(".npy"):
        if not (X.ndim == 2 and X.flags.c_contiguous and X.dtype in (np.float32, np.float64) and _starts_at_file_data(X)):
            return None
        try:
            whole = np.load(X.filename, mmap_mode="r")
        except (OSError, ValueError):
            return None
        if whole.shape == X.shape and whole.dtype == X.dtype and whole.offset == X.offset:
            return os.path.abspath(X.filename), X.shape
    return None


def _starts_at_file_data(X):
    """Whether the memmap `X` begins where its file's data begins (not a view of later rows)."""
    import mmap

    mapped = getattr(X, "_mmap", None)
    if mapped is None:
        return False
    start = np.frombuffer(mapped, dtype=np.uint8).__array_interface__["data"][0]
    return X.__array_interface__["data"][0] == start + X.offset % mmap.ALLOCATIONGRANULARITY
