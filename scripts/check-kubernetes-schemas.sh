#!/usr/bin/env bash
# Validates every manifest under deploy/kubernetes against the Kubernetes API's own OpenAPI
# schemas for a named Kubernetes version, offline: kubernetes-validate (PyPI) ships the schemas of
# every release inside the package. Strict: a field the API does not define (a typo such as
# `parallelizm`) fails, as does a wrong type or a missing required field. This is in addition to
# scripts/check-deploy.py, which checks that the manifests agree with each other and with
# `emfleet --help`.
#
# First it makes sure the validator can fail: a copy of workers.yaml with an unknown field and
# one with a string where the API wants an integer must both be rejected.
#
# Usage: scripts/check-kubernetes-schemas.sh
#   KUBERNETES_VERSION=1.33.0  the version whose schemas to use (default 1.33.0)
#
# Installs kubernetes-validate with pip when it is missing; if that fails (no network, no pip),
# the check is skipped (exit 0) with the reason.
set -euo pipefail

me=check-kubernetes-schemas
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=${KUBERNETES_VERSION:-1.33.0}
package="kubernetes-validate==1.37.0" # ships the schemas of Kubernetes 1.25 to 1.37

if ! python3 -c "import kubernetes_validate" 2>/dev/null; then
    echo "$me: installing $package with pip"
    python3 -m pip install --quiet "$package" 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages "$package" 2>/dev/null \
        || { echo "$me: skipped: cannot install $package with pip (no network or no pip); the manifests are checked by check-deploy.py only"; exit 0; }
fi
validate() { python3 -m kubernetes_validate --strict --kubernetes-version "$version" "$@"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$root/deploy/kubernetes/workers.yaml" "$work" <<'PY'
import sys, yaml
source, work = sys.argv[1], sys.argv[2]
docs = [d for d in yaml.safe_load_all(open(source)) if d]
job = next(d for d in docs if d["kind"] == "Job")
unknown = yaml.safe_load(yaml.safe_dump(job))
unknown["spec"]["parallelizm"] = unknown["spec"].pop("parallelism")
wrong_type = yaml.safe_load(yaml.safe_dump(job))
wrong_type["spec"]["parallelism"] = "four"
yaml.safe_dump(unknown, open(f"{work}/unknown-field.yaml", "w"))
yaml.safe_dump(wrong_type, open(f"{work}/wrong-type.yaml", "w"))
PY
for bad in unknown-field wrong-type; do
    if validate "$work/$bad.yaml" >"$work/$bad.log" 2>&1; then
        cat "$work/$bad.log" >&2
        echo "$me: FAIL: kubernetes-validate accepted workers.yaml with an error put in ($bad): it checks nothing" >&2
        exit 1
    fi
done
echo "$me: ok: the validator rejects a Job with an unknown field and one with a wrong type"

files=("$root"/deploy/kubernetes/*.yaml)
if ! validate "${files[@]}" >"$work/all.log" 2>&1; then
    cat "$work/all.log" >&2
    echo "$me: FAIL: deploy/kubernetes does not validate against the schemas of Kubernetes $version" >&2
    exit 1
fi
resources=$(grep -c "passed for resource" "$work/all.log" || true)
((resources > 0)) || { cat "$work/all.log" >&2; echo "$me: FAIL: no resource was validated" >&2; exit 1; }
echo "$me: ok: ${#files[@]} files, $resources resources in deploy/kubernetes valid against the schemas of Kubernetes $version (strict, kubernetes-validate $(python3 -c 'import kubernetes_validate; print(kubernetes_validate.__version__)' 2>/dev/null || echo '?'))"
