#!/usr/bin/env bash
# The Python package (python/): installs it into a fresh virtual environment (using the machine's
# numpy and scikit-learn), then runs
#   1. its own tests (python/tests/test_estimators.py),
#   2. scikit-learn's estimator checks on every estimator (python/tests/test_sklearn_checks.py),
#   3. scikit-learn's own sklearn/mixture/tests/test_gaussian_mixture.py, from the installed
#      scikit-learn, with its GaussianMixture rebound to emfleet.GaussianMixture (the tests listed in
#      python/tests/sklearn_mixture_exclusions.txt left out, each with its reason),
#   4. the notebook-style example examples/python/fleet_notebook.py at its own size, 1,000,000 rows
#      (about 30 s on 2 cores; EMFLEET_EXAMPLE_ROWS=N runs it on N rows).
# Usage: scripts/check-python.sh        (after swift build -c release)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export EMFLEET_BIN="${EMFLEET_BIN:-$root/.build/release/emfleet}"
[[ -x $EMFLEET_BIN ]] || { echo "check-python: no $EMFLEET_BIN; run swift build -c release first" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Debian splits venv's ensurepip into python3-venv.
python3 -c "import ensurepip" 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; } >/dev/null 2>&1 || true
python3 -m venv --system-site-packages "$work/venv"
py="$work/venv/bin/python"
# As the README says: pip install ./python (its build files stay in python/build, git-ignored).
"$py" -m pip install --quiet "$root/python" 2>&1 | grep -v "^\[notice\]" || true
"$py" -c "import emfleet, sys; sys.exit(0 if emfleet.__file__.startswith('$work/venv') else 1)" \
    || { echo "check-python: emfleet did not install into the virtual environment" >&2; exit 1; }
# Without EMFLEET_BIN the installed package finds the binary of the checkout it came from.
found=$(cd "$work" && env -u EMFLEET_BIN PATH=/usr/bin:/bin "$py" -c "import emfleet; print(emfleet.find_binary())")
[[ $found == "$root/.build/release/emfleet" ]] \
    || { echo "check-python: the installed package found '$found', not $root/.build/release/emfleet" >&2; exit 1; }
"$py" -m pytest --version >/dev/null 2>&1 || "$py" -m pip install --quiet pytest

cd "$work"
echo "-- the package's own tests"
"$py" -m pytest -q -p no:cacheprovider "$root/python/tests/test_estimators.py"
echo "-- scikit-learn's estimator checks"
"$py" -m pytest -q -p no:cacheprovider "$root/python/tests/test_sklearn_checks.py" -W ignore::sklearn.exceptions.ConvergenceWarning

echo "-- scikit-learn's test_gaussian_mixture.py with emfleet.GaussianMixture"
source=$("$py" -c "import sklearn.mixture.tests, os; print(os.path.join(os.path.dirname(sklearn.mixture.tests.__file__), 'test_gaussian_mixture.py'))")
mkdir -p "$work/sklearn-tests"
sed 's/^from sklearn.mixture import GaussianMixture$/from emfleet import GaussianMixture/' "$source" > "$work/sklearn-tests/test_gaussian_mixture.py"
grep -q '^from emfleet import GaussianMixture$' "$work/sklearn-tests/test_gaussian_mixture.py" \
    || { echo "check-python: $source no longer imports GaussianMixture as expected" >&2; exit 1; }
deselect=()
while read -r name _; do
    [[ -z $name || $name == \#* ]] && continue
    deselect+=(--deselect "sklearn-tests/test_gaussian_mixture.py::$name")
done < "$root/python/tests/sklearn_mixture_exclusions.txt"
"$py" -m pytest -q -p no:cacheprovider -p sklearn.conftest "sklearn-tests/test_gaussian_mixture.py" "${deselect[@]}"

echo "-- examples/python/fleet_notebook.py"
"$py" "$root/examples/python/fleet_notebook.py"
echo "check-python: all passed"
