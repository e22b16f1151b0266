#!/usr/bin/env bash
# Checks the live status page (`--status`) in headless Chromium while a real 2-worker fit runs:
# at two moments the chart has grown and the worker table lists both workers; after one worker is
# killed the page shows it as lost and its shards on the other. Fails (does not skip) without Chromium.
# Usage: scripts/check-status-page.sh [--screenshots DIR]   (DIR gets 1-running.png, 2-later.png, 3-lost.png)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
emfleet="${EMFLEET_BIN:-$root/.build/release/emfleet}"
# shellcheck source=lib-processes.sh
source "$root/scripts/lib-processes.sh"
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[[ -n $browser ]] || { echo "check-status-page: no Chromium on PATH; scripts/setup.sh installs it" >&2; exit 1; }
work=$(mktemp -d)
shots="$work"
[[ ${1:-} == --screenshots && -n ${2:-} ]] && { shots=$2; mkdir -p "$shots"; }
fit_pid=""
trap 'stop_pids "$fit_pid"; rm -rf "$work"' EXIT

# The page as Chromium renders it after its first polls (virtual time runs its timers).
dom() { timeout 60 "$browser" --headless --no-sandbox --disable-gpu --virtual-time-budget=2500 --dump-dom "$url" 2>/dev/null; }
shot() {
    timeout 60 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,1000 --virtual-time-budget=2500 \
        --screenshot="$1" "$url" >/dev/null 2>&1
}
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

"$emfleet" data generate --samples 300000 --features 16 --components 8 --seed 5 --out "$work/x.npy" >/dev/null
"$emfleet" gmm fit --data "$work/x.npy" --components 8 --tol 0 --max-iter 100000 --init random-from-data --out "$work/m.json" \
    --workers 2 --worker-threads 1 --worker-timeout 2 --log-format json --status 127.0.0.1:0 >"$work/fit.log" 2>"$work/fit.err" &
fit_pid=$!
url=""
for _ in $(seq 1 300); do
    url=$(sed -n 's/.*"event":"status".*"url":"\([^"]*\)".*/\1/p' "$work/fit.log" | head -1)
    [[ -n $url ]] && break
    sleep 0.1
done
[[ -n $url ]] || { cat "$work/fit.err" >&2; echo "FAIL no status URL printed" >&2; exit 1; }
url=${url//\\\//\/}
for _ in $(seq 1 300); do [[ $(grep -c '"event":"iteration"' "$work/fit.log") -ge 3 ]] && break; sleep 0.1; done

dom >"$work/1.dom"; shot "$shots/1-running.png"
sleep 2
dom >"$work/2.dom"; shot "$shots/2-later.png"

# Kill one worker (a process the fit started) and wait until the coordinator has declared it lost.
victim=$(curl -fsS "${url}status.json" | field 'd["workers"][0]["pid"]')
kill -KILL "$victim"
for _ in $(seq 1 150); do
    [[ $(curl -fsS "${url}status.json" | field 'sum(w["state"] == "lost" for w in d["workers"])') -ge 1 ]] && break
    sleep 0.1
done
sleep 1.5   # a round or two on the survivor
dom >"$work/3.dom"; shot "$shots/3-lost.png"
shards=$(curl -fsS "${url}status.json" | field 'd["progress"]["shards"]')

python3 - "$work" "$shards" <<'PY'
import re, sys
work, shards = sys.argv[1], int(sys.argv[2])
failures = []
def check(condition, message):
    print(("ok   " if condition else "FAIL ") + message)
    if not condition:
        failures.append(message)
doms = [open(f"{work}/{i}.dom").read() for i in (1, 2, 3)]
points = [int(re.search(r'id="chart"[^>]*data-points="(\d+)"', d).group(1)) if re.search(r'id="chart"[^>]*data-points="(\d+)"', d) else 0 for d in doms]
rows = [re.findall(r'<tr class="worker (\w+)" data-shards="(\d+)"', d) for d in doms]
check(points[0] >= 3, f"first moment: the chart has {points[0]} points")
check(points[1] > points[0], f"second moment: the chart grew to {points[1]} points")
check(all(state == "ready" for state, _ in rows[0]) and len(rows[0]) == 2, f"first moment: two ready workers in the table {rows[0]}")
check(sum(int(n) for _, n in rows[1]) == shards, f"second moment: the workers' shards add up to the job's {shards}")
lost = [r for r in rows[2] if r[0] == "lost"]
ready = [r for r in rows[2] if r[0] == "ready"]
check(len(lost) == 1, f"after the kill: one worker shows as lost {rows[2]}")
check(len(ready) == 1 and int(ready[0][1]) == shards, f"after the kill: the other worker holds all {shards} shards")
check(points[2] > points[1], f"after the kill: the fit goes on ({points[2]} points)")
sys.exit(1 if failures else 0)
PY
echo "check-status-page: all passed (screenshots in $shots)"
