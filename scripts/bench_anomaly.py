"""Anomaly detection on the four ODDS data sets under the DAGMM paper's protocol.

For each data set and seed: train on a random half of the normal rows; test on the other half
plus every anomaly; flag as many test rows as there are anomalies (the score's quantile at one
minus the anomaly fraction); F1 of the flags. Methods, in the same run:

- emfleet's DAGMM (`emfleet dagmm fit` then `dagmm evaluate --json`);
- emfleet's own Gaussian mixture energies (`gmm fit`, then −`gmm predict --log-likelihood`);
- scikit-learn's GaussianMixture(4, reg_covar=1e-3) energies (−score_samples), full covariances
  (diagonal for arrhythmia, whose 274 columns outnumber its training rows);
- scikit-learn's IsolationForest (−score_samples).

Prints a Markdown table of mean ± standard deviation of F1 over the seeds, and writes every run
to --json.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score
from sklearn.mixture import GaussianMixture

# DAGMM per data set: the paper's networks for arrhythmia (274-10-2, estimator 10, K = 2, batch
# 128, 10,000 epochs); elsewhere emfleet's defaults (encoder 60,30,10,1, estimator 10, min-max
# scaling, batch min(1024, rows), about 10,000 steps) with K = 4, as the mixture baselines.
DAGMM = {
    "arrhythmia": ["--encoder", "10,2", "--estimator", "10", "--components", "2", "--batch-size", "128", "--epochs", "10000"],
    "cardio": ["--components", "4"],
    "satellite": ["--components", "4"],
    "shuttle": ["--components", "4"],
}


def split(x, y, seed):
    rng = np.random.default_rng(seed)
    normal = np.flatnonzero(y == 0)
    rng.shuffle(normal)
    half = len(normal) // 2
    train = np.sort(normal[:half])
    test = np.sort(np.concatenate([normal[half:], np.flatnonzero(y == 1)]))
    return x[train], x[test], y[test]


def f1_at_fraction(scores, labels):
    threshold = np.percentile(scores, 100 * (1 - labels.mean()))
    flagged = scores > threshold
    hits = np.sum(flagged & (labels == 1))
    precision = hits / max(1, flagged.sum())
    recall = hits / labels.sum()
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def run(command):
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    return done.stdout


def speed(args):
    """Seconds per epoch of `dagmm fit` on shuttle's training half (seed 0): one process on both
    cores, one process on one core, and 2 local workers of one thread each; median over the
    epochs after the first."""
    x = np.load(os.path.join(args.data_dir, "shuttle.npy"))
    y = np.load(os.path.join(args.data_dir, "shuttle-labels.npy"))
    train, _, _ = split(x, y, 0)
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "train.npy")
        np.save(path, train)
        print(f"shuttle training half: {train.shape[0]} rows x {train.shape[1]}; {args.speed_epochs} epochs of batch 1024, "
              "encoder 60,30,10,1, estimator 10, K = 4")
        print()
        print("| run | s/epoch (median) | rows/s | model bytes equal to 1 process |")
        print("|---|---|---|---|")
        reference = None
        for label, extra in [("1 process, 2 threads", ["--threads", "2"]), ("1 process, 1 thread", ["--threads", "1"]),
                             ("2 local workers, 1 thread each", ["--workers", "2", "--worker-threads", "1"])]:
            out = os.path.join(work, "model.json")
            log = run([args.emfleet, "dagmm", "fit", "--data", path, "--components", "4", "--epochs", str(args.speed_epochs),
                       "--out", out, "--log-format", "json"] + extra)
            seconds = [json.loads(line)["seconds"] for line in log.splitlines()
                       if line.startswith("{") and json.loads(line).get("event") == "epoch"]
            per_epoch = statistics.median(seconds[1:] or seconds)
            model = open(out, "rb").read()
            reference = reference or model
            print(f"| {label} | {per_epoch:.3f} | {train.shape[0] / per_epoch:,.0f} | {'yes' if model == reference else 'NO'} |", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--emfleet", required=True)
    parser.add_argument("--data-dir", default="../shared/data/anomaly")
    parser.add_argument("--datasets", default="arrhythmia,cardio,satellite,shuttle")
    parser.add_argument("--methods", default="dagmm,emfleet-gmm,sklearn-gmm,iforest")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--dagmm-args", default="", help="extra arguments for every `dagmm fit`")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default="bench-anomaly.json")
    parser.add_argument("--speed", action="store_true", help="measure seconds per epoch on shuttle instead")
    parser.add_argument("--speed-epochs", type=int, default=15)
    args = parser.parse_args()
    if args.speed:
        return speed(args)
    methods = args.methods.split(",")
    results = {}
    with tempfile.TemporaryDirectory() as work:
        for name in args.datasets.split(","):
            x = np.load(os.path.join(args.data_dir, f"{name}.npy"))
            y = np.load(os.path.join(args.data_dir, f"{name}-labels.npy"))
            covariance = "diag" if name == "arrhythmia" else "full"
            for seed in range(args.seeds):
                train, test, labels = split(x, y, seed)
                paths = {k: os.path.join(work, f"{name}-{seed}-{k}.npy") for k in ("train", "test", "labels")}
                np.save(paths["train"], train)
                np.save(paths["test"], test)
                np.save(paths["labels"], labels.astype(np.int64))
                threads = ["--threads", str(args.threads)] if args.threads else []
                for method in methods:
                    clock = time.perf_counter()
                    ap = None
                    if method == "dagmm":
                        model = os.path.join(work, "dagmm.json")
                        run([args.emfleet, "dagmm", "fit", "--data", paths["train"], "--out", model, "--seed", str(seed), "--quiet"]
                            + DAGMM[name] + args.dagmm_args.split() + threads)
                        out = json.loads(run([args.emfleet, "dagmm", "evaluate", "--model", model, "--data", paths["test"],
                                              "--labels", paths["labels"], "--json"] + threads))
                        f1, ap = out["f1"], out["average_precision"]
                    elif method == "emfleet-gmm":
                        model = os.path.join(work, "gmm.json")
                        density = os.path.join(work, "density.npy")
                        run([args.emfleet, "gmm", "fit", "--data", paths["train"], "--components", "4", "--covariance", covariance,
                             "--reg-covar", "1e-3", "--seed", str(seed), "--out", model, "--quiet"] + threads)
                        run([args.emfleet, "gmm", "predict", "--model", model, "--data", paths["test"], "--log-likelihood",
                             "--out", density] + threads)
                        scores = -np.load(density).reshape(-1)
                        f1 = f1_at_fraction(scores, labels)
                    elif method == "sklearn-gmm":
                        gmm = GaussianMixture(4, covariance_type=covariance, reg_covar=1e-3, random_state=seed).fit(train)
                        scores = -gmm.score_samples(test)
                        f1 = f1_at_fraction(scores, labels)
                    elif method == "iforest":
                        forest = IsolationForest(random_state=seed).fit(train)
                        scores = -forest.score_samples(test)
                        f1 = f1_at_fraction(scores, labels)
                    else:
                        sys.exit(f"unknown method {method}")
                    if ap is None:
                        ap = average_precision_score(labels, scores)
                    seconds = time.perf_counter() - clock
                    results.setdefault(name, {}).setdefault(method, []).append({"seed": seed, "f1": f1, "average_precision": ap,
                                                                                "seconds": seconds})
                    print(f"{name:10s} seed {seed:2d} {method:12s} F1 {f1:.4f}  AP {ap:.4f}  {seconds:7.2f} s", flush=True)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    print()
    print(f"F1 at the anomaly fraction, mean ± std over {args.seeds} seeds (average precision in brackets)")
    print()
    print("| data set | " + " | ".join(methods) + " |")
    print("|---|" + "---|" * len(methods))
    for name, by_method in results.items():
        cells = []
        for method in methods:
            runs = by_method[method]
            f1s = [r["f1"] for r in runs]
            aps = [r["average_precision"] for r in runs]
            std = statistics.stdev(f1s) if len(f1s) > 1 else 0.0
            cells.append(f"{statistics.mean(f1s):.3f} ± {std:.3f} ({statistics.mean(aps):.3f})")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
