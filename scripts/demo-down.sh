#!/usr/bin/env bash
# `make demo-down`: deletes the demo's projects, stops its agent, removes
# build/demo and any Docker object the demo node left behind.
set -uo pipefail
cd "$(dirname "$0")/.."
demo=$PWD/build/demo
export CARAVANCTL_CONFIG=$demo/config.yaml
if [ -f "$demo/agent.pid" ] && kill -0 "$(cat "$demo/agent.pid")" 2>/dev/null; then
    for p in guestbook preview; do
        build/caravanctl delete project "$p" --wait --timeout 60s 2>/dev/null || true
    done
    kill -TERM "$(cat "$demo/agent.pid")" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$(cat "$demo/agent.pid")" 2>/dev/null || break; sleep 0.1; done
fi
# Whatever is still labelled as the demo node's (an agent that died first).
if command -v docker >/dev/null && docker version >/dev/null 2>&1; then
    ids=$(docker ps -aq --filter label=io.caravanserai.node=demo)
    [ -n "$ids" ] && docker rm -f $ids >/dev/null
    nets=$(docker network ls -q --filter label=io.caravanserai.node=demo)
    [ -n "$nets" ] && docker network rm $nets >/dev/null
    vols=$(docker volume ls -q --filter label=io.caravanserai.node=demo)
    [ -n "$vols" ] && docker volume rm $vols >/dev/null
fi
rm -rf "$demo"
echo "demo: removed"
