#!/usr/bin/env bash
# Checks the cluster launch files: scripts/launch-local.sh gives the model a plain fit gives (with
# and without --curve), scripts/launch-ssh.sh does too through a private sshd, with its CURVE run
# keys, --keys and --insecure (scripts/check-ssh-launch.sh), and the deploy files parse, use only
# flags `emfleet --help` knows and carry keys wherever they bind or connect beyond loopback
# (scripts/check-deploy.py).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
emfleet="${EMFLEET:-$root/.build/release/emfleet}"
work=$(mktemp -d)
launcher=""
# On a failure, the launcher still running stops its coordinator and workers before the files go.
cleanup() {
    if [[ -n $launcher ]] && kill -0 "$launcher" 2>/dev/null; then
        kill -TERM "$launcher" 2>/dev/null || true
        wait "$launcher" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

"$emfleet" data generate --samples 30000 --features 4 --components 3 --seed 4 --out "$work/d.npy" >/dev/null
fit=(gmm fit --data "$work/d.npy" --components 3 --seed 2 --quiet)
"$emfleet" "${fit[@]}" --out "$work/plain.json" >/dev/null
EMFLEET="$emfleet" "$root/scripts/launch-local.sh" 3 "${fit[@]}" --out "$work/launched.json" >/dev/null 2>"$work/launch.log" \
    || { cat "$work/launch.log" >&2; echo "check-launchers: launch-local.sh failed" >&2; exit 1; }
cmp "$work/plain.json" "$work/launched.json" \
    || { echo "check-launchers: launch-local.sh gave another model than a plain fit" >&2; exit 1; }
echo "check-launchers: launch-local.sh with 3 workers gives the plain fit's model, byte for byte"
mkdir "$work/tmp"
TMPDIR="$work/tmp" EMFLEET="$emfleet" "$root/scripts/launch-local.sh" --curve 3 "${fit[@]}" --out "$work/curve.json" --log-format json \
    >"$work/curve.log" 2>&1 || { cat "$work/curve.log" >&2; echo "check-launchers: launch-local.sh --curve failed" >&2; exit 1; }
cmp "$work/plain.json" "$work/curve.json" \
    || { echo "check-launchers: launch-local.sh --curve gave another model than a plain fit" >&2; exit 1; }
for i in 1 2 3; do
    grep -F '"event":"worker_joined"' "$work/curve.log" | grep -qF "\"name\":\"local-$i\"" \
        || { cat "$work/curve.log" >&2; echo "check-launchers: launch-local.sh --curve: worker local-$i did not join" >&2; exit 1; }
done
[[ -z $(ls -A "$work/tmp") ]] || { echo "check-launchers: launch-local.sh --curve left its run keys in $work/tmp" >&2; exit 1; }
echo "check-launchers: launch-local.sh --curve (CURVE run keys) gives the same model; all 3 worker keys joined; the keys are gone"

# Through aggregators, with CURVE end to end: 2 aggregators admitted with their own keys, 4 workers
# behind them admitted with keys the coordinator listed, the same model.
TMPDIR="$work/tmp" EMFLEET="$emfleet" "$root/scripts/launch-local.sh" --aggregators 2 --curve 4 "${fit[@]}" --out "$work/tiered.json" \
    --log-format json >"$work/tiered.log" 2>&1 || { cat "$work/tiered.log" >&2; echo "check-launchers: launch-local.sh --aggregators 2 failed" >&2; exit 1; }
cmp -s "$work/plain.json" "$work/tiered.json" \
    || { echo "check-launchers: launch-local.sh --aggregators 2 gave another model than a plain fit" >&2; exit 1; }
[[ $(grep -c '"event":"aggregator_joined"' "$work/tiered.log") == 2 && $(grep '"event":"worker_joined"' "$work/tiered.log" | grep -c '"via_aggregator":[0-9]') == 4 ]] \
    || { cat "$work/tiered.log" >&2; echo "check-launchers: launch-local.sh --aggregators 2: not 2 aggregators and 4 workers joined" >&2; exit 1; }
echo "check-launchers: launch-local.sh --aggregators 2 --curve 4 gives the same model; 2 aggregators and 4 workers behind them joined"

# A launcher killed with SIGKILL runs no clean-up: its coordinator and workers (--exit-with-parent)
# notice their parent is gone and stop by themselves, the coordinator naming why. The fit cannot
# end by itself however fast the CPU (--tol 0: EM's change is never below 0; a million iterations),
# and the launcher is killed only once there is evidence that the job runs: the checkpoint the
# coordinator writes after each M-step with both workers joined.
EMFLEET="$emfleet" "$root/scripts/launch-local.sh" 2 gmm fit --data "$work/d.npy" --components 3 --max-iter 1000000 --tol 0 \
    --out "$work/long.json" >"$work/long.log" 2>&1 &
launcher=$!
for _ in $(seq 300); do
    [[ -s $work/long.json.checkpoint ]] && grep -q "worker 2 joined" "$work/long.log" && break
    kill -0 "$launcher" 2>/dev/null || break
    sleep 0.1
done
if ! kill -0 "$launcher" 2>/dev/null || [[ ! -s $work/long.json.checkpoint ]]; then
    cat "$work/long.log" >&2
    echo "check-launchers: the never-ending fit under launch-local.sh was not running with 2 workers within 30 s" >&2
    exit 1
fi
# Its emfleet children by executable: a re-executed emfleet (BLASKernel) is named "exe", and the
# launcher's other children are the shells that prefix the workers' output.
binary=$(readlink -f "$emfleet")
children=()
for pid in $(pgrep -P "$launcher" || true); do
    [[ $(readlink -f "/proc/$pid/exe" 2>/dev/null) == "$binary" ]] && children+=("$pid")
done
if ((${#children[@]} != 3)); then
    ps -o pid,ppid,comm,args --ppid "$launcher" >&2 || true
    echo "check-launchers: expected a coordinator and 2 workers under launch-local.sh, found ${#children[@]} emfleet processes" >&2
    exit 1
fi
# The two workers are pinned to CPUs of their own when together they take every CPU this script
# may use (launch-local.sh's default threads: online CPUs / 2), and left to the scheduler otherwise.
online=$(getconf _NPROCESSORS_ONLN)
threads=$((online / 2 > 0 ? online / 2 : 1))
own=$(awk '/^Cpus_allowed_list:/ { print $2 }' /proc/self/status)
worker_cpus=()
for pid in "${children[@]}"; do
    if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q ' worker '; then
        worker_cpus+=("$(awk '/^Cpus_allowed_list:/ { print $2 }' "/proc/$pid/status")")
    fi
done
if ((2 * threads == $(nproc))); then
    if ((${#worker_cpus[@]} != 2)) || [[ ${worker_cpus[0]} == "$own" || ${worker_cpus[1]} == "$own" || ${worker_cpus[0]} == "${worker_cpus[1]}" ]]; then
        echo "check-launchers: 2 workers of $threads threads on $(nproc) CPUs ($own) should each have CPUs of their own, had: ${worker_cpus[*]}" >&2
        exit 1
    fi
    echo "check-launchers: launch-local.sh pinned its 2 workers to CPUs ${worker_cpus[0]} and ${worker_cpus[1]} of $own"
elif [[ ${worker_cpus[*]} != "$own $own" ]]; then
    echo "check-launchers: 2 workers of $threads threads on $(nproc) CPUs should not be pinned, had: ${worker_cpus[*]} (own $own)" >&2
    exit 1
fi
# (Quietly: bash would report the killed job.)
{ kill -9 "$launcher"; wait "$launcher"; } 2>/dev/null || true
launcher=""
alive=()
for _ in $(seq 50); do
    alive=()
    for pid in "${children[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    ((${#alive[@]} == 0)) && break
    sleep 0.1
done
if ((${#alive[@]})); then
    kill -9 "${alive[@]}"
    echo "check-launchers: after SIGKILL of launch-local.sh, pids ${alive[*]} were still running 5 s later" >&2
    exit 1
fi
grep -q "the process that started this coordinator has exited" "$work/long.log" \
    || { cat "$work/long.log" >&2; echo "check-launchers: the orphaned coordinator did not say why it stopped" >&2; exit 1; }
echo "check-launchers: after SIGKILL of launch-local.sh its coordinator and 2 workers stopped by themselves within 5 s"

EMFLEET="$emfleet" "$root/scripts/check-ssh-launch.sh"

python3 -c "import yaml" 2>/dev/null || python3 -m pip install --quiet pyyaml 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages pyyaml
python3 "$root/scripts/check-deploy.py" --emfleet "$emfleet" | tail -1
