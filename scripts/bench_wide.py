#!/usr/bin/env python3
"""Times `emfleet gmm fit` on wide rows (full covariances) against scikit-learn, in one run.

Called by scripts/bench-wide.sh. For each D: 50,000 generated rows, K = 8, full covariances,
tol 0 from random rows of the data. emfleet: the median seconds of its iterations 2 on (JSON log),
in the form it chooses and, with EMFLEET_ESTEP_FORM, in each form; scikit-learn: (time of a fit of
I + 1 iterations − time of a fit of 1) / I. Peak resident memory of each process by /usr/bin/time.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

SKLEARN = r"""
import sys, time, warnings
import numpy as np
from sklearn.mixture import GaussianMixture
X = np.load(sys.argv[1]); k = int(sys.argv[2]); iters = int(sys.argv[3])
warnings.simplefilter("ignore")
def fit(n):
    t = time.perf_counter()
    GaussianMixture(n_components=k, covariance_type="full", max_iter=n, tol=0,
                    init_params="random_from_data", random_state=0).fit(X)
    return time.perf_counter() - t
one = fit(1)
print(f"RESULT {(fit(iters + 1) - one) / iters:.6f}")
"""


def timed(command, env=None):
    done = subprocess.run(["/usr/bin/time", "-f", "PEAK_RSS_KB %M"] + command, capture_output=True, text=True,
                          env=env)
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(command)} failed:\n{done.stderr}")
    return done.stdout, int(re.search(r"PEAK_RSS_KB (\d+)", done.stderr).group(1)) / 1024


def emfleet_seconds(emfleet, data, k, iterations, form):
    env = dict(os.environ)
    if form:
        env["EMFLEET_ESTEP_FORM"] = form
    with tempfile.TemporaryDirectory() as scratch:
        out, peak = timed([emfleet, "gmm", "fit", "--data", data, "--components", str(k), "--covariance", "full",
                           "--max-iter", str(iterations + 1), "--tol", "0", "--init", "random-from-data",
                           "--out", os.path.join(scratch, "m.json"), "--log-format", "json"], env)
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    seconds = [e["seconds"] for e in events if e.get("event") == "iteration"][1:]
    return statistics.median(seconds), peak


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--emfleet", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--dimensions", default="16,32,48,64,128,256,784")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--components", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--skip-sklearn", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.data_dir, exist_ok=True)
    k = args.components
    print(f"{args.rows:,} rows, K = {k}, full covariances, seconds per iteration (peak resident memory)")
    print()
    print("| D | data | emfleet (its choice) | quadratic form | whitened form | scikit-learn | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for d in [int(v) for v in args.dimensions.split(",")]:
        path = os.path.join(args.data_dir, f"wide-{args.rows}x{d}-k{k}-s5.npy")
        if not os.path.exists(path):
            subprocess.run([args.emfleet, "data", "generate", "--samples", str(args.rows), "--features", str(d),
                            "--components", str(k), "--seed", "5", "--out", path], check=True, stdout=subprocess.DEVNULL)
        data_mb = os.path.getsize(path) / 2**20
        chosen, chosen_peak = emfleet_seconds(args.emfleet, path, k, args.iterations, None)
        forms = {}
        for form in ["quadratic", "whitened"]:
            # The quadratic form's expansion at D = 784 needs 300 KB per row per chunk: skip it past 256.
            forms[form] = emfleet_seconds(args.emfleet, path, k, args.iterations, form) if form == "whitened" or d <= 256 else None
        if args.skip_sklearn:
            theirs, theirs_peak = float("nan"), float("nan")
        else:
            out, theirs_peak = timed([sys.executable, "-c", SKLEARN, path, str(k), str(args.iterations)])
            theirs = float(re.search(r"RESULT (\S+)", out).group(1))
        cell = lambda v: "-" if v is None else f"{v[0]:.3f} ({v[1]:.0f} MB)"
        print(f"| {d} | {data_mb:.0f} MB | {chosen:.3f} ({chosen_peak:.0f} MB) | {cell(forms['quadratic'])} "
              f"| {cell(forms['whitened'])} | {theirs:.3f} ({theirs_peak:.0f} MB) | {theirs / chosen:.1f}× |", flush=True)


if __name__ == "__main__":
    main()
