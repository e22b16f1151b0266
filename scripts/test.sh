#!/usr/bin/env bash
# The test command: set-up, release build, the Swift test suite, then the checks that need Python.
# Usage: scripts/test.sh            (from anywhere inside the repository)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== swift build (release)"
swift build -c release
echo "== swift test (release)"
swift build -c release --build-tests
# The binary re-executes itself with a better OpenBLAS kernel on CPUs OpenBLAS does not recognise
# (Sources/Numerics/BLASKernel.swift); the test process cannot. Give the whole run the kernel the
# binary chose, so the in-process arithmetic runs it too (the harness passes the test process's
# kernel to every emfleet it starts either way, for the comparisons made bit for bit).
if [[ -z ${OPENBLAS_CORETYPE:-} ]]; then
    chosen=$(.build/release/emfleet info --json | sed -n 's/.*"openblas_coretype_env": "\([^"]*\)".*/\1/p')
    if [[ -n $chosen && $chosen != - ]]; then
        export OPENBLAS_CORETYPE=$chosen
        echo "OPENBLAS_CORETYPE=$chosen for the tests and checks (the kernel emfleet chose for this CPU)"
    fi
fi
EMFLEET_BIN="$PWD/.build/release/emfleet" swift test -c release --skip-build

echo "== Python checks"
if ! python3 -c "import sklearn" 2>/dev/null; then
    echo "installing scikit-learn with pip"
    python3 -m pip install --quiet scikit-learn 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages scikit-learn
fi
scripts/check-readme-sklearn.sh
echo "== emfleet from Python: the package's tests, scikit-learn's estimator checks and mixture tests, the example"
scripts/check-python.sh
echo "== the README's tour, as written, from an empty directory"
scripts/check-readme.sh
scripts/check-launchers.sh
echo "== Slurm: deploy/slurm/emfleet.sbatch on a private two-node cluster"
scripts/check-slurm.sh
echo "== hosts and links that fail: network namespaces, 5 ± 2 ms links with 1% loss, cuts"
scripts/check-netns.sh
echo "== Kubernetes manifests against the API's own schemas"
scripts/check-kubernetes-schemas.sh
echo "== a job in containers (podman): the Dockerfile's final stage"
scripts/check-container.sh
echo "== C kernels: the same bits on every instruction set"
scripts/check-kernel-bits.sh
echo "== reports in headless Chromium"
scripts/check-reports.sh
echo "== --status: /metrics through promtool and a real Prometheus"
scripts/check-metrics.sh
echo "== --status: the live page in headless Chromium during a 2-worker fit"
scripts/check-status-page.sh
echo "== fuzz corpus replay"
for target in wire tasks npy csv; do
    EMFLEET_FUZZ_TARGET=$target .build/release/emfleet-fuzz --replay docs/fuzz/corpus/$target/* docs/fuzz/seeds/$target/*
done
echo "== emfleet as a versioned dependency of another package"
scripts/check-external-package.sh
echo "== examples/seed"
examples/seed/run.sh "$(mktemp -d)" | tail -4
echo "== all tests passed"
