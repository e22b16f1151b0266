#!/usr/bin/env bash
# Tests scripts/launch-ssh.sh end to end against a private sshd on 127.0.0.1: throwaway host and
# user keys, `sshd -D` on a free high port as the current user, a HOSTFILE `127.0.0.1 slots=2`.
# It fits a small generated dataset through launch-ssh.sh and checks that the model file is
# byte-identical to the one a plain `emfleet gmm fit` writes, and that no worker outlives the run,
# in five runs:
#   - default (fresh CURVE run keys): the coordinator's JSON log shows both workers joined
#     (worker_joined), nothing was refused, and no key material is left, neither in the hosts'
#     temporary directory (--remote-tmpdir, which the run did use) nor in the launcher's;
#   - --keys DIR (keys made beforehand with `emfleet keygen`): the same;
#   - --keys DIR whose workers/127.0.0.1.public is not the host's key: the coordinator refuses
#     the workers ("authentication failed"), the launch fails, no key material is left;
#   - --insecure: no keys; the model is the same and nothing is written to the hosts' temp dir;
#   - --aggregators 1 (fresh keys): an aggregator on the host with both workers behind it, its
#     own key pair listed by the coordinator; the same model, and no aggregator, worker or key
#     material left.
#
# Usage: scripts/check-ssh-launch.sh [--sshd-only]
#   --sshd-only   only start the sshd and check that `ssh ... true` logs in (needs no emfleet)
#   EMFLEET=PATH  the emfleet binary (default: .build/release/emfleet in this repository)
#
# Installs openssh-server with apt-get when /usr/sbin/sshd is missing (as root, or with sudo).
# shellcheck disable=SC2317  # (functions that only traps call)
set -euo pipefail

me=check-ssh-launch
die() { echo "$me: FAIL: $*" >&2; exit 1; }
say() { echo "$me: $*"; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sshd_only=false
case ${1:-} in
    "") ;;
    --sshd-only) sshd_only=true ;;
    -h | --help) sed -n '2,/^[^#]/{/^#/!d;/shellcheck/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "$me: unknown argument '$1' (usage: $0 [--sshd-only])" >&2; exit 2 ;;
esac

# --- tools
sshd_bin=/usr/sbin/sshd
if [[ ! -x $sshd_bin ]]; then
    say "installing openssh-server (no $sshd_bin)"
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "$sshd_bin is missing and installing openssh-server needs root or sudo"
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
    [[ -x $sshd_bin ]] || die "apt-get installed openssh-server but $sshd_bin is still missing"
fi
for tool in ssh ssh-keygen python3 cmp pgrep pkill timeout; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH"
done

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- a private sshd
work=$(mktemp -d "${TMPDIR:-/tmp}/emfleet-ssh-check.XXXXXX")
[[ $work != *[[:space:]]* ]] || die "the temporary directory '$work' has a space; set TMPDIR"
sshd_pid=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n $sshd_pid ]]; then
        pkill -TERM -P "$sshd_pid" 2>/dev/null || true # its sessions, if any are left
        kill -TERM "$sshd_pid" 2>/dev/null || true
        wait "$sshd_pid" 2>/dev/null || true
    fi
    if ((status != 0)) && [[ -s $work/sshd.log ]]; then
        echo "$me: sshd's log:" >&2
        sed 's/^/  /' "$work/sshd.log" >&2
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ssh-keygen -q -t ed25519 -N '' -C emfleet-check-host -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -C emfleet-check-user -f "$work/user_key"
cp "$work/user_key.pub" "$work/authorized_keys"
chmod 600 "$work/authorized_keys"
user=$(id -un)
cat >"$work/sshd_config" <<EOF
ListenAddress 127.0.0.1
HostKey $work/host_key
AuthorizedKeysFile $work/authorized_keys
PidFile $work/sshd.pid
AllowUsers $user
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
PrintMotd no
X11Forwarding no
AllowTcpForwarding no
EOF
# As root, sshd wants its privilege-separation directory.
if [[ $(id -u) -eq 0 && ! -d /run/sshd ]]; then
    mkdir -p /run/sshd
    chmod 0755 /run/sshd
fi
"$sshd_bin" -t -f "$work/sshd_config" || die "sshd rejects the generated configuration"

ssh_port=""
for _ in 1 2 3; do
    ssh_port=$(free_port)
    "$sshd_bin" -D -e -f "$work/sshd_config" -p "$ssh_port" 2>"$work/sshd.log" &
    sshd_pid=$!
    for _ in $(seq 1 50); do
        grep -q "Server listening" "$work/sshd.log" 2>/dev/null && break
        kill -0 "$sshd_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$sshd_pid" 2>/dev/null && grep -q "Server listening" "$work/sshd.log" && break
    wait "$sshd_pid" 2>/dev/null || true
    sshd_pid=""
done
[[ -n $sshd_pid ]] || die "sshd did not start on 127.0.0.1 (see its log above)"
say "sshd (pid $sshd_pid) listening on 127.0.0.1:$ssh_port"

ssh_opts="-F /dev/null -p $ssh_port -i $work/user_key -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
read -r -a ssh_args <<<"$ssh_opts"
ssh "${ssh_args[@]}" -o BatchMode=yes 127.0.0.1 true </dev/null || die "ssh with the generated key into 127.0.0.1:$ssh_port failed"
say "ok: ssh -p $ssh_port 127.0.0.1 true logs in with the throwaway key"
if $sshd_only; then
    say "1 passed, 0 failed"
    exit 0
fi

# --- the fit, plain and through launch-ssh.sh
emfleet=${EMFLEET:-$root/.build/release/emfleet}
[[ -x $emfleet ]] || die "no emfleet binary at $emfleet: run swift build -c release or set EMFLEET"
emfleet=$(cd "$(dirname "$emfleet")" && pwd)/$(basename "$emfleet")
remote_emfleet="'${emfleet//\'/\'\\\'\'}'" # quoted for the remote shell

"$emfleet" data generate --samples 20000 --features 4 --components 3 --seed 1 --out "$work/d.npy" >/dev/null
fit_args=(gmm fit --data "$work/d.npy" --components 3 --seed 1)
"$emfleet" "${fit_args[@]}" --out "$work/plain.json" >"$work/plain.log" 2>&1 \
    || { cat "$work/plain.log" >&2; die "plain emfleet gmm fit failed"; }
say "plain fit written"

printf '# written by %s\n127.0.0.1 slots=2\n' "$me" >"$work/hosts"
workers=(127.0.0.1-1 127.0.0.1-2)
remote_tmp=$work/remote-tmp # the hosts' --remote-tmpdir (this machine's, through sshd)
local_tmp=$work/local-tmp   # the launcher's TMPDIR, where it makes the run's keys
mkdir -p "$remote_tmp" "$local_tmp"
passed=1

show_log() { sed 's/^/  /' "$work/$1.log" >&2; }

# launch NAME [launcher options...] [-- job arguments...]: runs launch-ssh.sh with the fit plus
# the job arguments, writing $work/NAME.json and $work/NAME.log; sets launch_status.
launch() {
    local name=$1 options=() extra=()
    shift
    while (($#)) && [[ $1 != -- ]]; do options+=("$1"); shift; done
    (($#)) && shift && extra=("$@")
    coordinator_port=$(free_port)
    launch_status=0
    TMPDIR=$local_tmp EMFLEET=$emfleet EMFLEET_REMOTE=$remote_emfleet timeout 300 "$root/scripts/launch-ssh.sh" "$work/hosts" \
        --port "$coordinator_port" --advertise 127.0.0.1 --ssh-opts "$ssh_opts" --remote-tmpdir "$remote_tmp" "${options[@]}" \
        -- "${fit_args[@]}" --out "$work/$name.json" "${extra[@]}" >"$work/$name.log" 2>&1 || launch_status=$?
}

# No worker may outlive the launcher: sshd's sessions and the worker processes must have ended.
check_no_worker_left() {
    # Workers and aggregators of this run: the coordinator's endpoint is in their --connect list.
    local worker_pattern="(worker|aggregator) --connect [^ ]*tcp://127\.0\.0\.1:$coordinator_port( |$)"
    for _ in $(seq 1 100); do
        pgrep -P "$sshd_pid" >/dev/null || pgrep -f -- "$worker_pattern" >/dev/null || break
        sleep 0.1
    done
    if pgrep -P "$sshd_pid" >/dev/null || pgrep -f -- "$worker_pattern" >/dev/null; then
        ps -o pid,args --ppid "$sshd_pid" >&2 || true
        pgrep -af -- "$worker_pattern" >&2 || true
        die "$1: ssh sessions or remote workers are still running 10 s after launch-ssh.sh exited"
    fi
}

# No key material may be left: the hosts' temporary directory and the launcher's are empty again.
check_no_keys_left() {
    local left
    left=$(find "$remote_tmp" "$local_tmp" -mindepth 1 2>/dev/null | head -n 5)
    [[ -z $left ]] || die "$1: key material left after the run: $left"
}

check_model() {
    if [[ ! -s $work/$1.json ]]; then
        show_log "$1"
        die "$1: launch-ssh.sh exited 0 but wrote no model"
    fi
    if ! cmp "$work/plain.json" "$work/$1.json"; then
        show_log "$1"
        die "$1: the model fitted through launch-ssh.sh differs from the plain fit"
    fi
}

# The coordinator's JSON log (--log-format json) shows each worker joined, and no key refused.
check_joined() {
    local worker
    for worker in "${workers[@]}"; do
        if ! grep -F '"event":"worker_joined"' "$work/$1.log" | grep -qF "\"name\":\"$worker\""; then
            show_log "$1"
            die "$1: the coordinator's log has no worker_joined event for $worker"
        fi
    done
    if grep -q "refused a worker" "$work/$1.log"; then
        show_log "$1"
        die "$1: the coordinator refused a worker's key"
    fi
}

# The time the hosts' temporary directory last changed (entries made or removed in it).
stamp() { stat -c %Y.%y "$remote_tmp"; }

# 1. Fresh run keys (the default).
before=$(stamp)
sleep 0.01
launch curve -- --log-format json
if ((launch_status != 0)); then
    show_log curve
    die "scripts/launch-ssh.sh exited with status $launch_status (124: still running after 300 s)"
fi
grep -q "(CURVE keys in " "$work/curve.log" || { show_log curve; die "launch-ssh.sh did not say it runs with CURVE keys"; }
say "ok: launch-ssh.sh ran the fit with 2 workers over ssh, with fresh CURVE run keys"
check_no_worker_left curve
say "ok: no remote worker outlived launch-ssh.sh"
check_model curve
say "ok: the model from 2 ssh workers is byte-identical to the plain fit"
check_joined curve
say "ok: the coordinator's log shows both workers' keys joined (worker_joined), none refused"
[[ $(stamp) != "$before" ]] || die "the workers did not use --remote-tmpdir $remote_tmp for their keys"
check_no_keys_left curve
say "ok: the workers' key directories under --remote-tmpdir and the launcher's run keys are gone"
passed=$((passed + 5))

# 2. Keys made beforehand: --keys DIR.
keys=$work/keys
(
    umask 077
    "$emfleet" keygen --out "$keys" --name coordinator
    "$emfleet" keygen --out "$keys/workers" --name 127.0.0.1
) >/dev/null || die "emfleet keygen failed"
launch keys --keys "$keys" -- --log-format json
if ((launch_status != 0)); then
    show_log keys
    die "launch-ssh.sh --keys exited with status $launch_status"
fi
check_no_worker_left keys
check_model keys
check_joined keys
check_no_keys_left keys
say "ok: --keys DIR: same model, both workers joined, no worker or key material left"
passed=$((passed + 1))

# 3. A host key the coordinator does not know: the workers must be refused.
bad=$work/bad-keys
mkdir -m 700 "$bad"
cp -p "$keys/coordinator.secret" "$keys/coordinator.public" "$bad/"
(
    umask 077
    "$emfleet" keygen --out "$bad/workers" --name 127.0.0.1
    "$emfleet" keygen --out "$work/other" --name other
) >/dev/null || die "emfleet keygen failed"
cp "$work/other/other.public" "$bad/workers/127.0.0.1.public" # authorizes another key, not the host's
launch refused --keys "$bad" -- --wait-workers 3
if ((launch_status == 0)); then
    show_log refused
    die "launch-ssh.sh succeeded although the coordinator does not know the host's key"
fi
if ! grep -q "authentication failed" "$work/refused.log" || ! grep -q "refused a worker with key" "$work/refused.log"; then
    show_log refused
    die "an unknown worker key was not refused with 'authentication failed'"
fi
check_no_worker_left refused
check_no_keys_left refused
say "ok: a worker key the coordinator does not list is refused (authentication failed); no key material left"
passed=$((passed + 1))

# 4. --insecure: no keys at all.
before=$(stamp)
sleep 0.01
launch insecure --insecure
if ((launch_status != 0)); then
    show_log insecure
    die "launch-ssh.sh --insecure exited with status $launch_status"
fi
grep -q "WITHOUT encryption" "$work/insecure.log" || { show_log insecure; die "launch-ssh.sh --insecure did not say it runs without encryption"; }
check_no_worker_left insecure
check_model insecure
[[ $(stamp) == "$before" ]] || die "--insecure: the workers wrote to --remote-tmpdir although they have no keys"
check_no_keys_left insecure
say "ok: --insecure: same model without keys, nothing written on the hosts, no worker left"
passed=$((passed + 1))

# 5. An aggregator on the host, both workers behind it (fresh keys, one pair for the aggregator).
launch tiered --aggregators 1 --aggregator-port "$(free_port)" -- --log-format json
if ((launch_status != 0)); then
    show_log tiered
    die "launch-ssh.sh --aggregators 1 exited with status $launch_status"
fi
grep -q "through aggregators at tcp://127.0.0.1:" "$work/tiered.log" || { show_log tiered; die "--aggregators 1: launch-ssh.sh did not say where the aggregator listens"; }
check_no_worker_left tiered
check_model tiered
check_joined tiered
if [[ $(grep -c '"event":"aggregator_joined"' "$work/tiered.log") != 1 ]] \
    || [[ $(grep '"event":"worker_joined"' "$work/tiered.log" | grep -c '"via_aggregator":[0-9]') != 2 ]]; then
    show_log tiered
    die "--aggregators 1: not one aggregator joined with both workers behind it"
fi
check_no_keys_left tiered
say "ok: --aggregators 1: an aggregator with its own key and both workers behind it, the same model, nothing left"
passed=$((passed + 1))

say "$passed passed, 0 failed"
