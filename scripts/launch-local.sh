#!/usr/bin/env bash
# Runs one emfleet job on this machine the way a cluster runs it: a coordinator bound on a loopback
# TCP port and N `emfleet worker` processes connecting to it. Unlike `--workers N` (where the
# coordinator starts its own workers), this takes the remote path: --bind, --min-workers, --connect.
#
# Usage: scripts/launch-local.sh [--port P] [--worker-threads T] [--aggregators A] [--curve] N [--] JOB ARGS...
#   e.g. scripts/launch-local.sh 4 gmm fit --data x.npy --components 16 --out model.json
#
#   N                   workers to start; the first round starts once all N have joined
#   --port P            the coordinator's port on 127.0.0.1 (default: a free one)
#   --worker-threads T  threads per worker (default: cores / N, at least 1; never changes the model);
#                       workers that together take every CPU are each pinned to CPUs of their own
#   --aggregators A     start A `emfleet aggregator` processes on loopback ports between the
#                       coordinator and the workers (workers split evenly and in order among them;
#                       each worker falls back to the coordinator if its aggregator dies). The model
#                       is the same bits.
#   --curve             encrypt and authenticate with CURVE, as across hosts: fresh run keys (the
#                       coordinator's pair and one per worker, `emfleet keygen`) in a private
#                       temporary directory (mode 0700), removed on exit. Without it the loopback
#                       port carries no keys: it is reachable from this machine only.
#   EMFLEET=PATH        the emfleet binary (default: .build/release/emfleet in this repository,
#                       else emfleet on PATH)
#
# Workers' output goes to stderr, each line prefixed with [worker-I]. Ctrl-C or SIGTERM stops the
# coordinator and the workers; the coordinator's checkpoint (--checkpoint, default OUT.checkpoint)
# is left for --resume. The exit status is the coordinator's (130 after Ctrl-C, 143 after SIGTERM).
# shellcheck disable=SC2317  # (functions that only traps call)
set -euo pipefail

me=launch-local
die() { echo "$me: $*" >&2; exit 2; }
usage() { sed -n '2,/^[^#]/{/^#/!d;/shellcheck/d;s/^# \{0,1\}//;p}' "$0"; exit 0; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# --- arguments
port=""
worker_threads=""
aggregators=0
curve=false
while (($#)); do
    case $1 in
        -h | --help) usage ;;
        --curve) curve=true; shift ;;
        --port) (($# >= 2)) || die "--port needs a value"; port=$2; shift 2 ;;
        --port=*) port=${1#--port=}; shift ;;
        --worker-threads) (($# >= 2)) || die "--worker-threads needs a value"; worker_threads=$2; shift 2 ;;
        --worker-threads=*) worker_threads=${1#--worker-threads=}; shift ;;
        --aggregators) (($# >= 2)) || die "--aggregators needs a value"; aggregators=$2; shift 2 ;;
        --aggregators=*) aggregators=${1#--aggregators=}; shift ;;
        -*) die "unknown option $1 (options go before N; see --help)" ;;
        *) break ;;
    esac
done
(($#)) || die "missing N, the number of workers (usage: $0 [--port P] [--curve] N JOB ARGS...)"
workers=$1
shift
[[ $workers =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, got '$workers'"
[[ $aggregators =~ ^[0-9]+$ ]] || die "--aggregators must be a non-negative integer, got '$aggregators'"
((aggregators <= workers)) || die "--aggregators $aggregators is more than the $workers workers"
[[ ${1:-} == -- ]] && shift
(($#)) || die "missing the emfleet job, e.g. gmm fit --data x.npy --components 8 --out model.json"
job_args=("$@")
for arg in "${job_args[@]}"; do
    case $arg in
        --bind | --bind=* | --workers | --workers=*)
            die "do not pass ${arg%%=*}: this launcher binds the coordinator on 127.0.0.1 and starts the workers" ;;
        --curve-secret | --curve-secret=* | --authorized-keys | --authorized-keys=*)
            die "do not pass ${arg%%=*}: give --curve (before N) and the launcher makes the run's keys" ;;
    esac
done
min_workers=("--min-workers" "$workers")
for arg in "${job_args[@]}"; do
    case $arg in --min-workers | --min-workers=*) min_workers=() ;; esac
done

if [[ -n $port ]]; then
    if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
        die "--port must be 1-65535, got '$port'"
    fi
fi
if [[ -z $worker_threads ]]; then
    cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
    worker_threads=$((cores / workers))
    ((worker_threads >= 1)) || worker_threads=1
fi
[[ $worker_threads =~ ^[1-9][0-9]*$ ]] || die "--worker-threads must be a positive integer, got '$worker_threads'"
# Workers poll briefly after a training step only while each has its cores to itself (as --workers does).
poll_after_step=1000
(( workers * worker_threads <= $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1) )) || poll_after_step=0

# Workers that together take every CPU this launcher may use are each pinned to CPUs of their own
# (`emfleet worker --cpus`), as `--workers N` pins them: two workers on two cores then stop
# trading places with each other and the coordinator (docs/BENCHMARKS.md, issue 18).
allowed_cpus=()
allowed_list=$(awk '/^Cpus_allowed_list:/ { print $2 }' /proc/self/status 2>/dev/null || true)
for range in ${allowed_list//,/ }; do
    if [[ $range =~ ^([0-9]+)-([0-9]+)$ ]]; then
        for ((cpu = BASH_REMATCH[1]; cpu <= BASH_REMATCH[2]; cpu++)); do allowed_cpus+=("$cpu"); done
    elif [[ $range =~ ^[0-9]+$ ]]; then
        allowed_cpus+=("$range")
    fi
done
pin=false
((workers > 1 && workers * worker_threads == ${#allowed_cpus[@]})) && pin=true
# The CPUs of worker I (1-based): the I-th run of worker_threads allowed CPUs, comma-separated.
worker_cpus() {
    local first=$((($1 - 1) * worker_threads))
    local IFS=,
    echo "${allowed_cpus[*]:first:worker_threads}"
}

# --- the binary
if [[ -n ${EMFLEET:-} ]]; then
    emfleet=$(command -v "$EMFLEET") || die "EMFLEET=$EMFLEET is not an executable"
elif [[ -x $root/.build/release/emfleet ]]; then
    emfleet=$root/.build/release/emfleet
else
    emfleet=$(command -v emfleet) || die "no emfleet binary: run swift build -c release, put emfleet on PATH, or set EMFLEET"
fi

# --- a free loopback port (the coordinator reports it if someone takes it first)
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' && return
    fi
    local candidate _
    for _ in $(seq 1 200); do
        candidate=$((49152 + RANDOM % 16384))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    return 1
}
[[ -n $port ]] || port=$(free_port) || die "found no free TCP port on 127.0.0.1; pass --port"
address="tcp://127.0.0.1:$port"

# --- processes and their clean-up
coordinator_pid=""
worker_pids=()
aggregator_pids=()
keys=""

# shellcheck source=scripts/lib-processes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-processes.sh"
stop() { stop_pids "$coordinator_pid" "${worker_pids[@]}" "${aggregator_pids[@]}"; }
on_exit() {
    local status=$?
    trap - EXIT INT TERM
    stop
    wait 2>/dev/null || true
    [[ -z $keys ]] || rm -rf "$keys"
    exit "$status"
}
trap on_exit EXIT
trap 'echo "$me: interrupted; stopping the coordinator and the workers" >&2; exit 130' INT
trap 'echo "$me: terminated; stopping the coordinator and the workers" >&2; exit 143' TERM

# --- the run's keys (--curve): keys/coordinator.*, keys/workers/local-I.*
coordinator_curve=()
if $curve; then
    keys=$(umask 077 && mktemp -d "${TMPDIR:-/tmp}/emfleet-run-keys.XXXXXX") || die "cannot make a private temporary directory"
    chmod 700 "$keys"
    (
        umask 077
        "$emfleet" keygen --out "$keys" --name coordinator >/dev/null
        for ((i = 1; i <= workers; i++)); do
            "$emfleet" keygen --out "$keys/workers" --name "local-$i" >/dev/null
        done
        # Aggregators authenticate to the coordinator like workers, so their keys are listed too.
        for ((a = 1; a <= aggregators; a++)); do
            "$emfleet" keygen --out "$keys/workers" --name "aggregator-$a" >/dev/null
        done
    ) || die "emfleet keygen failed"
    coordinator_curve=(--curve-secret "$keys/coordinator.secret" --authorized-keys "$keys/workers")
fi

# --- run
echo "$me: coordinator on $address$($curve && echo " (CURVE, run keys in $keys)"), $workers workers with $worker_threads threads each$($pin && echo ", pinned") ($emfleet)" >&2
"$emfleet" "${job_args[@]}" --bind "$address" "${min_workers[@]}" "${coordinator_curve[@]}" --exit-with-parent &
coordinator_pid=$!

aggregator_addresses=()
for ((a = 1; a <= aggregators; a++)); do
    aggregator_port=$(free_port) || die "found no free TCP port on 127.0.0.1 for aggregator $a"
    aggregator_addresses+=("tcp://127.0.0.1:$aggregator_port")
    aggregator_curve=()
    if $curve; then
        aggregator_curve=(--curve-secret "$keys/workers/aggregator-$a.secret" --coordinator-key "$keys/coordinator.public")
    fi
    "$emfleet" aggregator --connect "$address" --bind "tcp://127.0.0.1:$aggregator_port" --name "aggregator-$a" --exit-with-parent "${aggregator_curve[@]}" \
        > >(while IFS= read -r line; do printf '[aggregator-%s] %s\n' "$a" "$line"; done >&2) 2>&1 &
    aggregator_pids+=($!)
done
((aggregators == 0)) || echo "$me: $aggregators aggregator(s) on ${aggregator_addresses[*]}" >&2

for ((i = 1; i <= workers; i++)); do
    worker_connect=$address
    worker_curve=()
    if $curve; then
        worker_curve=(--curve-secret "$keys/workers/local-$i.secret" --coordinator-key "$keys/coordinator.public")
    fi
    if ((aggregators > 0)); then
        # Consecutive workers share an aggregator; the coordinator is each one's fallback.
        a=$(((i - 1) * aggregators / workers + 1))
        worker_connect="${aggregator_addresses[$((a - 1))]},$address"
        if $curve; then
            worker_curve=(--curve-secret "$keys/workers/local-$i.secret" --coordinator-key "$keys/workers/aggregator-$a.public,$keys/coordinator.public")
        fi
    fi
    worker_pinning=()
    ! $pin || worker_pinning=(--cpus "$(worker_cpus "$i")")
    "$emfleet" worker --connect "$worker_connect" --threads "$worker_threads" --name "local-$i" --poll-after-step "$poll_after_step" \
        --exit-with-parent "${worker_pinning[@]}" "${worker_curve[@]}" \
        > >(while IFS= read -r line; do printf '[worker-%s] %s\n' "$i" "$line"; done >&2) 2>&1 &
    worker_pids+=($!)
done

status=0
wait "$coordinator_pid" || status=$?
coordinator_pid=""
for i in "${!worker_pids[@]}"; do
    pid=${worker_pids[$i]}
    if ! kill -0 "$pid" 2>/dev/null; then
        worker_status=0
        wait "$pid" 2>/dev/null || worker_status=$?
        ((worker_status == 0)) || echo "$me: worker local-$((i + 1)) had exited with status $worker_status" >&2
    fi
done
((status == 0)) || echo "$me: the coordinator exited with status $status" >&2
exit "$status"
