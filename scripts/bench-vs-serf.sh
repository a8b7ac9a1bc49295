#!/usr/bin/env bash
# make bench-vs-serf: N cara-agents and N `serf agent`s (Debian's serf, the
# memberlist/SWIM reference) on loopback in the same run, one side after the
# other, measured by the same instruments, and the ratios ours/serf:
#
#   ratio_propagation  one update at node 1 until the last of N nodes has it:
#                      `caravanctl apply -f` of a new small project against
#                      serf `event -coalesce=false NAME PAYLOAD` (median of R)
#   ratio_detection    kill -9 of one agent until the last survivor marks it
#                      failed (median of KILLS; the k-th kill happens in a
#                      cluster of N-k+1 on both sides)
#   ratio_rss          median VmRSS per agent (median PSS printed beside it)
#   ratio_bytes        gossip bytes sent per node per second in steady state
#   largest_datagram   ours (gauge cara_gossip_datagram_bytes_max if the agents
#                      export it, else the largest UDP payload tcpdump saw)
#   false_suspicions   over the STEADY_S window (default 600 s)
#
# Why this is fair:
# - One watcher per node on both sides, each a long-lived stream the agent
#   pushes to (serf: `serf monitor` over its RPC; ours: GET /v1/watch), all
#   read by one process (hub.py) that stamps every line with one monotonic
#   clock on arrival. The same process stamps and starts the trigger (the
#   CLI command, or kill -9), so both sides pay the same fork/exec, CLI start
#   and client-to-agent hop, and the same watcher delay. Nothing polls.
# - Serf encrypts and authenticates every packet (-encrypt, AES-256-GCM), as
#   our transport authenticates every datagram. The event's payload is the
#   manifest's text, so both carry the same bytes of user data.
# - Each agent binds its own 127.0.0.(K+1): iptables counts, in the kernel,
#   every IP packet (headers included) sent from that address to or from the
#   side's gossip port, UDP and TCP (serf's TCP push/pull counts too); the
#   API/RPC ports and the watchers' traffic are not counted.
# - Same machine, same N, same run; the sides run one after the other so
#   they never compete for the CPUs.
#
# Knobs: N=32 R=10 KILLS=5 STEADY_S=600 SETTLE_S=10 SIDES="cara serf".
# A ratio that could not be measured is printed as
# `ratio_X=not-measured reason=...` and the script exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-32} R=${R:-10} KILLS=${KILLS:-5} STEADY_S=${STEADY_S:-600} SETTLE_S=${SETTLE_S:-10}
SIDES=${SIDES:-"cara serf"} FORM_S=${FORM_S:-180} WAIT_S=${WAIT_S:-120}
BUILD=${BUILD:-build}
# What a survivor's /v1/watch says about a node it holds dead (Node.state).
CARA_DEAD_RE=${CARA_DEAD_RE:-'"state":"NotReady"'}
sock=${DOCKER_SOCK:-/var/run/docker.sock}
image=caravanserai/busybox:test
py=/usr/bin/python3
ctl=$PWD/$BUILD/caravanctl agent=$PWD/$BUILD/cara-agent
[ "$N" -ge 3 ] && [ "$N" -le 200 ] && [ "$KILLS" -lt "$((N - 1))" ] || { echo "bench-vs-serf: need 3 <= N <= 200 and KILLS < N-1" >&2; exit 2; }
scripts/deps.sh serf iptables tcpdump python3 >&2

# Two runs would bind the same addresses. flock -o holds the lock in its own
# process, so daemons started below (dockerd) do not inherit it.
lock=/tmp/cara-bench-vs-serf.run.lock
if [ -z "${BENCH_VS_SERF_LOCKED:-}" ]; then
    rc=0; BENCH_VS_SERF_LOCKED=1 flock -n -o -E 75 "$lock" "$0" "$@" || rc=$?
    [ "$rc" = 75 ] && echo "bench-vs-serf: another run holds $lock" >&2
    exit "$rc"
fi

work=$(mktemp -d /tmp/bench-vs-serf.XXXXXX)
chain=CARAVS$$
declare -a pids=()
declare -A res=()
hub_pid="" dump_pid="" cara_started=""

say() { echo "bench-vs-serf: $*" >&2; }
addr() { echo "127.0.0.$(($1 + 1))"; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {if (!NR) exit 1; print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
isnum() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }

# Kills what this side started (the hub kills its own watchers), by PID.
stop_side() {
    local p
    for p in $hub_pid $dump_pid "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 1 50); do
        local alive=""
        for p in $hub_pid $dump_pid "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ -z "$alive" ] && break; sleep 0.1
    done
    for p in $hub_pid $dump_pid "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    pids=() hub_pid="" dump_pid=""
}
cara_docker_cleanup() {
    local i f
    for i in $(seq 1 "$N"); do
        f="label=io.caravanserai.node=n$i"
        docker ps -aq --filter "$f" | xargs -r docker rm -f >/dev/null 2>&1 || true
        docker network ls -q --filter "$f" | xargs -r docker network rm >/dev/null 2>&1 || true
        docker volume ls -q --filter "$f" | xargs -r docker volume rm -f >/dev/null 2>&1 || true
    done
}
cleanup() {
    set +e
    stop_side
    if iptables -L "$chain" -n >/dev/null 2>&1; then
        iptables -D OUTPUT -j "$chain"; iptables -F "$chain"; iptables -X "$chain"
    fi
    [ -n "$cara_started" ] && cara_docker_cleanup
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- Instruments -----------------------------------------------------------------

# hub.py LOG FIFO CMD...: runs one watcher command per node and writes each
# line it prints as "MONOTONIC_S NODE LINE"; a line "ID CMD" written to FIFO
# is stamped "T 0 TRIGGER ID" and CMD is started right after the stamp.
cat >"$work/hub.py" <<'EOF'
import os, sys, time, signal, subprocess, selectors
log = open(sys.argv[1], "a", buffering=1)
ctl = os.open(sys.argv[2], os.O_RDWR | os.O_NONBLOCK)
kids = []
def stop(*_):
    for p in kids:
        try: p.kill(); p.wait(2)
        except Exception: pass
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
sel = selectors.DefaultSelector()
for i, cmd in enumerate(sys.argv[3:], 1):
    p = subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    kids.append(p)
    os.set_blocking(p.stdout.fileno(), False)
    sel.register(p.stdout.fileno(), selectors.EVENT_READ, [i, b""])
sel.register(ctl, selectors.EVENT_READ, [0, b""])
while True:
    for key, _ in sel.select():
        d = key.data
        try: chunk = os.read(key.fd, 1 << 16)
        except BlockingIOError: continue
        t = time.monotonic()
        if not chunk:
            sel.unregister(key.fd)
            continue
        *lines, d[1] = (d[1] + chunk).split(b"\n")
        for raw in lines:
            s = raw.decode("utf-8", "replace")
            if d[0]:
                log.write("%.6f %d %s\n" % (t, d[0], s))
                continue
            ident, _, cmd = s.partition(" ")
            log.write("%.6f 0 TRIGGER %s\n" % (time.monotonic(), ident))
            kids.append(subprocess.Popen(cmd, shell=True))
EOF

hub_start() { # CMD_TEMPLATE with @A@ for the node's address
    local i cmds=()
    hlog=$work/$side.hub.log fifo=$work/$side.fifo
    : >"$hlog"; mkfifo "$fifo"
    for i in $(seq 1 "$N"); do cmds+=("${1//@A@/$(addr "$i")}"); done
    "$py" "$work/hub.py" "$hlog" "$fifo" "${cmds[@]}" &
    hub_pid=$!
    # Each stream starts with a replay (serf's recent log, our watch snapshot).
    for _ in $(seq 1 300); do
        [ "$(awk '$2>0 {s[$2]=1} END {print length(s)}' "$hlog")" -ge "$N" ] && return 0
        sleep 0.1
    done
    return 1
}
trigger() { printf '%s %s\n' "$1" "$2" >"$fifo"; }
# hub_wait ID NEED TIMEOUT RE [RE2]: after trigger ID, waits until NEED nodes
# printed a line matching RE (and RE2); prints the last first-arrival - T0.
hub_wait() {
    local id=$1 need=$2 deadline=$((SECONDS + $3)) re=$4 re2=${5:-} out
    while :; do
        out=$(awk -v id="$id" -v re="$re" -v re2="$re2" '
            $2 == 0 && $3 == "TRIGGER" && $4 == id {t0 = $1; next}
            t0 != "" && $2 > 0 && !($2 in s) && $0 ~ re && (re2 == "" || $0 ~ re2) {s[$2] = 1; n++; m = $1}
            END {printf "%d %.3f", n, n ? m - t0 : -1}' "$hlog")
        [ "${out% *}" -ge "$need" ] && { echo "${out#* }"; return 0; }
        [ "$SECONDS" -ge "$deadline" ] && { echo "only ${out% *} of $need nodes within $3 s"; return 1; }
        sleep 0.2
    done
}
# count_between A B RE: lines matching RE stamped between triggers A and B.
count_between() {
    awk -v a="$1" -v b="$2" -v re="$3" '$2 == 0 && $4 == a {on = 1} $2 == 0 && $4 == b {on = 0}
        on && $2 > 0 && $0 ~ re {n++} END {print n + 0}' "$hlog"
}

ipt_setup() { # counts per source address, both protocols, to or from PORT
    iptables -N "$chain" && iptables -I OUTPUT -j "$chain" || { say "cannot add iptables rules"; exit 1; }
    local i p
    for i in $(seq 1 "$N"); do for p in udp tcp; do
        iptables -A "$chain" -s "$(addr "$i")" -p "$p" -m multiport --ports "$1" -j RETURN
    done; done
}
ipt_bytes() { # prints "mean_per_node_per_s max_node_per_s"
    iptables -L "$chain" -v -x -n | awk -v n="$N" -v s="$STEADY_S" 'NR > 2 {b[$8] += $2; t += $2}
        END {for (k in b) if (b[k] > m) m = b[k]; printf "%.1f %.1f", t / n / s, m / s}'
}
dump_start() { # largest UDP payload to or from PORT while the side runs
    tcpdump -i lo -n -q -l -s 96 "udp port $1" >"$work/$side.dump" 2>"$work/$side.dump.err" &
    dump_pid=$!
}
dump_max() { awk '{for (i = 1; i < NF; i++) if ($i == "length") {l = $(i+1) + 0; if (l > m) m = l}} END {print m + 0}' "$work/$side.dump"; }

rss_pss() { # prints "median_rss_kb median_pss_kb" over the side's live agents
    local p r=() s=()
    for p in "${pids[@]}"; do
        r+=("$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status")")
        s+=("$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup")")
    done
    echo "$(median "${r[@]}") $(median "${s[@]}")"
}

# ---- The two sides -------------------------------------------------------------

# The workload: one tiny service; propagation measures the record's arrival
# at every node, not where or whether it runs.
manifest() {
    printf 'apiVersion: caravanserai/v1\nkind: Project\nmetadata: {name: %s}\nspec:\n  services:\n    - {name: idle, image: "%s", command: [sleep, "3600"]}\n' "$1" "$image"
}

serf_setup() {
    port=7946 key=$(head -c 32 /dev/urandom | base64)
    local i a join=()
    for i in $(seq 1 "$N"); do
        a=$(addr "$i")
        [ "$i" = 1 ] || join=(-join 127.0.0.2:7946)
        serf agent -node "n$i" -bind "$a:7946" -rpc-addr "$a:7373" -encrypt "$key" -log-level info \
            "${join[@]}" >"$work/serf-n$i.log" 2>&1 &
        pids[i]=$!
        if [ "$i" = 1 ]; then
            for _ in $(seq 1 100); do serf members -rpc-addr "$a:7373" >/dev/null 2>&1 && break; sleep 0.1; done
        fi
    done
    local deadline=$((SECONDS + FORM_S)) ok
    while :; do
        ok=0
        for i in $(seq 1 "$N"); do
            [ "$(serf members -rpc-addr "$(addr "$i"):7373" -status alive 2>/dev/null | wc -l)" -ge "$N" ] && ok=$((ok + 1))
        done
        [ "$ok" -ge "$N" ] && return 0
        [ "$SECONDS" -ge "$deadline" ] && { fail_reason="$ok of $N serf agents saw all $N alive within $FORM_S s"; return 1; }
        sleep 1
    done
}
serf_watch='exec serf monitor -log-level=info -rpc-addr=@A@:7373'
serf_event() { # ID: the event, its payload the manifest's text
    manifest "$1" >"$work/$1.yaml"
    echo "exec serf event -rpc-addr=127.0.0.2:7373 -coalesce=false $1 '$(tr '\n' ' ' <"$work/$1.yaml")' >/dev/null"
}
serf_arrived() { echo "Received event: user-event: $1\$"; }
serf_failed() { echo "serf: EventMemberFailed: $1 "; }
serf_suspicions() { count_between steady-start steady-end 'memberlist: Suspect .* has failed'; }
serf_metric() { echo absent; }

cara_node() { # I [TOKEN]
    local a; a=$(addr "$1")
    mkdir -p "$work/cara/n$1"
    "$agent" --name "n$1" --data-dir "$work/cara/n$1" --api "$a:7951" --bind "$a:7950" \
        --operator-pubkey "$op_pk" --docker-host "unix://$sock" --log-level warn \
        --network-pool "10.$((216 + ($1 - 1) * 8 / 256)).$((($1 - 1) * 8 % 256)).0/21" --network-prefix 25 \
        ${2:+--join 127.0.0.2:7950 --token "$2"} 2>"$work/cara-n$1.log" &
    pids[$1]=$!
}
cara_healthy() { curl -sf --max-time 2 "http://$(addr "$1"):7951/healthz" >/dev/null; }
cara_ready_count() { # nodes that node I lists as Ready
    curl -sf --max-time 5 "http://$(addr "$1"):7951/v1/nodes" 2>/dev/null | "$py" -c '
import json, sys
print(len({n["name"] for n in json.load(sys.stdin)["items"] if n.get("state") == "Ready"}))' 2>/dev/null || echo 0
}
cara_setup() {
    port=7950
    [ -x "$agent" ] && [ -x "$ctl" ] || { fail_reason="$agent or $ctl is not built (make all)"; return 1; }
    scripts/ensure-dockerd.sh >&2 && scripts/test-image.sh "$image" >&2 ||
        { fail_reason="no Docker engine or test image (scripts/ensure-dockerd.sh)"; return 1; }
    cara_started=1
    export HOME=$work/home CARAVANCTL_CONFIG=$work/ctl.yaml
    mkdir -p "$HOME"
    op_pk=$("$ctl" keygen --out "$work/op.key" | sed -n 's/^public_key=//p')
    printf 'peer: 127.0.0.2:7951\nkey: %s\n' "$work/op.key" >"$CARAVANCTL_CONFIG"
    cara_node 1
    for _ in $(seq 1 100); do cara_healthy 1 && break; kill -0 "${pids[1]}" 2>/dev/null || break; sleep 0.1; done
    if ! cara_healthy 1; then
        fail_reason="cara-agent n1 did not start with --bind (cluster flags not landed?): $(grep -m1 -v '^$' "$work/cara-n1.log" || echo 'no output')"
        return 1
    fi
    "$ctl" admit >"$work/admit.out" 2>&1 || { fail_reason="caravanctl admit failed: $(head -1 "$work/admit.out")"; return 1; }
    local tok
    # The token is the one line on stdout; stderr says when it expires.
    if ! "$ctl" join-token create --uses "$N" >"$work/token.out" 2>"$work/token.err"; then
        fail_reason="caravanctl join-token create failed: $(head -1 "$work/token.err")"; return 1
    fi
    tok=$(grep -m1 '^cara-join-v1\.' "$work/token.out" || true)
    [ -n "$tok" ] || { fail_reason="caravanctl join-token create printed no token"; return 1; }
    local i
    for i in $(seq 2 "$N"); do cara_node "$i" "$tok"; done
    local deadline=$((SECONDS + FORM_S)) ok
    while :; do
        ok=0
        for i in $(seq 1 "$N"); do [ "$(cara_ready_count "$i")" -ge "$N" ] && ok=$((ok + 1)); done
        [ "$ok" -ge "$N" ] && return 0
        for i in $(seq 1 "$N"); do
            kill -0 "${pids[i]}" 2>/dev/null && continue
            fail_reason="cara-agent n$i exited: $(grep -m1 -v '^$' "$work/cara-n$i.log" || echo 'no output')"; return 1
        done
        [ "$SECONDS" -ge "$deadline" ] && { fail_reason="$ok of $N agents listed all $N nodes Ready within $FORM_S s"; return 1; }
        sleep 1
    done
}
cara_watch='exec curl -sN http://@A@:7951/v1/watch'
cara_event() { manifest "$1" >"$work/$1.yaml"; echo "exec '$ctl' apply -f '$work/$1.yaml' >'$work/$1.out' 2>&1"; }
cara_arrived() { echo "\"kind\":\"Project\".*\"name\":\"$1\""; }
cara_failed() { echo "\"kind\":\"Node\".*\"name\":\"$1\""; } # and CARA_DEAD_RE
cara_metric() { # NAME sum|max over live agents, or "absent"
    local p i got="" v
    for i in "${!pids[@]}"; do
        v=$(curl -sf --max-time 5 "http://$(addr "$i"):7951/metrics" | awk -v m="$1" -v f="$2" '
            index($1, m) == 1 && substr($1, length(m) + 1, 1) ~ /^(\{|)$/ {x = $2 + 0; s = (f == "max" && s > x) ? s : (f == "max" ? x : s + x); h = 1}
            END {if (h) print s}') || true
        [ -n "$v" ] || continue
        if [ -z "$got" ]; then got=$v; elif [ "$2" = max ]; then got=$(awk -v a="$got" -v b="$v" 'BEGIN {print (a > b) ? a : b}'); else got=$(awk -v a="$got" -v b="$v" 'BEGIN {print a + b}'); fi
    done
    echo "${got:-absent}"
}
cara_suspicions() { # delta of the agents' counter over the window
    local a=$susp0 b; b=$(cara_metric cara_gossip_suspicions_total sum)
    if isnum "$a" && isnum "$b"; then awk -v a="$a" -v b="$b" 'BEGIN {print b - a}'; else echo "not-measured"; fi
}

# measure SIDE: every number of one side, into res[SIDE_*]. Returns 1 with
# fail_reason set when the side could not be measured.
measure() {
    side=$1 fail_reason=""
    "${side}_setup" || return 1
    say "$side: $N agents formed a cluster"
    dump_start "$port"
    local wv=${side}_watch
    hub_start "${!wv}" || { fail_reason="watch streams did not all open"; return 1; }
    local r t d prop=() det=() dre=""
    [ "$side" = cara ] && dre=$CARA_DEAD_RE
    for r in $(seq 1 "$R"); do
        trigger "prop-$side-$r" "$("${side}_event" "prop-$side-$r")"
        t=$(hub_wait "prop-$side-$r" "$N" 60 "$("${side}_arrived" "prop-$side-$r")") ||
            { fail_reason="propagation round $r: $t"; return 1; }
        prop+=("$t"); say "$side: propagation round $r: $t s"
        sleep 1
    done
    res[${side}_prop]=$(median "${prop[@]}")
    sleep "$SETTLE_S"
    # Steady state: no change for STEADY_S seconds.
    iptables -Z "$chain"
    [ "$side" = cara ] && susp0=$(cara_metric cara_gossip_suspicions_total sum)
    trigger steady-start true
    say "$side: steady state for $STEADY_S s"
    sleep "$STEADY_S"
    trigger steady-end true
    sleep 0.5
    read -r res[${side}_bps] res[${side}_bps_max] < <(ipt_bytes)
    read -r res[${side}_rss] res[${side}_pss] < <(rss_pss)
    res[${side}_susp]=$("${side}_suspicions")
    if [ "$side" = cara ]; then
        res[${side}_deaths]=$(count_between steady-start steady-end "\"kind\":\"Node\".*$dre")
    else
        res[${side}_deaths]=$(count_between steady-start steady-end 'serf: EventMemberFailed')
    fi
    res[${side}_dgram_gauge]=$("${side}_metric" cara_gossip_datagram_bytes_max max)
    kill -TERM "$dump_pid" 2>/dev/null || true; wait "$dump_pid" 2>/dev/null || true; dump_pid=""
    res[${side}_dgram_dump]=$(dump_max)
    # Detection: kill -9 the last nodes one at a time.
    for r in $(seq 1 "$KILLS"); do
        local v=$((N - r + 1))
        trigger "kill-$side-$v" "kill -9 ${pids[v]}"
        t=$(hub_wait "kill-$side-$v" "$((N - r))" "$WAIT_S" "$("${side}_failed" "n$v")" "$dre") ||
            { fail_reason="detection of n$v: $t"; return 1; }
        wait "${pids[v]}" 2>/dev/null || true; unset "pids[v]"
        det+=("$t"); say "$side: n$v killed, last survivor marked it failed after $t s"
        sleep 3
    done
    res[${side}_det]=$(median "${det[@]}")
    stop_side
}

# ---- Run and report ------------------------------------------------------------

ipt_setup "7946,7950"
failed=""
for s in $SIDES; do
    if ! measure "$s"; then
        failed="$s side: $fail_reason"; say "$failed"; stop_side
        [ "$s" = "${SIDES##* }" ] || say "the sides after $s were not run"
        break
    fi
done
[[ " $SIDES " == *" serf "* && " $SIDES " == *" cara "* ]] || failed=${failed:-"SIDES=$SIDES: both sides are needed for a ratio"}

for s in serf cara; do
    [ -n "${res[${s}_prop]:-}" ] || continue
    echo "${s}_propagation_median_s=${res[${s}_prop]} ${s}_detection_median_s=${res[${s}_det]:-not-measured}"
    echo "${s}_rss_median_kb=${res[${s}_rss]:-} ${s}_pss_median_kb=${res[${s}_pss]:-}"
    echo "${s}_bytes_per_node_per_s=${res[${s}_bps]:-} ${s}_bytes_max_node_per_s=${res[${s}_bps_max]:-}"
    echo "${s}_largest_udp_payload_tcpdump=${res[${s}_dgram_dump]:-} ${s}_suspicions=${res[${s}_susp]:-} ${s}_deaths_in_steady_state=${res[${s}_deaths]:-}"
done
ratio() { # NAME OURS SERF
    if [ -n "$failed" ]; then echo "ratio_$1=not-measured reason=$failed"
    elif isnum "$2" && isnum "$3" && [ "$3" != 0 ]; then echo "ratio_$1=$(awk -v a="$2" -v b="$3" 'BEGIN {printf "%.3f", a / b}')"
    else echo "ratio_$1=not-measured reason=ours=$2 serf=$3"; fi
}
ratio propagation "${res[cara_prop]:-}" "${res[serf_prop]:-}"
ratio detection "${res[cara_det]:-}" "${res[serf_det]:-}"
echo "$(ratio rss "${res[cara_rss]:-}" "${res[serf_rss]:-}") pss_ours_kb=${res[cara_pss]:-not-measured} pss_serf_kb=${res[serf_pss]:-not-measured}"
ratio bytes "${res[cara_bps]:-}" "${res[serf_bps]:-}"
if [ -n "${res[cara_prop]:-}" ]; then
    if isnum "${res[cara_dgram_gauge]}"; then echo "largest_datagram=${res[cara_dgram_gauge]} source=cara_gossip_datagram_bytes_max"
    else echo "largest_datagram=${res[cara_dgram_dump]} source=tcpdump-udp-payload"; fi
    echo "false_suspicions=${res[cara_susp]} steady_s=$STEADY_S (serf: ${res[serf_susp]:-not-measured})"
else
    echo "largest_datagram=not-measured reason=${failed}"
    echo "false_suspicions=not-measured reason=${failed} (serf: ${res[serf_susp]:-not-measured})"
fi
[ -z "$failed" ]
