#!/usr/bin/env bash
# Runs one emfleet job across hosts over ssh: the coordinator here, bound on 0.0.0.0:PORT, and
# `slots` workers on each host of HOSTFILE, each in its own ssh session, connecting back to it.
# The traffic is encrypted and only this run's workers may join (CURVE): the script makes a fresh
# key set for the run in a private temporary directory (mode 0700), removed when it exits.
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
#   --aggregators A     also run one `emfleet aggregator` on each of the first A hosts, bound on
#                       0.0.0.0:--aggregator-port (default PORT+1) and reached by the host's name as
#                       HOSTFILE writes it, without user@; the workers split evenly and in order
#                       among them, each connecting to its aggregator first and to the coordinator
#                       if it dies. Each aggregator gets a key pair of its own, listed by the
#                       coordinator. The model is the same bits
#   --aggregator-port P the aggregators' TCP port on their hosts (default PORT+1)
#   --keys DIR          use these keys instead of fresh ones: DIR/coordinator.secret (mode 0600),
#                       DIR/workers/*.public (the keys that may join) and, for each host,
#                       DIR/workers/HOST.secret (HOST as in HOSTFILE, or without its user@), as
#                       `emfleet keygen --out DIR/workers --name HOST` writes them
#   --insecure          no CURVE: plain TCP that anyone who reaches the port can join and read
#                       (passes --insecure to the coordinator); only on a network you trust
#   --remote-tmpdir DIR where each host keeps its worker's keys during the run, in a fresh mode-0700
#                       directory removed when the worker exits (default: $TMPDIR there, else /tmp)
#   --dry-run           print the coordinator and ssh commands, run nothing (and make no keys)
#   EMFLEET=PATH        the emfleet binary here (default: .build/release/emfleet in this repository,
#                       else emfleet on PATH)
#   EMFLEET_REMOTE=CMD  the emfleet command on the hosts (default: emfleet). It is remote shell text,
#                       e.g. /opt/emfleet/bin/emfleet or "env OPENBLAS_CORETYPE=HASWELL emfleet"
#   OPENBLAS_CORETYPE   when set here, it is set for every remote worker as well
#   EMFLEET_SSH=PROG    the ssh client (default: ssh)
#
# Without --stream-data in the job, every worker reads the data file at the same path as the
# coordinator: put it on storage all hosts share. Keys never appear on a command line: each ssh
# session (`ssh -T`, no terminal) carries the coordinator's public key and the host's secret key on
# its stdin to a small `sh -c` script on the host, which writes them (umask 077) into a `mktemp -d`
# directory, runs `emfleet worker ... --curve-secret --coordinator-key` on them and removes the
# directory when the worker exits. That stdin stays open while this script runs: when it closes
# (this script exits, Ctrl-C, SIGTERM, even SIGKILL), the remote script stops its worker; failing
# that (a broken link), the worker exits after --coordinator-timeout (default 60 s).
# Worker output goes to stderr with a [host-I] prefix. The exit status is the coordinator's.
# shellcheck disable=SC2317  # (functions that only traps call)
# shellcheck disable=SC2016  # (remote shell text in single quotes: its $ expand on the host)
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
aggregators=0
aggregator_port=""
keys_dir=""
insecure=false
remote_tmpdir=""
dry_run=false
while (($#)); do
    case $1 in
        -h | --help) usage ;;
        --) shift; break ;;
        --port | --advertise | --ssh-opts | --worker-threads | --keys | --remote-tmpdir | --aggregators | --aggregator-port)
            (($# >= 2)) || die "$1 needs a value"
            case $1 in
                --aggregators) aggregators=$2 ;;
                --aggregator-port) aggregator_port=$2 ;;
                --port) port=$2 ;;
                --advertise) advertise=$2 ;;
                --ssh-opts) read -r -a ssh_opts <<<"$2" ;;
                --worker-threads) worker_threads=$2 ;;
                --keys) keys_dir=$2 ;;
                --remote-tmpdir) remote_tmpdir=$2 ;;
            esac
            shift 2 ;;
        --port=*) port=${1#*=}; shift ;;
        --advertise=*) advertise=${1#*=}; shift ;;
        --ssh-opts=*) read -r -a ssh_opts <<<"${1#*=}"; shift ;;
        --worker-threads=*) worker_threads=${1#*=}; shift ;;
        --aggregators=*) aggregators=${1#*=}; shift ;;
        --aggregator-port=*) aggregator_port=${1#*=}; shift ;;
        --keys=*) keys_dir=${1#*=}; shift ;;
        --remote-tmpdir=*) remote_tmpdir=${1#*=}; shift ;;
        --insecure) insecure=true; shift ;;
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
        --curve-secret | --curve-secret=* | --authorized-keys | --authorized-keys=*)
            die "do not pass ${arg%%=*}: this launcher makes the run's keys (or give it --keys DIR)" ;;
        --insecure)
            die "give --insecure to the launcher, before --: it then starts the workers without keys too" ;;
    esac
done
if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
    die "--port must be 1-65535, got '$port'"
fi
[[ $worker_threads =~ ^[1-9][0-9]*$ ]] || die "--worker-threads must be a positive integer, got '$worker_threads'"
[[ $aggregators =~ ^[0-9]+$ ]] || die "--aggregators must be a whole number, got '$aggregators'"
aggregator_port=${aggregator_port:-$((port + 1))}
if ! [[ $aggregator_port =~ ^[0-9]+$ ]] || ((aggregator_port < 1 || aggregator_port > 65535)); then
    die "--aggregator-port must be 1-65535, got '$aggregator_port'"
fi
if $insecure && [[ -n $keys_dir ]]; then
    die "give --keys DIR or --insecure, not both"
fi
if [[ -n $remote_tmpdir && $remote_tmpdir != /* ]]; then
    die "--remote-tmpdir must be an absolute path on the hosts, got '$remote_tmpdir'"
fi

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
((aggregators <= ${#hosts[@]})) || die "--aggregators $aggregators is more than the ${#hosts[@]} host(s) in $hostfile (one aggregator per host)"
((aggregators <= total)) || die "--aggregators $aggregators is more than the $total worker(s)"
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

# --- the keys: key_names[h] is host h's key pair, keys/workers/NAME.{public,secret}
# With --keys, NAME is the host as HOSTFILE writes it, or without its user@; fresh keys take the
# host without its user@ (made unique), with characters other than [A-Za-z0-9._@-] as _.
curve=true
$insecure && curve=false
fresh_keys=false
keys=""
key_names=()
if $curve; then
    if [[ -n $keys_dir ]]; then
        [[ -d $keys_dir ]] || die "--keys $keys_dir: no such directory"
        keys=$(cd "$keys_dir" && pwd)
        [[ -r $keys/coordinator.secret ]] || die "--keys $keys_dir: no readable coordinator.secret (make it with: emfleet keygen --out $keys_dir --name coordinator)"
        [[ -r $keys/coordinator.public ]] || die "--keys $keys_dir: no readable coordinator.public"
        compgen -G "$keys/workers/*.public" >/dev/null || die "--keys $keys_dir: no workers/*.public (the worker keys that may join)"
        for host in "${hosts[@]}"; do
            name=""
            for candidate in "$host" "${host#*@}"; do
                if [[ -f $keys/workers/$candidate.secret ]]; then name=$candidate; break; fi
            done
            [[ -n $name ]] || die "--keys $keys_dir: no workers/${host#*@}.secret for host $host (make it with: emfleet keygen --out $keys_dir/workers --name ${host#*@})"
            [[ -f $keys/workers/$name.public ]] || die "--keys $keys_dir: workers/$name.secret has no workers/$name.public: the coordinator would refuse host $host"
            key_names+=("$name")
        done
        for ((j = 0; j < aggregators; j++)); do
            name=${key_names[$j]}-aggregator
            [[ -f $keys/workers/$name.secret && -f $keys/workers/$name.public ]] \
                || die "--keys $keys_dir: no workers/$name.secret and .public for the aggregator on ${hosts[$j]} (make them with: emfleet keygen --out $keys_dir/workers --name $name)"
        done
    else
        fresh_keys=true
        keys=RUN_KEYS # where the fresh keys will be, for --dry-run
        taken=" "
        for host in "${hosts[@]}"; do
            base=${host#*@}
            base=${base//[^A-Za-z0-9._@-]/_}
            name=$base
            n=2
            while [[ $taken == *" $name "* ]]; do name=$base-$n; n=$((n + 1)); done
            taken+="$name "
            key_names+=("$name")
        done
    fi
fi

z85='^[][0-9a-zA-Z.:+=^!/*?&<>(){}@%$#-]{40}$'
# Reads a key file (40 Z85 characters, as `emfleet keygen` writes them) into the variable $2;
# a secret key file must be readable by its owner only.
read_key() {
    local file=$1 __key="" mode
    [[ -r $file ]] || die "cannot read the key file $file"
    if [[ $file == *.secret ]]; then
        mode=$(stat -c %a "$file" 2>/dev/null || stat -f %Lp "$file" 2>/dev/null) || die "cannot stat $file"
        if ((8#$mode & 8#077)); then
            die "$file: the secret key file is readable by others (mode $mode); run chmod 600 $file"
        fi
    fi
    IFS= read -r __key <"$file" || true
    __key=${__key//[[:space:]]/}
    [[ $__key =~ $z85 ]] || die "$file: not a CURVE key (40 Z85 characters)"
    printf -v "$2" '%s' "$__key"
}

# Quotes each argument for the remote POSIX shell: 'a'\''b' (a plain word as it is).
sq() {
    local arg quoted=()
    for arg in "$@"; do
        if [[ $arg =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
            quoted+=("$arg")
        else
            quoted+=("'${arg//\'/\'\\\'\'}'")
        fi
    done
    printf '%s' "${quoted[*]}"
}
remote_env=""
if [[ -n ${OPENBLAS_CORETYPE:-} ]]; then
    remote_env="env OPENBLAS_CORETYPE=$(sq "$OPENBLAS_CORETYPE") "
fi
if [[ -n $remote_tmpdir ]]; then
    remote_mktemp="mktemp -d $(sq "${remote_tmpdir%/}/emfleet-keys.XXXXXX")"
else
    remote_mktemp='mktemp -d "${TMPDIR:-/tmp}/emfleet-keys.XXXXXX"'
fi

# What one ssh session runs on its host: `exec sh -c SCRIPT`, SCRIPT being POSIX shell text that
# (with keys) reads two lines from stdin, the coordinator's public key and the host's secret key,
# writes them into a fresh mode-0700 directory, runs the worker on them in the background, stops
# the worker when stdin ends (the launcher is gone), and removes the directory however it exits.
remote_command() {
    local worker=$remote_env$1 behind=${2:-false} script
    script='umask 077
w= l= d=
cleanup() { for p in $w $l; do kill -TERM "$p" 2>/dev/null; done; if [ -n "$d" ]; then rm -rf "$d"; fi; }
trap cleanup EXIT
trap "exit 129" HUP
trap "exit 130" INT
trap "exit 141" PIPE
trap "exit 143" TERM
'
    if $curve; then
        script+="d=\$($remote_mktemp) || exit 1"'
IFS= read -r coordinator_key && IFS= read -r worker_key || { echo "launch-ssh: the keys did not arrive on stdin" >&2; exit 1; }
printf "%s\n" "$coordinator_key" >"$d/coordinator.public" && printf "%s\n" "$worker_key" >"$d/worker.secret" || exit 1
worker_key=
'
        if $behind; then
            # A worker behind an aggregator: the aggregator's public key comes third.
            script+='IFS= read -r aggregator_key || { echo "launch-ssh: the aggregator key did not arrive on stdin" >&2; exit 1; }
printf "%s\n" "$aggregator_key" >"$d/aggregator.public" || exit 1
'
            worker+=' --curve-secret "$d/worker.secret" --coordinator-key "$d/aggregator.public,$d/coordinator.public"'
        else
            worker+=' --curve-secret "$d/worker.secret" --coordinator-key "$d/coordinator.public"'
        fi
    fi
    script+='exec 3<&0 </dev/null
'"$worker"' 3<&- &
w=$!
{ while IFS= read -r _; do :; done; kill -TERM "$w" 2>/dev/null; } <&3 >/dev/null 2>&1 &
l=$!
exec 3<&-
s=0
wait "$w" || s=$?
w=
exit "$s"'
    printf 'exec sh -c %s launch-ssh-worker' "$(sq "$script")"
}

# The coordinator's command line, with the keys in $keys.
coordinator_command() {
    coordinator_cmd=("$emfleet" "${job_args[@]}" --bind "tcp://0.0.0.0:$port" "${min_workers[@]}" --exit-with-parent)
    if $curve; then
        coordinator_cmd+=(--curve-secret "$keys/coordinator.secret" --authorized-keys "$keys/workers")
    else
        coordinator_cmd+=(--insecure)
    fi
}
# One ssh command per worker: names[k] on worker_hosts[k] runs remote_cmds[k], with the key pair
# worker_keys[k] (a name under keys/workers) on its stdin.
# Aggregators come first; third_keys[k] names the aggregator key pair whose public key a worker
# behind it gets third on its stdin (empty for the others).
names=()
worker_hosts=()
worker_keys=()
third_keys=()
remote_cmds=()
aggregator_endpoints=()
for ((j = 0; j < aggregators; j++)); do
    host=${hosts[$j]}
    reach=${host#*@}
    if [[ $reach == *:* && $reach != \[* ]]; then reach="[$reach]"; fi
    aggregator_endpoints+=("tcp://$reach:$aggregator_port")
    names+=("${host#*@}-aggregator")
    worker_hosts+=("$host")
    worker_keys+=("${key_names[$j]:+${key_names[$j]}-aggregator}")
    third_keys+=("")
    insecure_flag=()
    $curve || insecure_flag=(--insecure)
    remote_cmds+=("$(remote_command "$emfleet_remote $(sq aggregator --connect "$address" --bind "tcp://0.0.0.0:$aggregator_port" --name "${host#*@}-aggregator" "${insecure_flag[@]}")")")
done
w=0
for h in "${!hosts[@]}"; do
    host=${hosts[$h]}
    for ((i = 1; i <= host_slots[h]; i++)); do
        name="${host#*@}-$i"
        names+=("$name")
        worker_hosts+=("$host")
        worker_keys+=("${key_names[$h]:-}")
        if ((aggregators > 0)); then
            # Consecutive workers share an aggregator; the coordinator is each one's fallback.
            j=$((w * aggregators / total))
            third_keys+=("${key_names[$j]:+${key_names[$j]}-aggregator}")
            remote_cmds+=("$(remote_command "$emfleet_remote $(sq worker --connect "${aggregator_endpoints[$j]},$address" --threads "$worker_threads" --name "$name")" true)")
        else
            third_keys+=("")
            remote_cmds+=("$(remote_command "$emfleet_remote $(sq worker --connect "$address" --threads "$worker_threads" --name "$name")")")
        fi
        w=$((w + 1))
    done
done
ssh_cmd=("$ssh" "${ssh_opts[@]}" -o BatchMode=yes -o ConnectTimeout=20 -o ServerAliveInterval=15 -T)

if $dry_run; then
    coordinator_command
    if $fresh_keys; then
        echo "# RUN_KEYS: a fresh key set in a private temporary directory, made at run time:"
        printf '#   %q keygen --out RUN_KEYS --name coordinator\n' "$emfleet"
        for name in "${key_names[@]}"; do
            printf '#   %q keygen --out RUN_KEYS/workers --name %q\n' "$emfleet" "$name"
        done
        for ((j = 0; j < aggregators; j++)); do
            printf '#   %q keygen --out RUN_KEYS/workers --name %q\n' "$emfleet" "${key_names[$j]}-aggregator"
        done
    fi
    printf '%q ' "${coordinator_cmd[@]}"
    echo
    for k in "${!names[@]}"; do
        if $curve; then
            echo "# ${names[$k]}: stdin carries $keys/coordinator.public and $keys/workers/${worker_keys[$k]}.secret${third_keys[$k]:+, then $keys/workers/${third_keys[$k]}.public}, then stays open"
        else
            echo "# worker ${names[$k]}: stdin stays open (no keys: --insecure)"
        fi
        printf '%q ' "${ssh_cmd[@]}" "${worker_hosts[$k]}"
        sq "${remote_cmds[$k]}"
        echo
    done
    exit 0
fi

# --- processes and their clean-up
coordinator_pid=""
ssh_pids=()
reported=()
run_dir=""

# shellcheck source=scripts/lib-processes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-processes.sh"
stop() { stop_pids "$coordinator_pid" "${ssh_pids[@]}"; }
on_exit() {
    local status=$?
    trap - EXIT INT TERM
    stop
    wait 2>/dev/null || true
    [[ -z $run_dir ]] || rm -rf "$run_dir"
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

# --- the run's keys
if $fresh_keys; then
    run_dir=$(umask 077 && mktemp -d "${TMPDIR:-/tmp}/emfleet-run-keys.XXXXXX") || die "cannot make a private temporary directory"
    chmod 700 "$run_dir"
    keys=$run_dir
    (
        umask 077
        "$emfleet" keygen --out "$keys" --name coordinator >/dev/null
        for name in "${key_names[@]}"; do
            "$emfleet" keygen --out "$keys/workers" --name "$name" >/dev/null
        done
        for ((j = 0; j < aggregators; j++)); do
            "$emfleet" keygen --out "$keys/workers" --name "${key_names[$j]}-aggregator" >/dev/null
        done
    ) || die "emfleet keygen failed"
fi
coordinator_command
coordinator_key=""
host_secrets=()
third_publics=()
if $curve; then
    read_key "$keys/coordinator.public" coordinator_key
    for k in "${!names[@]}"; do
        read_key "$keys/workers/${worker_keys[$k]}.secret" "host_secrets[$k]"
        third_publics[k]=""
        if [[ -n ${third_keys[$k]} ]]; then read_key "$keys/workers/${third_keys[$k]}.public" "third_publics[$k]"; fi
    done
fi

# What a worker's ssh session reads: the keys, then nothing until this script has exited. (Should
# it die by SIGKILL, the first feed removes the run's keys, which the EXIT trap could not.)
feed() {
    if $curve; then
        printf '%s\n%s\n' "$coordinator_key" "${host_secrets[$1]}"
        if [[ -n ${third_publics[$1]} ]]; then printf '%s\n' "${third_publics[$1]}"; fi
    fi
    while kill -0 "$$" 2>/dev/null; do sleep 1; done
    if (($1 == 0)) && [[ -n $run_dir ]]; then rm -rf "$run_dir"; fi
}

# --- run
if $curve; then
    echo "$me: coordinator here on 0.0.0.0:$port (CURVE keys in $keys), workers connect to $address: $total on ${#hosts[@]} host(s)${aggregator_endpoints[*]:+, through aggregators at ${aggregator_endpoints[*]}}" >&2
else
    echo "$me: coordinator here on 0.0.0.0:$port WITHOUT encryption (--insecure), workers connect to $address: $total on ${#hosts[@]} host(s)${aggregator_endpoints[*]:+, through aggregators at ${aggregator_endpoints[*]}}" >&2
fi
"${coordinator_cmd[@]}" &
coordinator_pid=$!

for k in "${!names[@]}"; do
    "${ssh_cmd[@]}" "${worker_hosts[$k]}" "${remote_cmds[$k]}" < <(feed "$k") \
        > >(while IFS= read -r line; do printf '[%s] %s\n' "${names[$k]}" "${line%$'\r'}"; done >&2) 2>&1 &
    ssh_pids+=($!)
done
host_secrets=()

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
