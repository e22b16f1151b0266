#!/usr/bin/env python3
"""What an epoch of `emfleet mlp train` costs beyond its computing, against scikit-learn.

Called by scripts/bench-epoch-overhead.sh. Data: scikit-learn's breast-cancer set (569 × 30),
split 75/25 with a fixed seed (train_test_split, random_state=0, stratified) and standardised
with the training rows' mean and deviation, written as .npy. emfleet trains a 30-128-64-2 ReLU
network with Adam, batch 256, for exactly 200 epochs (--epochs 200, so no early stop) in one
process; scikit-learn trains MLPClassifier((128, 64), batch_size=256, max_iter=200) on the same
rows in the same run (it may stop before 200 epochs by its own rule; its per-epoch time is
given too), with one BLAS thread. Each is repeated (--repeats) and the medians reported: the process's wall time, the
sum of the seconds on emfleet's epoch lines (which include writing checkpoints), the time per
epoch, and the held-out accuracy.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

# One BLAS thread, as emfleet uses per shard: numpy's OpenBLAS spinning on several threads of a
# shared machine made scikit-learn 10 times slower and its timings meaningless.
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import numpy as np  # noqa: E402


def breast_cancer(directory):
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, train_size=0.75, random_state=0, stratify=y)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    paths = {}
    for name, array in [("x_train", x_train), ("x_test", x_test), ("y_train", y_train.astype(np.int64)),
                        ("y_test", y_test.astype(np.int64))]:
        paths[name] = os.path.join(directory, name + ".npy")
        np.save(paths[name], array)
    return paths, (x_train, x_test, y_train, y_test)


def emfleet_run(emfleet, paths, directory, extra):
    out = os.path.join(directory, "model.json")
    command = [emfleet, "mlp", "train", "--data", paths["x_train"], "--labels", paths["y_train"], "--hidden", "128,64",
               "--batch-size", "256", "--epochs", "200", "--seed", "0", "--out", out, "--log-format", "json"] + extra
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if completed.returncode != 0:
        sys.exit(f"bench: {' '.join(command)} failed:\n{completed.stderr}")
    events = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    epochs = [e for e in events if e.get("event") == "epoch"]
    evaluate = subprocess.run([emfleet, "mlp", "evaluate", "--model", out, "--data", paths["x_test"],
                               "--labels", paths["y_test"], "--json"], capture_output=True, text=True)
    if evaluate.returncode != 0:
        sys.exit(f"bench: evaluate failed:\n{evaluate.stderr}")
    accuracy = json.loads(evaluate.stdout)["accuracy"]
    return {"wall": wall, "epoch_sum": sum(e["seconds"] for e in epochs), "epochs": len(epochs), "accuracy": accuracy}


def sklearn_run(data):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x_train, x_test, y_train, y_test = data
    model = MLPClassifier((128, 64), batch_size=256, max_iter=200, random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    wall = time.perf_counter() - start
    return {"wall": wall, "epoch_sum": wall, "epochs": model.n_iter_, "accuracy": model.score(x_test, y_test)}


def median(runs, key):
    return statistics.median(run[key] for run in runs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--emfleet", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--emfleet-args", default="", help="extra arguments for mlp train, space-separated")
    parser.add_argument("--label", default="emfleet")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="emfleet-bench-") as directory:
        paths, data = breast_cancer(directory)
        print(f"breast cancer: {len(data[2])} training rows, {len(data[3])} held out, 30 features (standardised)")
        extra = args.emfleet_args.split()
        runs = {args.label: [], "scikit-learn": []}
        for _ in range(args.repeats):
            runs[args.label].append(emfleet_run(args.emfleet, paths, directory, extra))
            runs["scikit-learn"].append(sklearn_run(data))
        print(f"{'':28} {'wall s':>8} {'epoch-line s':>13} {'epochs':>7} {'ms/epoch':>9} {'accuracy':>9}")
        for name, results in runs.items():
            wall, epochs = median(results, "wall"), median(results, "epochs")
            epoch_sum = median(results, "epoch_sum")
            print(f"{name:28} {wall:8.2f} {epoch_sum:13.2f} {epochs:7.0f} {1000 * wall / epochs:9.2f} "
                  f"{median(results, 'accuracy'):9.4f}")
        print(json.dumps({name: results for name, results in runs.items()}))


if __name__ == "__main__":
    main()
