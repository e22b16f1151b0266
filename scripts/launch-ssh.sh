#!/usr/bin/env bash
# Runs one emfleet job across hosts over ssh: the coordinator here, bound on 0.0.0.0:PORT, and
# `slots` workers on each host of HOSTFILE, each in its own ssh session, connecting back to it.
#
# Usage: scripts/launch-ssh.sh HOSTFILE [options] -- JOB ARGS...
#   e.g. scripts/launch-ssh.sh hosts.txt --advertise 10.0.0.5 -- \
#            gmm fit --data /shared/x.npy --components 16 --out model.json
#
#   HOSTFILE            lines `host [slots=N]` (N workers there, default 1); `#` comments, blank lines;
#                       a host is anything ssh takes: name, address, user@host, a ~/.ssh/config alias
#   --port P            the coordinator's TCP port (default 5555); the hosts must reach it
#   --advertise ADDR    the address the workers connect to (default: hostname -f)
#   --ssh-opts "OPTS"   extra ssh options, split on whitespace, no quoting (e.g. "-p 2222 -i KEY");
#                       put anything more in ~/.ssh/config
#   --worker-threads T  threads per worker (default 1: a slot is a core; never changes the model)
#   --dry-run           print the coordinator and ssh commands, run nothing
#   EMFLEET=PATH        the emfleet binary here (default: .build/release/emfleet in this repository,
#                       else emfleet on PATH)
#   EMFLEET_REMOTE=CMD  the emfleet command on the hosts (default: emfleet). It is remote shell text,
#                       e.g. /opt/emfleet/bin/emfleet or "env OPENBLAS_CORETYPE=HASWELL emfleet"
#   OPENBLAS_CORETYPE   when set here, it is set for every remote worker as well
#   EMFLEET_SSH=PROG    the ssh client (default: ssh)
#
# Without --stream-data in the job, every worker reads the data file at the same path as the
# coordinator: put it on storage all hosts share. Each worker runs under `ssh -tt` as
# `exec emfleet worker ...`: when its ssh session ends (this script exits, Ctrl-C, SIGTERM), the
# remote worker gets SIGHUP; failing that, it exits after --coordinator-timeout (default 60 s).
# Worker output goes to stderr with a [host-I] prefix. The exit status is the coordinator's.
# shellcheck disable=SC2317  # (functions that only traps call)
set -euo pipefail

me=launch-ssh
die() { echo "$me: $*" >&2; exit 2; }
usage() { sed -n '2,/^[^#]/{/^#/!d;/shellcheck/d;s/^# \{0,1\}//;p}' "$0"; exit 0; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# --- arguments
hostfile=""
port=5555
advertise=""
ssh_opts=()
worker_threads=1
dry_run=false
while (($#)); do
    case $1 in
        -h | --help) usage ;;
        --) shift; break ;;
        --port | --advertise | --ssh-opts | --worker-threads)
            (($# >= 2)) || die "$1 needs a value"
            case $1 in
                --port) port=$2 ;;
                --advertise) advertise=$2 ;;
                --ssh-opts) read -r -a ssh_opts <<<"$2" ;;
                --worker-threads) worker_threads=$2 ;;
            esac
            shift 2 ;;
        --port=*) port=${1#*=}; shift ;;
        --advertise=*) advertise=${1#*=}; shift ;;
        --ssh-opts=*) read -r -a ssh_opts <<<"${1#*=}"; shift ;;
        --worker-threads=*) worker_threads=${1#*=}; shift ;;
        --dry-run) dry_run=true; shift ;;
        -*) die "unknown option $1 (put -- before the emfleet job arguments; see --help)" ;;
        *)
            [[ -z $hostfile ]] || die "unexpected '$1': put -- before the emfleet job arguments"
            hostfile=$1
            shift ;;
    esac
done
[[ -n $hostfile ]] || die "missing HOSTFILE (usage: $0 HOSTFILE [options] -- JOB ARGS...)"
(($#)) || die "missing the emfleet job after --, e.g. -- gmm fit --data /shared/x.npy --components 8 --out model.json"
job_args=("$@")
for arg in "${job_args[@]}"; do
    case $arg in
        --bind | --bind=* | --workers | --workers=*)
            die "do not pass ${arg%%=*}: this launcher binds the coordinator on 0.0.0.0:$port and starts the workers" ;;
    esac
done
if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
    die "--port must be 1-65535, got '$port'"
fi
[[ $worker_threads =~ ^[1-9][0-9]*$ ]] || die "--worker-threads must be a positive integer, got '$worker_threads'"

# --- the host file
[[ -r $hostfile ]] || die "cannot read HOSTFILE $hostfile"
hosts=()
host_slots=()
total=0
lineno=0
while IFS= read -r line || [[ -n $line ]]; do
    lineno=$((lineno + 1))
    line=${line%%#*}
    read -r -a fields <<<"$line" || true
    ((${#fields[@]})) || continue
    host=${fields[0]}
    slots=1
    for field in "${fields[@]:1}"; do
        case $field in
            slots=*) slots=${field#slots=} ;;
            *) die "$hostfile:$lineno: unexpected '$field' (a line is: host [slots=N])" ;;
        esac
    done
    [[ $host != -* ]] || die "$hostfile:$lineno: a host cannot start with '-': '$host'"
    [[ $slots =~ ^[1-9][0-9]*$ ]] || die "$hostfile:$lineno: slots must be a positive integer, got '$slots'"
    hosts+=("$host")
    host_slots+=("$slots")
    total=$((total + slots))
done <"$hostfile"
((total > 0)) || die "$hostfile lists no hosts"
min_workers=("--min-workers" "$total")
for arg in "${job_args[@]}"; do
    case $arg in --min-workers | --min-workers=*) min_workers=() ;; esac
done

# --- where the workers connect
if [[ -z $advertise ]]; then
    advertise=$(hostname -f 2>/dev/null || hostname)
    case $advertise in
        localhost | localhost.* | 127.* | ::1)
            echo "$me: warning: hostname -f gives '$advertise'; pass --advertise ADDR if other hosts cannot reach it" >&2 ;;
    esac
fi
[[ -n $advertise ]] || die "no address to advertise: pass --advertise ADDR"
if [[ $advertise == *:* && $advertise != \[* ]]; then
    address="tcp://[$advertise]:$port" # IPv6
else
    address="tcp://$advertise:$port"
fi

# --- the binaries
if [[ -n ${EMFLEET:-} ]]; then
    emfleet=$(command -v "$EMFLEET") || die "EMFLEET=$EMFLEET is not an executable"
elif [[ -x $root/.build/release/emfleet ]]; then
    emfleet=$root/.build/release/emfleet
else
    emfleet=$(command -v emfleet) || die "no emfleet binary: run swift build -c release, put emfleet on PATH, or set EMFLEET"
fi
emfleet_remote=${EMFLEET_REMOTE:-emfleet}
ssh=${EMFLEET_SSH:-ssh}
command -v "$ssh" >/dev/null || die "no ssh client '$ssh' (set EMFLEET_SSH)"

# Quotes each argument for the remote POSIX shell: 'a'\''b'.
sq() {
    local arg quoted=()
    for arg in "$@"; do quoted+=("'${arg//\'/\'\\\'\'}'"); done
    printf '%s' "${quoted[*]}"
}
remote_exec="exec"
if [[ -n ${OPENBLAS_CORETYPE:-} ]]; then
    remote_exec="exec env OPENBLAS_CORETYPE=$(sq "$OPENBLAS_CORETYPE")"
fi

coordinator_cmd=("$emfleet" "${job_args[@]}" --bind "tcp://0.0.0.0:$port" "${min_workers[@]}")
# One ssh command per worker: names[k] on worker_hosts[k] runs remote_cmds[k].
names=()
worker_hosts=()
remote_cmds=()
for h in "${!hosts[@]}"; do
    host=${hosts[$h]}
    for ((i = 1; i <= host_slots[h]; i++)); do
        name="${host#*@}-$i"
        names+=("$name")
        worker_hosts+=("$host")
        remote_cmds+=("$remote_exec $emfleet_remote $(sq worker --connect "$address" --threads "$worker_threads" --name "$name")")
    done
done
ssh_cmd=("$ssh" "${ssh_opts[@]}" -o BatchMode=yes -o ConnectTimeout=20 -o ServerAliveInterval=15 -tt)

if $dry_run; then
    printf '%q ' "${coordinator_cmd[@]}"
    echo
    for k in "${!names[@]}"; do
        printf '%q ' "${ssh_cmd[@]}" "${worker_hosts[$k]}" "${remote_cmds[$k]}"
        echo "</dev/null"
    done
    exit 0
fi

# --- processes and their clean-up
coordinator_pid=""
ssh_pids=()
reported=()

# shellcheck source=scripts/lib-processes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-processes.sh"
stop() { stop_pids "$coordinator_pid" "${ssh_pids[@]}"; }
on_exit() {
    local status=$?
    trap - EXIT INT TERM
    stop
    wait 2>/dev/null || true
    exit "$status"
}
# Reports, once each, ssh sessions that have ended (a worker that exited, or ssh that failed).
report_ended() {
    local k pid status
    for k in "${!ssh_pids[@]}"; do
        pid=${ssh_pids[$k]}
        [[ -z ${reported[$k]:-} ]] || continue
        kill -0 "$pid" 2>/dev/null && continue
        status=0
        wait "$pid" 2>/dev/null || status=$?
        reported[k]=$status
        if ((status != 0)); then
            echo "$me: worker ${names[$k]}: ssh session ended with status $status" >&2
        fi
    done
}
trap on_exit EXIT
trap 'echo "$me: interrupted; stopping the coordinator and the workers" >&2; exit 130' INT
trap 'echo "$me: terminated; stopping the coordinator and the workers" >&2; exit 143' TERM

# --- run
echo "$me: coordinator here on 0.0.0.0:$port, workers connect to $address: $total on ${#hosts[@]} host(s)" >&2
"${coordinator_cmd[@]}" &
coordinator_pid=$!

for k in "${!names[@]}"; do
    "${ssh_cmd[@]}" "${worker_hosts[$k]}" "${remote_cmds[$k]}" </dev/null \
        > >(while IFS= read -r line; do printf '[%s] %s\n' "${names[$k]}" "${line%$'\r'}"; done >&2) 2>&1 &
    ssh_pids+=($!)
done

warned_none=false
while kill -0 "$coordinator_pid" 2>/dev/null; do
    report_ended
    if ! $warned_none && ! any_alive "${ssh_pids[@]}"; then
        echo "$me: every worker's ssh session has ended; the coordinator gives up after --wait-workers" >&2
        warned_none=true
    fi
    sleep 0.5
done
status=0
wait "$coordinator_pid" || status=$?
coordinator_pid=""
((status == 0)) || echo "$me: the coordinator exited with status $status" >&2
exit "$status"
