#!/usr/bin/env bash
# The PyTorch comparison of scripts/bench-mlp.sh with N local workers and N DDP processes, on a
# machine that has neither Swift nor emfleet's libraries: the 16-core device machine (issue 18's
# 4-worker table). Two steps:
#
#   scripts/device-bench-mlp.sh --prepare   # here: packs the binary and its libraries
#                                           # (scripts/bundle-binary.sh) and the PyTorch anchor
#                                           # into .device/carry (about 31 MB; git ignores .device)
#   scripts/device-bench-mlp.sh [--workers 4] [--repeats 3] [--out DIR]
#                                           # there: unpacks them and runs the comparison twice,
#                                           # with emfleet's default shards (one per 64 rows of a
#                                           # batch) and with one shard per CPU
#
# With the device tool: run(command: "scripts/device-bench-mlp.sh --out $OUT", carry: [".device/carry"],
# timeout_s: 570). It needs python3 with numpy and torch there (the device image has both).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
carry=$root/.device/carry

if [[ ${1:-} == --prepare ]]; then
    "$root/scripts/bundle-binary.sh" "$root/.device/emfleet"
    mkdir -p "$carry"
    tar -C "$root/.device" -cJf "$carry/emfleet.tar.xz" emfleet
    install -m 644 "$root/../shared/anchors/torch_ddp_mlp.py" "$carry/"
    echo "device-bench-mlp: $carry ready ($(du -sh "$carry" | cut -f1)); carry .device/carry"
    exit 0
fi

workers=4 repeats=3 out=""
while (($#)); do
    case $1 in
        --workers) workers=$2; shift 2 ;;
        --repeats) repeats=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "device-bench-mlp: unknown option $1" >&2; exit 64 ;;
    esac
done
[[ -f $carry/emfleet.tar.xz ]] || { echo "device-bench-mlp: no $carry/emfleet.tar.xz: run --prepare first and carry .device/carry" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xJf "$carry/emfleet.tar.xz"
emfleet=$work/emfleet/emfleet
log=${out:+$out/device-bench-mlp.txt}
log=${log:-/dev/null}
{
    echo "# $(date -u +%FT%TZ) $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
    echo "# $("$emfleet" --version); python3 $(python3 -c 'import sys, torch, numpy; print(sys.version.split()[0], "torch", torch.__version__, "numpy", numpy.__version__)')"
    "$emfleet" mlp train --help >/dev/null
    export PYTHONUNBUFFERED=1
    python3 "$root/scripts/bench_mlp.py" --emfleet "$emfleet" --data-dir "$work/data" --only-torch --repeats "$repeats" \
        --fleet-workers "$workers" --anchor "$carry/torch_ddp_mlp.py"
    python3 "$root/scripts/bench_mlp.py" --emfleet "$emfleet" --data-dir "$work/data" --only-torch --repeats "$repeats" \
        --fleet-workers "$workers" --anchor "$carry/torch_ddp_mlp.py" --shards "$(nproc)"
} 2>&1 | tee "$log"
