#!/usr/bin/env bash
# Installs what emfleet needs on a Debian machine that already has Swift.
# Idempotent: installs only what is missing; uses sudo when not root.
set -euo pipefail

# openssh-server: the ssh launcher is tested against a private sshd.
# chromium: scripts/check-reports.sh renders the HTML reports headless.
# slurm-wlm, munge: scripts/check-slurm.sh runs the sbatch template on a private Slurm cluster.
packages=(libzmq3-dev libopenblas-dev liblapacke-dev pkg-config openssh-server chromium slurm-wlm munge)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "setup: need root or sudo to install ${missing[*]}" >&2; exit 1; }
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "setup: system libraries present"
fi

command -v swift >/dev/null || { echo "setup: swift is not on PATH; install the Swift toolchain first" >&2; exit 1; }
