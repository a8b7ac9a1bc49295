# shellcheck shell=bash
# Several cara-agents on this run's own loopback /24 (127.0.0.0/8 is all
# loopback), one shared Docker engine: what run-cluster, run-nodectl and
# run-failover share. Source it after tests/agent/lib.sh, with `suite`,
# `tmp`, `pfx`, `net`, `ctl`, `agent_bin` and `sock` set and
# `declare -A pid addr`. `node_args` (an array) adds flags to every start.

name_of() { echo "$pfx-n$1"; }

# stop_pid PID [SIGNAL]: signals it, waits up to 10 s, then kills it.
stop_pid() {
    [ -n "$1" ] || return 0
    kill "-${2:-TERM}" "$1" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}
stop_node() { stop_pid "${pid[$1]:-}" "${2:-TERM}"; pid[$1]=""; } # I [SIGNAL]

# need_engine_and_binaries: SKIP (exit 0) without an engine or the docker
# command; FAIL (exit 1) without the binaries.
need_engine_and_binaries() {
    if ! curl -sf --max-time 5 --unix-socket "$sock" http://docker/_ping >/dev/null 2>&1 ||
        ! command -v docker >/dev/null; then
        echo "SKIP $suite:suite (no Docker engine answers on $sock; make test starts one)"
        exit 0
    fi
    local b
    for b in "$ctl" "$agent_bin"; do
        [ -x "$b" ] || { echo "FAIL $suite:binaries ($b is not built)"; exit 1; }
    done
}

# operator_key: a HOME and caravanctl config of this run's, an operator key
# (op_pk, op_key_id).
operator_key() {
    export HOME="$tmp/home"
    export CARAVANCTL_CONFIG="$tmp/config.yaml"
    mkdir -p "$HOME"
    "$ctl" keygen >"$tmp/keygen.out" 2>&1 || { echo "FAIL $suite:keygen"; exit 1; }
    op_pk=$(sed -n 's/^public_key=//p' "$tmp/keygen.out")
    op_key_id=$(sed -n 's/^key_id=//p' "$tmp/keygen.out")
}

# start I [ARGS...]: node I on $net.I, gossip port 7950, API 7951; its log
# is appended to across restarts.
start() {
    local i=$1; shift
    addr[$i]="$net.$i"
    echo "---- start $(date +%s.%N)" >>"$tmp/agent$i.log"
    "$agent_bin" --name "$(name_of "$i")" --data-dir "$tmp/data$i" --api "${addr[$i]}:7951" \
        --operator-pubkey "$op_pk" --docker-host "unix://$sock" --bind "${addr[$i]}:7950" \
        "${node_args[@]}" "$@" >>"$tmp/agent$i.log" 2>&1 &
    pid[$i]=$!
}
api() { echo "http://${addr[$1]}:7951"; }
peer() { "$ctl" --peer "${addr[$1]}:7951" "${@:2}"; }
metric() { # I NAME{labels}: the value, or nothing
    curl -sf "$(api "$1")/metrics" | awk -v m="$2" '$1 == m { print $2 }'
}
alive_is() { [ "$(metric "$1" 'cara_gossip_members{state="alive"}')" = "$2" ]; }
dead_is() { [ "$(metric "$1" 'cara_gossip_members{state="dead"}')" = "$2" ]; }
hash_of() { curl -sf "$(api "$1")/healthz" | sed -n 's/.*"stateHash": *"\([0-9a-f]*\)".*/\1/p'; }
same_hash() { # I...: every listed node reports one state hash
    local h first i
    first=$(hash_of "$1") || return 1
    [ -n "$first" ] || return 1
    for i in "$@"; do h=$(hash_of "$i"); [ "$h" = "$first" ] || return 1; done
}
hashes() { local i; for i in "$@"; do echo -n "n$i=$(hash_of "$i" | cut -c1-8) "; done; }
