"""The coordinator's cost per round against the number of worker processes, flat and with
aggregators, measured on this machine (called by scripts/bench-scale.sh).

Every configuration runs the same job on the same rows: 8,192 shards of 64 rows at D=16, EM with
K=16 (random start, a fixed number of iterations) and a training job (16-32-16, one row per shard
per step). It reports, per round, the coordinator's CPU seconds (its whole process, ZeroMQ's I/O
thread included: `coordinator_cpu_seconds`), the round's wall seconds, the bytes it received and
sent, and the coordinator's peak resident memory, and checks that every layout wrote the same
model bytes.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

SHARDS = 8192
ROWS_PER_SHARD = 64
FEATURES = 16
COMPONENTS = 16


def start(emfleet, arguments, log):
    return subprocess.Popen([emfleet] + arguments, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)


def stop(processes):
    for process in processes:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.time() + 20
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def process_cpu(processes):
    """User and system CPU seconds of `processes` so far (from /proc/PID/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for process in processes:
        try:
            fields = open(f"/proc/{process.pid}/stat").read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError, ValueError):
            pass
    return total


def job_arguments(job, data, labels, out, iterations):
    if job == "gmm":
        return ["gmm", "fit", "--data", data, "--components", str(COMPONENTS), "--shards", str(SHARDS), "--init", "random",
                "--max-iter", str(iterations), "--tol", "0", "--seed", "1", "--out", out]
    return ["mlp", "train", "--data", data, "--labels", labels, "--hidden", "32", "--shards", str(SHARDS), "--batch-size", str(SHARDS),
            "--epochs", "1", "--validation-split", "0", "--seed", "1", "--out", out]


def run(emfleet, directory, job, workers, aggregators, iterations):
    tag = f"{job}-{workers}-{aggregators}"
    out = os.path.join(directory, f"{tag}.model")
    log = open(os.path.join(directory, f"{tag}.log"), "w")
    socket = f"ipc://{directory}/c.sock"
    arguments = job_arguments(job, os.path.join(directory, "x.npy"), os.path.join(directory, "y.npy"), out, iterations)
    arguments += ["--bind", socket, "--min-workers", str(workers), "--worker-timeout", "60", "--wait-workers", "600",
                  "--max-workers", str(workers), "--log-format", "json"]
    began = time.time()
    # BENCH_SCALE_WRAP="perf record -g -o FILE --" profiles the coordinator.
    wrap = os.environ.get("BENCH_SCALE_WRAP", "").split()
    coordinator = subprocess.Popen(wrap + [emfleet] + arguments, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
    others = []
    try:
        for index in range(aggregators):
            others.append(start(emfleet, ["aggregator", "--connect", socket, "--bind", f"ipc://{directory}/a{index}.sock",
                                          "--coordinator-timeout", "120"], log))
        for index in range(workers):
            # Workers of one aggregator are consecutive, as a launcher places them.
            endpoint = f"ipc://{directory}/a{index * aggregators // workers}.sock" if aggregators else socket
            others.append(start(emfleet, ["worker", "--connect", endpoint, "--threads", "1", "--coordinator-timeout", "120",
                                          "--poll-after-step", "0"], log))
        # The aggregators' CPU over the EM iterations after the first (their own start excluded).
        lines, marks = [], []
        for line in coordinator.stdout:
            lines.append(line)
            if '"event":"iteration"' in line:
                marks.append(process_cpu(others[:aggregators]))
        coordinator.wait(timeout=3600)
        output = "".join(lines)
    finally:
        stop([coordinator] + others)
        log.close()
    if coordinator.returncode != 0:
        sys.exit(f"bench-scale: {tag} failed (exit {coordinator.returncode}); see {directory}/{tag}.log")
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    summary = next(e for e in events if e.get("event") == "cluster_summary")
    result = {"job": job, "workers": workers, "aggregators": aggregators, "rounds": summary["rounds"],
              "peak_mib": summary["peak_resident_bytes"] / 2**20, "wall_seconds": time.time() - began,
              "model": open(out, "rb").read()}
    iterations_seen = [e for e in events if e.get("event") == "iteration"][1:]  # the first is warm-up
    if aggregators and len(marks) >= 2:
        result["aggregator_cpu"] = (marks[-1] - marks[0]) / (len(marks) - 1) / aggregators
    if iterations_seen:
        result["cpu"] = statistics.median(e["coordinator_cpu_seconds"] for e in iterations_seen)
        result["round"] = statistics.median(e["seconds"] for e in iterations_seen)
        result["bytes_in"] = statistics.median(e["bytes_in"] for e in iterations_seen)
        result["bytes_out"] = statistics.median(e["bytes_out"] for e in iterations_seen)
        result["basis"] = f"median of {len(iterations_seen)} EM iterations"
    else:
        # The first round also waits for and admits every worker: the mean of the others.
        rounds = summary["later_rounds"]
        result["cpu"] = summary["later_coordinator_cpu_seconds"] / rounds
        result["round"] = summary["later_round_seconds"] / rounds
        result["bytes_in"] = summary["later_bytes_in"] / rounds
        result["bytes_out"] = summary["later_bytes_out"] / rounds
        result["basis"] = f"mean of the {rounds} rounds after the first"
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--emfleet", required=True)
    parser.add_argument("--workers", default="64,256,1024")
    parser.add_argument("--aggregators", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--jobs", default="gmm,mlp")
    parser.add_argument("--keep", help="keep the logs and models in this directory")
    options = parser.parse_args()
    emfleet = os.path.abspath(options.emfleet)
    # A short path: ipc:// endpoints are Unix socket paths (at most 107 bytes).
    directory = tempfile.mkdtemp(prefix="emfleet-scale-", dir="/tmp")
    rows = SHARDS * ROWS_PER_SHARD
    subprocess.run([emfleet, "data", "generate", "--samples", str(rows), "--features", str(FEATURES), "--components", str(COMPONENTS),
                    "--seed", "1", "--out", f"{directory}/x.npy", "--labels", f"{directory}/y.npy"], check=True, stdout=subprocess.DEVNULL)
    print(f"{rows} rows × {FEATURES} features in {SHARDS} shards of {ROWS_PER_SHARD}; {os.cpu_count()} cores; "
          f"one thread per worker; {options.aggregators} aggregators in the two-level layout", flush=True)
    print("| job | workers | layout | coordinator CPU s/round | round s | MB in/round | MB out/round | coordinator peak MiB "
          "| CPU/round of one aggregator | rounds | basis |")
    print("|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    results = []
    try:
        for job in options.jobs.split(","):
            for workers in (int(w) for w in options.workers.split(",")):
                for aggregators in (0, options.aggregators):
                    r = run(emfleet, directory, job, workers, aggregators, options.iterations)
                    results.append(r)
                    layout = f"{aggregators} aggregators" if aggregators else "flat"
                    per_aggregator = f"{r['aggregator_cpu'] * 1000:.1f} ms" if "aggregator_cpu" in r else "-"
                    print(f"| {job} | {workers} | {layout} | {r['cpu']:.4f} | {r['round']:.3f} | {r['bytes_in'] / 1e6:.3f} | "
                          f"{r['bytes_out'] / 1e6:.3f} | {r['peak_mib']:.0f} | {per_aggregator} | {r['rounds']} | {r['basis']} |", flush=True)
    finally:
        if options.keep:
            shutil.copytree(directory, options.keep, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.npy", "*.sock"))
        shutil.rmtree(directory, ignore_errors=True)
    print()
    for job in options.jobs.split(","):
        models = {r["model"] for r in results if r["job"] == job}
        print(f"{job}: {'the same model bytes in every layout' if len(models) == 1 else f'{len(models)} different models!'}")
        for workers in (int(w) for w in options.workers.split(",")):
            flat = next(r for r in results if r["job"] == job and r["workers"] == workers and r["aggregators"] == 0)
            tiered = next(r for r in results if r["job"] == job and r["workers"] == workers and r["aggregators"] > 0)
            print(f"  {workers} workers: coordinator CPU per round with {options.aggregators} aggregators is "
                  f"{tiered['cpu'] / flat['cpu']:.3f} of flat ({flat['cpu'] / tiered['cpu']:.1f}× less)")


if __name__ == "__main__":
    main()
