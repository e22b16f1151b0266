# shellcheck shell=bash
# Process clean-up shared by the launch scripts (sourced, not run).

# Whether any of the given pids is alive.
any_alive() {
    local pid
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && return 0; done
    return 1
}

# Stops the given pids: SIGTERM, up to 5 s of grace, then SIGKILL. Empty arguments are skipped.
stop_pids() {
    local pid alive=()
    for pid in "$@"; do
        [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && alive+=("$pid")
    done
    ((${#alive[@]})) || return 0
    kill -TERM "${alive[@]}" 2>/dev/null || true
    for _ in $(seq 1 50); do
        any_alive "${alive[@]}" || return 0
        sleep 0.1
    done
    kill -KILL "${alive[@]}" 2>/dev/null || true
}
