#!/usr/bin/env bash
# Checks `--status`'s /metrics against real Prometheus tools: `promtool check metrics` passes on its
# output, and a Prometheus server started here on loopback (scrape interval 1 s, temporary storage)
# scrapes a running 2-worker fit; a range query through its HTTP API returns the job's rounds
# (emfleet_rounds_total) as an increasing counter. Installs Debian's prometheus package when
# promtool is missing. Everything it starts is stopped at the end, also on failure.
# Usage: scripts/check-metrics.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
emfleet="${EMFLEET_BIN:-$root/.build/release/emfleet}"
# shellcheck source=lib-processes.sh
source "$root/scripts/lib-processes.sh"
[[ -x $emfleet ]] || { echo "check-metrics: no $emfleet; run swift build -c release first" >&2; exit 1; }

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    echo "check-metrics: installing Debian's prometheus package (promtool and the server)"
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

work=$(mktemp -d)
fit_pid="" prometheus_pid=""
cleanup() {
    stop_pids "$prometheus_pid" "$fit_pid"
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

"$emfleet" data generate --samples 300000 --features 16 --components 8 --seed 5 --out "$work/x.npy" >/dev/null
# Many iterations at tolerance 0: the fit outlasts the check, which stops it.
"$emfleet" gmm fit --data "$work/x.npy" --components 8 --tol 0 --max-iter 100000 --init random-from-data \
    --out "$work/m.json" --workers 2 --worker-threads 1 --log-format json --status 127.0.0.1:0 >"$work/fit.log" 2>"$work/fit.err" &
fit_pid=$!
url=""
for _ in $(seq 1 300); do
    url=$(sed -n 's/.*"event":"status".*"url":"\([^"]*\)".*/\1/p' "$work/fit.log" | head -1)
    [[ -n $url ]] && break
    kill -0 "$fit_pid" 2>/dev/null || { cat "$work/fit.err" >&2; echo "FAIL the fit ended before serving" >&2; exit 1; }
    sleep 0.1
done
[[ -n $url ]] || { echo "FAIL no status URL printed" >&2; exit 1; }
url=${url//\\\//\/}   # JSON escapes slashes
echo "status server at $url"

# Wait for the first iterations, so every family has samples.
for _ in $(seq 1 300); do grep -q '"event":"iteration"' "$work/fit.log" && break; sleep 0.1; done
curl -fsS "${url}metrics" >"$work/metrics.txt"
if promtool check metrics <"$work/metrics.txt"; then
    echo "ok   promtool check metrics passes on /metrics ($(grep -c '^emfleet_' "$work/metrics.txt") samples)"
else
    echo "FAIL promtool check metrics" >&2; exit 1
fi

port=$(free_port)
target=${url#http://}; target=${target%/}
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: emfleet
    static_configs:
      - targets: ["$target"]
YAML
promtool check config "$work/prometheus.yml" >/dev/null
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$port" >"$work/prometheus.log" 2>&1 &
prometheus_pid=$!
echo "prometheus on 127.0.0.1:$port scraping $target every second"

python3 - "$port" "$work/fit.log" <<'PY'
import json, sys, time, urllib.parse, urllib.request
port = sys.argv[1]
deadline = time.time() + 60
values = []
while time.time() < deadline:
    now = time.time()
    query = urllib.parse.urlencode({"query": 'emfleet_rounds_total{job="emfleet"}', "start": now - 120, "end": now, "step": "1"})
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query_range?{query}", timeout=5) as response:
            answer = json.load(response)
        series = answer["data"]["result"]
        values = [float(v) for _, v in series[0]["values"]] if series else []
    except OSError:
        values = []
    if len(set(values)) >= 4:
        break
    time.sleep(1)
distinct = sorted(set(values))
increasing = len(distinct) >= 4 and all(b >= a for a, b in zip(values, values[1:]))
print(("ok   " if increasing else "FAIL ") + f"Prometheus's range query of emfleet_rounds_total: {len(values)} samples, "
      f"{len(distinct)} distinct values, never decreasing ({values[0] if values else '-'} to {values[-1] if values else '-'})")
with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query?query=" + urllib.parse.quote('up{job="emfleet"}'), timeout=5) as r:
    up = json.load(r)["data"]["result"]
print(("ok   " if up and up[0]["value"][1] == "1" else "FAIL ") + "Prometheus sees the target up")
sys.exit(0 if increasing and up and up[0]["value"][1] == "1" else 1)
PY
echo "check-metrics: all passed"
