#!/usr/bin/env python3
"""Bounded-memory workers against in-memory workers on the same data and shards, in one run.

Called by scripts/bench-large.sh. A float64 .npy of 30,000,000 × 16 (3.84 GB; generated once
into bench-data/), K = 16 full, fitted on 2 local workers for a fixed number of iterations:
in memory, then with --memory-limit 512M (file in the page cache), alternately, and once more
with the page cache dropped before every iteration where the machine allows it. Reports the
median seconds per iteration (after the first, which loads the shards), each worker's peak
resident memory (VmHWM of the worker processes), the bytes read per iteration and whether the
models are byte-identical; with the cache dropped, the disk's cold read rate (dd) beside it.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return found


def peak_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def watch_peaks(process):
    """Polls the peak resident memory (MiB) of `process`'s children every 0.1 s; returns the dict
    it fills and a function that stops the polling."""
    peaks, done = {}, threading.Event()

    def watch():
        while not done.is_set():
            for child in children(process.pid):
                value = peak_kib(child)
                if value is not None:
                    peaks[child] = max(peaks.get(child, 0), value / 1024)
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()

    def stop():
        done.set()
        watcher.join()

    return peaks, stop


def drop_caches():
    try:
        subprocess.run(["sync"], check=True)
        with open("/proc/sys/vm/drop_caches", "w") as control:
            control.write("3\n")
        return True
    except OSError:
        return False


def fit(emfleet, data, k, iterations, extra, cold=False):
    """One fit; returns (seconds per iteration after the first, worker peaks in MiB, bytes read per iteration, model bytes)."""
    with tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, "m.json")
        command = [emfleet, "gmm", "fit", "--data", data, "-c", str(k), "--out", out, "--log-format", "json",
                   "--tol", "0", "--max-iter", str(iterations), "--workers", "2"] + extra
        if cold:
            drop_caches()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peaks, stop_watching = watch_peaks(process)
        events = []
        for line in process.stdout:
            if line.startswith("{"):
                event = json.loads(line)
                events.append(event)
                if cold and event.get("event") == "iteration":
                    drop_caches()  # the next iteration reads from the disk again
        stderr = process.stderr.read()
        process.wait()
        stop_watching()
        if process.returncode != 0:
            sys.exit(f"bench: gmm fit {' '.join(extra)} failed:\n{stderr}")
        notes = [line for line in stderr.splitlines() if "memory" in line]
        steps = [e for e in events if e.get("event") == "iteration"]
        per_iteration = statistics.median(e["seconds"] for e in steps[1:])
        read = statistics.median(e.get("bytes_read", 0) for e in steps[1:])
        with open(out, "rb") as model:
            return per_iteration, sorted(peaks.values()), read, model.read(), notes


def cold_read_rate(path):
    if not drop_caches():
        return None
    start = time.perf_counter()
    subprocess.run(["dd", f"if={path}", "of=/dev/null", "bs=16M"], check=True, capture_output=True)
    return os.path.getsize(path) / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--emfleet", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--rows", type=int, default=30_000_000)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--components", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--limit", default="512M")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-cold", action="store_true", help="skip the run with the page cache dropped")
    args = parser.parse_args()
    os.makedirs(args.data_dir, exist_ok=True)
    n, d, k = args.rows, args.features, args.components
    data = os.path.join(args.data_dir, f"large-{n}x{d}-k{k}-s4.npy")
    if not os.path.exists(data):
        subprocess.run([args.emfleet, "data", "generate", "--samples", str(n), "--features", str(d), "--components", str(k),
                        "--seed", "4", "--out", data], check=True, stdout=subprocess.DEVNULL)
    size = os.path.getsize(data)
    print(f"{n:,} rows × {d} float64 ({size / 1e9:.2f} GB), K = {k}, full, 2 local workers, {args.iterations} iterations, "
          f"default shards; median seconds per iteration after the first")
    print()
    print("| run | seconds per iteration | worker peak RSS (MiB) | read per iteration | model |")
    print("|---|---|---|---|---|")
    reference = None
    ratios = []
    for repeat in range(args.repeats):
        row = {}
        for label, extra in (("in memory", []), (f"--memory-limit {args.limit}", ["--memory-limit", args.limit])):
            seconds, peaks, read, model, notes = fit(args.emfleet, data, k, args.iterations, extra)
            reference = reference or model
            same = "same bytes" if model == reference else "DIFFERENT"
            row[label] = seconds
            print(f"| {label} (repeat {repeat + 1}) | {seconds:.2f} | {', '.join(f'{p:.0f}' for p in peaks)} "
                  f"| {read / 1e9:.2f} GB | {same} |", flush=True)
            for note in notes:
                print(f"|   {note.strip()} | | | | |", flush=True)
        ratios.append(row[f"--memory-limit {args.limit}"] / row["in memory"])
    print()
    print(f"bounded ÷ in memory, seconds per iteration: {', '.join(f'{r:.2f}' for r in ratios)}")
    if args.no_cold:
        return
    rate = cold_read_rate(data)
    if rate is None:
        print("page cache: cannot be dropped here (needs root and a writable /proc/sys/vm/drop_caches); cold run skipped")
        return
    seconds, peaks, read, model, notes = fit(args.emfleet, data, k, args.iterations, ["--memory-limit", args.limit], cold=True)
    same = "same bytes" if model == reference else "DIFFERENT"
    bound = read / rate if rate else float("nan")
    print(f"page cache dropped before every iteration: {seconds:.2f} s per iteration, peaks {', '.join(f'{p:.0f}' for p in peaks)} MiB, "
          f"{read / 1e9:.2f} GB read per iteration, {same}; the disk reads {rate / 1e6:.0f} MB/s cold (dd), "
          f"so reading alone takes at least {bound:.2f} s per iteration")


if __name__ == "__main__":
    main()
