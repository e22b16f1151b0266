#!/usr/bin/env python3
"""Distributed EM against the single-process engine, in one run (called by scripts/bench-cluster.sh).

Part 1: N=1,000,000, D=16, K=16, full, 10 iterations: the single-process engine on all cores,
then 1 and 2 local workers with one thread each. Prints seconds per iteration (median), the
coordinator's own time per iteration (the iteration less its waits for workers: broadcast,
receiving and checking results, fold, M-step, checkpoint) and bytes per iteration.

Part 2: many local workers on small shards (N=131,072, 1,024 shards of 128 rows): the
coordinator's time and bytes per iteration with 8, 32 and 128 workers.

Part 3 (alone with --status-only): the cost of `--status`: the 2-worker fit of part 1 with the
status server on and its /metrics scraped every second, against the same fit without it, in
interleaved pairs (A B B A ...) so that load from elsewhere on the machine falls on both alike.
"""
import argparse
import json
import os
import socket
import tempfile
import statistics
import subprocess
import sys
import threading
import time
import urllib.request


def fit(emfleet, data, k, iterations, extra):
    command = [emfleet, "gmm", "fit", "--data", data, "--components", str(k), "--max-iter", str(iterations), "--tol", "0",
               "--init", "random-from-data", "--out", "/tmp/emfleet-bench-cluster.json",
               "--log-format", "json"] + extra
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        sys.exit(f"bench: {' '.join(command)} failed:\n{completed.stderr}")
    events = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    iterations = [e for e in events if e["event"] == "iteration"]
    median = lambda key: statistics.median(e[key] for e in iterations) if key in iterations[0] else float("nan")
    traffic = statistics.median(e["bytes_in"] + e["bytes_out"] for e in iterations) if "bytes_in" in iterations[0] else 0
    return median("seconds"), median("coordinator_seconds"), traffic


def fit_scraped(emfleet, data, k, iterations, extra):
    """Like fit(), with --status on and /metrics (and /status.json) fetched every second."""
    command = [emfleet, "gmm", "fit", "--data", data, "--components", str(k), "--max-iter", str(iterations), "--tol", "0",
               "--init", "random-from-data", "--out", "/tmp/emfleet-bench-cluster.json",
               "--log-format", "json", "--status", "127.0.0.1:0"] + extra
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    events, stop, scrapes = [], threading.Event(), [0]

    def scrape(url):
        while not stop.wait(1.0):
            try:
                for path in ("metrics", "status.json"):
                    urllib.request.urlopen(url + path, timeout=2).read()
                scrapes[0] += 1
            except OSError:
                pass

    scraper = None
    for line in process.stdout:
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        events.append(event)
        if event["event"] == "status":
            scraper = threading.Thread(target=scrape, args=(event["url"],), daemon=True)
            scraper.start()
    process.wait()
    stop.set()
    if process.returncode != 0:
        sys.exit(f"bench: {' '.join(command)} failed:\n{process.stderr.read()}")
    iterations = [e for e in events if e["event"] == "iteration"]
    return statistics.median(e["seconds"] for e in iterations), statistics.median(e["coordinator_seconds"] for e in iterations), scrapes[0]


def status_cost(emfleet, data, iterations, pairs):
    print(f"## Cost of --status: 2 local workers, 1 thread each, N=1,000,000, D=16, K=16, {iterations} iterations, "
          f"{pairs} interleaved pairs")
    print()
    print("| pair | without: s/iter | with --status, scraped every 1 s: s/iter | ratio | coordinator ms/iter without | with | scrapes |")
    print("|---|---|---|---|---|---|---|")
    extra = ["--workers", "2", "--worker-threads", "1"]
    ratios, without_all, with_all, own_without, own_with = [], [], [], [], []
    for pair in range(pairs):
        # A B in even pairs, B A in odd ones: neither side always runs first.
        order = ["without", "with"] if pair % 2 == 0 else ["with", "without"]
        result = {}
        for side in order:
            if side == "without":
                result[side], result["own without"], _ = fit(emfleet, data, 16, iterations, extra)
            else:
                result[side], result["own with"], result["scrapes"] = fit_scraped(emfleet, data, 16, iterations, extra)
        ratios.append(result["with"] / result["without"])
        without_all.append(result["without"])
        with_all.append(result["with"])
        own_without.append(result["own without"])
        own_with.append(result["own with"])
        print(f"| {pair + 1} | {result['without']:.4f} | {result['with']:.4f} | {ratios[-1]:.4f} | "
              f"{1000 * result['own without']:.2f} | {1000 * result['own with']:.2f} | {result['scrapes']} |", flush=True)
    print()
    print(f"median s/iter without {statistics.median(without_all):.4f}, with {statistics.median(with_all):.4f}; "
          f"median ratio {statistics.median(ratios):.4f} (pairs: min {min(ratios):.4f}, max {max(ratios):.4f}); "
          f"coordinator's own ms/iter: median without {1000 * statistics.median(own_without):.2f}, "
          f"with {1000 * statistics.median(own_with):.2f}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure(emfleet, path, n, d, k, seed):
    if not os.path.exists(path):
        subprocess.run([emfleet, "data", "generate", "--samples", str(n), "--features", str(d), "--components", str(k),
                        "--seed", str(seed), "--out", path], check=True, stdout=subprocess.DEVNULL)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--emfleet", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--many", default="8,32,128")
    parser.add_argument("--status-only", action="store_true", help="run part 3 (the cost of --status) alone")
    parser.add_argument("--pairs", type=int, default=8, help="interleaved pairs of part 3")
    args = parser.parse_args()
    os.makedirs(args.data_dir, exist_ok=True)
    big = os.path.join(args.data_dir, "gmm-a-1000000x16-k16-s1.npy")
    ensure(args.emfleet, big, 1_000_000, 16, 16, 1)
    if args.status_only:
        status_cost(args.emfleet, big, args.iterations, args.pairs)
        return

    print(f"## N=1,000,000, D=16, K=16, full, {args.iterations} iterations (median of per-iteration medians over {args.repeats} runs)")
    print()
    print("| engine | s/iter | vs single process | coordinator ms/iter | MB/iter |")
    print("|---|---|---|---|---|")
    runs = [("single process, all cores", []),
            ("1 local worker, 1 thread", ["--workers", "1", "--worker-threads", "1"]),
            ("2 local workers, 1 thread each", ["--workers", "2", "--worker-threads", "1"])]
    baseline = None
    for name, extra in runs:
        results = [fit(args.emfleet, big, 16, args.iterations, extra) for _ in range(args.repeats)]
        seconds = statistics.median(r[0] for r in results)
        coordinator = statistics.median(r[1] for r in results)
        traffic = statistics.median(r[2] for r in results)
        baseline = baseline or seconds
        coordinator_text = "-" if coordinator != coordinator else f"{1000 * coordinator:.1f}"
        traffic_text = "-" if not traffic else f"{traffic / 1e6:.2f}"
        print(f"| {name} | {seconds:.3f} | {seconds / baseline:.2f}× | {coordinator_text} | {traffic_text} |", flush=True)

    # CURVE's cost: 2 remote-style workers over loopback TCP, with and without encryption.
    print()
    print(f"## CURVE: 2 workers over TCP, N=1,000,000, D=16, K=16, {args.iterations} iterations")
    print()
    print("| transport | s/iter | coordinator ms/iter | MB/iter |")
    print("|---|---|---|---|")
    keys = tempfile.mkdtemp()
    for name in ["coordinator", "workers/w"]:
        subprocess.run([args.emfleet, "keygen", "--out", os.path.dirname(os.path.join(keys, name)) or keys,
                        "--name", os.path.basename(name)], check=True, stdout=subprocess.DEVNULL)
    for label, coordinator_keys, worker_keys in [
            ("TCP, plain", [], []),
            ("TCP, CURVE", ["--curve-secret", f"{keys}/coordinator.secret", "--authorized-keys", f"{keys}/workers"],
             ["--curve-secret", f"{keys}/workers/w.secret", "--coordinator-key", f"{keys}/coordinator.public"])]:
        results = []
        for _ in range(args.repeats):
            port = free_port()
            coordinator = subprocess.Popen(
                [args.emfleet, "gmm", "fit", "--data", big, "--components", "16", "--max-iter", str(args.iterations), "--tol", "0",
                 "--init", "random-from-data", "--out", "/tmp/emfleet-bench-cluster.json", "--log-format", "json",
                 "--bind", f"tcp://127.0.0.1:{port}", "--min-workers", "2"] + coordinator_keys,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            workers = [subprocess.Popen([args.emfleet, "worker", "--connect", f"tcp://127.0.0.1:{port}", "--threads", "1",
                                         "--coordinator-timeout", "3"] + worker_keys,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
            out, _ = coordinator.communicate()
            for worker in workers:
                worker.wait()
            events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
            iterations = [e for e in events if e["event"] == "iteration"]
            results.append((statistics.median(e["seconds"] for e in iterations),
                            statistics.median(e["coordinator_seconds"] for e in iterations),
                            statistics.median(e["bytes_in"] + e["bytes_out"] for e in iterations)))
        seconds = statistics.median(r[0] for r in results)
        coordinator_ms = 1000 * statistics.median(r[1] for r in results)
        traffic = statistics.median(r[2] for r in results) / 1e6
        print(f"| {label} | {seconds:.3f} | {coordinator_ms:.1f} | {traffic:.2f} |", flush=True)

    small = os.path.join(args.data_dir, "gmm-small-131072x16-k16-s3.npy")
    ensure(args.emfleet, small, 131_072, 16, 16, 3)
    print()
    print(f"## Many workers on small shards: N=131,072, D=16, K=16, 1,024 shards, {args.iterations} iterations")
    print()
    print("| workers | s/iter | coordinator ms/iter | MB/iter |")
    print("|---|---|---|---|")
    for workers in [int(w) for w in args.many.split(",")]:
        seconds, coordinator, traffic = fit(args.emfleet, small, 16, args.iterations,
                                            ["--workers", str(workers), "--worker-threads", "1", "--shards", "1024",
                                             "--worker-timeout", "30"])
        print(f"| {workers} | {seconds:.3f} | {1000 * coordinator:.1f} | {traffic / 1e6:.2f} |", flush=True)

    print()
    status_cost(args.emfleet, big, args.iterations, args.pairs)


if __name__ == "__main__":
    main()
