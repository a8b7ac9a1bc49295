#!/usr/bin/env bash
# The operator's node controls on three real cara-agents (loopback, one
# shared Docker engine): `caravanctl node cordon` keeps new projects off a
# node and `get nodes` shows it, `uncordon` restores it, a drain with
# nowhere to go waits and says so, and once another node opens up the
# drain moves the project, the old node removes its container, and the
# command reports its progress and ends 0. Unknown nodes and keys that
# are not the operator's change nothing.
#
# Everything is named after this run's PID and removed on exit. Waits are
# generous bounds on things that normally take seconds.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=${BUILD:-build}
ctl="$root/$build/caravanctl"
agent_bin="$root/$build/cara-agent"
sock=${DOCKER_SOCK:-/var/run/docker.sock}
tmp=$(mktemp -d)
pfx="k$$"
net="127.$((100 + RANDOM % 100)).$((RANDOM % 250 + 1))"
declare -A pid addr
nodes=(1 2 3)
projects=("$pfx-a" "$pfx-b" "$pfx-c" "$pfx-x")

node_args=()

suite=nodectl
. tests/agent/lib.sh
. tests/agent/nodes.sh

cleanup() {
    [ -n "${drain_pid:-}" ] && kill "$drain_pid" 2>/dev/null
    for i in "${!pid[@]}"; do stop_node "$i"; done
    remove_projects "${projects[@]}"
    if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

need_engine_and_binaries
operator_key


# ---- Three nodes -----------------------------------------------------------------

start 1
if poll 30 curl -sf "$(api 1)/healthz"; then pass first-node-starts; else
    fail first-node-starts; tail -20 "$tmp/agent1.log"; exit 1; fi
run admit-first 0 peer 1 admit
run token-create 0 "$ctl" join-token create --uses 2 --ttl 10m
token=$(tail -1 "$tmp/out")
for i in 2 3; do start "$i" --join "${addr[1]}:7950" --token "$token"; done
all_alive() {
    for i in "${nodes[@]}"; do
        [ "$(metric "$i" 'cara_gossip_members{state="alive"}')" = 3 ] || return 1
    done
}
listed_everywhere() { # every node lists the three nodes
    for i in "${nodes[@]}"; do
        [ "$(peer "$i" get nodes 2>/dev/null | grep -c "^$pfx-n")" = 3 ] || return 1
    done
}
if poll 90 all_alive && poll 60 listed_everywhere; then pass three-alive; else
    fail three-alive; exit 1; fi
n1=$(name_of 1) n2=$(name_of 2) n3=$(name_of 3)

# status_of I NODE: the STATUS column of NODE in `get nodes` at node I.
status_of() { peer "$1" get nodes | awk -v n="$2" '$1 == n { print $2 }'; }
status_is() { [ "$(status_of "$1" "$2")" = "$3" ]; }

# ---- Refusals change nothing -----------------------------------------------------

h0=$(hash_of 1)
run cordon-unknown-node-exits-1 1 peer 1 node cordon "$pfx-nosuch"
has cordon-unknown-node-says-not-found "$tmp/err" "node \"$pfx-nosuch\" not found"
# Straight at the API too: a record for a node the agent does not know.
code=$(curl -s -o "$tmp/out" -w '%{http_code}' -X PUT --data '{"record":"AAAA"}' \
    "$(api 1)/v1/nodes/$pfx-nosuch/control")
# Unsigned: refused before the body is read.
if [ "$code" = 401 ] || [ "$code" = 403 ]; then pass api-unsigned-control-refused; else
    fail api-unsigned-control-refused "HTTP $code"; fi
# A key the cluster does not trust.
HOME="$tmp/other" CARAVANCTL_CONFIG="$tmp/other.yaml" sh -c \
    "mkdir -p '$tmp/other' && '$ctl' keygen >/dev/null" 2>/dev/null
run cordon-by-untrusted-key-refused 1 "$ctl" --key "$tmp/other/.config/caravanserai/operator.key" \
    --peer "${addr[1]}:7951" node cordon "$n2"
run usage-without-name 2 peer 1 node cordon
run usage-wait-on-cordon 2 peer 1 node cordon "$n2" --no-wait
sleep 1
if [ "$(hash_of 1)" = "$h0" ]; then pass refusals-write-nothing; else
    fail refusals-write-nothing "state hash moved"; fi

# ---- Cordon: new projects stay off; get nodes shows it --------------------------

run cordon-n2 0 peer 1 node cordon "$n2"
has cordon-says-cordoned "$tmp/out" "^node/$n2 cordoned$"
if poll 30 status_is 3 "$n2" "Ready,SchedulingDisabled"; then pass get-nodes-shows-cordon-elsewhere; else
    fail get-nodes-shows-cordon-elsewhere "$(status_of 3 "$n2")"; fi
run get-nodes-json 0 peer 3 get nodes -o json
has json-control-cordoned "$tmp/out" '"cordoned": true'
run cordon-again 0 peer 2 cordon "$n2" # kubectl's spelling
has cordon-again-says-already "$tmp/out" "^node/$n2 already cordoned$"

manifest() { # NAME
    cat <<EOF
apiVersion: caravanserai/v1
kind: Project
metadata: {name: $1}
spec:
  services:
    - name: app
      image: caravanserai/busybox:test
      command: [sh, -c, 'while true; do sleep 1; done']
EOF
}
node_of() { peer 1 get projects | awk -v p="$1" '$1 == p { print $3 }'; }
running_on() { # PROJECT: its NODE once Running
    peer 1 get projects | awk -v p="$1" '$1 == p && $2 == "Running" { print $3 }'
}
is_running() { [ -n "$(running_on "$1")" ]; }
for k in 0 1 2; do
    manifest "${projects[$k]}" >"$tmp/p$k.yaml"
    run "apply-${projects[$k]#"$pfx-"}" 0 peer 1 apply -f "$tmp/p$k.yaml"
done
off_n2=0
for k in 0 1 2; do
    if poll 90 is_running "${projects[$k]}" && [ "$(running_on "${projects[$k]}")" != "$n2" ]; then
        off_n2=$((off_n2 + 1)); fi
done
if [ "$off_n2" = 3 ]; then pass cordon-keeps-new-projects-off; else
    fail cordon-keeps-new-projects-off "$(peer 1 get projects)"; fi

# ---- Uncordon restores ------------------------------------------------------------

run uncordon-n2 0 peer 1 node uncordon "$n2"
has uncordon-says-uncordoned "$tmp/out" "^node/$n2 uncordoned$"
if poll 30 status_is 3 "$n2" "Ready"; then pass get-nodes-shows-uncordon; else
    fail get-nodes-shows-uncordon "$(status_of 3 "$n2")"; fi

# ---- Drain: blocked, then moving --------------------------------------------------

# Project x on n2 for sure: the other two cordoned while it is placed.
run cordon-n1 0 peer 1 node cordon "$n1"
run cordon-n3 0 peer 1 node cordon "$n3"
both_off() { status_is 2 "$n1" "Ready,SchedulingDisabled" && status_is 2 "$n3" "Ready,SchedulingDisabled"; }
poll 30 both_off
x=${projects[3]}
manifest "$x" >"$tmp/x.yaml"
run apply-x 0 peer 2 apply -f "$tmp/x.yaml"
if poll 90 is_running "$x" && [ "$(running_on "$x")" = "$n2" ]; then pass x-runs-on-n2; else
    fail x-runs-on-n2 "$(peer 1 get projects)"; fi
run uncordon-n3 0 peer 1 node uncordon "$n3"
poll 30 status_is 2 "$n3" "Ready"

# Nowhere to go but n3... which is open: cordon it again for the blocked case.
run cordon-n3-again 0 peer 1 node cordon "$n3"
poll 30 status_is 2 "$n3" "Ready,SchedulingDisabled"
run drain-blocked-times-out 1 peer 1 node drain "$n2" --timeout 5s
has drain-blocked-progress "$tmp/out" "^drain $n2: 1 project left \\($x\\)$"
has drain-blocked-says-left "$tmp/err" "drain $n2 timed out after 5s: 1 project left \\($x\\)"
has drain-blocked-says-why "$tmp/err" "project/$x: node $n2 is draining, but no other node fits"
if [ "$(running_on "$x")" = "$n2" ]; then pass blocked-drain-keeps-x-running; else
    fail blocked-drain-keeps-x-running "$(peer 1 get projects)"; fi
if poll 30 status_is 3 "$n2" "Ready,SchedulingDisabled,Draining"; then pass get-nodes-shows-drain; else
    fail get-nodes-shows-drain "$(status_of 3 "$n2")"; fi
peer 3 get nodes -o json >"$tmp/nodes.json"
has json-state-draining "$tmp/nodes.json" '"state": "Draining"'
has json-control-draining "$tmp/nodes.json" '"draining": true'

# The drain waits; n3 opens; the drain moves x there and ends 0.
peer 1 node drain "$n2" --timeout 90s >"$tmp/drain.out" 2>"$tmp/drain.err" &
drain_pid=$!
sleep 2
run uncordon-n3-while-draining 0 peer 1 node uncordon "$n3"
wait "$drain_pid"
got=$?
drain_pid=""
cp "$tmp/drain.out" "$tmp/out"; cp "$tmp/drain.err" "$tmp/err"
if [ "$got" = 0 ]; then pass drain-ends-0; else fail drain-ends-0 "exit $got"; fi
has drain-says-already-draining "$tmp/out" "^node/$n2 already draining$"
has drain-reports-progress "$tmp/out" "^drain $n2: 1 project left \\($x\\)$"
has drain-says-drained "$tmp/out" "^node/$n2 drained$"
if poll 90 is_running "$x" && [ "$(running_on "$x")" = "$n3" ]; then pass drain-moved-x-to-n3; else
    fail drain-moved-x-to-n3 "$(peer 1 get projects)"; fi
# The scheduler (whichever node it is) keeps the event.
said_drained() {
    for i in "${nodes[@]}"; do
        peer "$i" describe project "$x" 2>/dev/null | grep -qE "Drained.*moved off node $n2" && return 0
    done
    return 1
}
if said_drained; then pass describe-says-drained; else fail describe-says-drained; fi
gone_from_n2() {
    [ -z "$(docker ps -aq --filter "label=io.caravanserai.project=$x" \
        --filter "label=io.caravanserai.node=$n2")" ]
}
if poll 60 gone_from_n2; then pass old-node-removed-its-container; else
    fail old-node-removed-its-container; fi
one_copy() {
    [ "$(docker ps -q --filter "label=io.caravanserai.project=$x" | wc -l)" = 1 ]
}
if poll 30 one_copy; then pass one-copy-runs; else fail one-copy-runs; fi
# The other projects did not move off their nodes.
run get-projects-after 0 peer 1 get projects
lacks nothing-else-on-n2 "$tmp/out" " $n2 "

# ---- Uncordon clears both ----------------------------------------------------------

run uncordon-drained 0 peer 1 uncordon "$n2"
if poll 30 status_is 3 "$n2" "Ready"; then pass uncordon-clears-drain; else
    fail uncordon-clears-drain "$(status_of 3 "$n2")"; fi
peer 3 get nodes -o json >"$tmp/nodes.json"
lacks json-no-draining-left "$tmp/nodes.json" '"draining": true'
exit 0
