#!/usr/bin/env bash
# Failover on five real cara-agents (loopback addresses of this run's own
# /24, one shared Docker engine), with the cluster's timers shortened by
# `caravanctl settings apply` (fence 5 s, grace 16 s, skew 1 s,
# Terminating 10 s):
#
#  1. a real partition (iptables DROP between a minority of two and the
#     majority, both directions, INPUT and OUTPUT on lo): the minority
#     fences (its projects' containers go, STATUS says Fenced), the majority
#     runs them elsewhere, the engine never holds two running copies of one
#     project at any 0.5 s poll, and after the heal one copy runs and every
#     state hash is equal;
#  2. kill -9 of an owner agent: its containers keep running (the "agent
#     died, engine alive" case no fence can cover), the project is placed
#     elsewhere after the grace, and the restarted agent removes its stale
#     containers before it creates anything; then one copy runs;
#  3. a delete while the owner is down: Terminating, then Terminated after
#     the Terminating timeout; the owner, back, removes its containers;
#  4. expireAt a few seconds ahead: Terminated, containers removed.
#
# Checks are about states and invariants; every wait is a generous bound.
# Times are printed as INFO lines, never judged. Everything is named after
# this run's PID and removed on exit, the iptables rules included.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=${BUILD:-build}
ctl="$root/$build/caravanctl"
agent_bin="$root/$build/cara-agent"
sock=${DOCKER_SOCK:-/var/run/docker.sock}
tmp=$(mktemp -d)
pfx="f$$"
net="127.$((100 + RANDOM % 100)).$((RANDOM % 250 + 1))"
declare -A pid addr
nodes=(1 2 3 4 5)
projects=()
rules=() # each an iptables rule spec this run added (without -I/-D CHAIN)
poller_pid=""
# Timers (docs/manifest.md, "Cluster settings"): the smallest the ranges
# allow, bar the grace, which the nodes raise to fence + the longer of the
# isolation window and, for five nodes, the contact window (5 and 9 probe
# intervals) + skew + 5 s anyway (docs/scheduling.md).
fence_s=5 grace_s=16 skew_s=1 terminating_s=10

node_args=()

suite=failover
. tests/agent/lib.sh
. tests/agent/nodes.sh
index_of() { echo "${1##*-n}"; } # node name -> I

heal() {
    local r
    for r in "${rules[@]}"; do
        # shellcheck disable=SC2086 # a rule is several words
        iptables -D $r 2>/dev/null
    done
    rules=()
}

cleanup() {
    heal
    [ -n "$poller_pid" ] && kill "$poller_pid" 2>/dev/null
    for i in "${!pid[@]}"; do stop_node "$i" KILL; done
    remove_projects "${projects[@]}"
    if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

need_engine_and_binaries
if ! command -v iptables >/dev/null || ! iptables -S OUTPUT >/dev/null 2>&1; then
    echo "SKIP failover:suite (iptables is missing or not permitted)"
    exit 0
fi
command -v jq >/dev/null || { echo "SKIP failover:suite (jq is not installed)"; exit 0; }

operator_key

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
info() { echo "INFO $suite:$1"; echo "$1" >>"$tmp/measured"; }

# ---- What the engine and the API say ----------------------------------------------------

# running_nodes P: the node label of each running container of P, one per
# line, sorted, unique.
running_nodes() {
    docker ps --filter "label=io.caravanserai.project=$1" \
        --format '{{.Label "io.caravanserai.node"}}' | sort -u
}
# containers_of P NODE: every container (any state) of P labelled NODE.
containers_of() {
    docker ps -aq --filter "label=io.caravanserai.project=$1" --filter "label=io.caravanserai.node=$2"
}
# pj I P FILTER: the jq FILTER over project P as node I shows it.
pj() { peer "$1" get projects "$2" -o json 2>/dev/null | jq -r "$3" 2>/dev/null; }
phase_at() { pj "$1" "$2" '.status.phase // empty'; }
node_at() { pj "$1" "$2" '.status.nodeRef // empty'; }
# running_at I P: the node P is Running on, as node I sees it.
running_at() { pj "$1" "$2" 'select(.status.phase == "Running") | .status.nodeRef'; }
is_running_on() { [ "$(running_at "$1" "$2")" = "$3" ]; }
has_condition() { # I P TYPE
    pj "$1" "$2" '.status.conditions[]?.type' | grep -qx "$3"
}
listed() { peer "$1" get projects 2>/dev/null | grep -q "^$2 "; }

manifest() { # NAME [EXPIRE-AT]
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
    [ -n "${2:-}" ] && echo "  expireAt: \"$2\""
}
apply_project() { # I NAME [EXPIRE-AT]
    projects+=("$2")
    manifest "$2" "${3:-}" >"$tmp/$2.yaml"
    run "apply-${2#"$pfx-"}" 0 peer "$1" apply -f "$tmp/$2.yaml"
}

# ---- The engine poller: every 0.5 s, which node runs which project ----------------------
#
# Each line of $tmp/polls: TIME PROJECT NODE (one per running container's
# project and node, deduplicated per poll). A poll where one project runs
# under two node labels is written to $tmp/doubles. On a shared engine the
# container names collide (`{project}-{service}`), so two copies could only
# ever show under two labels if the names allowed it; the check is kept
# exact all the same, and the create conflicts that the collision turns a
# second copy into are checked apart (no_create_conflict below).
poller() {
    while :; do
        local t
        t=$(now)
        docker ps --filter "label=io.caravanserai.managed=true" \
            --format '{{.Label "io.caravanserai.project"}} {{.Label "io.caravanserai.node"}}' |
            awk -v p="$pfx-" -v t="$t" 'index($1, p) == 1 { print t, $1, $2 }' | sort -u >"$tmp/poll.now"
        cat "$tmp/poll.now" >>"$tmp/polls"
        echo "$t" >>"$tmp/polltimes"
        awk '{ n[$2]++ } END { for (p in n) if (n[p] > 1) print p }' "$tmp/poll.now" |
            while read -r p; do echo "$t $p $(grep " $p " "$tmp/poll.now" | awk '{print $3}' | tr '\n' ' ')"; done \
                >>"$tmp/doubles"
        sleep 0.5
    done
}
: >"$tmp/polls"
: >"$tmp/doubles"
poller &
poller_pid=$!
# polls_count AFTER: how many polls ran since the time AFTER.
polls_count() { awk -v a="$1" '$1 > a' "$tmp/polltimes" | wc -l; }

# poll_first P MODE AFTER NODE...: the first poll after AFTER at which P
# runs on none of NODE... (MODE off), or runs on a node not among them
# (MODE on); printed as seconds after AFTER, nothing if no poll did.
poll_first() {
    local p=$1 mode=$2 t0=$3; shift 3
    awk -v p="$p" -v mode="$mode" -v t0="$t0" -v nodes="$*" '
        FNR == NR { if ($1 > t0) times[++n] = $1; next }
        $2 == p { split(nodes, ns, " "); mine = 0; for (i in ns) if ($3 == ns[i]) mine = 1
                  if (mine) inside[$1] = 1; else outside[$1] = 1 }
        END { for (i = 1; i <= n; i++) { t = times[i]
                  if ((mode == "off" && !(t in inside)) || (mode == "on" && (t in outside))) {
                      printf "%.1f", t - t0; exit } } }' "$tmp/polltimes" "$tmp/polls"
}

# A create that failed because another node's object holds the name: the
# status reason or an event says so (reconcile_steps.c).
no_create_conflict() { # I P
    ! pj "$1" "$2" '[.status.conditions[]?.reason, .events[]?.reason, .status.reason] | .[]' |
        grep -qE 'NetworkCreateFailed|ContainerCreateFailed|NameConflict'
}

# ---- Five nodes, short timers ---------------------------------------------------------------

start 1
if poll 30 curl -sf "$(api 1)/healthz"; then pass first-node-starts; else
    fail first-node-starts; tail -20 "$tmp/agent1.log"; exit 1; fi
run admit-first 0 peer 1 admit
run token-create 0 "$ctl" join-token create --uses 4 --ttl 10m
token=$(tail -1 "$tmp/out")
for i in 2 3 4 5; do start "$i" --join "${addr[1]}:7950" --token "$token"; done
all_alive() { for i in "${nodes[@]}"; do alive_is "$i" 5 || return 1; done; }
if poll 90 all_alive; then pass five-alive; else fail five-alive; exit 1; fi

cat >"$tmp/settings.yaml" <<EOF
apiVersion: caravanserai/v1
kind: ClusterSettings
environment: test
baseDomain: example.internal
timers:
  fenceTimeoutSeconds: $fence_s
  rescheduleGraceSeconds: $grace_s
  terminatingTimeoutSeconds: $terminating_s
  clockSkewSeconds: $skew_s
EOF
# Refused first: a grace that does not outlast the fence by the skew.
sed "s/clockSkewSeconds: .*/clockSkewSeconds: $((grace_s - fence_s))/" \
    "$tmp/settings.yaml" >"$tmp/bad-settings.yaml"
h0=$(hash_of 1)
run settings-bad-grace-refused 1 peer 1 settings apply -f "$tmp/bad-settings.yaml"
has settings-bad-grace-says-why "$tmp/err" 'rescheduleGraceSeconds: must exceed fenceTimeoutSeconds'
if [ "$(hash_of 1)" = "$h0" ]; then pass settings-refusal-writes-nothing; else
    fail settings-refusal-writes-nothing; fi
run settings-apply 0 peer 1 settings apply -f "$tmp/settings.yaml"
has settings-apply-says-created "$tmp/out" '^clustersettings/cluster created$'
run settings-apply-again 0 peer 2 settings apply -f "$tmp/settings.yaml"
has settings-apply-again-unchanged "$tmp/out" '^clustersettings/cluster unchanged$'
if poll 60 same_hash "${nodes[@]}"; then pass settings-reach-all; else
    fail settings-reach-all "$(hashes "${nodes[@]}")"; fi

# ---- 1. A real partition: the minority fences, the majority takes over ---------------------

for k in a b c d; do apply_project 1 "$pfx-$k"; done
all_running() {
    for p in "${projects[@]}"; do [ -n "$(running_at 1 "$p")" ] || return 1; done
}
if poll 120 all_running; then pass four-projects-running; else
    fail four-projects-running "$(peer 1 get projects 2>&1)"; fi
# The minority: the owner of project a and of another project if it is
# elsewhere, else the next node; the majority the other three.
own_a=$(index_of "$(running_at 1 "$pfx-a")")
own_b=$(index_of "$(running_at 1 "$pfx-b")")
minority=("$own_a")
if [ -n "$own_b" ] && [ "$own_b" != "$own_a" ]; then minority+=("$own_b"); else
    minority+=("$(( own_a % 5 + 1 ))"); fi
majority=()
for i in "${nodes[@]}"; do
    [ "$i" != "${minority[0]}" ] && [ "$i" != "${minority[1]}" ] && majority+=("$i")
done
in_minority() { local i; for i in "${minority[@]}"; do [ "$1" = "$(name_of "$i")" ] && return 0; done; return 1; }
moved=() # projects the minority ran
for p in "${projects[@]}"; do in_minority "$(running_at 1 "$p")" && moved+=("$p"); done
echo "# minority n${minority[0]} n${minority[1]}, its projects: ${moved[*]}"

cut() { # both directions, INPUT and OUTPUT on lo
    local m j spec
    for m in "${minority[@]}"; do
        for j in "${majority[@]}"; do
            for spec in "OUTPUT -o lo -s ${addr[$m]} -d ${addr[$j]}" "OUTPUT -o lo -s ${addr[$j]} -d ${addr[$m]}" \
                "INPUT -i lo -s ${addr[$m]} -d ${addr[$j]}" "INPUT -i lo -s ${addr[$j]} -d ${addr[$m]}"; do
                spec="$spec -m comment --comment cara-failover-$$ -j DROP"
                # shellcheck disable=SC2086
                iptables -I $spec || return 1
                rules+=("$spec")
            done
        done
    done
}
t_cut=$(now)
if cut; then pass partition-cut; else fail partition-cut; fi
fenced_there() { # P: Fenced in its status on the minority node that ran it
    local i
    for i in "${minority[@]}"; do has_condition "$i" "$1" Fenced && return 0; done
    return 1
}
gone_from_minority() { # P: no container of P labelled with a minority node runs
    local n
    for n in $(running_nodes "$1"); do in_minority "$n" && return 1; done
    return 0
}
runs_in_majority() { # P: Running on a majority node as the majority sees it, and in the engine
    local n
    n=$(running_at "${majority[0]}" "$1")
    [ -n "$n" ] && ! in_minority "$n" && [ "$(running_nodes "$1")" = "$n" ]
}
for p in "${moved[@]}"; do
    s=${p#"$pfx-"}
    if poll 60 gone_from_minority "$p"; then
        pass "minority-stops-$s"
    else fail "minority-stops-$s" "$(running_nodes "$p" | tr '\n' ' ')"; fi
    if poll 30 fenced_there "$p"; then pass "minority-status-fenced-$s"; else
        fail "minority-status-fenced-$s" "$(pj "${minority[0]}" "$p" '.status')"; fi
    if poll 120 runs_in_majority "$p"; then
        pass "majority-runs-$s"
    else fail "majority-runs-$s" "$(pj "${majority[0]}" "$p" '.status')"; fi
    if no_create_conflict "${majority[0]}" "$p"; then pass "majority-start-met-no-leftover-$s"; else
        fail "majority-start-met-no-leftover-$s" "$(pj "${majority[0]}" "$p" '.events')"; fi
done
# The majority's own projects did not move.
for p in "${projects[@]}"; do
    in_array=0
    for q in "${moved[@]}"; do [ "$q" = "$p" ] && in_array=1; done
    [ "$in_array" = 1 ] && continue
    if [ "$(running_nodes "$p" | wc -l)" = 1 ]; then pass "majority-project-stays-${p#"$pfx-"}"; else
        fail "majority-project-stays-${p#"$pfx-"}" "$(running_nodes "$p" | tr '\n' ' ')"; fi
done

mnames=()
for i in "${minority[@]}"; do mnames+=("$(name_of "$i")"); done
for p in "${moved[@]}"; do
    info "partition: ${p#"$pfx-"} gone from the minority $(poll_first "$p" off "$t_cut" "${mnames[@]}") s after the cut, running on the majority $(poll_first "$p" on "$t_cut" "${mnames[@]}") s after it (engine polls)"
done
# Gossip's TCP streams leave from the node's own address, so the cut
# holds them too: none runs from 127.0.0.1 to a node of this run.
if ss -tnH state established "( dport = :7950 )" | awk '{print $3, $4}' |
    grep -E "^127\.0\.0\.1:[0-9]+ ${net//./\\.}\." >"$tmp/out"; then
    fail partition-streams-from-node-addresses "$(head -3 "$tmp/out")"
else pass partition-streams-from-node-addresses; fi
heal
t_heal=$(now)
pass partition-healed
one_copy_each() {
    for p in "${projects[@]}"; do [ "$(running_nodes "$p" | wc -l)" = 1 ] || return 1; done
}
minority_agrees() { # the minority sees each moved project Running where the majority does
    local p i
    for p in "${moved[@]}"; do
        for i in "${minority[@]}"; do
            [ "$(running_at "$i" "$p")" = "$(running_at "${majority[0]}" "$p")" ] || return 1
        done
    done
}
if poll 90 same_hash "${nodes[@]}"; then
    pass heal-converges; info "partition: state hashes equal $(since "$t_heal") s after the heal"
else fail heal-converges "$(hashes "${nodes[@]}")"; fi
if poll 60 minority_agrees; then pass heal-minority-sees-new-owner; else fail heal-minority-sees-new-owner; fi
# One copy each, once the unfenced nodes have restarted what they still
# own (the engine polls above check, all through, that never two run).
if poll 60 one_copy_each; then pass heal-one-copy-each; else
    fail heal-one-copy-each "$(for p in "${projects[@]}"; do echo "$p: $(running_nodes "$p" | tr '\n' ' ')"; done)"; fi
n_polls=$(polls_count "$t_cut")
if [ ! -s "$tmp/doubles" ]; then pass "partition-never-two-copies"; info "partition: $n_polls engine polls, none with two copies"
else fail partition-never-two-copies "$(head -3 "$tmp/doubles")"; fi

# ---- 2. kill -9 of an owner: the engine keeps its copy; back, it removes it first -----------

p="$pfx-a"
# Just after the heal the project may still be starting again on its
# owner (unfenced after an exchange): wait until it runs somewhere.
runs_somewhere() { [ -n "$(running_at 1 "$p")" ]; }
if ! poll 90 runs_somewhere; then
    fail kill9-setup "$p runs nowhere 90 s after the heal: $(pj 1 "$p" '.status')"
    exit 1
fi
k=$(index_of "$(running_at 1 "$p")")
sv=$(( k % 5 + 1 )) # a survivor to ask
kname=$(name_of "$k")
echo "# kill -9 of n$k, owner of $p; asking n$sv"
docker ps -aq --filter "label=io.caravanserai.node=$kname" | sort >"$tmp/stale"
t_kill=$(now)
stop_node "$k" KILL
placed_elsewhere() { local n; n=$(node_at "$sv" "$p"); [ -n "$n" ] && [ "$n" != "$kname" ]; }
# Detection (SWIM: seconds), then the grace (at least 16 s here): a
# minute and a half is a generous bound.
if poll 90 placed_elsewhere; then
    pass kill9-placed-elsewhere
    info "kill -9: $p placed on $(node_at "$sv" "$p") $(since "$t_kill") s after the kill"
else fail kill9-placed-elsewhere "$(pj "$sv" "$p" '.status')"; fi
new_owner=$(node_at "$sv" "$p")
said_rescheduled() { # the scheduler, whichever node it is, keeps the event
    local i
    for i in "${nodes[@]}"; do
        [ "$i" = "$k" ] && continue
        peer "$i" describe project "$p" 2>/dev/null | grep -qE "Rescheduled.*moved to node" && return 0
    done
    return 1
}
if poll 10 said_rescheduled; then pass kill9-says-rescheduled; else fail kill9-says-rescheduled; fi
# One engine for all: the new owner's network and container names are
# the dead agent's, so its create fails (409) while the old copy lives.
info "kill -9: the new owner meanwhile: $(pj "$sv" "$p" '.status | "\(.phase) \(.conditions[0].reason)"')"
# The agent is dead, the engine is not: nothing is left to stop its
# copy (docs/scheduling-measured.md; the mitigation is the service
# manager's restart).
if [ "$(running_nodes "$p")" = "$kname" ]; then pass kill9-dead-agent-copy-still-runs; else
    fail kill9-dead-agent-copy-still-runs "$(running_nodes "$p" | tr '\n' ' ')"; fi
# Back after longer than the fence timeout (the grace alone is longer).
t_restart=$(now)
start "$k" --join "${addr[$sv]}:7950"
# From its start: every container labelled with the restarted node is
# either stale (there before the kill) or created after the stale ones
# for moved projects are gone. Polled tightly until they are.
# The projects placed elsewhere when it restarts: their stale copies must
# go, whatever the node decides once back.
moved_away=()
for q in "${projects[@]}"; do
    [ -n "$(containers_of "$q" "$kname")" ] && [ "$(node_at "$sv" "$q")" != "$kname" ] && moved_away+=("$q")
done
echo "# placed elsewhere while n$k was down: ${moved_away[*]}"
stale_moved() { # the stale containers of those projects, while placed elsewhere
    local q
    for q in "${moved_away[@]}"; do
        # The returning node may be the project's scheduler and take it
        # back (a restart, docs/scheduling.md): its old containers are
        # then its own again, not stale.
        [ "$(node_at "$sv" "$q")" = "$kname" ] && continue
        containers_of "$q" "$kname"
    done | grep -xFf "$tmp/stale" | sort
}
early=""
deadline=$((SECONDS + 90))
while :; do
    mine=$(docker ps -aq --filter "label=io.caravanserai.node=$kname" | sort)
    left=$(comm -12 <(echo "$mine") "$tmp/stale" | grep -c .)
    fresh=$(comm -23 <(echo "$mine") "$tmp/stale" | grep -c .)
    moved_left=$(stale_moved | grep -c .)
    [ "$moved_left" -gt 0 ] && [ "$fresh" -gt 0 ] && early="$fresh new while $moved_left stale"
    [ "$moved_left" = 0 ] && break
    [ "$SECONDS" -ge "$deadline" ] && break
    sleep 0.2
done
if [ "$moved_left" = 0 ]; then
    pass restart-removes-stale-copies; info "kill -9: stale copies removed $(since "$t_restart") s after the restart"
else fail restart-removes-stale-copies "$moved_left left"; fi
if [ -z "$early" ]; then pass restart-creates-nothing-before-stale-gone; else
    fail restart-creates-nothing-before-stale-gone "$early"; fi
has restart-log-says-fenced-at-start "$tmp/agent$k.log" 'fenced at start'
# One copy, once the old agent is back: on the new owner, or back on the
# old node when it was the project's scheduler and moved it back (a
# restart, never a second copy: docs/scheduling.md); where is reported.
one_copy() { [ "$(running_nodes "$p" | wc -l)" = 1 ]; }
if poll 90 one_copy; then
    pass kill9-one-copy-after-return
    info "kill -9: $p Running on $(running_nodes "$p") (new owner was $new_owner) $(since "$t_kill") s after the kill, $(since "$t_restart") s after the old agent's restart"
else fail kill9-one-copy-after-return "$(running_nodes "$p" | tr '\n' ' ') $(pj "$sv" "$p" '.status')"; fi
if poll 90 one_copy_each; then pass kill9-one-copy-each; else fail kill9-one-copy-each; fi
if poll 90 same_hash "${nodes[@]}"; then pass kill9-converges; else fail kill9-converges "$(hashes "${nodes[@]}")"; fi

# ---- 3. Delete while the owner is down: Terminating, then Terminated -----------------------------

p="$pfx-c"
k=$(index_of "$(running_at 1 "$p")")
sv=$(( k % 5 + 1 ))
kname=$(name_of "$k")
echo "# kill -9 of n$k, owner of $p; deleting at n$sv"
stop_node "$k" KILL
dead_seen() { [ "$(metric "$sv" 'cara_gossip_members{state="dead"}')" -ge 1 ] 2>/dev/null; }
if poll 60 dead_seen; then pass delete-owner-seen-dead; else fail delete-owner-seen-dead; fi
t_del=$(now)
run delete-while-owner-down 0 peer "$sv" delete project "$p"
if [ "$(phase_at "$sv" "$p")" = Terminating ]; then pass delete-terminating; else
    fail delete-terminating "$(pj "$sv" "$p" '.status')"; fi
if poll 30 has_condition "$sv" "$p" TerminatingAt; then pass delete-terminating-at; else
    fail delete-terminating-at "$(pj "$sv" "$p" '.status')"; fi
if [ -n "$(containers_of "$p" "$kname")" ]; then pass delete-dead-owner-copy-still-there; else
    fail delete-dead-owner-copy-still-there; fi
not_listed_anywhere() { local i; for i in "${nodes[@]}"; do [ "$i" = "$k" ] && continue; listed "$i" "$p" && return 1; done; return 0; }
if poll 60 not_listed_anywhere; then
    took=$(since "$t_del")
    pass delete-terminated-after-timeout; info "delete: $p Terminated $took s after the delete (Terminating timeout $terminating_s s)"
    # Not before the timeout: TerminatingAt was written after the delete.
    if awk -v t="$took" -v m="$terminating_s" 'BEGIN { exit !(t >= m - 1) }'; then
        pass delete-not-terminated-before-timeout; else fail delete-not-terminated-before-timeout "$took s"; fi
else fail delete-terminated-after-timeout "$(pj "$sv" "$p" '.status')"; fi
start "$k" --join "${addr[$sv]}:7950"
gone_c() { [ -z "$(containers_of "$p" "$kname")" ]; }
if poll 90 gone_c; then pass delete-owner-back-removes-copy; else fail delete-owner-back-removes-copy; fi

# ---- 4. expireAt a few seconds ahead ----------------------------------------------------------------

p="$pfx-e"
apply_project 1 "$p" "$(date -u -d '+8 seconds' +%Y-%m-%dT%H:%M:%SZ)"
gone_e() { ! listed 1 "$p" && [ -z "$(docker ps -aq --filter "label=io.caravanserai.project=$p")" ]; }
if poll 90 gone_e; then pass expire-terminated-and-removed; else
    fail expire-terminated-and-removed "$(pj 1 "$p" '.status') $(running_nodes "$p" | tr '\n' ' ')"; fi
if grep -q " $p " "$tmp/polls"; then pass expire-ran-before; else fail expire-ran-before "never seen running"; fi

live=()
for q in "${projects[@]}"; do [ "$q" = "$pfx-c" ] || [ "$q" = "$pfx-e" ] || live+=("$q"); done
one_copy_live() { for q in "${live[@]}"; do [ "$(running_nodes "$q" | wc -l)" = 1 ] || return 1; done; }
if poll 90 one_copy_live; then pass end-one-copy-each; else fail end-one-copy-each; fi
if poll 90 same_hash "${nodes[@]}"; then pass end-converges; else fail end-converges "$(hashes "${nodes[@]}")"; fi
if [ ! -s "$tmp/doubles" ]; then pass never-two-copies; info "whole run: $(polls_count 0) engine polls, none with two copies"
else fail never-two-copies "$(head -3 "$tmp/doubles")"; fi
exit 0
