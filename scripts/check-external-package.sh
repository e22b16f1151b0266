#!/usr/bin/env bash
# Builds and runs examples/external-package, a package that depends on emfleet by version
# (`.package(url: "https://github.com/emfleet/emfleet", from: "0.3.0")`), against a clone of
# this repository tagged with emfleet's version. SwiftPM refuses a versioned dependency whose
# products use unsafe build flags, so this fails if any library target sets unsafeFlags.
# Offline: the URL is mirrored to the local clone; swift-argument-parser resolves as usual.
#
# Usage: scripts/check-external-package.sh [REVISION]   (default HEAD; committed code only)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
revision=$(git rev-parse --verify "${1:-HEAD}^{commit}")
version=$(git show "$revision:Sources/Engine/Version.swift" | sed -n 's/.*static let string = "\([0-9.]*\)".*/\1/p')
[ -n "$version" ] || { echo "check-external-package: no version string in Sources/Engine/Version.swift at $revision" >&2; exit 1; }
if [ -n "$(git status --porcelain -- Package.swift Sources)" ]; then
    echo "check-external-package: note: uncommitted changes under Package.swift or Sources/ are not part of the check" >&2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/emfleet-external.XXXXXX")
trap 'rm -rf "$work"' EXIT

# A bare clone holding one tag, the version, on the revision checked (any other tag could be
# a higher version that `from:` would pick instead).
git clone --quiet --bare "$root" "$work/emfleet.git"
git -C "$work/emfleet.git" tag -l | xargs -r git -C "$work/emfleet.git" tag -d >/dev/null
git -C "$work/emfleet.git" tag "$version" "$revision"

cp -R examples/external-package "$work/external-package"
rm -rf "$work/external-package/.build" "$work/external-package/.swiftpm" "$work/external-package/Package.resolved"
cd "$work/external-package"
swift package config set-mirror --original https://github.com/emfleet/emfleet --mirror "$work/emfleet.git"

echo "== examples/external-package against emfleet $version (${revision:0:12}), debug build"
# No shared repository cache: each run's clone is new, and would otherwise stay cached.
set +e
swift build --scratch-path "$work/build" --disable-dependency-cache 2>&1 | tee "$work/build.log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    if grep -q "unsafe build flags" "$work/build.log"; then
        echo "check-external-package: SwiftPM refuses emfleet as a versioned dependency: a product uses unsafe build flags" >&2
    fi
    exit 1
fi
grep -q "prohibited flag" "$work/build.log" && { echo "check-external-package: the build warned of prohibited flags" >&2; exit 1; }
"$work/build/debug/FitMixture"
