#!/usr/bin/env bash
# Five real cara-agents on loopback gossiping over UDP and TCP, sharing one
# Docker engine: joining with tokens, a project applied at one node reaching
# all, every state hash converging, a kill -9 detected by every other node
# with nobody else suspected, the restarted node catching up (including a
# delete whose tombstone was collected while it was down), `logs` asked at
# a node that does not run the project (proxied to the owner), refused joins
# (no token, expired, forged, used up), hostile datagrams dropped and
# counted, and an apply with every other node stopped ending in exit 1.
#
# Everything is named after this run's PID and removed on exit. Waits are
# generous bounds on things that normally take seconds; no timing is a
# pass/fail criterion.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=${BUILD:-build}
ctl="$root/$build/caravanctl"
agent_bin="$root/$build/cara-agent"
sock=${DOCKER_SOCK:-/var/run/docker.sock}
tmp=$(mktemp -d)
pfx="c$$"
# A loopback /24 of this run's own (127.0.0.0/8 is all loopback).
net="127.$((100 + RANDOM % 100)).$((RANDOM % 250 + 1))"
declare -A pid addr
nodes=(1 2 3 4 5)
projects=("$pfx-a" "$pfx-b" "$pfx-c" "$pfx-d")

node_args=(--tombstone-horizon 3s --gc-interval 2s)

suite=cluster
. tests/agent/lib.sh # the cd above: the working directory is the root
. tests/agent/nodes.sh

cleanup() {
    for i in "${!pid[@]}"; do stop_node "$i"; done
    remove_projects "${projects[@]}"
    if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

need_engine_and_binaries
operator_key


# ---- A new cluster, then four nodes joining with a token ----------------------

start 1
if poll 30 curl -sf "$(api 1)/healthz"; then pass first-node-starts; else
    fail first-node-starts; sed 's/^/    /' "$tmp/agent1.log" | tail -20; exit 1
fi
run admit-first 0 peer 1 admit
run token-create 0 "$ctl" join-token create --uses 4 --ttl 10m
token=$(tail -1 "$tmp/out")
has token-format "$tmp/out" '^cara-join-v1\.'
for i in 2 3 4 5; do start "$i" --join "${addr[1]}:7950" --token "$token"; done
all_alive() { for i in "${nodes[@]}"; do alive_is "$i" 5 || return 1; done; }
if poll 90 all_alive; then pass five-alive-everywhere; else
    fail five-alive-everywhere "$(for i in "${nodes[@]}"; do echo -n "n$i=$(metric "$i" 'cara_gossip_members{state="alive"}') "; done)"
fi
has joined-log "$tmp/agent3.log" 'joined the cluster through'
has welcomed-log "$tmp/agent1.log" "node $(name_of 2) joined through this node"

# ---- A project applied at one node reaches all; state hashes converge ---------

manifest() { # NAME: its app prints a known line every second (for logs)
    cat <<EOF
apiVersion: caravanserai/v1
kind: Project
metadata: {name: $1}
spec:
  services:
    - name: app
      image: caravanserai/busybox:test
      command: [sh, -c, 'while true; do echo hello-from-cara; sleep 1; done']
EOF
}
manifest "${projects[0]}" >"$tmp/a.yaml"
run apply-at-n1 0 peer 1 apply -f "$tmp/a.yaml"
has apply-says-created "$tmp/out" "project/${projects[0]} created"
sees() { peer "$1" get projects | grep -q "^${projects[$2]} "; }
if poll 60 sees 4 0; then pass project-visible-at-n4; else fail project-visible-at-n4; fi
if poll 60 same_hash 1 2 3 4 5; then pass state-hashes-converge; else
    fail state-hashes-converge "$(for i in "${nodes[@]}"; do echo -n "$(hash_of "$i" | cut -c1-8) "; done)"
fi
run get-nodes-anywhere 0 peer 4 get nodes
for i in "${nodes[@]}"; do has "get-nodes-lists-n$i" "$tmp/out" "^$(name_of "$i") "; done

# ---- logs at any node: proxied to the owner ----------------------------------

running_owner() { # the NODE column of project 0 once it is Running
    peer 1 get projects | awk -v p="${projects[0]}" '$1 == p && $2 == "Running" { print $3 }'
}
owner_is_known() { [ -n "$(running_owner)" ]; }
if poll 120 owner_is_known; then pass project-running; else fail project-running; fi
owner=$(running_owner)
owner_i="" other=""
for i in "${nodes[@]}"; do
    if [ "$(name_of "$i")" = "$owner" ]; then owner_i=$i; elif [ -z "$other" ]; then other=$i; fi
done
[ -n "$owner_i" ] || { owner_i=1; other=2; }
api_address_known() {
    peer "$other" get nodes -o json | grep -q "\"apiAddress\": *\"${addr[$owner_i]}:7951\""
}
if poll 30 api_address_known; then pass node-record-has-api-address; else
    fail node-record-has-api-address; fi
logs_printed() {
    peer "$other" logs "${projects[0]}/app" --tail 5 >"$tmp/out" 2>"$tmp/err" &&
        grep -q '^hello-from-cara$' "$tmp/out"
}
if poll 60 logs_printed; then pass logs-proxied-from-another-node; else
    fail logs-proxied-from-another-node "asked n$other, owner $owner"; fi
lines=$(grep -c . "$tmp/out")
if [ "$lines" -ge 1 ] && [ "$lines" -le 5 ]; then pass logs-proxied-tail-passed-through; else
    fail logs-proxied-tail-passed-through "$lines lines for --tail 5"; fi
# -f streams through the proxy until the client is killed (timeout: 124).
timeout 5 "$ctl" --peer "${addr[$other]}:7951" logs "${projects[0]}/app" -f --tail 1 \
    >"$tmp/out" 2>"$tmp/err"
got=$?
n=$(grep -c '^hello-from-cara$' "$tmp/out")
if [ "$got" -eq 124 ] && [ "$n" -ge 2 ]; then pass logs-follow-proxied-streams-until-killed; else
    fail logs-follow-proxied-streams-until-killed "exit $got, $n lines"; fi
# The client gone, the proxy cancels its upstream: no stream stays open
# at the asked node or at the owner.
streams_closed() {
    [ "$(metric "$other" cara_api_streams_open)" = 0 ] &&
        [ "$(metric "$owner_i" cara_api_streams_open)" = 0 ]
}
if poll 20 streams_closed; then pass logs-follow-proxy-closes-both-sides; else
    fail logs-follow-proxy-closes-both-sides \
        "open: n$other=$(metric "$other" cara_api_streams_open) owner=$(metric "$owner_i" cara_api_streams_open)"
fi
# The owner's 4xx comes back through the proxy with its status and words.
curl -s -o "$tmp/out" -w '%{http_code}\n' \
    "$(api "$other")/v1/projects/${projects[0]}/logs?service=app&tail=x" >"$tmp/code"
has logs-local-400-before-proxy "$tmp/code" '^400$'
run logs-proxied-unknown-service 1 peer "$other" logs "${projects[0]}/nosuch"
has logs-proxied-unknown-service-says-so "$tmp/err" 'no service'
# Asked at the owner itself: served there, as before.
run logs-at-owner 0 peer "$owner_i" logs "${projects[0]}/app" --tail 2
has logs-at-owner-prints "$tmp/out" '^hello-from-cara$'
# A request marked as proxied is never proxied again: the asked node says
# where the project runs instead (409).
curl -s -o "$tmp/out" -w '%{http_code}\n' \
    "$(api "$other")/v1/projects/${projects[0]}/logs?service=app&tail=1&proxied=1" >"$tmp/code"
has logs-proxied-flag-not-forwarded "$tmp/code" '^409$'
has logs-proxied-flag-names-owner "$tmp/out" "runs on node $owner"

# ---- kill -9: detected by all, nobody else suspected; restart catches up ------

for i in 1 2 3 4; do : >"$tmp/mark$i"; wc -l <"$tmp/agent$i.log" >"$tmp/mark$i"; done
stop_node 5 KILL
others_see_dead() { for i in 1 2 3 4; do dead_is "$i" 1 || return 1; done; }
if poll 90 others_see_dead; then pass kill9-detected-by-all; else fail kill9-detected-by-all; fi
suspected_others=0
for i in 1 2 3 4; do
    n=$(tail -n +"$(( $(cat "$tmp/mark$i") + 1 ))" "$tmp/agent$i.log" |
        grep -E 'member=[^ ]+ state=(suspect|dead)' | grep -vc "member=$(name_of 5) ")
    suspected_others=$((suspected_others + n))
done
if [ "$suspected_others" -eq 0 ]; then pass nobody-else-suspected; else
    fail nobody-else-suspected "$suspected_others suspicions of live nodes"
fi

# While n5 is down: a new project, and one created and deleted whose
# tombstone is collected (3 s horizon) before n5 returns.
manifest "${projects[1]}" >"$tmp/b.yaml"
manifest "${projects[2]}" >"$tmp/c.yaml"
run apply-while-down 0 peer 2 apply -f "$tmp/b.yaml"
run apply-to-delete 0 peer 2 apply -f "$tmp/c.yaml"
run delete-while-down 0 peer 3 delete project "${projects[2]}"
collected() { [ "$(metric 1 cara_state_floors)" -ge 1 ] 2>/dev/null; }
if poll 60 collected; then pass tombstone-collected-while-down; else fail tombstone-collected-while-down; fi


start 5 --join "${addr[1]}:7950"
if poll 90 alive_is 1 5; then pass restarted-node-alive-again; else fail restarted-node-alive-again; fi
if poll 90 sees 5 1; then pass restarted-node-caught-up; else fail restarted-node-caught-up; fi
gone_at_5() { ! peer 5 get projects | grep -q "^${projects[2]} "; }
if poll 30 gone_at_5; then pass deleted-stays-deleted-at-restarted; else fail deleted-stays-deleted-at-restarted; fi
if poll 90 same_hash 1 2 3 4 5; then pass state-hashes-converge-after-restart; else
    fail state-hashes-converge-after-restart "$(for i in "${nodes[@]}"; do echo -n "$(hash_of "$i" | cut -c1-8) "; done)"
fi
# The others held n5 dead at incarnation 0: they see it alive again only
# at a higher one (its refutation).
refuted() { grep -qE "member=$(name_of 5) state=alive incarnation=[1-9]" "$tmp/agent1.log"; }
if poll 30 refuted; then pass restarted-node-refutes; else fail restarted-node-refutes; fi

# ---- Refused joins: no token, expired, forged, used up ------------------------

refused() { # I PATTERN-AT-JOINER PATTERN-AT-SEED
    poll 30 grep -qE "$2" "$tmp/agent$1.log" && poll 10 grep -qE "$3" "$tmp/agent1.log"
}
start 6 --join "${addr[1]}:7950"
if refused 6 'refused this node: .*not admitted' "refused to let node $(name_of 6) .*not admitted"; then
    pass no-token-refused; else fail no-token-refused; fi
stop_node 6
"$ctl" join-token create --ttl 1s >"$tmp/expired.tok" 2>/dev/null
sleep 2
start 7 --join "${addr[1]}:7950" --token "$(tail -1 "$tmp/expired.tok")"
if refused 7 'refused this node: .*expired' "refused to let node $(name_of 7) .*expired"; then
    pass expired-token-refused; else fail expired-token-refused; fi
stop_node 7
# Forged: a token signed by a key the cluster does not trust.
HOME="$tmp/other" CARAVANCTL_CONFIG="$tmp/other.yaml" sh -c \
    "mkdir -p '$tmp/other' && '$ctl' keygen >/dev/null && '$ctl' join-token create" \
    >"$tmp/forged.tok" 2>/dev/null
start 8 --join "${addr[1]}:7950" --token "$(tail -1 "$tmp/forged.tok")"
if refused 8 'refused this node: .*(untrusted|operator)' "refused to let node $(name_of 8) "; then
    pass forged-token-refused; else fail forged-token-refused; fi
stop_node 8
# Used up: the first token admitted four nodes already.
start 9 --join "${addr[1]}:7950" --token "$token"
if refused 9 'refused this node: .*(used|uses)' "refused to let node $(name_of 9) "; then
    pass used-up-token-refused; else fail used-up-token-refused; fi
stop_node 9
if peer 1 get nodes >"$tmp/nodes.out" 2>&1; then
    for i in 6 7 8 9; do
        if grep -q "^$(name_of "$i") " "$tmp/nodes.out"; then fail "refused-node-$i-not-listed"; else
            pass "refused-node-$i-not-listed"; fi
    done
else
    fail refused-nodes-not-listed "get nodes failed: $(head -1 "$tmp/nodes.out")"
fi

# ---- Hostile datagrams: dropped, counted, nobody crashes ---------------------

dropped() { metric 2 "cara_gossip_dropped_total{reason=\"$1\"}"; }
mal0=$(dropped malformed) over0=$(dropped oversized) na0=$(dropped not_admitted)
# Each datagram is built in a file first: every write to /dev/udp is one
# datagram, so it must be one write (cat of a small file).
send_file() { cat "$1" >"/dev/udp/${addr[2]}/7950"; }
send() { head -c "$1" /dev/urandom >"$tmp/dg"; send_file "$tmp/dg"; }
send 200; send 3; send 1392                                              # garbage: malformed
send 3000                                                                 # oversized
printf '\xca\x21\x01\x01' >"$tmp/dg"; send_file "$tmp/dg"              # a truncated seal header
# Seal version 2: 0xCA, version 2 and type 1, the sender's key id (the
# key_id caravanctl prints), a counter. Sent as a key that is no node's
# (the operator's): no admitted key has its id.
{ printf '\xca\x21'; printf "$(echo "$op_key_id" | sed 's/../\\x&/g')"; head -c 300 /dev/urandom; } >"$tmp/dg"
send_file "$tmp/dg"                                                       # forged sender
counted() {
    [ "$(dropped malformed)" -ge $((mal0 + 3)) ] && [ "$(dropped oversized)" -ge $((over0 + 1)) ] &&
        [ "$(dropped not_admitted)" -ge $((na0 + 1)) ]
}
if poll 10 counted; then pass garbage-datagrams-counted-by-reason; else
    fail garbage-datagrams-counted-by-reason "malformed $mal0->$(dropped malformed) oversized $over0->$(dropped oversized) not_admitted $na0->$(dropped not_admitted)"; fi
if kill -0 "${pid[2]}" 2>/dev/null && curl -sf "$(api 2)/healthz" >/dev/null; then
    pass survives-garbage; else fail survives-garbage; fi

# ---- --ack 3 waits for three holders; a graceful leave is seen as left ------------

manifest "$pfx-e" >"$tmp/e.yaml"
projects+=("$pfx-e")
run apply-ack-3 0 peer 3 apply --ack 3 -f "$tmp/e.yaml"
run ack-10-refused 2 peer 3 apply --ack 10 -f "$tmp/e.yaml"
stop_node 4 INT
left_seen() { [ "$(metric 1 'cara_gossip_members{state="left"}')" = 1 ]; }
if poll 30 left_seen; then pass sigint-is-a-graceful-leave; else fail sigint-is-a-graceful-leave; fi

# ---- Every other node stopped: apply says it is held by 1 of 2 ----------------

for i in 2 3 5; do stop_node "$i"; done
manifest "${projects[3]}" >"$tmp/d.yaml"
run apply-alone-exits-1 1 peer 1 apply -f "$tmp/d.yaml"
has apply-alone-says-held-by-1-of-2 "$tmp/err" 'held by 1 node of the 2 required'
exit 0
