#!/usr/bin/env bash
# Runs an emfleet job in containers with podman (Debian's package): a coordinator and two workers
# on a podman network, with CURVE keys and the data on a bind mount, as docs/DEPLOY.md's Docker
# section shows, and checks that the model is byte-identical to a one-process fit here.
#
# The image is deploy/docker/Dockerfile's final stage, taken from the file as it is (its packages,
# user, working directory, entrypoint), on a debian:bookworm-slim made here with debootstrap from
# the Debian mirror, with this machine's release binary (and the Swift runtime libraries it links)
# instead of the swift: build stage's. The whole Dockerfile cannot be built offline: its base
# images come from Docker Hub and its build stage resolves the package's dependencies from GitHub.
# `--dockerfile` builds it all the same (where Docker Hub and GitHub are reachable) and runs the
# job in that image instead.
#
# Usage: scripts/check-container.sh [--dockerfile]
#   EMFLEET=PATH   the binary to put in the image (default: .build/release/emfleet)
#
# Needs root; installs podman, runc and debootstrap with apt-get when they are missing. Skipped
# (exit 0, saying why) without root, when they cannot be installed, or when podman cannot run a
# container on this machine. Everything it makes (containers, network, images, files) is removed.
# shellcheck disable=SC2317  # (functions that only traps call)
set -euo pipefail

me=check-container
die() { echo "$me: FAIL: $*" >&2; exit 1; }
say() { echo "$me: $*"; }
skip() { say "skipped: $*"; exit 0; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dockerfile_build=false
case ${1:-} in
    "") ;;
    --dockerfile) dockerfile_build=true ;;
    -h | --help) sed -n '2,/^[^#]/{/^#/!d;/shellcheck/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "$me: unknown argument '$1' (usage: $0 [--dockerfile])" >&2; exit 2 ;;
esac
started=$SECONDS
[[ $(id -u) -eq 0 ]] || skip "needs root (rootful podman, debootstrap)"

missing=()
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || missing+=("$tool"); done
if ((${#missing[@]})); then
    say "installing ${missing[*]} with apt-get"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null; } \
        || skip "apt-get could not install podman runc debootstrap"
fi
export PATH=$PATH:/usr/sbin

emfleet=${EMFLEET:-$root/.build/release/emfleet}
[[ -x $emfleet ]] || die "no emfleet binary at $emfleet: run swift build -c release or set EMFLEET"

work=$(mktemp -d "${TMPDIR:-/tmp}/emfleet-container-check.XXXXXX")
tag=$(basename "$work" | tr '[:upper:].' '[:lower:]-')
base=localhost/$tag-base:bookworm-slim
image=localhost/$tag:latest
network=$tag-net
containers=()
# runc rather than crun: crun refuses hybrid cgroup v1/v2 hierarchies ("cgroups in hybrid mode not
# supported"). Explicit limits: podman's defaults (nofile 1048576) exceed the hard limits where root
# lacks CAP_SYS_RESOURCE, and the container then fails to start.
podman=(podman --runtime runc)
limits=(--ulimit "nofile=4096:4096" --ulimit "nproc=4096:4096")
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    ((${#containers[@]} == 0)) || "${podman[@]}" rm -f "${containers[@]}" >/dev/null 2>&1 || true
    "${podman[@]}" network rm -f "$network" >/dev/null 2>&1 || true
    "${podman[@]}" rmi -f "$image" "$base" >/dev/null 2>&1 || true
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- can podman run a container here at all? (an image of one static busybox, made locally)
if command -v busybox >/dev/null && file -L "$(command -v busybox)" 2>/dev/null | grep -q "statically linked"; then
    mkdir -p "$work/probe/bin"
    cp "$(command -v busybox)" "$work/probe/bin/busybox"
    tar -C "$work/probe" -cf "$work/probe.tar" .
    "${podman[@]}" import "$work/probe.tar" "$base" >/dev/null 2>&1 || skip "podman import of a one-file image failed"
    if ! probe=$("${podman[@]}" run --rm "${limits[@]}" "$base" /bin/busybox echo container-ok 2>&1) || [[ $probe != *container-ok* ]]; then
        skip "podman cannot run a container on this machine: $probe"
    fi
    "${podman[@]}" rmi -f "$base" >/dev/null 2>&1 || true
    say "ok: podman $(podman --version | awk '{print $3}') (runc) runs containers here"
fi

# --- the image
if $dockerfile_build; then
    say "building deploy/docker/Dockerfile (needs Docker Hub and GitHub)"
    "${podman[@]}" build "${limits[@]}" -f "$root/deploy/docker/Dockerfile" -t "$image" "$root" >"$work/build.log" 2>&1 \
        || { tail -n 20 "$work/build.log" >&2; die "podman build of deploy/docker/Dockerfile failed (log above)"; }
else
    say "debootstrap bookworm (minbase) from the Debian mirror"
    debootstrap --variant=minbase bookworm "$work/rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1 \
        || { tail -n 20 "$work/debootstrap.log" >&2; skip "debootstrap of Debian 12 failed (no Debian mirror?)"; }
    rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb
    tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
    rm -rf "$work/rootfs"
    "${podman[@]}" import "$work/rootfs.tar" "$base" >/dev/null 2>>"$work/podman.log" \
        || { cat "$work/podman.log" >&2; die "podman import of the debootstrapped Debian 12 failed"; }
    rm -f "$work/rootfs.tar"
    # The Dockerfile's final stage, with this binary instead of the build stage's.
    mkdir -p "$work/context/swiftlib"
    cp "$emfleet" "$work/context/emfleet"
    runpath=$(readelf -d "$emfleet" | sed -n 's/.*(RUNPATH).*\[\([^]:]*\).*/\1/p')
    while read -r library; do
        [[ -n $runpath && $library == "$runpath"/* ]] && cp "$library" "$work/context/swiftlib/"
    done < <(ldd "$emfleet" | awk '$3 ~ /^\// {print $3}')
    python3 - "$root/deploy/docker/Dockerfile" "$base" "${runpath:-/usr/local/lib/swift}" >"$work/context/Containerfile" <<'PY'
import sys
source, base, runpath = sys.argv[1:]
lines = open(source).read().splitlines()
last = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
out = [f"FROM {base}"]
copied = False
for line in lines[last + 1:]:
    if line.startswith("COPY --from="):
        out += [f"COPY swiftlib/ {runpath}/", "COPY emfleet /usr/local/bin/emfleet"]
        copied = True
    else:
        out.append(line)
if not copied:
    sys.exit("the Dockerfile's final stage has no COPY --from=<build stage>")
print("\n".join(out))
PY
    "${podman[@]}" build "${limits[@]}" -t "$image" "$work/context" >"$work/build.log" 2>&1 \
        || { tail -n 20 "$work/build.log" >&2; die "podman build of the Dockerfile's final stage failed (log above)"; }
fi
say "image built ($((SECONDS - started)) s so far)"

# --- the job: a coordinator and two workers on one podman network
mkdir -p "$work/data"
"$emfleet" data generate --samples 30000 --features 4 --components 3 --seed 4 --out "$work/data/x.npy" >/dev/null
fit=(gmm fit --components 3 --seed 2 --quiet)
"$emfleet" "${fit[@]}" --data "$work/data/x.npy" --out "$work/plain.json" >/dev/null
(umask 077 && "$emfleet" keygen --out "$work/data/keys" --name coordinator && "$emfleet" keygen --out "$work/data/keys/workers" --name worker) >/dev/null
environment=()
[[ -n ${OPENBLAS_CORETYPE:-} ]] && environment=(-e "OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE")
run=("${podman[@]}" run -d "${limits[@]}" "${environment[@]}" --network "$network" --user "$(id -u):$(id -g)")
"${podman[@]}" network create "$network" >/dev/null
coordinator=$tag-coordinator
containers+=("$coordinator")
"${run[@]}" --name "$coordinator" -v "$work/data:/data" -v "$work/data/keys:/keys:ro" "$image" \
    "${fit[@]}" --data /data/x.npy --out /data/model.json --bind tcp://0.0.0.0:5555 --min-workers 2 \
    --curve-secret /keys/coordinator.secret --authorized-keys /keys/workers >/dev/null 2>>"$work/podman.log" \
    || { cat "$work/podman.log" >&2; die "podman run of the coordinator failed"; }
for i in 1 2; do
    containers+=("$tag-worker-$i")
    "${run[@]}" --name "$tag-worker-$i" -v "$work/data:/data:ro" -v "$work/data/keys:/keys:ro" "$image" \
        worker --connect "tcp://$coordinator:5555" --name "container-$i" --coordinator-timeout 10 \
        --curve-secret /keys/workers/worker.secret --coordinator-key /keys/coordinator.public >/dev/null 2>>"$work/podman.log" \
        || { cat "$work/podman.log" >&2; die "podman run of worker $i failed"; }
done
status=$(timeout 300 "${podman[@]}" wait "$coordinator" 2>/dev/null || echo timeout)
"${podman[@]}" logs "$coordinator" >"$work/coordinator.log" 2>&1 || true
[[ $status == 0 ]] || { sed 's/^/  /' "$work/coordinator.log" >&2; die "the coordinator's container ended with $status"; }
for i in 1 2; do
    grep -q "joined: container-$i " "$work/coordinator.log" || { sed 's/^/  /' "$work/coordinator.log" >&2; die "worker container-$i did not join"; }
done
cmp -s "$work/plain.json" "$work/data/model.json" \
    || { sed 's/^/  /' "$work/coordinator.log" >&2; die "the model fitted in the containers differs from the one-process fit"; }
say "ok: a coordinator and 2 workers in containers (podman network, CURVE keys, data on a bind mount) write the one-process model, byte for byte ($((SECONDS - started)) s)"
