#!/usr/bin/env bash
# caravanctl against a real cara-agent and the real Docker engine: admit a
# node, apply projects and follow them to Running or Failed, read them back
# in every format, read logs, delete them and check that the engine holds
# nothing of theirs, and check that the API refuses unsigned, foreign,
# replayed and stale requests.
#
# Everything this suite creates is named after its PID and removed on exit,
# whatever happens. Pass/fail never hangs on timing: every wait is a
# generous bound (60 s) on something that normally takes a second.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=${BUILD:-build}
ctl="$root/$build/caravanctl"
agent_bin="$root/$build/cara-agent"
sock=${DOCKER_SOCK:-/var/run/docker.sock}
image=caravanserai/busybox:test
tmp=$(mktemp -d)
pfx="t$$"
# The node name is this run's too: two runs on one engine (several engineers
# share one) must not take each other's objects for their orphans.
node="n$$"
web="$pfx-web"
bad="$pfx-bad"
inv="$pfx-inv"
projects=("$web" "$bad" "$inv")
agent_pid=""

suite=agent
. tests/agent/lib.sh # the cd above: the working directory is the root

# Removes the agent and every engine object of this run's projects.
cleanup() {
    if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
        kill -TERM "$agent_pid" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$agent_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$agent_pid" 2>/dev/null
    fi
    remove_projects "${projects[@]}"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- What this suite needs -------------------------------------------------------

if ! curl -sf --max-time 5 --unix-socket "$sock" http://docker/_ping >/dev/null 2>&1; then
    echo "SKIP agent:suite (no Docker engine answers on $sock; make test starts one)"
    exit 0
fi
if ! command -v docker >/dev/null; then
    echo "SKIP agent:suite (the docker command is missing)"
    exit 0
fi
if [ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$sock" \
        "http://docker/images/$image/json")" != 200 ]; then
    echo "SKIP agent:suite (image $image is missing; scripts/test-image.sh imports it)"
    exit 0
fi
for b in "$ctl" "$agent_bin"; do
    [ -x "$b" ] || { echo "FAIL agent:binaries ($b is not built)"; exit 1; }
done

# ---- An operator key, a config file, an agent -------------------------------------

export HOME="$tmp/home"
export CARAVANCTL_CONFIG="$tmp/config.yaml"
mkdir -p "$HOME"
"$ctl" keygen >"$tmp/keygen.out" 2>&1 || { echo "FAIL agent:keygen"; exit 1; }
op_pk=$(sed -n 's/^public_key=//p' "$tmp/keygen.out")

# Bad image-pull bounds are refused before anything is created.
for bad_flag in "--image-pull-attempts 0" "--image-pull-attempts 1001" "--image-pull-attempts x" \
    "--image-pull-window 0s" "--image-pull-window 8d"; do
    # shellcheck disable=SC2086 # the flag and its value are two words
    run "agent-refuses-${bad_flag// /=}" 2 "$agent_bin" --name "$node" --data-dir "$tmp/never" \
        --operator-pubkey "$op_pk" $bad_flag
done
has agent-refusal-says-why "$tmp/err" '^cara-agent: --image-pull-window is at most 7d, got "8d"$'
[ ! -e "$tmp/never" ] && pass agent-refusal-created-nothing || fail agent-refusal-created-nothing

# A free loopback port: pick at random, keep the first the agent can bind.
started=""
for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue # taken
    # A short image-pull bound (docs/agent.md, "Image pulls"): the project
    # whose image does not exist waits in ImagePullBackOff for at least 3
    # failed attempts and at least 4 s: with the back-off of 1 s, 2 s, 4 s
    # the attempts fail at about 0, 1, 3 and 7 s, and the fourth gives up
    # (the third, if the machine is so slow that 4 s passed by then).
    "$agent_bin" --name "$node" --data-dir "$tmp/data" --api "127.0.0.1:$port" \
        --operator-pubkey "$op_pk" --docker-host "unix://$sock" \
        --image-pull-attempts 3 --image-pull-window 4s 2>"$tmp/agent.log" &
    agent_pid=$!
    if poll 10 curl -sf "http://127.0.0.1:$port/healthz"; then started=1; break; fi
    kill "$agent_pid" 2>/dev/null; wait "$agent_pid" 2>/dev/null; agent_pid=""
done
if [ -z "$started" ]; then
    echo "FAIL agent:starts (no healthz answer)"; sed 's/^/    /' "$tmp/agent.log" | tail -20
    exit 1
fi
pass starts
printf 'peer: 127.0.0.1:%s\n' "$port" >"$CARAVANCTL_CONFIG"
api="http://127.0.0.1:$port"

# ---- Admission and nodes ----------------------------------------------------------

run admit 0 "$ctl" admit && has admit-prints "$tmp/out" "^node/$node admitted\$"
admitted() { curl -sf "$api/healthz" | grep -q '"admitted":true'; }
if poll 60 admitted; then pass admitted-in-healthz; else fail admitted-in-healthz; fi
node_ready() { "$ctl" get nodes | grep -qE "^$node +Ready"; }
if poll 60 node_ready; then pass get-nodes-ready; else fail get-nodes-ready; fi
run nodes-alias 0 "$ctl" nodes "$node" -o json && has nodes-alias-json "$tmp/out" "\"name\": \"$node\""
run get-unknown-node 1 "$ctl" get nodes nosuchnode && has get-unknown-node-message "$tmp/err" 'node "nosuchnode" not found'

# ---- A two-service project: apply, read back, logs --------------------------------

manifest() { # NAME TOKEN: web serves /www, client fetches it by service name
    cat <<EOF
apiVersion: caravanserai/v1
kind: Project
metadata: {name: $1}
spec:
  services:
    - name: web
      image: $image
      command: [httpd, -f, -p, "8080", -h, /www]
      ports: [{containerPort: 8080}]
    - name: client
      image: $image
      command: [sh, -c, "while true; do wget -q -O - http://web:8080/ || echo fetch-failed; sleep 1; done"]
      env:
        - {name: API_TOKEN, value: $2}
        - {name: MODE, value: test}
      volumeMounts: [{name: scratch, mountPath: /scratch}]
  volumes: [{name: scratch, type: Ephemeral}]
EOF
}
manifest "$web" "s3cr3t-one-$pfx" >"$tmp/web.yaml"
manifest "$web" "s3cr3t-two-$pfx" >"$tmp/web2.yaml"

run apply-wait-running 0 "$ctl" apply -f "$tmp/web.yaml" --wait --timeout 60s
has apply-created "$tmp/out" "^project/$web created$"
has apply-progress "$tmp/out" "^project/$web: "
has apply-ends-running "$tmp/out" "^project/$web Running$"
run get-projects 0 "$ctl" get projects && has get-projects-running "$tmp/out" "^$web +Running +$node "
has get-projects-header "$tmp/out" '^NAME +PHASE +NODE +SERVICES +AGE$'
run get-phase-filter 0 "$ctl" get projects --phase Running && has get-phase-filter-row "$tmp/out" "^$web "
run get-phase-filter-other 0 "$ctl" get projects --phase Failed && lacks get-phase-filter-excludes "$tmp/out" "^$web "
run get-phase-unknown 2 "$ctl" get projects --phase Sleepy

run reapply-unchanged 0 "$ctl" apply -f "$tmp/web.yaml" && has reapply-unchanged-says "$tmp/out" "^project/$web unchanged$"
run apply-env-change 0 "$ctl" apply -f "$tmp/web2.yaml" && has apply-env-change-configured "$tmp/out" "^project/$web configured$"
gen_is_2() { "$ctl" get project "$web" -o json | grep -q '"generation": 2'; }
if poll 5 gen_is_2; then pass apply-bumps-generation; else fail apply-bumps-generation; fi
run apply-configured-wait 0 "$ctl" apply -f "$tmp/web2.yaml" --wait --timeout 60s

run get-json 0 "$ctl" get project "$web" -o json
cp "$tmp/out" "$tmp/web.json"
has get-json-name "$tmp/web.json" "\"name\": \"$web\""
has get-json-phase "$tmp/web.json" '"phase": "Running"'
if command -v python3 >/dev/null; then
    run get-json-parses 0 python3 -m json.tool "$tmp/web.json"
fi
run get-list-json 0 "$ctl" get projects -o json && has get-list-json-items "$tmp/out" '"items"'
run get-yaml 0 "$ctl" get project "$web" -o yaml
has get-yaml-name "$tmp/out" "^  name: $web$"
has get-yaml-phase "$tmp/out" '^  phase: Running$'
run get-bad-format 2 "$ctl" get projects -o xml

run describe 0 "$ctl" describe project "$web"
cp "$tmp/out" "$tmp/describe.out"
has describe-env-names "$tmp/describe.out" 'Env: +API_TOKEN, MODE'
lacks describe-no-env-values "$tmp/describe.out" 's3cr3t' 
has describe-image "$tmp/describe.out" "Image: +$image"
has describe-ports "$tmp/describe.out" 'Ports: +8080/TCP'
has describe-phase "$tmp/describe.out" '^Phase: +Running'
has describe-conditions "$tmp/describe.out" '^Conditions:'
has describe-events "$tmp/describe.out" '^Events:'

logs_show_page() { "$ctl" logs "$web/client" --tail 20 | grep -q 'hello from caravanserai'; }
if poll 60 logs_show_page; then pass logs-client-fetched-web; else
    "$ctl" logs "$web/client" --tail 20 >"$tmp/out" 2>"$tmp/err"; fail logs-client-fetched-web; fi
run logs-timestamps 0 "$ctl" logs "$web/client" --tail 1 --timestamps
has logs-timestamps-prefix "$tmp/out" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T'
run logs-follow-stops-on-timeout 124 timeout 3 "$ctl" logs "$web/client" -f --tail 1
run logs-unknown-service 1 "$ctl" logs "$web/nosuch" && has logs-unknown-service-says "$tmp/err" 'no service "nosuch"'
run logs-bad-arg 2 "$ctl" logs "$web"

run watch-snapshot 0 "$ctl" watch projects --timeout 2s
has watch-line "$tmp/out" "^ADDED +project/$web Running $node 2/2 [A-Za-z]+\$"
run get-watch 0 "$ctl" get projects "$web" -w --timeout 2s
has get-watch-header "$tmp/out" '^NAME +PHASE +NODE +SERVICES +REASON$'
has get-watch-row "$tmp/out" "^$web +Running +$node +2/2 +[A-Za-z]+\$"
if [ "$(grep -c "^$web " "$tmp/out")" = 1 ]; then pass get-watch-one-row; else fail get-watch-one-row "$(cat "$tmp/out")"; fi
run get-watch-nodes 0 "$ctl" get nodes -w --timeout 2s
has get-watch-node-row "$tmp/out" "^$node +Ready"
run get-watch-yaml 2 "$ctl" get projects -w -o yaml
run get-watch-unknown 1 "$ctl" get projects "$pfx-nosuch" -w --timeout 5s && has get-watch-unknown-says "$tmp/err" 'not found'
run get-timeout-alone 2 "$ctl" get projects --timeout 2s
run watch-json 0 "$ctl" watch -o json --timeout 2s && has watch-json-line "$tmp/out" '^\{"type":"ADDED"'

# ---- A project whose image does not exist -------------------------------------------

cat >"$tmp/bad.yaml" <<EOF
apiVersion: caravanserai/v1
kind: Project
metadata: {name: $bad}
spec:
  services:
    - {name: app, image: "caravanserai/does-not-exist:1"}
EOF
# No registry is reachable here, so every pull fails. The project waits in
# ImagePullBackOff (phase Scheduled, the service Waiting) while the agent
# retries, and is Failed with ImagePullFailed only after the bound the agent
# was started with; apply --wait waits through the back-off.
started_bad=$SECONDS
"$ctl" apply -f "$tmp/bad.yaml" --wait --timeout 60s >"$tmp/bad.out" 2>"$tmp/bad.err" &
apply_bad=$!
in_back_off() {
    "$ctl" get project "$bad" -o json >"$tmp/backoff.json" 2>/dev/null &&
        grep -qE '"reason": *"ImagePullBackOff"' "$tmp/backoff.json"
}
if poll 30 in_back_off; then pass missing-image-back-off; else fail missing-image-back-off; fi
has missing-image-back-off-phase "$tmp/backoff.json" '"phase": *"Scheduled"'
lacks missing-image-back-off-not-failed "$tmp/backoff.json" '"phase": *"Failed"'
has missing-image-back-off-service "$tmp/backoff.json" '"message": *"ImagePullBackOff: .*failed attempt\(s\), next at 20'
has missing-image-back-off-engine-words "$tmp/backoff.json" 'back-off pulling image caravanserai/does-not-exist:1, next attempt at .+: .+'
wait "$apply_bad"
got=$?
cp "$tmp/bad.out" "$tmp/out"; cp "$tmp/bad.err" "$tmp/err"
[ "$got" = 1 ] && pass apply-missing-image-fails || fail apply-missing-image-fails "exit $got, want 1"
# Not before the window of 4 s since the first failure.
[ $((SECONDS - started_bad)) -ge 4 ] && pass apply-missing-image-fails-after-the-bound ||
    fail apply-missing-image-fails-after-the-bound "after $((SECONDS - started_bad)) s"
has apply-missing-image-reason "$tmp/err" "project \"$bad\" failed: .*does-not-exist"
run describe-failed 0 "$ctl" describe project "$bad"
has describe-failed-phase "$tmp/out" '^Phase: +Failed'
has describe-failed-engine-reason "$tmp/out" 'pull image caravanserai/does-not-exist:1: .+gave up after [34] failed attempts over [0-9]+ s'
has describe-failed-image-pull-failed "$tmp/out" 'ImagePullFailed'
curl -s "$api/metrics" >"$tmp/metrics.txt"
has metrics-image-pulls-given-up "$tmp/metrics.txt" '^cara_image_pulls_given_up_total 1$'
run delete-failed 0 "$ctl" delete project "$bad" --wait --timeout 60s

# ---- Invalid input changes nothing ---------------------------------------------------

cat >"$tmp/inv.yaml" <<EOF
apiVersion: caravanserai/v1
kind: Project
metadata: {name: $inv}
spec:
  services:
    - {name: app}
EOF
run apply-invalid 1 "$ctl" apply -f "$tmp/inv.yaml"
has apply-invalid-says-why "$tmp/err" 'spec.services\[0\].image: required field is missing'
run apply-invalid-created-nothing 1 "$ctl" get project "$inv"
has get-missing-says-not-found "$tmp/err" "^error: project \"$inv\" not found$"
# A valid file next to an invalid one: nothing is sent either.
manifest "$inv" x >"$tmp/inv-ok.yaml"
run apply-mixed-invalid 1 "$ctl" apply -f "$tmp/inv-ok.yaml" -f "$tmp/inv.yaml"
run apply-mixed-created-nothing 1 "$ctl" get project "$inv"

# ---- Request authentication (docs/api.md) --------------------------------------------

code() { curl -s -o "$tmp/out" -w '%{http_code}' "$@"; }
"$ctl" sign-request GET /v1/projects >/dev/null 2>&1 # warm-up; checks the command runs
echo '{"record":"AAAA"}' >"$tmp/body.json"
got=$(code -X PUT -H 'Content-Type: application/json' --data-binary @"$tmp/body.json" "$api/v1/projects/$inv")
[ "$got" = 401 ] && pass unsigned-put-401 || fail unsigned-put-401 "got $got"
has unsigned-put-reason "$tmp/out" '"reason": *"MissingSignature"'

"$ctl" keygen --out "$tmp/other.key" >/dev/null 2>&1
run foreign-key-apply-refused 1 "$ctl" --key "$tmp/other.key" apply -f "$tmp/web.yaml"
has foreign-key-reason "$tmp/err" 'UnknownKey'
"$ctl" --key "$tmp/other.key" sign-request GET /v1/projects >"$tmp/h-other"
got=$(code -H @"$tmp/h-other" "$api/v1/projects")
[ "$got" = 401 ] && pass foreign-key-get-401 || fail foreign-key-get-401 "got $got"

"$ctl" sign-request GET /v1/projects >"$tmp/h-once"
got=$(code -H @"$tmp/h-once" "$api/v1/projects")
[ "$got" = 200 ] && pass signed-get-200 || fail signed-get-200 "got $got"
got=$(code -H @"$tmp/h-once" "$api/v1/projects")
[ "$got" = 401 ] && pass replayed-401 || fail replayed-401 "got $got"
has replayed-reason "$tmp/out" '"reason": *"ReplayedNonce"'

"$ctl" sign-request GET /v1/projects --time $(( ($(date +%s) - 300) * 1000 )) >"$tmp/h-stale"
got=$(code -H @"$tmp/h-stale" "$api/v1/projects")
[ "$got" = 401 ] && pass stale-401 || fail stale-401 "got $got"
has stale-reason "$tmp/out" '"reason": *"StaleRequest"'

"$ctl" sign-request GET /v1/nodes >"$tmp/h-other-target"
got=$(code -H @"$tmp/h-other-target" "$api/v1/projects")
[ "$got" = 401 ] && pass wrong-target-401 || fail wrong-target-401 "got $got"
has wrong-target-reason "$tmp/out" '"reason": *"BadSignature"'

# Signed for this node's key: the one its /healthz names. Signed for another
# node's: refused with 403 WrongNode, which names this node's key, and counted.
curl -s "$api/healthz" >"$tmp/healthz"
node_pk=$(sed -n 's/.*"publicKey": *"\([0-9a-f]\{64\}\)".*/\1/p' "$tmp/healthz")
has signed-for-this-node "$tmp/h-once" "^X-Cara-Node: $node_pk\$"
"$ctl" sign-request GET /v1/projects --node-key "$(printf '%064d' 7)" >"$tmp/h-wrong-node"
got=$(code -H @"$tmp/h-wrong-node" "$api/v1/projects")
[ "$got" = 403 ] && pass wrong-node-403 || fail wrong-node-403 "got $got"
has wrong-node-reason "$tmp/out" '"reason": *"WrongNode"'
has wrong-node-names-this-node "$tmp/out" "$node_pk"
curl -s "$api/metrics" >"$tmp/metrics"
has wrong-node-counted "$tmp/metrics" '^cara_api_auth_rejected_total\{reason="WrongNode"\} 1$'

# ---- Delete: gone from the API and from the engine ----------------------------------

run delete-wait 0 "$ctl" delete project "$web" --wait --timeout 60s
has delete-prints "$tmp/out" "^project/$web deleted$"
run get-deleted 1 "$ctl" get project "$web"
f="label=io.caravanserai.project=$web"
left=$(docker ps -aq --filter "$f"; docker network ls -q --filter "$f"; docker volume ls -q --filter "$f")
[ -z "$left" ] && pass delete-leaves-no-engine-objects || fail delete-leaves-no-engine-objects "left: $(echo $left)"
run delete-missing 1 "$ctl" delete project "$web"
# A deleted name can be used again (its tombstone outnumbers generation 1).
run reapply-after-delete 0 "$ctl" apply -f "$tmp/web.yaml" --wait --timeout 60s
run delete-again 0 "$ctl" delete project "$web" --wait --timeout 60s

# ---- Reaching the peer -------------------------------------------------------------

run unreachable-peer 1 "$ctl" --peer 127.0.0.1:1 get projects
has unreachable-peer-says "$tmp/err" '^error: cannot reach 127\.0\.0\.1:1: Connection refused$'
run unreachable-apply 1 "$ctl" --peer 127.0.0.1:1 apply -f "$tmp/web.yaml"
run bad-peer-usage 2 "$ctl" --peer 'a:b:c]' get projects

# ---- A watch whose snapshot is larger than a stream's queue ------------------------

# 40 projects with one 8 KB env value each: the snapshot of an unfiltered
# watch (every project with its spec) is over the 256 KiB steady-state cap
# of a stream's queue, and must still arrive whole; ?project= must send one
# project's events only; and apply --wait (which follows ?project=, signed)
# must work on such a node. Each project is one sleeping container.
big_n=40
big_value=$(printf '%*s' 8192 '' | tr ' ' v)
big_files=()
for i in $(seq 1 "$big_n"); do
    projects+=("$pfx-big-$i") # the cleanup trap removes their engine objects
    cat >"$tmp/big-$i.yaml" <<EOF
apiVersion: caravanserai/v1
kind: Project
metadata: {name: $pfx-big-$i}
spec:
  services:
    - name: app
      image: $image
      command: [sleep, "3600"]
      env: [{name: BIG, value: $big_value}]
EOF
    [ "$i" -lt "$big_n" ] && big_files+=(-f "$tmp/big-$i.yaml")
done
run big-apply 0 "$ctl" apply "${big_files[@]}"
run big-apply-wait-follows-one-project 0 "$ctl" apply -f "$tmp/big-$big_n.yaml" --wait --timeout 180s
has big-apply-wait-running "$tmp/out" "^project/$pfx-big-$big_n Running$"
# curl ends the stream after its time limit (exit 28); what arrived counts.
curl -s -N --max-time 5 "$api/v1/watch" >"$tmp/watch-all" 2>/dev/null
snap_bytes=$(wc -c <"$tmp/watch-all")
[ "$snap_bytes" -gt $((256 * 1024)) ] && pass big-watch-snapshot-over-queue-cap ||
    fail big-watch-snapshot-over-queue-cap "$snap_bytes bytes"
got=$(grep -cE "^\{\"type\":\"ADDED\",\"kind\":\"Project\",\"object\":.*\"name\":\"$pfx-big-[0-9]+\"" "$tmp/watch-all")
[ "$got" -eq "$big_n" ] && pass big-watch-every-added-line || fail big-watch-every-added-line "got $got of $big_n"
has big-watch-nodes-too "$tmp/watch-all" '^\{"type":"ADDED","kind":"Node"'
curl -s -N --max-time 2 "$api/v1/watch?project=$pfx-big-7" >"$tmp/watch-one" 2>/dev/null
got=$(wc -l <"$tmp/watch-one")
[ "$got" -eq 1 ] && pass watch-project-filter-one-line || fail watch-project-filter-one-line "got $got lines"
has watch-project-filter-names-it "$tmp/watch-one" "^\{\"type\":\"ADDED\",\"kind\":\"Project\",.*\"name\":\"$pfx-big-7\""
curl -s -N --max-time 2 "$api/v1/watch?kind=Node" >"$tmp/watch-nodes" 2>/dev/null
has watch-kind-node "$tmp/watch-nodes" '^\{"type":"ADDED","kind":"Node"'
lacks watch-kind-node-no-projects "$tmp/watch-nodes" '"kind":"Project"'
got=$(code --max-time 5 "$api/v1/watch?kind=Pod")
[ "$got" = 400 ] && pass watch-bad-kind-400 || fail watch-bad-kind-400 "got $got"
# A signed watch signs its query too: the same headers on another query fail.
"$ctl" sign-request GET "/v1/watch?project=$pfx-big-3" >"$tmp/h-watch"
curl -s -N --max-time 2 -H @"$tmp/h-watch" "$api/v1/watch?project=$pfx-big-3" >"$tmp/watch-signed" 2>/dev/null
has watch-signed-filter "$tmp/watch-signed" "\"name\":\"$pfx-big-3\""
"$ctl" sign-request GET "/v1/watch?project=$pfx-big-3" >"$tmp/h-watch"
got=$(code --max-time 5 -H @"$tmp/h-watch" "$api/v1/watch?project=$pfx-big-4")
[ "$got" = 401 ] && pass watch-signed-query-covered || fail watch-signed-query-covered "got $got"
for i in $(seq 1 "$big_n"); do
    "$ctl" delete project "$pfx-big-$i" >/dev/null 2>&1 || fail big-delete "$pfx-big-$i"
done
big_gone() {
    ! "$ctl" get projects | grep -q "^$pfx-big-" &&
        [ -z "$(docker ps -a --filter "label=io.caravanserai.project" \
            --format '{{.Label "io.caravanserai.project"}}' | grep "^$pfx-big-")" ]
}
if poll 120 big_gone; then pass big-deleted-and-removed; else fail big-deleted-and-removed; fi

# ---- A machine without IPv6 ---------------------------------------------------------
# A container started with Docker's defaults has no IPv6 at all, not even
# ::1; an agent with its default API address must start there. A network
# namespace with IPv6 switched off stands for such a machine (the engine's
# unix socket is reachable from any namespace).
noipv6_agent() {
    unshare -n sh -c '
        ip link set lo up || exit 3
        sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.lo.disable_ipv6=1 2>/dev/null
        "$1" --name node6 --data-dir "$2" --operator-pubkey "$3" --docker-host "unix://$4" 2>"$5" &
        pid=$!
        for _ in $(seq 1 75); do
            if curl -sf http://127.0.0.1:7951/healthz >/dev/null; then
                kill -TERM $pid; wait $pid; exit $?
            fi
            sleep 0.2
        done
        kill -KILL $pid; exit 1' sh "$agent_bin" "$tmp/data6" "$op_pk" "$sock" "$tmp/agent6.log"
}
if ! unshare -n true 2>/dev/null; then
    echo "SKIP agent:starts-without-ipv6 (cannot make a network namespace here)"
elif noipv6_agent; then
    pass starts-without-ipv6
else
    fail starts-without-ipv6 "no healthz on 127.0.0.1:7951 without IPv6"
    tail -10 "$tmp/agent6.log" | sed 's/^/    /'
fi

# ---- The agent stops cleanly ---------------------------------------------------------

kill -TERM "$agent_pid"
wait "$agent_pid"
rc=$?
agent_pid=""
[ "$rc" -eq 0 ] && pass agent-exits-cleanly || { fail agent-exits-cleanly "exit $rc"; tail -20 "$tmp/agent.log" | sed 's/^/    /'; }

# ---- A restart with the clock set back -----------------------------------------------
# The node record's generation is a counter kept on disk, not the start time:
# a node that boots with its clock a day behind still publishes a record that
# wins over its own earlier one (its conditions show the new start: each is
# stamped with the agent's start until it flips).
ready_since() { # the first condition of the one node
    curl -sf "$api/v1/nodes" | grep -o '"lastTransitionTime": *"[^"]*"' | head -1 |
        sed 's/.*: *"\(.*\)"/\1/'
}
# libfaketime is preloaded directly (not through the faketime wrapper, which
# forks), so that $! is the agent itself.
libfaketime=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -1)
if [ -z "$libfaketime" ]; then
    fail clock-behind-restart-publishes-its-node-record \
        "libfaketime is not installed (scripts/deps.sh installs faketime)"
else
    # A short image-pull bound (docs/agent.md, "Image pulls"): the project
    # whose image does not exist waits in ImagePullBackOff for at least 3
    # failed attempts and at least 4 s: with the back-off of 1 s, 2 s, 4 s
    # the attempts fail at about 0, 1, 3 and 7 s, and the fourth gives up
    # (the third, if the machine is so slow that 4 s passed by then).
    "$agent_bin" --name "$node" --data-dir "$tmp/data" --api "127.0.0.1:$port" \
        --operator-pubkey "$op_pk" --docker-host "unix://$sock" \
        --image-pull-attempts 3 --image-pull-window 4s 2>"$tmp/agent.log" &
    agent_pid=$!
    ready_since_set() { [ -n "$(ready_since)" ]; }
    poll 20 ready_since_set
    first=$(ready_since)
    kill -TERM "$agent_pid"; wait "$agent_pid"; agent_pid=""
    LD_PRELOAD=$libfaketime FAKETIME=-1d FAKETIME_DONT_FAKE_MONOTONIC=1 "$agent_bin" --name "$node" \
        --data-dir "$tmp/data" --api "127.0.0.1:$port" --operator-pubkey "$op_pk" \
        --docker-host "unix://$sock" 2>"$tmp/agent.log" &
    agent_pid=$!
    moved_back() { local t; t=$(ready_since); [ -n "$t" ] && [[ "$t" < "$first" ]]; }
    if poll 20 moved_back; then
        pass clock-behind-restart-publishes-its-node-record
    else
        fail clock-behind-restart-publishes-its-node-record "Ready since $(ready_since), first start $first"
        sed 's/^/    /' "$tmp/agent.log" | tail -5
    fi
    kill -TERM "$agent_pid"; wait "$agent_pid"; agent_pid=""
fi
exit 0
