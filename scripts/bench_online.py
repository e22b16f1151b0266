#!/usr/bin/env python3
"""Stepwise (online) EM against batch EM from the same k-means++ start, in one run.

Called by scripts/bench-online.sh. Generated data (default 10,000,000 × 16, K = 16, full);
batch EM to convergence (tol 1e-3 on the mean log-likelihood, as scikit-learn's default) with
seconds per iteration from its JSON log; then `gmm fit --online` for one pass at each α, with
its wall time and the mean log-likelihood of all rows under the result.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_large import watch_peaks  # noqa: E402

PEAKS = []  # the worker processes' peak resident memory of every fit, MiB


def fit(emfleet, data, k, extra):
    with tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, "m.json")
        start = time.perf_counter()
        process = subprocess.Popen([emfleet, "gmm", "fit", "--data", data, "-c", str(k), "--out", out, "--log-format", "json"] + extra,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peaks, stop_watching = watch_peaks(process)
        stdout, stderr = process.communicate()
        stop_watching()
        seconds = time.perf_counter() - start
        if process.returncode != 0:
            sys.exit(f"bench: gmm fit {' '.join(extra)} failed:\n{stderr}")
        PEAKS.extend(peaks.values())
        events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        model = json.load(open(out))
        return events, model, seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--emfleet", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--components", type=int, default=16)
    parser.add_argument("--decays", default="0.6,0.8,1.0")
    parser.add_argument("--extra", default="", help="more gmm fit options for every run, e.g. '--workers 2'")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds of every fit (medians are shown)")
    args = parser.parse_args()
    os.makedirs(args.data_dir, exist_ok=True)
    n, d, k = args.rows, args.features, args.components
    data = os.path.join(args.data_dir, f"online-{n}x{d}-k{k}-s4.npy")
    if not os.path.exists(data):
        subprocess.run([args.emfleet, "data", "generate", "--samples", str(n), "--features", str(d), "--components", str(k),
                        "--seed", "4", "--out", data], check=True, stdout=subprocess.DEVNULL)
    # The same shards for every fit (the online default: one per 256 rows of a minibatch), so all start from the same bits.
    extra = ["--shards", str(max(1, 10_000 // 256))] + args.extra.split()
    decays = args.decays.split(",")
    # Batch and stepwise fits alternate, so that a change in the machine's speed (a shared
    # virtual machine's neighbours) falls on both; medians over the repeats.
    batch_runs, online_runs = [], {decay: [] for decay in decays}
    for _ in range(args.repeats):
        events, model, batch_seconds = fit(args.emfleet, data, k, ["--tol", "1e-3", "--max-iter", "300"] + extra)
        iterations = [e for e in events if e.get("event") == "iteration"]
        per_iteration = statistics.median(e["seconds"] for e in iterations[1:]) if len(iterations) > 1 else iterations[0]["seconds"]
        batch_runs.append((iterations, per_iteration, batch_seconds, model["lower_bound"]))
        for decay in decays:
            events, model, seconds = fit(args.emfleet, data, k, ["--online", "--step-decay", decay] + extra)
            passes = [e for e in events if e.get("event") == "pass"]
            online_runs[decay].append((len(passes), sum(p["seconds"] for p in passes), seconds, model["lower_bound"]))
    converged = batch_runs[0][3]
    assert all(run[3] == converged for run in batch_runs), "batch EM gave different models"
    per_iteration = statistics.median(run[1] for run in batch_runs)
    listed = lambda values: ", ".join(f"{v:.2f}" for v in values)
    print(f"{n:,} rows × {d}, K = {k}, full covariances, k-means++ start (seed 0); {' '.join(extra) or 'one process'}; "
          f"medians of {args.repeats} alternating runs")
    print()
    print("| fit | passes over the data | seconds | mean log-likelihood | gap to batch EM |")
    print("|---|---|---|---|---|")
    iterations = batch_runs[0][0]
    print(f"| batch EM, to tol 1e-3 | {len(iterations)} | {statistics.median(sum(e['seconds'] for e in run[0]) for run in batch_runs):.2f} "
          f"({per_iteration:.2f} per iteration; runs: {listed(run[1] for run in batch_runs)}) "
          f"| {converged:.6f} | - |", flush=True)
    print(f"| batch EM, 3 iterations (time) | 3 | {3 * per_iteration:.2f} | - | - |", flush=True)
    for decay in decays:
        runs = online_runs[decay]
        likelihood = runs[0][3]
        assert all(run[3] == likelihood for run in runs), "a stepwise fit gave different models"
        gap = (likelihood - converged) / abs(converged)
        print(f"| online, α = {decay} | {runs[0][0]} | {statistics.median(run[1] for run in runs):.2f} "
              f"(runs: {listed(run[1] for run in runs)}) | {likelihood:.6f} | {100 * gap:+.3f}% |", flush=True)
    if PEAKS:
        print(f"\nworker processes' peak resident memory: {min(PEAKS):.0f}-{max(PEAKS):.0f} MiB")


if __name__ == "__main__":
    main()
