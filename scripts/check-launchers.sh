#!/usr/bin/env bash
# Checks the cluster launch files: scripts/launch-local.sh gives the model a plain fit gives,
# scripts/launch-ssh.sh does too through a private sshd (scripts/check-ssh-launch.sh), and the
# deploy files parse and use only flags `emfleet --help` knows (scripts/check-deploy.py).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
emfleet="${EMFLEET:-$root/.build/release/emfleet}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$emfleet" data generate --samples 30000 --features 4 --components 3 --seed 4 --out "$work/d.npy" >/dev/null
fit=(gmm fit --data "$work/d.npy" --components 3 --seed 2 --quiet)
"$emfleet" "${fit[@]}" --out "$work/plain.json" >/dev/null
EMFLEET="$emfleet" "$root/scripts/launch-local.sh" 3 "${fit[@]}" --out "$work/launched.json" >/dev/null 2>"$work/launch.log" \
    || { cat "$work/launch.log" >&2; echo "check-launchers: launch-local.sh failed" >&2; exit 1; }
cmp "$work/plain.json" "$work/launched.json" \
    || { echo "check-launchers: launch-local.sh gave another model than a plain fit" >&2; exit 1; }
echo "check-launchers: launch-local.sh with 3 workers gives the plain fit's model, byte for byte"

EMFLEET="$emfleet" "$root/scripts/check-ssh-launch.sh"

python3 -c "import yaml" 2>/dev/null || python3 -m pip install --quiet pyyaml 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages pyyaml
python3 "$root/scripts/check-deploy.py" --emfleet "$emfleet" | tail -1
