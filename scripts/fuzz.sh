#!/usr/bin/env bash
# Runs one libFuzzer fuzzer of emfleet for SECONDS seconds, growing its corpus in docs/fuzz/corpus/TARGET.
# Usage: scripts/fuzz.sh TARGET SECONDS      TARGET: wire | tasks | npy | csv
#
# The fuzzer is emfleet-fuzz built with -DFUZZING, the address sanitizer and coverage, in its own
# scratch path (.build-fuzz), linked with the toolchain's libclang_rt.fuzzer_no_main (its main calls
# LLVMFuzzerRunDriver). Crashes are written to fuzz/crashes/TARGET/ (ignored by git); the final
# statistics to docs/fuzz/TARGET.txt. scripts/test.sh replays the committed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh wire|tasks|npy|csv SECONDS}
seconds=${2:?usage: scripts/fuzz.sh TARGET SECONDS}
case $target in wire | tasks | npy | csv) ;; *) echo "fuzz: unknown target '$target' (wire, tasks, npy, csv)" >&2; exit 2 ;; esac

toolchain=$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")
fuzzer_lib=$(ls "$toolchain"/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | head -1)
[[ -n $fuzzer_lib ]] || { echo "fuzz: libclang_rt.fuzzer_no_main not found under $toolchain/lib/clang" >&2; exit 1; }

swift build -c release --product emfleet-fuzz --scratch-path .build-fuzz \
    -Xswiftc -DFUZZING -Xswiftc -sanitize=address \
    -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
    -Xlinker "$fuzzer_lib" -Xlinker -lstdc++ >/dev/null

corpus=docs/fuzz/corpus/$target
mkdir -p "$corpus" "fuzz/crashes/$target" docs/fuzz
seeds=docs/fuzz/seeds/$target
[[ -d $seeds ]] || seeds=""
SWIFT_BACKTRACE=enable=no EMFLEET_FUZZ_TARGET=$target .build-fuzz/release/emfleet-fuzz \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="fuzz/crashes/$target/" "$corpus" $seeds 2>&1 | tee "fuzz/crashes/$target.log" | grep -E "^#[0-9]+[[:space:]]+(DONE|INITED)|stat::|ERROR|SUMMARY" | tee "docs/fuzz/$target.txt"
# Keep the corpus small and meaningful: merge it into a minimal set that keeps its coverage.
mkdir -p "$corpus.min"
SWIFT_BACKTRACE=enable=no EMFLEET_FUZZ_TARGET=$target .build-fuzz/release/emfleet-fuzz -merge=1 "$corpus.min" "$corpus" >/dev/null 2>&1
rm -rf "$corpus" && mv "$corpus.min" "$corpus"
echo "fuzz: $target: $(ls "$corpus" | wc -l) corpus files; crashes: $(ls "fuzz/crashes/$target" | wc -l)"
