#!/usr/bin/env python3
"""Untuned defaults: `emfleet mlp train` without options against scikit-learn's `MLPClassifier()`.

Called by scripts/bench-defaults.sh. Data: iris, breast cancer (both shipped with scikit-learn)
and Palmer penguins (the `palmerpenguins` package, which ships its CSV: the four numeric columns,
rows with a missing value dropped), each split 75/25 by train_test_split(random_state=0,
stratified). emfleet gets the raw training rows (it standardises inputs itself) and only --seed;
scikit-learn's MLPClassifier(random_state=seed) gets them raw, as a user would pass them, and
standardised by a StandardScaler fitted on the training rows. Held-out accuracy, mean over
--seeds seeds (with the range), and the mean number of epochs.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import warnings

# One BLAS thread, as emfleet uses per shard: numpy's OpenBLAS spinning on several threads of a
# shared machine made scikit-learn 10 times slower and its timings meaningless.
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import numpy as np  # noqa: E402


def datasets():
    from sklearn.datasets import load_breast_cancer, load_iris

    yield "iris", *load_iris(return_X_y=True)
    yield "breast cancer", *load_breast_cancer(return_X_y=True)
    try:
        from palmerpenguins import load_penguins
    except ImportError:
        print("penguins: skipped (pip install palmerpenguins)")
        return
    frame = load_penguins()
    columns = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    frame = frame.dropna(subset=columns + ["species"])
    classes = sorted(frame["species"].unique())
    yield "penguins", frame[columns].to_numpy(float), frame["species"].map(classes.index).to_numpy()


def emfleet(binary, directory, x_train, y_train, x_test, y_test, seed, extra):
    paths = {}
    for name, array in [("xtr", x_train), ("ytr", y_train.astype(np.int64)), ("xte", x_test), ("yte", y_test.astype(np.int64))]:
        paths[name] = os.path.join(directory, name + ".npy")
        np.save(paths[name], array)
    model = os.path.join(directory, "m.json")
    train = subprocess.run([binary, "mlp", "train", "--data", paths["xtr"], "--labels", paths["ytr"], "--seed", str(seed),
                            "--out", model, "--quiet"] + extra, capture_output=True, text=True)
    if train.returncode != 0:
        sys.exit(f"bench: mlp train failed:\n{train.stderr}")
    evaluate = subprocess.run([binary, "mlp", "evaluate", "--model", model, "--data", paths["xte"], "--labels", paths["yte"],
                               "--json"], capture_output=True, text=True)
    if evaluate.returncode != 0:
        sys.exit(f"bench: mlp evaluate failed:\n{evaluate.stderr}")
    with open(model) as file:
        epochs = len(json.load(file)["history"])
    return json.loads(evaluate.stdout)["accuracy"], epochs


def pipeline(binary, directory, x_train, y_train, x_test, y_test, seed, extra):
    """`pipeline fit` (mixture, then a network on the features and the posteriors) and its held-out accuracy."""
    paths = {}
    for name, array in [("xtr", x_train), ("ytr", y_train.astype(np.int64)), ("xte", x_test)]:
        paths[name] = os.path.join(directory, name + ".npy")
        np.save(paths[name], array)
    model, predicted = os.path.join(directory, "p.json"), os.path.join(directory, "p.csv")
    fit = subprocess.run([binary, "pipeline", "fit", "--data", paths["xtr"], "--labels", paths["ytr"], "--seed", str(seed),
                          "--out", model, "--quiet"] + extra, capture_output=True, text=True)
    if fit.returncode != 0:
        sys.exit(f"bench: pipeline fit failed:\n{fit.stderr}")
    apply = subprocess.run([binary, "pipeline", "predict", "--model", model, "--data", paths["xte"], "--out", predicted],
                           capture_output=True, text=True)
    if apply.returncode != 0:
        sys.exit(f"bench: pipeline predict failed:\n{apply.stderr}")
    with open(predicted) as file:
        labels = [int(line.strip()) for line in file if line.strip()]
    with open(model) as file:
        epochs = len(json.load(file)["network"]["history"])
    return float(np.mean(np.array(labels) == y_test)), epochs


def sklearn(x_train, y_train, x_test, y_test, seed, scale):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    if scale:
        scaler = StandardScaler().fit(x_train)
        x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    model = MLPClassifier(random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    return model.score(x_test, y_test), model.n_iter_


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--emfleet", required=True)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--emfleet-args", default="", help="extra arguments for mlp train, space-separated")
    args = parser.parse_args()
    from sklearn.model_selection import train_test_split

    print(f"{'data':14} {'model':48} {'accuracy':>9} {'range':>15} {'epochs':>7}")
    summary = {}
    with tempfile.TemporaryDirectory(prefix="emfleet-defaults-") as directory:
        for name, x, y in datasets():
            x_train, x_test, y_train, y_test = train_test_split(x, y, train_size=0.75, random_state=0, stratify=y)
            runs = {
                "emfleet mlp train (defaults)": [emfleet(args.emfleet, directory, x_train, y_train, x_test, y_test, s,
                                                         args.emfleet_args.split()) for s in range(args.seeds)],
                "sklearn MLPClassifier() raw": [sklearn(x_train, y_train, x_test, y_test, s, False) for s in range(args.seeds)],
                "sklearn MLPClassifier() scaled": [sklearn(x_train, y_train, x_test, y_test, s, True) for s in range(args.seeds)],
            }
            if name == "penguins":
                # The issue's own case: 70% of the standardised measurements, K chosen by BIC, 2 local workers.
                x70, x30, y70, y30 = train_test_split(x, y, train_size=0.7, random_state=0, stratify=y)
                mean, std = x70.mean(axis=0), x70.std(axis=0)
                x70, x30 = (x70 - mean) / std, (x30 - mean) / std
                runs["emfleet pipeline fit, 70/30, 1...8, 2 workers"] = [
                    pipeline(args.emfleet, directory, x70, y70, x30, y30, s, ["--components", "1...8", "--workers", "2"])
                    for s in range(args.seeds)]
                runs["emfleet pipeline fit (defaults), 70/30"] = [
                    pipeline(args.emfleet, directory, x70, y70, x30, y30, s, []) for s in range(args.seeds)]
                runs["sklearn MLPClassifier(), 70/30"] = [sklearn(x70, y70, x30, y30, s, False) for s in range(args.seeds)]
            for model, results in runs.items():
                accuracies = [a for a, _ in results]
                epochs = statistics.mean(e for _, e in results)
                print(f"{name:14} {model:48} {100 * statistics.mean(accuracies):8.1f}% "
                      f"{100 * min(accuracies):6.1f}-{100 * max(accuracies):5.1f}% {epochs:7.0f}")
                summary.setdefault(name, {})[model] = {"accuracies": accuracies, "mean_epochs": epochs}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
