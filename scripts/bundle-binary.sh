#!/usr/bin/env bash
# Packs the release binary with the shared libraries it loads (Swift's runtime, libzmq, OpenBLAS and
# what they need; not glibc's own) into one folder, so that it runs on a machine with neither Swift
# nor these Debian packages: the 16-core device machine the scaling figures are measured on.
# The binary finds the libraries beside itself ($ORIGIN is in its run path); `DIR/emfleet` is a
# wrapper that also puts them on LD_LIBRARY_PATH for the libraries' own dependencies.
#
# Usage: scripts/bundle-binary.sh DIR   (e.g. .device/emfleet; DIR is emptied first)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
(($# == 1)) || { echo "usage: $0 DIR" >&2; exit 64; }
out=$1
cd "$root"
swift build -c release >/dev/null
rm -rf "$out"
mkdir -p "$out/lib"
strip -o "$out/lib/emfleet" .build/release/emfleet
# glibc's libraries stay: the machine's own are newer and must match its ld.so.
glibc='^(linux-vdso|ld-linux|libc|libm|libpthread|libdl|librt|libresolv|libutil)\.so'
ldd .build/release/emfleet | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | while read -r name path; do
    [[ $name =~ $glibc ]] || cp -L "$path" "$out/lib/$name"
done
missing=$(ldd .build/release/emfleet | grep -c "not found" || true)
((missing == 0)) || { echo "bundle-binary: $missing libraries of the binary are not found here" >&2; exit 1; }
cat >"$out/emfleet" <<'EOF'
#!/bin/sh
# emfleet with the libraries packed beside it (scripts/bundle-binary.sh).
here=$(cd "$(dirname "$0")" && pwd)
LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/lib/emfleet" "$@"
EOF
chmod +x "$out/emfleet"
echo "bundle-binary: $out ($(du -sh "$out" | cut -f1), $(ls "$out/lib" | wc -l) files)"
