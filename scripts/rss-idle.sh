#!/usr/bin/env bash
# One idle, admitted cara-agent on loopback (its own data dir, a free port,
# the shared Docker socket, which it only reads), then where its memory goes
# (scripts/rss-breakdown.py) after SETTLE_S seconds (default 20). Changes no
# Docker state: the agent runs no project. Usage: scripts/rss-idle.sh
# (BUILD=dir for another build directory). docs/bench.md, "RSS: where it goes".
set -uo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
settle=${SETTLE_S:-20}
sock=${DOCKER_SOCK:-/var/run/docker.sock}
tmp=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
export HOME="$tmp/home" CARAVANCTL_CONFIG="$tmp/config.yaml"
mkdir -p "$HOME"
"$build/caravanctl" keygen >"$tmp/keygen.out" 2>&1 || { echo "keygen failed" >&2; exit 1; }
op_pk=$(sed -n 's/^public_key=//p' "$tmp/keygen.out")
for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
    "$build/cara-agent" --name "rss$$" --data-dir "$tmp/data" --api "127.0.0.1:$port" \
        --bind "127.0.0.1:$((port + 1))" \
        --operator-pubkey "$op_pk" --docker-host "unix://$sock" 2>"$tmp/agent.log" &
    pid=$!
    for _ in $(seq 1 30); do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break 2
        sleep 0.3
    done
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""
done
[ -n "$pid" ] || { echo "the agent did not start" >&2; tail "$tmp/agent.log" >&2; exit 1; }
printf 'peer: 127.0.0.1:%s\n' "$port" >"$CARAVANCTL_CONFIG"
"$build/caravanctl" admit >/dev/null || { echo "admit failed" >&2; exit 1; }
sleep "$settle"
echo "libraries: $(ldd "$build/cara-agent" | wc -l) (ldd lines)"
grep -E '^(Rss|Pss|Pss_Anon|Pss_File|Private_Dirty):' "/proc/$pid/smaps_rollup"
scripts/rss-breakdown.py "$pid"
