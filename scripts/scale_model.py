"""A model of rounds per second against worker threads, flat and with one tier of aggregators,
from the figures scripts/bench-scale.sh measured (its table, read from standard input):

    scripts/bench-scale.sh | tee scale.txt; python3 scripts/scale_model.py [--routed-worker-us X] < scale.txt

Not a measurement: it extrapolates the EM rows (D=16, K=16) of that table, fitted as straight
lines, to 1,000-100,000 worker threads on a 10 Gb/s network, assuming
  - each worker thread computes one 8,192-row shard per round (the default shard size: the data
    grows with the cluster), 2.5 ms on one thread (docs/BENCHMARKS.md, "Where one coordinator
    stops scaling");
  - the coordinator's CPU per round is a + b·W flat (W workers) and a + b·A + r·W with A
    aggregators (an aggregator's messages cost it what a worker's do: one task out, one block
    result in); an aggregator's CPU per round is g0 + g·m for its m workers;
  - messages are as measured: a worker's task and result (bytes out and in per flat worker), an
    aggregator's likewise; each link carries max(in, out) at 1.25 GB/s;
  - computing, CPU and the links overlap perfectly (an upper bound on the rate).
A round then takes the largest of those times; the layout's rate ends at that resource.
"""
import re
import sys

LINK = 1.25e9  # bytes/s: 10 Gb/s
SHARD_SECONDS = 2.5e-3


def fit(points):
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0
    return my - slope * mx, slope


def parse(lines):
    rows = []
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 10 or cells[0] != "gmm":
            continue
        aggregators = 0 if cells[2] == "flat" else int(cells[2].split()[0])
        per_aggregator = float(cells[8].split()[0]) / 1000 if cells[8] not in ("-", "") else None
        rows.append(dict(workers=int(cells[1]), aggregators=aggregators, cpu=float(cells[3]),
                         bytes_in=float(cells[5]) * 1e6, bytes_out=float(cells[6]) * 1e6, aggregator_cpu=per_aggregator))
    return rows


def main():
    # --routed-worker-us X: the coordinator's cost per worker behind an aggregator, instead of the
    # fitted slope (which one noisy run can put near zero).
    override = float(sys.argv[sys.argv.index("--routed-worker-us") + 1]) * 1e-6 if "--routed-worker-us" in sys.argv else None
    rows = parse(sys.stdin)
    flat = [r for r in rows if r["aggregators"] == 0]
    tiered = [r for r in rows if r["aggregators"] > 0]
    if len(flat) < 2 or len(tiered) < 2:
        sys.exit("scale_model: give the table of scripts/bench-scale.sh (EM rows, flat and with aggregators, two worker counts or more)")
    a, b = fit([(r["workers"], r["cpu"]) for r in flat])
    A0 = tiered[0]["aggregators"]
    base, r_cost = fit([(r["workers"], r["cpu"]) for r in tiered])  # base = a + b·A0
    if override is not None:
        r_cost = override
    g0, g = fit([(r["workers"] / A0, r["aggregator_cpu"]) for r in tiered if r["aggregator_cpu"] is not None])
    worker_in = sum(r["bytes_in"] / r["workers"] for r in flat) / len(flat)
    worker_out = sum(r["bytes_out"] / r["workers"] for r in flat) / len(flat)
    agg_in = sum(r["bytes_in"] / r["aggregators"] for r in tiered) / len(tiered)
    agg_out = sum(r["bytes_out"] / r["aggregators"] for r in tiered) / len(tiered)
    print(f"fitted: flat coordinator {a * 1e3:.2f} ms + {b * 1e6:.1f} µs × W; with {A0} aggregators {base * 1e3:.2f} ms + {r_cost * 1e6:.2f} µs × W "
          f"(so a + b·A0 = {(a + b * A0) * 1e3:.2f} ms against {base * 1e3:.2f} ms measured);")
    print(f"        an aggregator {g0 * 1e3:.2f} ms + {g * 1e6:.1f} µs × its workers; per worker {worker_in / 1e3:.1f} KB in, {worker_out / 1e3:.1f} KB out; "
          f"per aggregator {agg_in / 1e3:.1f} KB in, {agg_out / 1e3:.1f} KB out")
    print()

    def flat_round(W):
        parts = {"workers' computing": SHARD_SECONDS, "coordinator CPU": a + b * W,
                 "coordinator link": max(worker_in, worker_out) * W / LINK}
        return parts

    def tiered_round(W, A):
        m = W / A
        return {"workers' computing": SHARD_SECONDS, "coordinator CPU": a + b * A + r_cost * W,
                "coordinator link": max(agg_in, agg_out) * A / LINK,
                "aggregator CPU": g0 + g * m, "aggregator link": (max(worker_in, worker_out) * m + max(agg_in, agg_out)) / LINK}

    print("| worker threads | threads per worker | flat rounds/s | flat ends at | aggregators | two-level rounds/s | two-level ends at |")
    print("|---|---|---|---|---|---|---|")
    for threads_per_worker in (1, 16):
        for T in (1_000, 3_000, 10_000, 30_000, 100_000):
            W = T // threads_per_worker
            f = flat_round(W)
            best = min(range(1, W + 1), key=lambda A: max(tiered_round(W, A).values()))
            t = tiered_round(W, best)
            print(f"| {T:,} | {threads_per_worker} | {1 / max(f.values()):.1f} | {max(f, key=f.get)} | {best} | "
                  f"{1 / max(t.values()):.1f} | {max(t, key=t.get)} |")


if __name__ == "__main__":
    main()
