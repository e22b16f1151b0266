# shellcheck shell=bash
# Test hosts as network namespaces on this machine, joined by links that can be slowed, made lossy
# and cut (sourced by scripts/check-netns.sh; needs root).
#
#   nh_init DIR           checks root and the tools, sets NH_SKIP (a reason) when this machine
#                         cannot make the hosts, picks netem or iptables+NFQUEUE, compiles
#                         scripts/netns-delay.c into DIR when it needs it
#   nh_up NAME...         one namespace per NAME, each with one veth ("eth0", 10.213.77.(10+i)/24)
#                         whose peer is a port of a bridge in a namespace of its own; no other
#                         address, no route beyond that /24, loopback up; nh_addr NAME prints it
#   nh_link NAME D J L    the packets NAME sends over its link are held D ± J ms (uniform) and
#                         L percent of them dropped: with netem when `tc qdisc add ... netem`
#                         works, otherwise iptables in NAME's namespace (statistic drops, NFQUEUE
#                         to netns-delay for the delay); a message from A to B crosses A's link
#   nh_cut NAME / nh_restore NAME
#                         drops every packet in and out of NAME's link / stops doing so
#   nh_cut_drops NAME     how many packets the cut has dropped so far
#   nh_exec NAME CMD...   runs CMD in NAME's namespace; nh_path NAME is the namespace's file,
#                         for `nsenter --net=PATH CMD &` (then $! is CMD's pid)
#   nh_measure            pings between every pair of hosts and works out each link's mean
#                         one-way delay, its jitter and its loss (from the iptables counters of
#                         the packets each host sent and the others received); prints a table;
#                         nh_expect_links D J L then fails unless every link is degraded so
#   nh_down               stops every process in the namespaces and deletes them (call from a trap)
#
# A link's own delay is found from the round trips: rtt(A,B) = d(A) + d(B), so
# d(A) = (rtt(A,B) + rtt(A,C) - rtt(B,C)) / 2, averaged over the pairs (B, C); the same for the
# variances. At least three hosts are needed for that.

NH_SUBNET=10.213.77
NH_PREFIX=""
NH_HOSTS=()
NH_DIR=""
NH_MODE=""    # netem or nfqueue
NH_SKIP=""
declare -A NH_DELAY_PID=()

nh_ns() { echo "$NH_PREFIX-$1"; }
# nsenter, not `ip netns exec`: ip forks and waits, so $! and signals would reach ip, not CMD.
# (In the background, `nh_exec ... &` is a subshell: start long-lived processes with
# `nsenter --net="$(nh_path NAME)" CMD &` so that $! is CMD's pid.)
nh_path() { echo "/run/netns/$(nh_ns "$1")"; }
nh_exec() { local name=$1; shift; nsenter --net="$(nh_path "$name")" "$@"; }
nh_addr() {
    local i
    for i in "${!NH_HOSTS[@]}"; do [[ ${NH_HOSTS[$i]} == "$1" ]] && { echo "$NH_SUBNET.$((10 + i))"; return 0; }; done
    return 1
}

nh_init() {
    NH_DIR=$1
    NH_PREFIX=emf$$
    if [[ $(id -u) -ne 0 ]]; then NH_SKIP="needs root (network namespaces, veth pairs, iptables)"; return 0; fi
    local tool
    for tool in ip nsenter ping python3; do
        command -v "$tool" >/dev/null || { NH_SKIP="$tool is not on PATH"; return 0; }
    done
    if ! ip netns add "$NH_PREFIX-probe" 2>"$NH_DIR/probe.err"; then
        NH_SKIP="cannot make a network namespace: $(head -n 1 "$NH_DIR/probe.err")"
        return 0
    fi
    local probe=$NH_PREFIX-probe
    if ! ip -n "$probe" link add pa type veth peer name pb 2>"$NH_DIR/probe.err" \
        || ! ip -n "$probe" link add pbr type bridge 2>>"$NH_DIR/probe.err"; then
        NH_SKIP="cannot make veth pairs and bridges: $(head -n 1 "$NH_DIR/probe.err")"
        ip netns del "$probe"
        return 0
    fi
    if command -v tc >/dev/null && ip netns exec "$probe" tc qdisc add dev pa root netem delay 1ms 2>/dev/null; then
        NH_MODE=netem
    else
        NH_MODE=nfqueue
    fi
    if ! command -v iptables >/dev/null; then
        NH_SKIP="iptables is not on PATH (apt-get install iptables)"
    elif ! ip netns exec "$probe" iptables -A OUTPUT -m statistic --mode random --probability 0.01 -j DROP 2>"$NH_DIR/probe.err"; then
        NH_SKIP="iptables -m statistic fails: $(head -n 1 "$NH_DIR/probe.err")"
    elif [[ $NH_MODE == nfqueue ]] && ! ip netns exec "$probe" iptables -A OUTPUT -o pa -j NFQUEUE --queue-num 0 2>"$NH_DIR/probe.err"; then
        NH_SKIP="no netem and iptables -j NFQUEUE fails: $(head -n 1 "$NH_DIR/probe.err")"
    fi
    ip netns del "$probe"
    [[ -z $NH_SKIP ]] || return 0
    if [[ $NH_MODE == nfqueue ]]; then
        local root
        root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
        if ! command -v gcc >/dev/null; then NH_SKIP="no netem, and no gcc to build netns-delay.c"; return 0; fi
        if ! gcc -O2 -Wall -o "$NH_DIR/netns-delay" "$root/netns-delay.c" -lnetfilter_queue 2>"$NH_DIR/gcc.err"; then
            NH_SKIP="no netem, and netns-delay.c does not build (apt-get install libnetfilter-queue-dev): $(head -n 1 "$NH_DIR/gcc.err")"
            return 0
        fi
    fi
}

nh_up() {
    local br=$NH_PREFIX-br i name ns
    ip netns add "$br"
    ip -n "$br" link set lo up
    ip -n "$br" link add br0 type bridge
    ip -n "$br" link set br0 up
    NH_HOSTS=("$@")
    for i in "${!NH_HOSTS[@]}"; do
        name=${NH_HOSTS[$i]}
        ns=$(nh_ns "$name")
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip -n "$ns" link add eth0 type veth peer name "p$i" netns "$br"
        ip -n "$ns" addr add "$NH_SUBNET.$((10 + i))/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$br" link set "p$i" master br0
        ip -n "$br" link set "p$i" up
        nh_exec "$name" iptables -N EMF_CUT
        nh_exec "$name" iptables -N EMF_LINK
        nh_exec "$name" iptables -A INPUT -i eth0 -j EMF_CUT
        nh_exec "$name" iptables -A OUTPUT -o eth0 -j EMF_CUT
        nh_exec "$name" iptables -A OUTPUT -o eth0 -j EMF_LINK
        nh_exec "$name" iptables -A EMF_LINK -p icmp # counts what is sent (nh_measure)
    done
    # Counters for nh_measure: ICMP sent by each host, and received by each host from each other.
    for name in "${NH_HOSTS[@]}"; do
        for i in "${!NH_HOSTS[@]}"; do
            [[ ${NH_HOSTS[$i]} == "$name" ]] || nh_exec "$name" iptables -A INPUT -i eth0 -p icmp -s "$NH_SUBNET.$((10 + i))"
        done
    done
    # Nothing but the hosts' own /24: no default route, no address but lo's and eth0's.
    for name in "${NH_HOSTS[@]}"; do
        if nh_exec "$name" ip route show | grep -qv "^$NH_SUBNET.0/24 dev eth0 "; then
            echo "netns-hosts: $name has a route beyond $NH_SUBNET.0/24" >&2
            return 1
        fi
        [[ $(nh_exec "$name" ip -o -4 addr show | awk '{print $2}' | sort | tr '\n' ' ') == "eth0 lo " ]] \
            || { echo "netns-hosts: $name has an address on another interface" >&2; return 1; }
    done
}

# nh_link NAME DELAY_MS JITTER_MS LOSS_PERCENT
nh_link() {
    local name=$1 delay=$2 jitter=$3 loss=$4
    if [[ $NH_MODE == netem ]]; then
        nh_exec "$name" tc qdisc replace dev eth0 root netem delay "${delay}ms" "${jitter}ms" loss "${loss}%"
        return
    fi
    echo "$delay $jitter" >"$NH_DIR/$name.delay"
    if [[ -z ${NH_DELAY_PID[$name]:-} ]]; then
        nsenter --net="$(nh_path "$name")" "$NH_DIR/netns-delay" 0 "$NH_DIR/$name.delay" "$((RANDOM + 1))" >"$NH_DIR/$name.delay.out" 2>"$NH_DIR/$name.delay.err" &
        local starter=$! _
        for _ in $(seq 1 50); do
            grep -q ready "$NH_DIR/$name.delay.out" 2>/dev/null && break
            kill -0 "$starter" 2>/dev/null || break
            sleep 0.05
        done
        grep -q ready "$NH_DIR/$name.delay.out" \
            || { echo "netns-hosts: netns-delay did not start in $name: $(cat "$NH_DIR/$name.delay.err")" >&2; return 1; }
        NH_DELAY_PID[$name]=$(awk '$1 == "ready" {print $2; exit}' "$NH_DIR/$name.delay.out")
        nh_exec "$name" iptables -A EMF_LINK -m statistic --mode random --probability "$(python3 -c "print($loss / 100)")" -j DROP
        nh_exec "$name" iptables -A EMF_LINK -j NFQUEUE --queue-num 0
    else
        kill -HUP "${NH_DELAY_PID[$name]}"
        nh_exec "$name" iptables -R EMF_LINK 2 -m statistic --mode random --probability "$(python3 -c "print($loss / 100)")" -j DROP
    fi
}

nh_cut() { nh_exec "$1" iptables -A EMF_CUT -j DROP; }
nh_restore() { nh_exec "$1" iptables -F EMF_CUT; }
nh_cut_drops() { nh_exec "$1" iptables -L EMF_CUT -v -n -x | awk '$3 == "DROP" {n += $1} END {print n + 0}'; }

nh_down() {
    local name ns pids _
    for name in "${NH_HOSTS[@]}" br; do
        ns=$(nh_ns "$name")
        ip netns list | grep -q "^$ns\b" || continue
        pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
        # shellcheck disable=SC2086
        [[ -z $pids ]] || kill -TERM $pids 2>/dev/null || true
    done
    for _ in $(seq 1 30); do
        pids=""
        for name in "${NH_HOSTS[@]}" br; do pids+=$(ip netns pids "$(nh_ns "$name")" 2>/dev/null | tr '\n' ' '); done
        [[ -z ${pids// /} ]] && break
        sleep 0.1
    done
    # shellcheck disable=SC2086
    [[ -z ${pids// /} ]] || kill -KILL $pids 2>/dev/null || true
    for name in "${NH_HOSTS[@]}" br probe; do
        ns=$(nh_ns "$name")
        if ip netns list | grep -q "^$ns\b"; then ip netns del "$ns"; fi
    done
    NH_DELAY_PID=()
    return 0
}

# Pings between every ordered pair (COUNT pings each, default 400, 4 ms apart) and writes
# $NH_DIR/links.tsv: name, mean one-way delay (ms), jitter (standard deviation, ms), loss (%),
# packets sent; and prints it.
nh_measure() {
    local count=${1:-400} a b pids=()
    for a in "${NH_HOSTS[@]}"; do nh_exec "$a" iptables -Z; done
    for a in "${NH_HOSTS[@]}"; do
        for b in "${NH_HOSTS[@]}"; do
            [[ $a == "$b" ]] && continue
            nh_exec "$a" ping -n -c "$count" -i 0.004 -W 1 "$(nh_addr "$b")" >"$NH_DIR/ping-$a-$b.txt" 2>&1 &
            pids+=($!)
        done
    done
    wait "${pids[@]}" || true
    sleep 0.5 # replies still on their way count as received
    : >"$NH_DIR/counters.txt"
    for a in "${NH_HOSTS[@]}"; do
        echo "sent $a $(nh_exec "$a" iptables -L EMF_LINK -v -n -x | awk 'NF == 8 && ($3 == "icmp" || $3 == "1") {print $1; exit}')" >>"$NH_DIR/counters.txt"
        for b in "${NH_HOSTS[@]}"; do
            [[ $a == "$b" ]] && continue
            echo "received $a $b $(nh_exec "$a" iptables -L INPUT -v -n -x | awk -v src="$(nh_addr "$b")" 'NF == 8 && ($3 == "icmp" || $3 == "1") && $7 == src {print $1; exit}')" \
                >>"$NH_DIR/counters.txt"
        done
    done
    python3 - "$NH_DIR" "${NH_HOSTS[@]}" <<'EOF'
import itertools, re, sys
folder, hosts = sys.argv[1], sys.argv[2:]
mean, var = {}, {}
for a, b in itertools.permutations(hosts, 2):
    text = open(f"{folder}/ping-{a}-{b}.txt").read()
    rtts = sorted(float(t) for t in re.findall(r"time=([\d.]+) ms", text))
    if len(rtts) < 50:
        sys.exit(f"netns-hosts: {len(rtts)} round trips from {a} to {b}: {text.strip()[-300:]}")
    cut = len(rtts) // 100  # the slowest and fastest 1% are left out: a busy CPU's stalls are not the link's
    rtts = rtts[cut:len(rtts) - cut]
    mean[a, b] = sum(rtts) / len(rtts)
    var[a, b] = sum((t - mean[a, b]) ** 2 for t in rtts) / len(rtts)
sent, received = {}, {}
for line in open(f"{folder}/counters.txt"):
    words = line.split()
    if words[0] == "sent":
        sent[words[1]] = int(words[2])
    else:
        received[words[2], words[1]] = int(words[3])  # from words[2], counted by words[1]
pair = lambda table, a, b: (table[a, b] + table[b, a]) / 2
with open(f"{folder}/links.tsv", "w") as out:
    print(f"{'link':>12} {'delay ms':>9} {'jitter ms':>9} {'loss %':>7} {'packets':>8}")
    for a in hosts:
        others = [h for h in hosts if h != a]
        ds, vs = [], []
        for b, c in itertools.combinations(others, 2):
            ds.append((pair(mean, a, b) + pair(mean, a, c) - pair(mean, b, c)) / 2)
            vs.append((pair(var, a, b) + pair(var, a, c) - pair(var, b, c)) / 2)
        delay, jitter = sum(ds) / len(ds), max(0.0, sum(vs) / len(vs)) ** 0.5
        arrived = sum(received[a, b] for b in others)
        loss = 100 * (1 - arrived / sent[a]) if sent[a] else 100.0
        print(f"{a}\t{delay:.3f}\t{jitter:.3f}\t{loss:.3f}\t{sent[a]}", file=out)
        print(f"{a:>12} {delay:9.2f} {jitter:9.2f} {loss:7.2f} {sent[a]:8d}")
EOF
}

# nh_expect_links DELAY JITTER LOSS: every link's measured delay within 20% of DELAY, its jitter
# (a standard deviation) between half and twice that of a uniform ±JITTER, its loss between 0.3
# and 2.5 times LOSS. Prints the first link that is not degraded so and fails.
nh_expect_links() {
    python3 - "$NH_DIR/links.tsv" "$@" <<'EOF'
import sys
path, delay, jitter, loss = sys.argv[1], *map(float, sys.argv[2:])
sd = jitter / 3 ** 0.5
for line in open(path):
    name, d, j, l, n = line.split()
    d, j, l = float(d), float(j), float(l)
    if not (0.8 * delay <= d <= 1.2 * delay):
        sys.exit(f"link {name}: mean delay {d:.2f} ms, expected {delay:g} ms (±20%)")
    if not (0.5 * sd <= j <= 2 * sd):
        sys.exit(f"link {name}: jitter {j:.2f} ms (standard deviation), expected about {sd:.2f} ms for ±{jitter:g} ms")
    if not (0.3 * loss <= l <= 2.5 * loss):
        sys.exit(f"link {name}: loss {l:.2f}% of {n} packets, expected about {loss:g}%")
EOF
}
