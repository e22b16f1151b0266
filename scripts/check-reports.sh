#!/usr/bin/env bash
# Renders a report of each kind (gmm fit, variational gmm fit, gmm select, mlp train, pipeline fit, kmeans fit, dagmm fit) in headless Chromium
# and checks the rendered page: the charts are there, the log-likelihood chart has a point per EM
# iteration, the BIC chart a point per candidate K; then lays every report out at 800 and 1600 pixels
# wide and measures it: each SVG scales with the window (no horizontal scroll), no axis title overlaps
# a tick label, every ellipse is clipped to its plot, tables name the feature columns, the principal
# plane is of the standardised columns (one column 1000× the others does not take it all), and each
# command printed where its report is. Fails (does not skip) without Chromium.
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
"$emfleet" data generate --samples 20000 --features 3 --components 3 --seed 8 --out "$work/x.csv" >/dev/null  # the same rows, with a header
# One column on a scale 1000 times the others': unstandardised, it would be the whole principal plane.
python3 -c "import numpy as np, sys; x = np.load(sys.argv[1]); x[:, 0] *= 1000; np.save(sys.argv[2], x)" "$work/x.npy" "$work/wide.npy"
"$emfleet" gmm fit --data "$work/x.csv" --components 3 --seed 1 --tol 0 --max-iter 15 --init random --quiet --out "$work/fit.json" --report "$work/fit" --workers 2 > "$work/fit.out" 2>/dev/null
"$emfleet" gmm fit --data "$work/wide.npy" --components 3 --seed 1 --quiet --out "$work/wide.json" --report "$work/wide" >/dev/null
"$emfleet" gmm select --data "$work/x.npy" --components 1...6 --covariance full,diag --out "$work/select.json" --report "$work/select" >/dev/null
"$emfleet" mlp train --data "$work/x.npy" --labels "$work/y.npy" --hidden 8 --epochs 7 --validation-split 0.2 --quiet \
    --out "$work/mlp.json" --report "$work/mlp" >/dev/null
"$emfleet" pipeline fit --data "$work/x.npy" --components 2...4 --epochs 5 --out "$work/pipeline.json" --report "$work/pipeline" >/dev/null
"$emfleet" gmm fit --data "$work/x.npy" --components 6 --variational dirichlet-process --seed 1 --quiet --out "$work/vb.json" --report "$work/vb" >/dev/null 2>&1
"$emfleet" kmeans fit --data "$work/x.npy" -k 4 --tol 0 --max-iter 6 --quiet --out "$work/kmeans.json" --report "$work/kmeans" --workers 2 >/dev/null 2>&1
"$emfleet" dagmm fit --data "$work/x.npy" --components 3 --encoder 8,1 --epochs 12 --batch-size 512 --quiet --out "$work/dagmm.json" --report "$work/dagmm" >/dev/null 2>&1

for kind in fit select mlp pipeline kmeans vb dagmm; do render "$work/$kind" > "$work/$kind.dom"; done

# Layout at two window widths: a copy of each page with a script that measures what Chromium laid out.
cat > "$work/measure.js" <<'JS'
const box = e => e.getBoundingClientRect();
const overlaps = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
const charts = [...document.querySelectorAll('svg[id]')].map(svg => {
  const xt = svg.querySelector('text.x-title'), yt = svg.querySelector('text.y-title');
  const ticks = [...svg.querySelectorAll('g.axis text')].filter(t => t !== xt && t !== yt);
  return {id: svg.id, width: box(svg).width,
          overlaps: ticks.filter(t => overlaps(box(t), box(xt)) || overlaps(box(t), box(yt))).length,
          ellipses: svg.querySelectorAll('ellipse').length,
          unclipped: [...svg.querySelectorAll('ellipse, circle.sample')].filter(e => !e.closest('g[clip-path]')).length};
});
const result = {client: document.documentElement.clientWidth, scroll: document.documentElement.scrollWidth, charts};
document.body.insertAdjacentHTML('beforeend', '<pre id="measure">' + JSON.stringify(result) + '</pre>');
JS
for kind in fit select mlp pipeline kmeans vb wide dagmm; do
    sed 's#</body>#<script src="../measure.js"></script></body>#' "$work/$kind/index.html" > "$work/$kind/measured.html"
    for width in 800 1600; do
        timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=$width,1200 \
            --dump-dom "file://$work/$kind/measured.html" 2>/dev/null | sed -n 's#.*<pre id="measure">\(.*\)</pre>.*#\1#p' > "$work/$kind.$width.json"
    done
done

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
dagmm = open(f"{work}/dagmm.dom").read()
check(all(f'id="{i}"' in dagmm for i in ["loss", "energies", "latent"]), "dagmm fit report: loss, energy and latent charts rendered")
check(count(dagmm, r'class="point loss"') == 12, "dagmm fit report: 12 loss points, one per epoch")
check(count(dagmm, r'class="marker"') == 1 and count(dagmm, r'<rect class="bin"') >= 5, "dagmm fit report: an energy histogram with the threshold")
check(count(dagmm, r'class="sample component-') == 5000, "dagmm fit report: 5,000 rows on the latent plane")

for kind in ["fit", "select", "mlp", "pipeline", "kmeans", "vb", "wide", "dagmm"]:
    for width in [800, 1600]:
        text = open(f"{work}/{kind}.{width}.json").read().strip()
        if not text:
            check(False, f"{kind} report at {width} px: measured")
            continue
        m = json.loads(text.replace("&quot;", '"'))
        charts = m["charts"]
        check(m["scroll"] <= m["client"] and all(0 < c["width"] <= m["client"] for c in charts),
              f"{kind} report at {width} px: {len(charts)} charts fit the window ({', '.join(str(round(c['width'])) for c in charts)} of {m['client']} px)")
        check(all(c["overlaps"] == 0 for c in charts), f"{kind} report at {width} px: no axis title overlaps a tick label")
        check(all(c["unclipped"] == 0 for c in charts), f"{kind} report at {width} px: every point and ellipse is clipped to its plot")
    if kind in ["fit", "select", "kmeans"]:
        m800, m1600 = (json.loads(open(f"{work}/{kind}.{w}.json").read()) for w in [800, 1600])
        check(m800["charts"][0]["width"] < m1600["charts"][0]["width"], f"{kind} report: the charts scale with the window")

check(re.search(r"<th>mean x0</th><th>mean x1</th><th>mean x2</th>", fit) is not None, "gmm fit report: the parameters table names the feature columns")
check("PC1 of the standardised columns" in fit, "gmm fit report: the principal plane is said to be of the standardised columns")
wide = open(f"{work}/wide/index.html").read()
share = re.search(r"PC1 of the standardised columns \((\d+)% of their variance\)", wide)
check(share is not None and int(share.group(1)) < 90, f"a column 1000x the others does not take the plane (PC1 {share.group(1) if share else '?'}%)")
printed = open(f"{work}/fit.out").read()
check(f"report written to {work}/fit/index.html" in printed, "gmm fit says where the report is")
sys.exit(1 if failures else 0)
PY

if [[ ${1:-} == --screenshot && -n ${2:-} ]]; then
    timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,1400 \
        --screenshot="$2" "file://$work/fit/index.html" >/dev/null 2>&1
    echo "screenshot: $2"
fi
