#!/usr/bin/env bash
# The end-to-end test on real hosts: network namespaces joined by a
# wireguard-go overlay, one dockerd per host, one cara-agent per host,
# caravanctl from the operator's namespace over the overlay
# (tests/cluster/lib.sh, docs/cluster-tests.md). Scenarios:
#
#  a. three hosts Ready; a two-service project applied through n1 runs on
#     the engine of the node the scheduler chose and on no other, its
#     services reach each other by name, and n3 shows its logs;
#  b. the owner host dies (kill -9 of agent, dockerd, containerd and the
#     containers): the project runs on another host's engine; the host
#     back, one copy runs and every state hash is equal;
#  c. five hosts; a minority of two cut off at the underlay: the minority
#     fences, the majority runs the project, an engine poller never sees
#     two copies; after the heal one copy runs and the state converges;
#  d. an asymmetric cut (one host stops hearing another over the overlay)
#     and a flapping link: never two copies, and the project stops moving;
#  e. every host stopped and started again: every acknowledged project is
#     still there and Running;
#  f. a host with a forged token, and a host whose admission was revoked:
#     the others do not count it as a member;
#  g. apply, delete and expiry while one host is down: the survivors agree,
#     and the host, back, removes what it no longer runs.
#
# Checks are invariants and counts; every wait is a generous bound; times
# are INFO lines. CARA_SKIP_CLUSTER=1 turns "this machine cannot make
# hosts" into a SKIP line; otherwise it is a FAIL.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=${BUILD:-build}
cl_ctl="$root/$build/caravanctl"
cl_agent="$root/$build/cara-agent"
tmp=$(mktemp -d)
suite=hosts
. tests/agent/lib.sh
. tests/cluster/lib.sh
# The suite's exit code says whether any check failed (make test-cluster).
failed=0
eval "agent_$(declare -f fail)"
fail() { failed=$((failed + 1)); agent_fail "$@"; }

poller_pid=""
cleanup() {
    [ -n "$poller_pid" ] && kill "$poller_pid" 2>/dev/null
    # A failed run shows each host's last decisions (its logs go with it).
    if [ "$failed" != 0 ] && [ -n "${cl_dir:-}" ]; then
        for f in "$cl_dir"/n*/agent.log; do
            [ -f "$f" ] || continue
            echo "    ---- $(basename "$(dirname "$f")"): the agent's last decisions"
            grep -E 'core|fence|majority|project=' "$f" | tail -25 | cut -c1-240 | sed 's/^/    /'
        done
    fi
    # The hosts' logs outlive the hosts when the run's directory is kept.
    if [ -n "${KEEP_TMP:-}" ] && [ -n "${cl_dir:-}" ]; then
        for f in "$cl_dir"/n*/*.log; do [ -f "$f" ] && cp "$f" "$tmp/$(basename "$(dirname "$f")")-$(basename "$f")"; done
    fi
    cluster_down
    if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if ! cluster_preflight; then
    if [ "${CARA_SKIP_CLUSTER:-}" = 1 ]; then echo "SKIP hosts:suite ($cl_why)"; exit 0; fi
    echo "FAIL hosts:preflight ($cl_why; CARA_SKIP_CLUSTER=1 skips this suite)"
    exit 1
fi

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
info() { echo "INFO $suite:$1"; }
hash_of() { curl -sf --max-time 3 "$(api_of "$1")/healthz" | jq -r '.stateHash // empty'; }
same_hash() { # I...: every listed node reports one state hash
    local h first i
    first=$(hash_of "$1") && [ -n "$first" ] || return 1
    for i in "$@"; do h=$(hash_of "$i"); [ "$h" = "$first" ] || return 1; done
}
hashes() { local i; for i in "$@"; do echo -n "n$i=$(hash_of "$i" | cut -c1-8) "; done; }
pj() { ctl "$1" get projects "$2" -o json 2>/dev/null | jq -r "$3" 2>/dev/null; }
node_at() { pj "$1" "$2" '.status.nodeRef // empty'; }
running_at() { pj "$1" "$2" 'select(.status.phase == "Running") | .status.nodeRef // empty'; }
has_condition() { pj "$1" "$2" '.status.conditions[]?.type' | grep -qx "$3"; }
listed() { ctl "$1" get projects 2>/dev/null | grep -q "^$2 "; }
# engines_with P: the hosts whose engine runs a container of P, one a line.
engines_with() {
    local i n
    for i in "${cl_hosts[@]}"; do
        n=$(engine_running "$i" "$1" 2>/dev/null)
        [ -n "$n" ] && [ "$n" -gt 0 ] && echo "$i"
    done
}
# runs_only_on P I COUNT: engine I runs COUNT containers of P, no other engine any.
runs_only_on() {
    [ "$(engine_running "$2" "$1")" = "$3" ] && [ "$(engines_with "$1" | tr '\n' ' ')" = "$2 " ]
}
one_copy() { [ "$(engines_with "$1" | wc -l)" = 1 ]; }

# ---- The engine poller: every 0.5 s, which engines run which project -------------------------
#
# $tmp/polls: TIME HOST PROJECT for each running container's project per
# engine; a poll where one project runs on two engines goes to
# $tmp/doubles. An engine that does not answer (its host is down) counts
# as running nothing: a dead host's containers are dead too (kill_host).
poller() {
    local i t
    # $$ is the harness: the poller ends with it, even after a kill -9.
    while kill -0 $$ 2>/dev/null; do
        t=$(now)
        for i in "${cl_hosts[@]}"; do
            curl -sf --max-time 2 --unix-socket "$(cl_sock "$i")" \
                'http://docker/containers/json?filters=%7B%22label%22%3A%5B%22io.caravanserai.managed%3Dtrue%22%5D%7D' |
                jq -r --arg t "$t" --arg i "$i" '.[] | "\($t) \($i) \(.Labels["io.caravanserai.project"]) \(.Names[0]) \(.Status | gsub(" "; "_"))"'
        done | sort -u -k1,3 >"$tmp/poll.now"
        cat "$tmp/poll.now" >>"$tmp/polls"
        echo "$t" >>"$tmp/polltimes"
        awk '{ n[$3]++ } END { for (p in n) if (n[p] > 1) print p }' "$tmp/poll.now" |
            while read -r p; do echo "$t $p on $(awk -v p="$p" '$3 == p { printf "n%s(%s %s) ", $2, $4, $5 }' "$tmp/poll.now")"; done \
                >>"$tmp/doubles"
        sleep 0.5
    done
}
start_poller() {
    [ -n "$poller_pid" ] && kill "$poller_pid" 2>/dev/null
    poller &
    poller_pid=$!
}
polls_count() { awk -v a="$1" '$1 > a' "$tmp/polltimes" | wc -l; }
doubles_since() { awk -v a="$1" '$1 > a' "$tmp/doubles"; }
# no_doubles NAME SINCE: passes NAME when no poll since SINCE found two
# copies, and the poller really looked: it still runs, it polled at least
# five times since, and some poll since saw the first project running (a
# poller whose requests all fail sees nothing, and so no double).
no_doubles() {
    local name=$1 since=$2 seen
    seen=$(awk -v a="$since" -v p="$P" '$1 > a && $3 == p' "$tmp/polls" | wc -l)
    if ! kill -0 "$poller_pid" 2>/dev/null; then fail "$name" "the engine poller is not running"
    elif [ "$(polls_count "$since")" -lt 5 ]; then fail "$name" "only $(polls_count "$since") engine polls"
    elif [ "$seen" = 0 ]; then fail "$name" "no engine poll saw $P running"
    elif [ -n "$(doubles_since "$since")" ]; then fail "$name" "$(doubles_since "$since" | head -3)"
    else pass "$name"; info "$name: $(polls_count "$since") engine polls, none with two copies"; fi
}
: >"$tmp/polls"; : >"$tmp/doubles"; : >"$tmp/polltimes"

# ---- Up ------------------------------------------------------------------------------------------

t0=$(now)
if cluster_up 3 >"$tmp/out" 2>"$tmp/err"; then
    pass three-hosts-up; head -1 "$tmp/out"; info "three hosts made and agents answering in $(since "$t0") s"
else
    fail three-hosts-up; exit 1
fi
three_ready() { [ "$(ready_count 1)" = 3 ] && [ "$(ready_count 3)" = 3 ]; }
if poll 90 three_ready; then pass three-nodes-ready; else fail three-nodes-ready "$(ctl 1 get nodes 2>&1)"; exit 1; fi
ctl 1 get nodes | sed 's/^/    /'

# Short timers, as in tests/agent/run-failover.sh (docs/manifest.md).
cat >"$tmp/settings.yaml" <<EOF
apiVersion: caravanserai/v1
kind: ClusterSettings
environment: test
baseDomain: example.internal
timers:
  fenceTimeoutSeconds: 5
  rescheduleGraceSeconds: 16
  terminatingTimeoutSeconds: 10
  clockSkewSeconds: 1
EOF
run settings-apply 0 ctl 1 settings apply -f "$tmp/settings.yaml"
if poll 60 same_hash 1 2 3; then pass settings-reach-all; else fail settings-reach-all "$(hashes 1 2 3)"; fi

# ---- a. Apply through n1: placement, service DNS, logs from n3 ---------------------------------

web_manifest() { # NAME
    cat <<EOF
apiVersion: caravanserai/v1
kind: Project
metadata: {name: $1}
spec:
  services:
    - name: web
      image: $cl_image
      command: [httpd, -f, -p, "8080", -h, /www]
    - name: client
      image: $cl_image
      command: [sh, -c, 'while true; do wget -q -O - http://web:8080/ || echo "web not answering"; sleep 2; done']
EOF
}
P="$cl_rid-web"
web_manifest "$P" >"$tmp/web.yaml"
start_poller
t_apply=$(now)
run apply-through-n1 0 ctl 1 apply -f "$tmp/web.yaml"
runs_somewhere() { [ -n "$(running_at 1 "$P")" ]; }
if poll 120 runs_somewhere; then
    pass project-running; info "a: Running $(since "$t_apply") s after the apply"
else fail project-running "$(pj 1 "$P" .status)"; fi
owner=$(cl_index "$(running_at 1 "$P")")
echo "# the scheduler placed $P on n$owner"
if poll 30 runs_only_on "$P" "$owner" 2; then pass runs-on-chosen-engine-only; else
    fail runs-on-chosen-engine-only "engines: $(engines_with "$P" | tr '\n' ' ')"; fi
n3_agrees() { [ "$(node_at 3 "$P")" = "$(cl_name "$owner")" ]; }
if poll 30 n3_agrees; then pass n3-agrees-on-node; else
    fail n3-agrees-on-node "n3 says $(node_at 3 "$P")"; fi
dns_works() { engine "$owner" exec "$P-client" wget -q -O - http://web:8080/ 2>/dev/null | grep -q 'hello from caravanserai'; }
if poll 30 dns_works; then pass service-dns-exec; else fail service-dns-exec; fi
# Logs asked of a node that does not run the project: proxied to the owner.
lg=3; [ "$owner" = 3 ] && lg=2
client_fetched() { ctl "$lg" logs "$P/client" --tail 5 2>/dev/null | grep -q 'hello from caravanserai'; }
if poll 60 client_fetched; then pass logs-via-non-owner-show-fetched-page; else
    ctl "$lg" logs "$P/client" --tail 5 >"$tmp/out" 2>"$tmp/err"; fail logs-via-non-owner-show-fetched-page "asked n$lg"; fi

# ---- b. The owner host dies --------------------------------------------------------------------

sv=$(( owner % 3 + 1 )) # a survivor to ask
t_kill=$(now)
kill_host "$owner"
# No process left in its namespace, nor in any container of its engine (a
# container's processes live in namespaces of their own, and are found by
# the container id in their cgroup, whatever the cgroup driver).
container_procs() { # I: pids whose cgroup names a container of host I's engine
    local d ids
    ids=$(for d in "$(cl_hdir "$1")"/docker/containers/*/; do [ -d "$d" ] && basename "$d"; done)
    [ -n "$ids" ] || return 0
    grep -lF "$ids" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3
}
if [ -z "$(cl_netns_pids "$owner")" ] && [ -z "$(container_procs "$owner")" ]; then pass kill-host-leaves-no-process; else
    fail kill-host-leaves-no-process "netns: $(cl_netns_pids "$owner" | tr '\n' ' ') containers: $(container_procs "$owner" | tr '\n' ' ')"; fi
moved() { local n; n=$(running_at "$sv" "$P"); [ -n "$n" ] && [ "$n" != "$(cl_name "$owner")" ] &&
    runs_only_on "$P" "$(cl_index "$n")" 2; }
if poll 150 moved; then
    new=$(cl_index "$(running_at "$sv" "$P")")
    pass kill-rescheduled-on-other-engine; info "b: Running on n$new $(since "$t_kill") s after the kill"
else fail kill-rescheduled-on-other-engine "$(pj "$sv" "$P" .status) engines: $(engines_with "$P" | tr '\n' ' ')"; new=""; fi
fetched_on() { engine "$1" logs --tail 5 "$P-client" 2>&1 | grep -q 'hello from caravanserai'; }
if [ -n "$new" ] && poll 60 fetched_on "$new"; then
    pass moved-service-dns-works; else fail moved-service-dns-works; fi
t_back=$(now)
if start_host "$owner" >"$tmp/out" 2>"$tmp/err"; then pass host-restarts; else fail host-restarts; fi
all3() { same_hash 1 2 3; }
if poll 90 one_copy "$P"; then pass back-one-copy; else fail back-one-copy "engines: $(engines_with "$P" | tr '\n' ' ')"; fi
if poll 90 all3; then pass back-converges; info "b: state hashes equal $(since "$t_back") s after the restart"; else
    fail back-converges "$(hashes 1 2 3)"; fi
no_doubles ab-never-two-copies 0

# ---- c. Five hosts, a minority cut off ---------------------------------------------------------

t_add=$(now)
if cluster_add 4 5 >"$tmp/out" 2>"$tmp/err"; then pass two-more-hosts-join; else fail two-more-hosts-join; exit 1; fi
five_ready() { [ "$(ready_count 1)" = 5 ] && [ "$(ready_count 5)" = 5 ]; }
if poll 90 five_ready; then pass five-nodes-ready; info "c: five Ready $(since "$t_add") s after the two hosts were started"
else fail five-nodes-ready "$(ctl 1 get nodes 2>&1)"; fi
start_poller # it reads cl_hosts when it starts
Q="$cl_rid-q"
web_manifest "$Q" >"$tmp/q.yaml"
run apply-second 0 ctl 2 apply -f "$tmp/q.yaml"
# Both settled: Running as n1 sees it, one copy each in the engines (the
# owner is read off the engines: the host back from b may still be taking
# its project back when n1's view is read).
settled() { local q; for q in "$P" "$Q"; do [ -n "$(running_at 1 "$q")" ] && one_copy "$q" || return 1; done; }
if poll 120 settled; then pass c-both-running; else
    fail c-both-running "$P: $(engines_with "$P" | tr '\n' ' ') $Q: $(engines_with "$Q" | tr '\n' ' ')"; exit 1; fi
owner=$(engines_with "$P" | head -1)
other=$(engines_with "$Q" | head -1)
[ -n "$other" ] && [ "$other" != "$owner" ] || other=$(( owner % 5 + 1 ))
minority="$owner $other"
majority=""
for i in 1 2 3 4 5; do case " $minority " in *" $i "*) ;; *) majority+="$i ";; esac; done
maj1=${majority%% *}
echo "# minority: $minority (n$owner runs $P), majority: $majority"
t_cut=$(now)
if cut_minority "$minority" "$majority"; then pass cut-minority; else fail cut-minority; fi
minority_clear() { local i; for i in $minority; do [ "$(engine_running "$i" "$P")" = 0 ] || return 1; done; }
if poll 60 minority_clear; then pass minority-fences; info "c: $P gone from the minority's engines $(since "$t_cut") s after the cut"
else fail minority-fences "engines: $(engines_with "$P" | tr '\n' ' ')"; fi
if poll 30 has_condition "$owner" "$P" Fenced; then pass minority-status-fenced; else
    fail minority-status-fenced "$(pj "$owner" "$P" .status)"; fi
majority_runs() {
    local n
    n=$(running_at "$maj1" "$P")
    [ -n "$n" ] && case " $majority " in *" $(cl_index "$n") "*) ;; *) return 1 ;; esac &&
        runs_only_on "$P" "$(cl_index "$n")" 2
}
if poll 120 majority_runs; then pass majority-runs; info "c: $P Running in the majority $(since "$t_cut") s after the cut"
else fail majority-runs "$(pj "$maj1" "$P" .status) engines: $(engines_with "$P" | tr '\n' ' ')"; fi
heal
t_heal=$(now)
all5() { same_hash 1 2 3 4 5; }
if poll 120 all5; then pass heal-converges; info "c: state hashes equal $(since "$t_heal") s after the heal"
else fail heal-converges "$(hashes 1 2 3 4 5)"; fi
both_one() { one_copy "$P" && one_copy "$Q"; }
if poll 90 both_one; then pass heal-one-copy-each; else
    fail heal-one-copy-each "$P: $(engines_with "$P" | tr '\n' ' ') $Q: $(engines_with "$Q" | tr '\n' ' ')"; fi
no_doubles partition-never-two-copies "$t_cut"

# ---- d. An asymmetric cut, then a flapping link ------------------------------------------------

# moves_since P T: how often the engine running P changed after time T.
moves_since() {
    awk -v p="$1" -v a="$2" '$1 > a && $3 == p { if ($2 != last) { if (last != "") n++; last = $2 } }
        END { print n + 0 }' "$tmp/polls"
}
where() { engines_with "$1" | head -1; }
poll 60 one_copy "$P"
o=$(where "$P"); x=$(( o % 5 + 1 ))
echo "# asymmetric: n$x stops hearing n$o (owner of $P); n$o still hears n$x"
t_asym=$(now)
if cut_oneway "$o" "$x"; then pass asym-cut; else fail asym-cut; fi
sleep 40 # longer than detection, fence (5 s) and grace (16 s) together
heal
no_doubles asym-never-two-copies "$t_asym"
m=$(moves_since "$P" "$t_asym")
if [ "$m" -le 1 ]; then pass asym-moves-at-most-once; info "d: asymmetric cut of 40 s: $P moved $m times"
else fail asym-moves-at-most-once "$m moves"; fi
poll 90 one_copy "$P"
o=$(where "$P"); y=$(( (o + 1) % 5 + 1 ))
echo "# flapping: the link n$o <-> n$y cut and healed every 3 s, 10 times"
t_flap=$(now)
for _ in $(seq 1 10); do cut "$o" "$y"; sleep 3; heal; sleep 3; done
heal
if poll 90 one_copy "$P" && poll 90 all5; then pass flap-settles; else
    fail flap-settles "engines: $(engines_with "$P" | tr '\n' ' ') $(hashes 1 2 3 4 5)"; fi
info "d: $P moved $(moves_since "$P" "$t_flap") times during the flapping and the settling"
t_settled=$(now)
sleep 20
if [ "$(moves_since "$P" "$t_settled")" = 0 ] && one_copy "$P"; then pass flap-then-stays-put; else
    fail flap-then-stays-put "$(moves_since "$P" "$t_settled") moves in the 20 s after it settled"; fi
no_doubles flap-never-two-copies "$t_flap"

# ---- e. Every host stops and starts again: nothing acknowledged is lost ----------------------

R="$cl_rid-r"
web_manifest "$R" >"$tmp/r.yaml"
# Acknowledged: durable on the accepting node and one more (the default).
run apply-acked-before-stop-all 0 ctl 4 apply -f "$tmp/r.yaml"
for i in 1 2 3 4 5; do kill_host "$i"; done
t_all=$(now)
ok=1
for i in 1 2 3 4 5; do start_host "$i" >"$tmp/out" 2>"$tmp/err" || ok=0; done
if [ "$ok" = 1 ]; then pass all-hosts-restart; else fail all-hosts-restart; fi
if poll 120 five_ready; then pass all-five-ready-again; info "e: five Ready $(since "$t_all") s after the hosts were started again"
else fail all-five-ready-again "$(ctl 1 get nodes 2>&1)"; fi
all_listed_everywhere() {
    local i q
    for i in 1 2 3 4 5; do for q in "$P" "$Q" "$R"; do listed "$i" "$q" || return 1; done; done
}
if poll 60 all_listed_everywhere; then pass stop-all-loses-nothing; else
    fail stop-all-loses-nothing "$(ctl 1 get projects 2>&1)"; fi
three_one() { one_copy "$P" && one_copy "$Q" && one_copy "$R" && [ -n "$(running_at 1 "$R")" ]; }
if poll 120 three_one; then pass stop-all-one-copy-each; else
    fail stop-all-one-copy-each "$P: $(engines_with "$P" | tr '\n' ' ') $Q: $(engines_with "$Q" | tr '\n' ' ') $R: $(engines_with "$R" | tr '\n' ' ')"; fi
if poll 90 all5; then pass stop-all-converges; else fail stop-all-converges "$(hashes 1 2 3 4 5)"; fi

# ---- f. A forged token, a revoked key --------------------------------------------------------

alive_at() { curl -sf --max-time 3 "$(api_of "$1")/metrics" | awk '$1 == "cara_gossip_members{state=\"alive\"}" { print $2 }'; }
"$cl_ctl" keygen --out "$tmp/other.key" >/dev/null
forged=$("$cl_ctl" --key "$tmp/other.key" join-token create --uses 1 2>/dev/null)
if cl_make_host 6 >"$tmp/out" 2>"$tmp/err"; then
    cl_start_agent 6 --join "$(cl_ov 1):$cl_gossip_port" --token "$forged" >/dev/null 2>&1
    # It reached a seed over the overlay and was turned away.
    refused() { grep -q 'refused this node' "$(cl_hdir 6)/agent.log"; }
    if poll 30 refused; then pass forged-token-refused-by-seed; else
        fail forged-token-refused-by-seed "$(tail -5 "$(cl_hdir 6)/agent.log")"; fi
    sleep 3 # what the seed did with it has reached the others
    if ! ctl 1 get nodes 2>/dev/null | grep -q "^$(cl_name 6) " && [ "$(alive_at 1)" = 5 ]; then
        pass forged-token-host-ignored; else fail forged-token-host-ignored "alive $(alive_at 1): $(ctl 1 get nodes 2>&1)"; fi
    kill_host 6
else fail forged-token-host-made; fi
# The host revoked runs a project (its copy must be down before another
# starts; when it was that project's scheduler too, the revocation takes
# the placement with it), and is not n1, which the checks ask.
rv=""
for q in "$Q" "$P" "$R"; do o=$(where "$q"); [ -n "$o" ] && [ "$o" != 1 ] && { rv=$o; break; }; done
[ -n "$rv" ] || rv=5
others=(); for i in 1 2 3 4 5; do [ "$i" = "$rv" ] || others+=("$i"); done
echo "# n$rv is revoked (it runs $(for q in "$P" "$Q" "$R"; do [ "$(where "$q")" = "$rv" ] && echo "$q"; done | tr '\n' ' '))"
pk=$(curl -sf "$(api_of "$rv")/healthz" | jq -r .publicKey)
run revoke 0 ctl 1 admit "$(cl_name "$rv")" --pubkey "$pk" --revoke
gone_from() { ! ctl "$1" get nodes 2>/dev/null | grep -q "^$(cl_name "$rv") "; }
revoked_everywhere() { local i; for i in "${others[@]}"; do gone_from "$i" || return 1; done; }
if poll 60 revoked_everywhere; then pass revoked-host-dropped-from-nodes; else
    fail revoked-host-dropped-from-nodes "$(ctl 1 get nodes 2>&1)"; fi
not_alive() { [ "$(alive_at 1)" = 4 ]; }
if poll 60 not_alive; then pass revoked-host-not-a-member; else fail revoked-host-not-a-member "alive $(alive_at 1)"; fi
# Its projects go elsewhere; nothing of the cluster runs on it any more.
rest_ok() { local q; for q in "$P" "$Q" "$R"; do one_copy "$q" && [ "$(where "$q")" != "$rv" ] || return 1; done; }
if poll 120 rest_ok; then pass revoked-host-runs-nothing; else
    fail revoked-host-runs-nothing "$P: $(engines_with "$P" | tr '\n' ' ') $Q: $(engines_with "$Q" | tr '\n' ' ') $R: $(engines_with "$R" | tr '\n' ' ')"; fi
kill_host "$rv"

# ---- g. Apply, delete and expiry while a host is down --------------------------------------------

engine_all() { # I P: containers of P in engine I, in any state
    curl -sf --max-time 3 --unix-socket "$(cl_sock "$1")" -G "http://docker/containers/json" \
        --data-urlencode all=1 --data-urlencode "filters={\"label\":[\"io.caravanserai.project=$2\"]}" | jq length
}
four=("${others[@]}")
k=$(where "$Q"); [ -n "$k" ] || k=${four[1]}
surv=(); for i in "${four[@]}"; do [ "$i" = "$k" ] || surv+=("$i"); done
a=${surv[0]}
G="$cl_rid-g"; E="$cl_rid-e"
# E runs on n$k (a node selector on the label each agent gets) and expires
# while n$k is down: the returning host must remove its containers.
e_end=$(( $(date +%s) + 60 ))
{ web_manifest "$E"; printf '  nodeSelector: {cara-host: n%s}\n  expireAt: "%s"\n' "$k" \
    "$(date -u -d "@$e_end" +%Y-%m-%dT%H:%M:%SZ)"; } >"$tmp/e.yaml"
run apply-expiring 0 ctl "$a" apply -f "$tmp/e.yaml"
e_on_k() { [ "$(engine_running "$k" "$E")" -gt 0 ] 2>/dev/null; }
if poll 40 e_on_k; then pass expiring-runs-on-host; else fail expiring-runs-on-host "$(pj "$a" "$E" .status)"; fi
echo "# n$k (owner of $Q and $E) goes down; the survivors are ${surv[*]}"
kill_host "$k"
three_left() { [ "$(ready_count "$a")" = 3 ]; }
if poll 60 three_left; then pass down-host-seen; else fail down-host-seen "$(ctl "$a" get nodes 2>&1)"; fi
web_manifest "$G" >"$tmp/g.yaml"
run down-apply 0 ctl "$a" apply -f "$tmp/g.yaml"
run down-delete 0 ctl "$a" delete project "$Q"
survivors_agree() {
    local i
    for i in "${surv[@]}"; do listed "$i" "$Q" && return 1; listed "$i" "$E" && return 1; listed "$i" "$G" || return 1; done
    same_hash "${surv[@]}"
}
if poll 120 survivors_agree; then pass down-survivors-agree; else
    fail down-survivors-agree "$(hashes "${surv[@]}") $(ctl "$a" get projects 2>&1 | tr '\n' ';')"; fi
g_runs() { one_copy "$G" && [ "$(where "$G")" != "$k" ]; }
if poll 90 g_runs; then pass down-apply-runs; else fail down-apply-runs "$(engines_with "$G" | tr '\n' ' ')"; fi
# E's expiry has passed (and the survivors agreed it ended) before n$k returns.
while [ "$(date +%s)" -le "$e_end" ]; do sleep 1; done
if poll 60 survivors_agree; then pass expired-while-down; else fail expired-while-down "$(ctl "$a" get projects 2>&1 | tr '\n' ';')"; fi
# n$k's engine is down: its data root tells what containers it holds.
e_left=$(grep -ls "\"io.caravanserai.project\":\"$E\"" "$(cl_hdir "$k")"/docker/containers/*/config.v2.json | wc -l)
if [ "$e_left" -gt 0 ]; then pass expired-copy-left-on-host; else
    fail expired-copy-left-on-host "n$k's data root holds no container of $E: the removal check below would prove nothing"; fi
t_ret=$(now)
if start_host "$k" >"$tmp/out" 2>"$tmp/err"; then pass down-host-returns; else fail down-host-returns; fi
returned_clean() { [ "$(engine_all "$k" "$Q")" = 0 ] && [ "$(engine_all "$k" "$E")" = 0 ]; }
if poll 90 returned_clean; then pass returning-host-removes-deleted; info "g: n$k removed $Q's containers $(since "$t_ret") s after its restart"
else fail returning-host-removes-deleted "$Q: $(engine_all "$k" "$Q") $E: $(engine_all "$k" "$E") containers on n$k"; fi
all4() { same_hash "${four[@]}" && listed "$k" "$G" && ! listed "$k" "$Q" && ! listed "$k" "$E"; }
if poll 90 all4; then pass returning-host-catches-up; else fail returning-host-catches-up "$(hashes "${four[@]}")"; fi
if one_copy "$G" && one_copy "$P" && one_copy "$R"; then pass end-one-copy-each; else fail end-one-copy-each; fi

no_doubles never-two-copies 0
[ "$failed" = 0 ] || { echo "cluster: $failed checks failed"; exit 1; }
exit 0
