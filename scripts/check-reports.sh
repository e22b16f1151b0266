#!/usr/bin/env bash
# Renders a report of each kind (gmm fit, variational gmm fit, gmm select, mlp train, pipeline fit, kmeans fit) in headless Chromium
# and checks the rendered page: the charts are there, the log-likelihood chart has a point per EM
# iteration, the BIC chart a point per candidate K. Fails (does not skip) without Chromium.
# Usage: scripts/check-reports.sh [--screenshot FILE]    (FILE: a PNG of the gmm fit report)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
emfleet="${EMFLEET_BIN:-$root/.build/release/emfleet}"
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[[ -n $browser ]] || { echo "check-reports: no Chromium on PATH; scripts/setup.sh installs it" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

render() {  # render DIR: the DOM Chromium builds from DIR/index.html
    timeout 120 "$browser" --headless --no-sandbox --disable-gpu --dump-dom "file://$1/index.html" 2>/dev/null
}

"$emfleet" data generate --samples 20000 --features 3 --components 3 --seed 8 --out "$work/x.npy" --labels "$work/y.npy" >/dev/null
"$emfleet" gmm fit --data "$work/x.npy" --components 3 --seed 1 --tol 0 --max-iter 15 --init random --quiet --out "$work/fit.json" --report "$work/fit" --workers 2 >/dev/null 2>&1
"$emfleet" gmm select --data "$work/x.npy" --components 1...6 --covariance full,diag --out "$work/select.json" --report "$work/select" >/dev/null
"$emfleet" mlp train --data "$work/x.npy" --labels "$work/y.npy" --hidden 8 --epochs 7 --validation-split 0.2 --quiet \
    --out "$work/mlp.json" --report "$work/mlp" >/dev/null
"$emfleet" pipeline fit --data "$work/x.npy" --components 2...4 --epochs 5 --out "$work/pipeline.json" --report "$work/pipeline" >/dev/null
"$emfleet" gmm fit --data "$work/x.npy" --components 6 --variational dirichlet-process --seed 1 --quiet --out "$work/vb.json" --report "$work/vb" >/dev/null 2>&1
"$emfleet" kmeans fit --data "$work/x.npy" -k 4 --tol 0 --max-iter 6 --quiet --out "$work/kmeans.json" --report "$work/kmeans" --workers 2 >/dev/null 2>&1

for kind in fit select mlp pipeline kmeans vb; do render "$work/$kind" > "$work/$kind.dom"; done

python3 - "$work" <<'PY'
import json, re, sys
work = sys.argv[1]
failures = []
def check(condition, message):
    print(("ok   " if condition else "FAIL ") + message)
    if not condition:
        failures.append(message)
def count(dom, pattern):
    return len(re.findall(pattern, dom))

fit = open(f"{work}/fit.dom").read()
model = json.load(open(f"{work}/fit.json"))
check('id="log-likelihood"' in fit and 'id="projection"' in fit, "gmm fit report: log-likelihood and projection charts rendered")
check(count(fit, r'class="point ll"') == model["n_iter"], f"gmm fit report: {model['n_iter']} log-likelihood points, one per iteration")
check(count(fit, r'<ellipse class="ellipse') == 3, "gmm fit report: one 2-sigma ellipse per component")
check(count(fit, r'class="sample component-') == 5000, "gmm fit report: a sample of 5,000 points")

select = open(f"{work}/select.dom").read()
check('id="criteria"' in select and 'id="projection"' in select, "gmm select report: criteria and projection charts rendered")
check(count(select, r'class="point bic"') == 12, "gmm select report: 12 BIC points (K = 1..6, two covariance types)")

mlp = open(f"{work}/mlp.dom").read()
check('id="loss"' in mlp and 'id="accuracy"' in mlp, "mlp train report: loss and accuracy charts rendered")
check(count(mlp, r'class="point loss"') == 7 and count(mlp, r'class="point val-loss"') == 7, "mlp train report: 7 training and 7 validation loss points")

pipeline = open(f"{work}/pipeline.dom").read()
check(all(f'id="{i}"' in pipeline for i in ["criteria", "log-likelihood", "projection", "loss"]), "pipeline report: selection, mixture and network charts rendered")
check(count(pipeline, r'class="point bic"') == 3, "pipeline report: 3 BIC points (K = 2..4)")

vb = open(f"{work}/vb.dom").read()
check('id="weights"' in vb and 'id="projection"' in vb, "variational gmm fit report: weights and projection charts rendered")
check(count(vb, r'<rect class="bar"') == 6 and count(vb, r'class="threshold"') == 1, "variational gmm fit report: 6 weight bars and the threshold line")

kmeans = open(f"{work}/kmeans.dom").read()
centres = json.load(open(f"{work}/kmeans.json"))
check('id="inertia"' in kmeans and 'id="projection"' in kmeans, "kmeans fit report: inertia and projection charts rendered")
check(count(kmeans, r'class="point inertia"') == centres["n_iter"], f"kmeans fit report: {centres['n_iter']} inertia points, one per iteration")
check(count(kmeans, r'<ellipse class="ellipse') == 4, "kmeans fit report: one mark per centre")
sys.exit(1 if failures else 0)
PY

if [[ ${1:-} == --screenshot && -n ${2:-} ]]; then
    timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,1400 \
        --screenshot="$2" "file://$work/fit/index.html" >/dev/null 2>&1
    echo "screenshot: $2"
fi
