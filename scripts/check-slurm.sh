#!/usr/bin/env bash
# Runs deploy/slurm/emfleet.sbatch on a real Slurm cluster: a private one started on this machine
# (munged with its own key and socket, slurmctld, and two slurmd under the node names emfleet-n1
# and emfleet-n2, each `slurmd -N NAME` on its own port; 2 CPUs per node, proctrack/linuxproc,
# no cgroups, no accounting; every state, spool, log, socket and pid file in one temporary
# directory). The batch file is submitted as it is, with only the job command (the script's
# arguments) and --ntasks given on the sbatch line (and EMFLEET, EMFLEET_PORT in the
# environment). A generated dataset is fitted once in one process; then, each time with a
# coordinator and 2 workers across both nodes:
#   - `sbatch --wait`: exit 0, the model byte-identical to the one-process fit, the job's output
#     free of errors (no `slurmstepd: error`, CANCELLED, Terminated), the job keys removed;
#   - the fixed layout of the file's usage, --nodes=2 --ntasks-per-node=2 --ntasks=4: 2 tasks per
#     node, 3 workers, the one-process model of a short fit;
#   - EMFLEET_AGGREGATORS=1 with --ntasks=4: an aggregator task and 2 workers behind it, the same model;
#   - one worker task's emfleet killed with SIGKILL mid-job: the fit completes, the same model;
#   - the job cancelled with scancel mid-job: the coordinator leaves its checkpoint, and a second
#     sbatch with `--resume CHECKPOINT` in the job writes the same model;
#   - the coordinator killed with SIGKILL twice in one job with --resume-if-present: the job
#     requeues itself each time (#SBATCH --requeue) and its third run writes the same model.
# Everything it started is stopped and removed at the end, also on failure or Ctrl-C.
#
# Usage: scripts/check-slurm.sh [--cluster-only]
#   --cluster-only  only start the cluster and run a 2-node `srun hostname` (needs no emfleet)
#   EMFLEET=PATH    the emfleet binary (default: .build/release/emfleet in this repository)
#   CHECK_SLURM_LOGS=DIR  copy the jobs' output files and the daemons' logs there before the
#                   temporary directory goes
#
# Needs root (the Slurm daemons run as root, SlurmUser=root); without it the check is skipped
# (exit 0, saying why). Installs slurm-wlm and munge with apt-get when they are missing.
# shellcheck disable=SC2317  # (functions that only traps call)
set -euo pipefail

me=check-slurm
die() { echo "$me: FAIL: $*" >&2; exit 1; }
say() { echo "$me: $*"; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cluster_only=false
case ${1:-} in
    "") ;;
    --cluster-only) cluster_only=true ;;
    -h | --help) sed -n '2,/^[^#]/{/^#/!d;/shellcheck/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "$me: unknown argument '$1' (usage: $0 [--cluster-only])" >&2; exit 2 ;;
esac
started=$SECONDS

if [[ $(id -u) -ne 0 ]]; then
    say "skipped: the private Slurm cluster needs root (slurmd runs jobs as their user, SlurmUser=root); run as root"
    exit 0
fi

# --- tools
missing=()
for tool in munged slurmctld slurmd sbatch; do
    command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || missing+=("$tool")
done
if ((${#missing[@]})); then
    say "installing slurm-wlm and munge (missing: ${missing[*]})"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
export PATH=$PATH:/usr/sbin
for tool in munged slurmctld slurmd sbatch srun scancel scontrol squeue sinfo python3 cmp pgrep timeout; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH (apt-get install slurm-wlm munge)"
done

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Nothing of a Slurm job this script may run in leaks into the private cluster's commands.
while read -r name; do unset "$name"; done < <(env | sed -n 's/^\(SLURM_[A-Za-z0-9_]*\)=.*/\1/p')

# --- the private cluster
work=$(mktemp -d "${TMPDIR:-/tmp}/emfleet-slurm-check.XXXXXX")
[[ $work != *[[:space:]]* ]] || die "the temporary directory '$work' has a space; set TMPDIR"
chmod 755 "$work"
mkdir -p "$work"/{munge,state,spool,log,run,submit}
chmod 711 "$work/munge"
export SLURM_CONF=$work/slurm.conf
daemons=() # pids of munged, slurmctld and both slurmd, in the order they started
nodes=(emfleet-n1 emfleet-n2)

# Processes of this cluster the daemons leave behind (slurmstepd, job processes): those whose
# environment names this cluster's slurm.conf.
cluster_processes() {
    local pid
    for pid in $(pgrep -x slurmstepd 2>/dev/null; pgrep -f -- "$work/" 2>/dev/null); do
        ((pid == $$)) && continue
        grep -qzxF "SLURM_CONF=$SLURM_CONF" "/proc/$pid/environ" 2>/dev/null && echo "$pid"
    done | sort -u
}

cleanup() {
    local status=$? pid i left jobs
    trap - EXIT INT TERM
    if ((${#daemons[@]} > 1)); then
        mapfile -t jobs < <(squeue -h -o %i 2>/dev/null || true)
        ((${#jobs[@]} == 0)) || scancel --quiet "${jobs[@]}" 2>/dev/null || true
        for _ in $(seq 1 150); do
            [[ -z $(squeue -h -o %i 2>/dev/null) ]] && break
            sleep 0.1
        done
    fi
    # This script's own `sbatch --wait`, on a failure.
    if [[ -n ${sbatch_pid:-} ]] && kill -0 "$sbatch_pid" 2>/dev/null; then
        kill -TERM "$sbatch_pid" 2>/dev/null || true
        wait "$sbatch_pid" 2>/dev/null || true
    fi
    if ((status != 0)); then
        for file in "$work"/submit/*.out "$work"/log/*.log; do
            [[ -s $file ]] || continue
            echo "$me: --- ${file#"$work"/} (last 30 lines)" >&2
            tail -n 30 "$file" | sed 's/^/  /' >&2
        done
    fi
    # The daemons, last started first: SIGTERM, then SIGKILL after 10 s.
    for ((i = ${#daemons[@]} - 1; i >= 0; i--)); do
        pid=${daemons[i]}
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    # What the daemons started (a slurmstepd finishing its step, a job's process) gets 5 s more.
    for _ in $(seq 1 50); do
        mapfile -t left < <(cluster_processes)
        ((${#left[@]})) || break
        sleep 0.1
    done
    if ((${#left[@]})); then
        echo "$me: FAIL: processes of the cluster outlived it, killed now: $(ps -o pid=,args= -p "$(IFS=,; echo "${left[*]}")" 2>/dev/null | cut -c1-100 | tr '\n' ';')" >&2
        kill -KILL "${left[@]}" 2>/dev/null || true
        ((status != 0)) || status=1
    fi
    if [[ -n ${CHECK_SLURM_LOGS:-} ]]; then
        mkdir -p "$CHECK_SLURM_LOGS"
        cp "$work"/submit/*.out "$work"/log/* "$work"/*.sbatch "$CHECK_SLURM_LOGS"/ 2>/dev/null || true
    fi
    rm -rf "$work" 2>/dev/null || { sleep 1; rm -rf "$work"; }
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for SECONDS WHAT COMMAND...: runs COMMAND every 0.1 s until it succeeds, or fails the check.
wait_for() {
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq 1 $((seconds * 10))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "$what within $seconds s"
}

dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
munged --foreground --force --socket="$work/munge/munge.socket" --key-file="$work/munge/munge.key" \
    --pid-file="$work/munge/munged.pid" --log-file="$work/log/munged.log" --seed-file="$work/munge/munged.seed" >>"$work/log/munged.out" 2>&1 &
daemons+=($!)
wait_for 10 "munged did not make its socket" test -S "$work/munge/munge.socket"

controller_port=$(free_port)
node_ports=()
for _ in "${nodes[@]}"; do node_ports+=("$(free_port)"); done
host=$(hostname -s)
cat >"$SLURM_CONF" <<EOF
# A private cluster on one machine, for scripts/check-slurm.sh.
ClusterName=emfleetcheck
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$controller_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire is also how long a requeued job waits before it may start again (default 120 s).
AuthInfo=socket=$work/munge/munge.socket,cred_expire=10
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool/%n
SlurmctldPidFile=$work/run/slurmctld.pid
SlurmdPidFile=$work/run/slurmd-%n.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
# The nodes' CPUs are what this file says, not what the machine has.
SlurmdParameters=config_overrides
ReturnToService=2
# sbatch --wait polls every 2 s, then every 8 s, up to 32 s, but never at more than MinJobAge / 2:
# 4 keeps it at 2 s. (A finished job's record goes soon after; finish() notes its last state.)
MinJobAge=4
KillWait=5
InactiveLimit=0
EOF
for i in "${!nodes[@]}"; do
    echo "NodeName=${nodes[i]} NodeHostname=$host NodeAddr=127.0.0.1 Port=${node_ports[i]} CPUs=2 RealMemory=1000 State=UNKNOWN" >>"$SLURM_CONF"
done
echo "PartitionName=check Nodes=$(IFS=,; echo "${nodes[*]}") Default=YES MaxTime=INFINITE State=UP" >>"$SLURM_CONF"

slurmctld -D -f "$SLURM_CONF" >>"$work/log/slurmctld.out" 2>&1 &
daemons+=($!)
wait_for 20 "slurmctld did not answer scontrol ping" sh -c 'scontrol ping | grep -q UP'
for node in "${nodes[@]}"; do
    slurmd -D -f "$SLURM_CONF" -N "$node" >>"$work/log/slurmd-$node.out" 2>&1 &
    daemons+=($!)
done
nodes_idle() { [[ $(sinfo -h -N -t idle -o %N | sort -u | wc -l) -eq ${#nodes[@]} ]]; }
wait_for 30 "the nodes ${nodes[*]} were not idle" nodes_idle
say "private Slurm cluster up: slurmctld on 127.0.0.1:$controller_port, slurmd ${nodes[0]} on :${node_ports[0]}, ${nodes[1]} on :${node_ports[1]} (2 CPUs each), in $work"

# shellcheck disable=SC2016  # (expanded by the task's shell)
placed=$(srun --nodes=2 --ntasks=2 --label sh -c 'echo "$SLURMD_NODENAME"' 2>&1 | sort | tr '\n' ' ')
[[ $placed == "0: emfleet-n1 1: emfleet-n2 " ]] || die "srun --nodes=2 --ntasks=2 ran on '$placed', expected emfleet-n1 and emfleet-n2"
say "ok: srun --nodes=2 runs a task on each node"
if $cluster_only; then
    say "1 passed, 0 failed ($((SECONDS - started)) s)"
    exit 0
fi

# --- the reference: one process
emfleet=${EMFLEET:-$root/.build/release/emfleet}
[[ -x $emfleet ]] || die "no emfleet binary at $emfleet: run swift build -c release or set EMFLEET"
emfleet=$(cd "$(dirname "$emfleet")" && pwd)/$(basename "$emfleet")
sbatch_file=$root/deploy/slurm/emfleet.sbatch
"$emfleet" data generate --samples 40000 --features 4 --components 3 --seed 4 --out "$work/d.npy" >/dev/null
# Long enough (--tol 0: every iteration up to --max-iter) to be killed mid-job.
fit=(gmm fit --data "$work/d.npy" --components 3 --seed 2 --max-iter 1000 --tol 0 --quiet)
"$emfleet" "${fit[@]}" --out "$work/plain.json" >"$work/plain.log" 2>&1 \
    || { cat "$work/plain.log" >&2; die "the one-process emfleet gmm fit failed"; }
say "one-process fit written ($((SECONDS - started)) s so far)"
passed=1

layout=() # more sbatch options, for one case
# submit NAME NTASKS JOB...: `sbatch --wait --ntasks=NTASKS emfleet.sbatch JOB...` in the
# background, from $work/submit; sets job_id, sbatch_pid and port (the coordinator's).
submit() {
    local name=$1 ntasks=$2
    shift 2
    port=$(free_port)
    (cd "$work/submit" && EMFLEET=$emfleet EMFLEET_PORT=$port exec sbatch --wait --parsable "${layout[@]}" --ntasks="$ntasks" "$sbatch_file" "$@") \
        >"$work/$name.sbatch" 2>&1 &
    sbatch_pid=$!
    job_id=""
    for _ in $(seq 1 100); do
        job_id=$(grep -Eo '^[0-9]+' "$work/$name.sbatch" 2>/dev/null | head -n1 || true)
        [[ -n $job_id ]] && return 0
        kill -0 "$sbatch_pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$work/$name.sbatch" >&2
    die "$name: sbatch did not submit the job"
}
# finish NAME: waits for sbatch --wait; sets sbatch_status, output (the job's output file), and
# final_state and final_restarts as scontrol last showed them (the record goes MinJobAge after).
finish() {
    local line
    final_state="" final_restarts=""
    while kill -0 "$sbatch_pid" 2>/dev/null; do
        line=$(scontrol show job "$job_id" 2>/dev/null | tr '\n' ' ' || true)
        if [[ $line == *JobState=* ]]; then
            final_state=$(sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' <<<"$line")
            final_restarts=$(sed -n 's/.*Restarts=\([0-9]*\).*/\1/p' <<<"$line")
        fi
        sleep 0.2
    done
    sbatch_status=0
    wait "$sbatch_pid" || sbatch_status=$?
    output=$work/submit/emfleet-$job_id.out
    [[ -f $output ]] || die "$1: job $job_id left no output file"
}
show() { sed 's/^/  /' "$1" >&2; }
restarts() { scontrol show job "$job_id" 2>/dev/null | sed -n 's/.*Restarts=\([0-9]*\).*/\1/p'; }
check_model() {
    [[ -s $2 ]] || { show "$output"; die "$1: no model at $2"; }
    cmp -s "$work/plain.json" "$2" || { show "$output"; die "$1: the model differs from the one-process fit"; }
}
check_no_keys_left() {
    local left
    left=$(find "$work/submit" -maxdepth 1 -name '.emfleet-keys-*' | head -n 3)
    [[ -z $left ]] || die "$1: the job's keys are still there: $left"
}
check_no_job_processes() {
    for _ in $(seq 1 100); do
        pgrep -f -- "tcp://[0-9.]*:$port" >/dev/null || return 0
        sleep 0.1
    done
    pgrep -af -- "tcp://[0-9.]*:$port" >&2 || true
    die "$1: emfleet processes of job $job_id still run 10 s after it ended"
}
# The emfleet process (not its shell) whose command line has PATTERN, for this job's port.
emfleet_pid() {
    local pid
    for pid in $(pgrep -f -- "$1" 2>/dev/null); do
        [[ $(readlink -f "/proc/$pid/exe" 2>/dev/null) == "$(readlink -f "$emfleet")" ]] && { echo "$pid"; return 0; }
    done
    return 1
}
coordinator_pid() { emfleet_pid "--bind tcp://0.0.0.0:$port "; }
# Evidence that the job computes with both workers: both joined, and a checkpoint newer than $1.
running_with_workers() {
    local checkpoint=$1 since=$2 output=$work/submit/emfleet-$job_id.out
    [[ -s $checkpoint && $(stat -c %Y "$checkpoint") -ge $since ]] || return 1
    [[ $(grep -c "joined" "$output" 2>/dev/null) -ge $3 ]]
}

# 1. The batch file as it is, a coordinator and 2 workers over both nodes.
submit clean 3 "${fit[@]}" --out "$work/clean.json" --resume-if-present
finish clean
((sbatch_status == 0)) || { show "$output"; die "clean: sbatch --wait exited $sbatch_status"; }
check_model clean "$work/clean.json"
if grep -nE "slurmstepd|CANCELLED|Terminated|[Ee]rror" "$output" >&2; then
    show "$output"
    die "clean: the successful job's output has the error lines above"
fi
for worker in emfleet-n1-1 emfleet-n2-2; do
    grep -q -- "$worker" "$output" || { show "$output"; die "clean: no worker $worker in the job's output"; }
done
check_no_keys_left clean
check_no_job_processes clean
say "ok: sbatch --wait --ntasks=3 (coordinator and a worker on emfleet-n1, a worker on emfleet-n2) exits 0 with the one-process model, byte for byte, and an output without errors ($((SECONDS - started)) s so far)"
passed=$((passed + 1))

# 1b. A fixed layout, in the form the file's usage gives: --nodes, --ntasks-per-node and --ntasks.
short=(gmm fit --data "$work/d.npy" --components 3 --seed 3 --max-iter 30 --quiet)
"$emfleet" "${short[@]}" --out "$work/plain-short.json" >/dev/null 2>&1 || die "the short one-process fit failed"
read -r -a layout <<<"--nodes=2 --ntasks-per-node=2" # (an array literal would read as a job to check-deploy.py)
submit layout 4 "${short[@]}" --out "$work/layout.json"
layout=()
finish layout
((sbatch_status == 0)) || { show "$output"; die "layout: sbatch --wait --nodes=2 --ntasks-per-node=2 --ntasks=4 exited $sbatch_status"; }
cmp -s "$work/plain-short.json" "$work/layout.json" || { show "$output"; die "layout: the model differs from the one-process fit"; }
for worker in emfleet-n1-1 emfleet-n2-2 emfleet-n2-3; do
    grep -q -- "joined: $worker " "$output" || { show "$output"; die "layout: no worker $worker joined (2 tasks per node expected)"; }
done
check_no_job_processes layout
say "ok: sbatch --wait --nodes=2 --ntasks-per-node=2 --ntasks=4: 2 tasks per node, 3 workers, the one-process model ($((SECONDS - started)) s so far)"
passed=$((passed + 1))

# 1c. An aggregator between the coordinator and the workers (EMFLEET_AGGREGATORS=1, --ntasks=4).
EMFLEET_AGGREGATORS=1 submit tiered 4 "${short[@]}" --out "$work/tiered.json"
finish tiered
((sbatch_status == 0)) || { show "$output"; die "tiered: sbatch --wait with EMFLEET_AGGREGATORS=1 exited $sbatch_status"; }
cmp -s "$work/plain-short.json" "$work/tiered.json" || { show "$output"; die "tiered: the model differs from the one-process fit"; }
grep -q "aggregator [0-9]* joined" "$output" || { show "$output"; die "tiered: no aggregator joined"; }
[[ $(grep -c "worker [0-9]* joined: .*, via aggregator" "$output") == 2 ]] || { show "$output"; die "tiered: not 2 workers joined through the aggregator"; }
check_no_job_processes tiered
say "ok: EMFLEET_AGGREGATORS=1 --ntasks=4: an aggregator and 2 workers behind it, the one-process model ($((SECONDS - started)) s so far)"
passed=$((passed + 1))

# 2. A worker task's emfleet killed with SIGKILL mid-job.
submit worker-killed 3 "${fit[@]}" --out "$work/worker-killed.json"
since=$(date +%s)
wait_for 60 "worker-killed: the job was not computing with 2 workers" running_with_workers "$work/worker-killed.json.checkpoint" "$since" 2
victim=$(emfleet_pid "worker --connect tcp://127.0.0.1:$port .*--name emfleet-n2-2") || die "worker-killed: no worker emfleet-n2-2 process"
kill -KILL "$victim"
finish worker-killed
((sbatch_status == 0)) || { show "$output"; die "worker-killed: sbatch --wait exited $sbatch_status"; }
check_model worker-killed "$work/worker-killed.json"
grep -q "(emfleet-n2-2 .*) lost" "$output" || { show "$output"; die "worker-killed: the coordinator did not declare emfleet-n2-2 lost"; }
grep -q "shard(s) moved to worker" "$output" || { show "$output"; die "worker-killed: no shards moved to the other worker"; }
check_no_keys_left worker-killed
check_no_job_processes worker-killed
say "ok: a worker killed with SIGKILL mid-job (pid $victim, emfleet-n2-2): the job completes with the same model ($((SECONDS - started)) s so far)"
passed=$((passed + 1))

# 3. The job cancelled with scancel mid-job, then resumed by a second sbatch.
submit cancelled 3 "${fit[@]}" --out "$work/cancelled.json"
since=$(date +%s)
wait_for 60 "cancelled: the job was not computing with 2 workers" running_with_workers "$work/cancelled.json.checkpoint" "$since" 2
scancel "$job_id"
finish cancelled
((sbatch_status != 0)) || { show "$output"; die "cancelled: sbatch --wait exited 0 for a cancelled job"; }
[[ $final_state == CANCELLED ]] || { show "$output"; die "cancelled: job $job_id ended ${final_state:-unseen}, not CANCELLED"; }
[[ -s $work/cancelled.json.checkpoint ]] || { show "$output"; die "cancelled: no checkpoint left"; }
[[ ! -e $work/cancelled.json ]] || die "cancelled: a cancelled job wrote a model"
check_no_keys_left cancelled
check_no_job_processes cancelled
first_output=$output
submit resumed 3 "${fit[@]}" --out "$work/cancelled.json" --resume "$work/cancelled.json.checkpoint"
finish resumed
((sbatch_status == 0)) || { show "$first_output"; show "$output"; die "resumed: sbatch --wait exited $sbatch_status"; }
check_model resumed "$work/cancelled.json"
[[ ! -e $work/cancelled.json.checkpoint ]] || die "resumed: the checkpoint is still there after the job succeeded"
say "ok: scancel mid-job leaves the checkpoint; a second sbatch with --resume writes the same model ($((SECONDS - started)) s so far)"
passed=$((passed + 1))

# 4. The coordinator killed twice in one job: it requeues itself and continues.
submit requeued 3 "${fit[@]}" --out "$work/requeued.json" --resume-if-present
checkpoint=$work/requeued.json.checkpoint
killed=()
for run in 1 2; do
    since=$(date +%s)
    wait_for 90 "requeued: run $run of the job was not computing with 2 workers" running_with_workers "$checkpoint" "$since" $((2 * run))
    pid=$(coordinator_pid) || die "requeued: no coordinator process in run $run"
    [[ $(restarts) == $((run - 1)) ]] || die "requeued: run $run has Restarts=$(restarts), expected $((run - 1))"
    kill -KILL "$pid"
    killed+=("$pid")
    sleep 1 # a checkpoint of this run cannot count as the next run's
done
finish requeued
((sbatch_status == 0)) || { show "$output"; die "requeued: sbatch --wait exited $sbatch_status"; }
check_model requeued "$work/requeued.json"
[[ $final_restarts == 2 ]] || { show "$output"; die "requeued: the job was requeued ${final_restarts:-?} times, expected 2"; }
[[ $(grep -c "requeued (requeue" "$output") == 2 ]] || { show "$output"; die "requeued: the job's output does not say twice that it requeued itself"; }
[[ $(grep -c "resuming $checkpoint from iteration" "$output") == 2 ]] || { show "$output"; die "requeued: the job's output does not show two resumptions from $checkpoint"; }
check_no_keys_left requeued
check_no_job_processes requeued
say "ok: the coordinator killed with SIGKILL twice (pids ${killed[*]}): the job requeues itself twice and its third run writes the same model ($((SECONDS - started)) s so far)"
passed=$((passed + 1))

say "$passed passed, 0 failed ($((SECONDS - started)) s)"
