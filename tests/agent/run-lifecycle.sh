#!/usr/bin/env bash
# The agent's lifecycle against the real engine: kill -9 and restart (no
# duplicate object, state resumes), containers killed or removed behind its
# back, expiry, an engine restart (only when `make test` started that engine
# itself), and SIGTERM leaving containers running.
#
# Checks are about objects and phases, never timing: each wait is a generous
# bound on something that normally takes a second or two.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=${BUILD:-build}
ctl="$root/$build/caravanctl"
agent_bin="$root/$build/cara-agent"
sock=/var/run/docker.sock
image=caravanserai/busybox:test
tmp=$(mktemp -d)
node="lc$$"
p1="lc$$-app"
p2="lc$$-brief"
agent_pid=""

suite=lifecycle
. tests/agent/lib.sh # the cd above: the working directory is the root
# A failure here shows the agent's last lines instead.
fail() { echo "FAIL lifecycle:$1${2:+ ($2)}"; [ -s "$tmp/agent.log" ] && tail -5 "$tmp/agent.log" | sed 's/^/    /'; }
check() { local name=$1; shift; if "$@" >/dev/null 2>&1; then pass "$name"; else fail "$name"; fi; }

stop_agent() { # SIGNAL
    [ -n "$agent_pid" ] || return 0
    kill "-$1" "$agent_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$agent_pid" 2>/dev/null || break; sleep 0.1; done
    wait "$agent_pid" 2>/dev/null
    agent_status=$?
    agent_pid=""
}
cleanup() {
    stop_agent KILL
    remove_projects "$p1" "$p2"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

engine_up() { curl -sf --max-time 5 --unix-socket "$sock" http://docker/_ping >/dev/null 2>&1; }
if ! engine_up || ! command -v docker >/dev/null; then
    echo "SKIP lifecycle:suite (no Docker engine on $sock; make test starts one)"
    exit 0
fi

export HOME="$tmp/home" CARAVANCTL_CONFIG="$tmp/config.yaml"
mkdir -p "$HOME"
"$ctl" keygen >"$tmp/keygen.out" 2>&1 || { echo "FAIL lifecycle:keygen"; exit 1; }
port=$((20000 + RANDOM % 40000))
printf 'peer: 127.0.0.1:%s\n' "$port" >"$CARAVANCTL_CONFIG"

start_agent() {
    "$agent_bin" --name "$node" --data-dir "$tmp/data" --api "127.0.0.1:$port" \
        --operator-pubkey "$tmp/keygen.out" 2>>"$tmp/agent.log" &
    agent_pid=$!
    poll 15 curl -sf "http://127.0.0.1:$port/healthz"
}
start_agent || { echo "FAIL lifecycle:agent-starts"; exit 1; }
"$ctl" admit >/dev/null 2>&1 || { echo "FAIL lifecycle:admit"; exit 1; }

cat >"$tmp/app.yaml" <<EOT
apiVersion: caravanserai/v1
kind: Project
metadata: {name: $p1}
spec:
  services:
    - {name: web, image: "$image", command: [httpd, -f, -p, "8080", -h, /www]}
    - name: client
      image: "$image"
      command: [sh, -c, 'while true; do wget -qO- http://web:8080/ >> /data/seen; sleep 1; done']
      volumeMounts: [{name: data, mountPath: /data}]
  volumes: [{name: data}]
EOT
check apply-running timeout 120 "$ctl" apply --wait --timeout 90s -f "$tmp/app.yaml"

ctr_count() { docker ps -aq --filter "label=io.caravanserai.project=$p1" | wc -l; }
id_of() { docker inspect -f '{{.Id}}' "$1" 2>/dev/null; }
running() { [ "$(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ]; }
phase_is() { "$ctl" get projects "$1" -o json 2>/dev/null | grep -q "\"phase\": \"$2\""; }
web1=$(id_of "$p1-web"); client1=$(id_of "$p1-client")

# ---- kill -9, restart: nothing duplicated, state resumes ---------------------------
stop_agent KILL
check agent-restarts-after-kill-9 start_agent
check state-resumes-running poll 60 phase_is "$p1" Running
sleep 3 # one full pass of the restarted agent has happened by now
check no-duplicate-containers test "$(ctr_count)" -eq 2
check no-duplicate-networks test "$(docker network ls -q --filter label=io.caravanserai.project=$p1 | wc -l)" -eq 1
check no-duplicate-volumes test "$(docker volume ls -q --filter label=io.caravanserai.project=$p1 | wc -l)" -eq 1
check containers-kept-across-restart test "$(id_of "$p1-web")" = "$web1" -a "$(id_of "$p1-client")" = "$client1"

# ---- logs -f into a reader that stops early --------------------------------------------
pipe_logs() { timeout 30 "$ctl" logs "$p1/web" -f --timestamps | head -c 1 >/dev/null; [ "${PIPESTATUS[0]}" -eq 0 ]; }
# httpd logs nothing by itself: keep lines coming on the container's output
# (the reader going away shows at caravanctl's next write).
docker exec -d "$p1-web" sh -c 'while true; do echo tick > /proc/1/fd/1; sleep 1; done'
check logs-follow-ends-cleanly-when-the-reader-goes poll 30 pipe_logs

# ---- behind its back -----------------------------------------------------------------
docker kill "$p1-web" >/dev/null
check killed-container-runs-again poll 60 running "$p1-web"
check killed-container-same-id test "$(id_of "$p1-web")" = "$web1"
restarts_seen() { "$ctl" get projects "$p1" -o json | grep -A3 '"name": "web"' | grep -qE '"restarts": [1-9]'; }
check kill-counted-as-restart poll 30 restarts_seen
docker rm -f "$p1-client" >/dev/null
check removed-container-recreated poll 60 running "$p1-client"
check recreated-has-new-id test "$(id_of "$p1-client")" != "$client1"
check still-two-containers test "$(ctr_count)" -eq 2

# ---- expiry --------------------------------------------------------------------------
expire=$(date -u -d '+8 seconds' +%Y-%m-%dT%H:%M:%SZ)
cat >"$tmp/brief.yaml" <<EOT
apiVersion: caravanserai/v1
kind: Project
metadata: {name: $p2}
spec:
  services:
    - {name: s, image: "$image", command: [sh, -c, 'trap "exit 0" TERM; while true; do sleep 1; done']}
  expireAt: "$expire"
EOT
check expiring-project-runs timeout 120 "$ctl" apply --wait --timeout 60s -f "$tmp/brief.yaml"
gone() { ! "$ctl" get projects "$p2" >/dev/null 2>&1; }
check expired-project-is-gone poll 90 gone
check expired-project-leaves-no-container test "$(docker ps -aq --filter label=io.caravanserai.project=$p2 | wc -l)" -eq 0
check expired-project-leaves-no-network test "$(docker network ls -q --filter label=io.caravanserai.project=$p2 | wc -l)" -eq 0

# ---- an engine restart ---------------------------------------------------------------
if [ -f "$root/build/dockerd.started" ] && [ -f /var/run/docker.pid ]; then
    engine_pid=$(cat /var/run/docker.pid)
    kill -TERM "$engine_pid"
    for _ in $(seq 1 150); do kill -0 "$engine_pid" 2>/dev/null || break; sleep 0.2; done
    "$root/scripts/ensure-dockerd.sh" >/dev/null
    check engine-back poll 60 engine_up
    check agent-survives-engine-restart kill -0 "$agent_pid"
    check running-after-engine-restart poll 90 running "$p1-web"
    check phase-running-after-engine-restart poll 90 phase_is "$p1" Running
    resynced() { curl -s "http://127.0.0.1:$port/metrics" | grep -qE '^cara_engine_stream_restarts_total [1-9]'; }
    check event-stream-reconnected poll 30 resynced
    check no-duplicates-after-engine-restart test "$(ctr_count)" -eq 2
    sed -i 's/httpd, -f, -p, "8080"/httpd, -f, -v, -p, "8080"/' "$tmp/app.yaml"
    check changes-apply-after-engine-restart timeout 120 "$ctl" apply --wait --timeout 90s -f "$tmp/app.yaml"
else
    echo "SKIP lifecycle:engine-restart (this engine was not started by make test; not restarting it)"
fi

# ---- SIGTERM: clean exit, containers keep running -------------------------------------
stop_agent TERM
check sigterm-exits-zero test "$agent_status" -eq 0
check containers-run-after-sigterm running "$p1-web"
