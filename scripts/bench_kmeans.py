"""emfleet's k-means against scikit-learn and Spark MLlib, one run (called by scripts/bench-kmeans.sh).

Data: N=1,000,000, D=16 rows from 16 Gaussian components (`emfleet data generate`, seed 1), K=16,
every fit from the same k-means++ centres (drawn once by scikit-learn on the first 20,000 rows),
tol 0 so that every fit runs the same number of Lloyd iterations.

- emfleet: seconds per iteration from the JSON log (median of iterations 2..I), in one process
  (all cores) and on 2 local workers (one thread each).
- scikit-learn `KMeans(algorithm="lloyd", n_init=1)`, all cores: (time of I+1 iterations − time of
  1 iteration) / I, which leaves out the set-up and the final assignment.
- Spark MLlib `KMeans` in `local[2]` (pyspark; its Python API takes no initial centres, so it
  starts from `initMode="random"`), seconds per iteration the same way.
- Plain passes over the same float64 rows in memory, the floor: `ones @ X` (one BLAS gemv, both
  cores, the fastest pass found here) and numpy's `X.sum(axis=0)` (one thread).
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


def emfleet_iteration_seconds(emfleet, data, init, iterations, extra):
    with tempfile.TemporaryDirectory() as scratch:
        command = [emfleet, "kmeans", "fit", "--data", data, "-k", "16", "--init", init, "--max-iter", str(iterations + 1),
                   "--tol", "0", "--out", os.path.join(scratch, "m.json"), "--log-format", "json"] + extra
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"bench: {' '.join(command)} failed:\n{done.stderr}")
        events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        seconds = [e["seconds"] for e in events if e.get("event") == "iteration"][1:]
        model = json.load(open(os.path.join(scratch, "m.json")))
        return statistics.median(seconds), model["inertia"]


def sklearn_iteration_seconds(x, init, iterations):
    from sklearn.cluster import KMeans

    def fit(n):
        start = time.perf_counter()
        model = KMeans(n_clusters=16, init=init, n_init=1, max_iter=n, tol=0, algorithm="lloyd").fit(x)
        return time.perf_counter() - start, model
    one, _ = fit(1)
    many, model = fit(iterations + 1)
    return (many - one) / iterations, model.inertia_


def spark_iteration_seconds(x, iterations):
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.linalg import Vectors
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master("local[2]").config("spark.driver.memory", "12g")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    frame = spark.createDataFrame([(Vectors.dense(r),) for r in x.tolist()], ["features"]).repartition(2).cache()
    frame.count()

    def fit(n):
        start = time.perf_counter()
        model = KMeans(k=16, maxIter=n, tol=0.0, seed=0, initMode="random").fit(frame)
        return time.perf_counter() - start, model.summary.numIter, model.summary.trainingCost
    one, _, _ = fit(1)
    many, iters, cost = fit(iterations + 1)
    spark.stop()
    return (many - one) / max(1, iters - 1), cost


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--emfleet", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-spark", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.data_dir, exist_ok=True)
    data = os.path.join(args.data_dir, "gmm-a-1000000x16-k16-s1.npy")
    if not os.path.exists(data):
        subprocess.run([args.emfleet, "data", "generate", "--samples", "1000000", "--features", "16", "--components", "16",
                        "--seed", "1", "--out", data], check=True)
    x = np.load(data)
    from sklearn.cluster import kmeans_plusplus
    init, _ = kmeans_plusplus(x[:20000], n_clusters=16, random_state=0)
    init_path = os.path.join(args.data_dir, "kmeans-init-16.npy")
    np.save(init_path, init)

    rows = {"emfleet, 1 process (all cores)": [], "emfleet, 2 local workers": [], "scikit-learn KMeans (all cores)": [],
            "plain pass (ones @ X, BLAS gemv)": [], "plain pass (numpy X.sum(axis=0), 1 thread)": []}
    ones = np.ones(x.shape[0])
    inertia = {}
    for _ in range(args.repeats):
        s, i = emfleet_iteration_seconds(args.emfleet, data, init_path, args.iterations, [])
        rows["emfleet, 1 process (all cores)"].append(s); inertia["emfleet"] = i
        s, i = emfleet_iteration_seconds(args.emfleet, data, init_path, args.iterations, ["--workers", "2", "--worker-threads", "1"])
        rows["emfleet, 2 local workers"].append(s); inertia["emfleet, workers"] = i
        s, i = sklearn_iteration_seconds(x, init, args.iterations)
        rows["scikit-learn KMeans (all cores)"].append(s); inertia["scikit-learn"] = i
        start = time.perf_counter()
        ones @ x
        rows["plain pass (ones @ X, BLAS gemv)"].append(time.perf_counter() - start)
        start = time.perf_counter()
        x.sum(axis=0)
        rows["plain pass (numpy X.sum(axis=0), 1 thread)"].append(time.perf_counter() - start)
    if not args.skip_spark:
        try:
            s, i = spark_iteration_seconds(x, args.iterations)
            rows["Spark MLlib KMeans, local[2]"] = [s]
            inertia["Spark"] = i
        except ImportError:
            print("bench: pyspark is not installed (pip install pyspark); Spark skipped", file=sys.stderr)

    ours = statistics.median(rows["emfleet, 1 process (all cores)"])
    print(f"N=1,000,000, D=16, K=16, {args.iterations} Lloyd iterations from the same k-means++ centres, tol 0; "
          f"medians of {args.repeats} repeats")
    print()
    print("| fitter | s per iteration | runs | relative to emfleet, 1 process |")
    print("|---|---|---|---|")
    for name, values in rows.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.4f} | {', '.join(f'{v:.4f}' for v in values)} | {median / ours:.2f}× |")
    print()
    print("Inertia after the fit: " + ", ".join(f"{k} {v:.10g}" for k, v in inertia.items()))


if __name__ == "__main__":
    main()
