#!/usr/bin/env bash
# Builds the C kernels (Sources/CKernels) for each instruction set this CPU can run, without the
# run-time clones, and checks that every build gives the same output bits on the same inputs
# (scripts/kernels/clone_bits.c): a model must not depend on which clone a machine picks.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
clang="$(dirname "$(command -v swift)")/clang"
[[ -x $clang ]] || clang=$(command -v clang)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(-O2 -DEMFLEET_NO_CLONES -I "$root/Sources/CKernels/include" "$root/Sources/CKernels/kernels.c" "$root/scripts/kernels/clone_bits.c" -lm)
reference=""
for march in x86-64 haswell skylake-avx512; do
    case $march in
        haswell) grep -qw fma /proc/cpuinfo && grep -qw avx2 /proc/cpuinfo || { echo "check-kernel-bits: $march: not run (no AVX2/FMA here)"; continue; } ;;
        skylake-avx512) grep -qw avx512f /proc/cpuinfo || { echo "check-kernel-bits: $march: not run (no AVX-512 here)"; continue; } ;;
    esac
    "$clang" -march="$march" "${flags[@]}" -o "$work/bits-$march"
    bits=$("$work/bits-$march")
    echo "check-kernel-bits: -march=$march: $bits"
    if [[ -z $reference ]]; then reference=$bits; elif [[ $bits != "$reference" ]]; then
        echo "check-kernel-bits: -march=$march gives other bits than -march=x86-64" >&2; exit 1
    fi
done
echo "check-kernel-bits: every build gives the same bits"
