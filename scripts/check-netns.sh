#!/usr/bin/env bash
# Runs a coordinator and three workers on four test hosts (network namespaces made by
# scripts/netns-hosts.sh) over links that each hold the packets their host sends 5 ± 2 ms and
# drop 1% of them, and faults those links during `gmm fit` and `mlp train`. Before anything runs, each link's delay,
# jitter and loss are measured (pings between every pair of hosts, iptables counters): a link
# that is not degraded fails the check (shown first: one link left plain must fail the
# measurement, and by its name). Then, for each job:
#   - clean, --insecure and CURVE (keys from `emfleet keygen`): the model is byte-identical (cmp)
#     to the one-process fit of the same data, options and shards;
#   - one worker's link cut for 6 s after the third iteration (epoch): the coordinator declares
#     it lost while the link is down, its shards move to the others, it rejoins once the link is
#     back and is given shards again; the same model;
#   - one worker's link slowed to 300 ms (no loss) for 10 s: iterations take at least 300 ms, but no
#     worker is lost and no shard moves (its heartbeats still arrive within --worker-timeout);
#     the same model;
#   - the coordinator's link cut for longer than the workers' --coordinator-timeout: every worker
#     says it heard nothing and exits with status 1; the coordinator declares them lost, waits
#     --wait-workers, exits non-zero and leaves its checkpoint; once the link is back, --resume
#     with three new workers reaches the same model.
# Also over loopback (all four processes on the coordinator's host's lo), for seconds per
# iteration without the links. Writes one line per case to $NETNS_RESULTS (default: the work
# directory's results.tsv, printed at the end): case, seconds per iteration, shards moved, seconds
# from the cut to the lost shards' new owner, seconds from the link's return to the rejoin.
#
# Usage: scripts/check-netns.sh          (as root; skipped, with the reason, without)
#   EMFLEET=PATH  the emfleet binary (default: .build/release/emfleet in this repository)
#
# Needs ip, nsenter, iptables, ping, python3, and (when the kernel has no sch_netem) gcc and
# libnetfilter-queue-dev: installed with apt-get when missing. Every namespace, process and rule
# it made is removed at the end, also on failure.
# shellcheck disable=SC2317  # (functions that only traps call)
set -euo pipefail

me=check-netns
die() { echo "$me: FAIL: $*" >&2; exit 1; }
say() { echo "$me: $*"; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case ${1:-} in
    "") ;;
    -h | --help) sed -n '2,/^[^#]/{/^#/!d;/shellcheck/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "$me: unknown argument '$1' (usage: $0)" >&2; exit 2 ;;
esac
if [[ $(id -u) -ne 0 ]]; then
    say "skipped: needs root (network namespaces, veth pairs, iptables)"
    exit 0
fi
started=$SECONDS

# --- tools
missing=()
command -v iptables >/dev/null || missing+=(iptables)
command -v ping >/dev/null || missing+=(iputils-ping)
command -v gcc >/dev/null || missing+=(gcc)
[[ -e /usr/include/libnetfilter_queue/libnetfilter_queue.h ]] || missing+=(libnetfilter-queue-dev)
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/dev/null 2>&1 \
        || say "apt-get could not install ${missing[*]} (no network?)"
fi

emfleet=${EMFLEET:-$root/.build/release/emfleet}
[[ -x $emfleet ]] || die "no emfleet binary at $emfleet: run swift build -c release or set EMFLEET"
emfleet=$(cd "$(dirname "$emfleet")" && pwd)/$(basename "$emfleet")

work=$(mktemp -d "${TMPDIR:-/tmp}/emfleet-netns-check.XXXXXX")
chmod 755 "$work"
# shellcheck source=scripts/netns-hosts.sh
source "$root/scripts/netns-hosts.sh"
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    nh_down
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

nh_init "$work"
if [[ -n $NH_SKIP ]]; then
    say "skipped: $NH_SKIP"
    exit 0
fi
results=${NETNS_RESULTS:-$work/results.tsv}
printf 'case\ts_per_iteration\tshards_moved\tcut_to_new_owner_s\treturn_to_rejoin_s\n' >"$results"

# --- hosts and links
workers=(w1 w2 w3)
nh_up c "${workers[@]}"
# First w3's link is left plain (no delay, no loss): the measurement must say so.
for host in c w1 w2; do nh_link "$host" 5 2 1; done
nh_link w3 0 0 0
nh_measure 200 >/dev/null
if why=$(nh_expect_links 5 2 1 2>&1); then die "a link without delay or loss passed the measurement"; fi
[[ $why == "link w3: "* ]] || die "the measurement blamed another link than the plain one: $why"
say "ok: a plain link fails the measurement ($why)"
nh_link w3 5 2 1
say "4 hosts (c, w1, w2, w3) on a bridge; links 5 ± 2 ms, 1% loss, by $NH_MODE"
nh_measure 400 | sed "s/^/$me:   /"
nh_expect_links 5 2 1 || die "the links are not degraded as they should be (see above)"
say "ok: every link measured at 5 ± 2 ms and 1% loss"
passed=2
coordinator=tcp://$(nh_addr c):5555

# --- data, keys and the one-process models
"$emfleet" data generate --samples 6000 --features 2 --components 20 --seed 3 --out "$work/g.npy" >/dev/null
"$emfleet" data generate --samples 1200 --features 8 --components 3 --seed 4 --out "$work/x.npy" --labels "$work/y.npy" >/dev/null
# The job's options but its length (--max-iter, --epochs): a short run for the clean cases and
# the slow link, a longer one for the worker's cut (it must outlast the cut and the rejoin).
gmm_args=(gmm fit --data "$work/g.npy" --components 10 --seed 1 --tol 0 --shards 12 --threads 1)
mlp_args=(mlp train --data "$work/x.npy" --labels "$work/y.npy" --hidden 16 --batch-size 400 --seed 1 --shards 12 --threads 1)
# shellcheck disable=SC2034 # read through ${!name} below
gmm_length=--max-iter mlp_length=--epochs
# shellcheck disable=SC2034
gmm_short=150 gmm_long=400 mlp_short=40 mlp_long=150
for job in gmm mlp; do
    for length in short long; do
        length_option=${job}_length args_name="${job}_args[@]" count_name=${job}_$length
        "$emfleet" "${!args_name}" "${!length_option}" "${!count_name}" --out "$work/$job-$length-plain.json" >/dev/null 2>"$work/plain.err" \
            || die "the one-process $job run failed: $(cat "$work/plain.err")"
    done
done
(
    umask 077
    "$emfleet" keygen --out "$work/keys" --name coordinator
    for w in "${workers[@]}"; do "$emfleet" keygen --out "$work/keys/workers" --name "$w"; done
) >/dev/null || die "emfleet keygen failed"

# --- running a job on the hosts
# start_job NAME JOB SECURITY WHERE LENGTH [options...]: starts three workers and the
# coordinator of JOB (gmm or mlp) with SECURITY (insecure or curve), WHERE (links: on the hosts
# over the bridge; loopback: all on c's lo) and LENGTH (short or long); sets coordinator_pid and
# worker_pids, and job_model, the one-process model it must equal.
start_job() {
    local name=$1 job=$2 security=$3 where=$4 length=$5 w endpoint=$coordinator bind=$coordinator
    shift 5
    local length_option=${job}_length count_name=${job}_$length
    job_model=$work/$job-$length-plain.json
    [[ $where == loopback ]] && endpoint=tcp://127.0.0.1:5556 bind=tcp://127.0.0.1:5556
    local coordinator_security=(--insecure) worker_security=()
    if [[ $security == curve ]]; then
        coordinator_security=(--curve-secret "$work/keys/coordinator.secret" --authorized-keys "$work/keys/workers")
    fi
    [[ $where == loopback ]] && coordinator_security=()
    local args=("${gmm_args[@]}")
    [[ $job == mlp ]] && args=("${mlp_args[@]}")
    worker_pids=()
    for w in "${workers[@]}"; do
        worker_security=()
        [[ $security == curve ]] && worker_security=(--curve-secret "$work/keys/workers/$w.secret" --coordinator-key "$work/keys/coordinator.public")
        local host=$w
        [[ $where == loopback ]] && host=c
        nsenter --net="$(nh_path "$host")" "$emfleet" worker --connect "$endpoint" --name "$w" --threads 1 --poll-after-step 0 \
            --coordinator-timeout "${coordinator_timeout:-30}" "${worker_security[@]}" >"$work/$name-$w.log" 2>&1 &
        worker_pids+=($!)
    done
    job_start=$(date +%s.%N)
    nsenter --net="$(nh_path c)" "$emfleet" "${args[@]}" "${!length_option}" "${!count_name}" --out "$work/$name.json" --bind "$bind" --min-workers 3 --worker-timeout 2 \
        --checkpoint-every 1 --log-format json "${coordinator_security[@]}" "$@" >"$work/$name.log" 2>"$work/$name.err" &
    coordinator_pid=$!
}

# Seconds since the coordinator started (the clock its JSON events' "time" counts).
since_start() { python3 -c "import sys; print(f'{float(sys.argv[1]) - float(sys.argv[2]):.3f}')" "$(date +%s.%N)" "$job_start"; }

# wait_for NAME EVENT COUNT: waits (60 s at most) until the coordinator's log has COUNT EVENT events.
wait_for() {
    local _
    for _ in $(seq 1 600); do
        n=$(grep -c "\"event\":\"$2\"" "$work/$1.log" 2>/dev/null) || true
        ((${n:-0} >= $3)) && return 0
        kill -0 "$coordinator_pid" 2>/dev/null || break
        sleep 0.1
    done
    show "$1"
    die "$1: the coordinator did not log $3 '$2' events"
}

show() {
    echo "$me: $1: the coordinator's log:" >&2
    tail -n 40 "$work/$1.log" "$work/$1.err" 2>/dev/null | sed 's/^/  /' >&2
}

# finish NAME: waits for the coordinator (status in job_status), then stops the workers.
finish() {
    job_status=0
    wait "$coordinator_pid" || job_status=$?
    local pid
    for pid in "${worker_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${worker_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}

check_model() {
    if ((job_status != 0)); then show "$1"; die "$1: the coordinator exited with status $job_status"; fi
    cmp -s "$job_model" "$work/$1.json" || { show "$1"; die "$1: the model differs from the one-process fit's"; }
}

# analyse NAME KIND [CUT RESTORE WORKER]: checks the coordinator's events and appends the case's
# line to $results. KIND: clean, cut (WORKER lost in CUT..RESTORE, its shards moved, back after
# RESTORE and given shards), slow (no loss, no move; iterations in CUT..RESTORE take >= 0.3 s).
analyse() {
    python3 - "$work/$1.log" "$results" "$@" <<'EOF' || { show "$1"; die "$1: $(cat "$work/why" 2>/dev/null)"; }
import json, sys
log, results, name, kind = sys.argv[1:5]
cut, back, worker = (sys.argv[5:] + [None] * 3)[:3]
cut, back = (float(cut) if cut else None), (float(back) if back else None)
events = [json.loads(l) for l in open(log) if l.startswith("{")]
def fail(why):
    open(log.rsplit("/", 1)[0] + "/why", "w").write(why)
    sys.exit(1)
steps = [e for e in events if e["event"] in ("iteration", "epoch")]
if len(steps) < 2:
    fail(f"{len(steps)} iterations in the log")
per_step = (steps[-1]["time"] - steps[0]["time"]) / (len(steps) - 1)
moved = [e for e in events if e["event"] == "shards_moved"]
lost = [e for e in events if e["event"] == "worker_lost"]
joined = [e for e in events if e["event"] == "worker_joined"]
total_moved = sum(e["count"] for e in moved)
to_owner = rejoin = ""
if kind == "clean" and (lost or moved):
    fail(f"{len(lost)} workers lost and {total_moved} shards moved on a clean run")
if kind == "slow":
    if lost or moved:
        fail(f"a slow link: {len(lost)} workers lost, {total_moved} shards moved: " + json.dumps((lost + moved)[0]))
    inside = [b["time"] - a["time"] for a, b in zip(steps, steps[1:]) if cut + 0.5 <= a["time"] and b["time"] <= back]
    if len(inside) < 2:
        fail(f"only {len(inside)} iterations ended while the link was slow: the job is too short or stalled")
    if min(inside) < 0.3:
        fail(f"an iteration took {min(inside):.3f} s while a link was 300 ms slow: the link was not slowed")
if kind == "cut":
    ids = [e["worker"] for e in joined if e["name"] == worker]
    first = ids[0]
    gone = [e for e in lost if e["worker"] == first]
    if not gone:
        fail(f"{worker} (worker {first}) was never declared lost")
    if not (cut < gone[0]["time"] < back):
        fail(f"{worker} was declared lost {gone[0]['time'] - cut:.2f} s after the cut (the link was back after {back - cut:.2f} s)")
    after = [e for e in moved if e["time"] >= gone[0]["time"] and e["to_worker"] != first]
    if not after or after[0]["reason"] != "a worker was lost":
        fail(f"{worker}'s shards did not move when it was lost")
    again = [e for e in joined if e["name"] == worker and e["time"] > back]
    if not again:
        fail(f"{worker} did not rejoin after its link came back")
    given = [e for e in moved if e["to_worker"] == again[0]["worker"]]
    if not given:
        fail(f"{worker} rejoined (worker {again[0]['worker']}) but was given no shards before the job ended: raise --max-iter or --epochs")
    to_owner = f"{after[0]['time'] - cut:.2f}"
    rejoin = f"{again[0]['time'] - back:.2f}"
    others = [e for e in lost if e["worker"] != first]
    if others:
        fail(f"another worker was lost too: {json.dumps(others[0])}")
with open(results, "a") as out:
    print(f"{name}\t{per_step:.4f}\t{total_moved}\t{to_owner}\t{rejoin}", file=out)
open(log.rsplit("/", 1)[0] + "/summary", "w").write(f"{per_step * 1000:.1f} ms per {steps[0]['event']}, {total_moved} shards moved"
      + (f", lost shards owned again {to_owner} s after the cut, rejoined {rejoin} s after the link's return" if to_owner else ""))
EOF
    summary=$(cat "$work/summary")
}

for job in gmm mlp; do
    step=iteration
    [[ $job == mlp ]] && step=epoch

    # Over loopback, for the seconds per iteration without the links.
    start_job "$job-loopback" "$job" insecure loopback short
    finish "$job-loopback"
    check_model "$job-loopback"
    analyse "$job-loopback" clean
    say "ok: $job over loopback on one host: the one-process model ($summary)"

    for security in insecure curve; do
        start_job "$job-$security" "$job" "$security" links short
        finish "$job-$security"
        check_model "$job-$security"
        analyse "$job-$security" clean
        say "ok: $job, $security, 3 workers over 5 ± 2 ms, 1% loss links: the one-process model ($summary)"
        passed=$((passed + 1))
    done

    # One worker's link cut for 6 s.
    name=$job-cut
    start_job "$name" "$job" curve links long
    wait_for "$name" "$step" 3
    cut=$(since_start)
    nh_cut w2
    sleep 6
    back=$(since_start)
    drops=$(nh_cut_drops w2)
    nh_restore w2
    finish "$name"
    ((drops > 0)) || die "$name: the cut dropped no packet"
    check_model "$name"
    analyse "$name" cut "$cut" "$back" w2
    say "ok: $job, w2's link cut for 6 s ($drops packets dropped): lost, its shards moved, back after the cut, the one-process model ($summary)"
    passed=$((passed + 1))

    # One worker's link 300 ms slow for 10 s.
    name=$job-slow
    start_job "$name" "$job" curve links short
    wait_for "$name" "$step" 3
    cut=$(since_start)
    nh_link w3 300 0 0 # no loss while slow: a lost segment's retransmission at 300 ms could outlast --worker-timeout
    sleep 10
    back=$(since_start)
    nh_link w3 5 2 1
    finish "$name"
    check_model "$name"
    analyse "$name" slow "$cut" "$back"
    say "ok: $job, w3's link 300 ms slow for 10 s: no worker lost, no shard moved, the one-process model ($summary)"
    passed=$((passed + 1))

    # The coordinator's link cut for longer than the workers' --coordinator-timeout.
    name=$job-coordinator-cut
    coordinator_timeout=3 start_job "$name" "$job" curve links short --wait-workers 3
    wait_for "$name" "$step" 3
    cut=$(since_start)
    nh_cut c
    statuses=()
    for pid in "${worker_pids[@]}"; do
        status=0
        wait "$pid" || status=$?
        statuses+=("$status")
    done
    job_status=0
    wait "$coordinator_pid" || job_status=$?
    out_at=$(since_start)
    nh_restore c
    for i in "${!workers[@]}"; do
        w=${workers[$i]}
        [[ ${statuses[$i]} == 1 ]] || { cat "$work/$name-$w.log" >&2; die "$name: $w exited with status ${statuses[$i]}, expected 1 (the coordinator vanished mid-job)"; }
        grep -q "no word from the coordinator at $coordinator for 3 s; exiting" "$work/$name-$w.log" \
            || { cat "$work/$name-$w.log" >&2; die "$name: $w did not say it heard nothing from the coordinator"; }
    done
    ((job_status != 0)) || { show "$name"; die "$name: the coordinator exited 0 with no worker left"; }
    grep -Eq "(no live worker for|no worker joined within) 3 s \(--wait-workers\)" "$work/$name.err" || { show "$name"; die "$name: the coordinator did not say it waited --wait-workers"; }
    [[ -s $work/$name.json.checkpoint ]] || { show "$name"; die "$name: no checkpoint left at $work/$name.json.checkpoint"; }
    lost=$(grep -c '"event":"worker_lost"' "$work/$name.log" || true)
    ((lost == 3)) || { show "$name"; die "$name: $lost workers declared lost, expected 3"; }
    say "ok: $job, the coordinator's link cut: 3 workers lost, each worker exited 1 after 3 s of silence, the coordinator after --wait-workers 3 ($(printf '%.1f' "$(python3 -c "print($out_at - $cut)")") s into the cut) with its checkpoint"
    cp "$work/$name.json.checkpoint" "$work/$name.saved-checkpoint"
    start_job "$name-resumed" "$job" curve links short --resume "$work/$name.saved-checkpoint"
    finish "$name-resumed"
    check_model "$name-resumed"
    analyse "$name-resumed" clean
    say "ok: $job, --resume from that checkpoint with 3 new workers: the one-process model ($summary)"
    passed=$((passed + 2))
done

say "per case (seconds per iteration; shards moved; seconds from the cut to the lost shards' new owner; from the link's return to the rejoin):"
column -t -s $'\t' "$results" | sed "s/^/$me:   /"
say "$passed passed, 0 failed ($((SECONDS - started)) s)"
