#!/usr/bin/env bash
# Runs the README's tour (the ```sh block between the <!-- tour:begin --> and <!-- tour:end -->
# markers) as written, line by line, from an empty temporary directory, with $emfleet set to this
# build's binary instead of the tour's first line; fails on the first command that fails, naming it.
# Then checks what the tour says of its results: `gmm select` finds the 16 generating components, and
# the network had something to learn (its first epoch is not already its best).
# Usage: scripts/check-readme.sh        (EMFLEET_BIN overrides the binary)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
emfleet="${EMFLEET_BIN:-$root/.build/release/emfleet}"
[[ -x $emfleet ]] || { echo "check-readme: no emfleet binary at $emfleet (swift build -c release)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

awk '/<!-- tour:begin -->/{on=1; next} /<!-- tour:end -->/{on=0} on && !/^```/' "$root/README.md" > "$work/tour.sh"
[[ -s $work/tour.sh ]] || { echo "check-readme: no tour between the README's markers" >&2; exit 1; }

cd "$work"
count=0
while IFS= read -r line; do
    [[ -z ${line// } || $line =~ ^[[:space:]]*# ]] && continue
    # The tour's own `emfleet=…` line names the binary relative to a checkout; this build's replaces it.
    [[ $line =~ ^emfleet= ]] && continue
    count=$((count + 1))
    echo "check-readme: $line"
    if ! (export emfleet; bash -euo pipefail -c "$line") > "$work/out.log" 2>&1; then
        echo "check-readme: FAILED: $line" >&2
        tail -20 "$work/out.log" >&2
        exit 1
    fi
done < "$work/tour.sh"
echo "check-readme: ran the tour's $count commands"

# The tour's network: learning shows in its history (the data are not separable from the first epoch).
python3 - <<'PY'
import json, sys
chosen = json.load(open("best.json"))["n_components"]
print(f"check-readme: gmm select chose {chosen} components (the data has 16)")
if chosen != 16:
    sys.exit(1)
history = json.load(open("net.json"))["history"]
key = "validation_accuracy" if history[0].get("validation_accuracy") is not None else "accuracy"
first, best = history[0][key], max(h[key] for h in history)
print(f"check-readme: the tour's network: {key} {first:.4f} after epoch 1, best {best:.4f} over {len(history)} epochs")
sys.exit(0 if first < 0.97 and best > first + 0.005 else 1)
PY
