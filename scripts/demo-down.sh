#!/usr/bin/env bash
# `make demo-down`: deletes the demo's projects, stops its agents, removes
# build/demo and any Docker object the demo node left behind.
set -uo pipefail
cd "$(dirname "$0")/.."
demo=$PWD/build/demo
export CARAVANCTL_CONFIG=$demo/config.yaml
alive() { [ -f "$demo/agent$1.pid" ] && kill -0 "$(cat "$demo/agent$1.pid")" 2>/dev/null; }
if alive 1; then
    for p in guestbook preview; do
        build/caravanctl delete project "$p" --wait --timeout 60s 2>/dev/null || true
    done
fi
for i in 1 2 3; do
    alive "$i" || continue
    kill -TERM "$(cat "$demo/agent$i.pid")" 2>/dev/null
    for _ in $(seq 1 50); do alive "$i" || break; sleep 0.1; done
done
# Whatever is still labelled as the demo node's (an agent that died first).
if command -v docker >/dev/null && docker version >/dev/null 2>&1; then
    for n in demo demo1 demo2 demo3; do
        ids=$(docker ps -aq --filter label=io.caravanserai.node=$n)
        [ -n "$ids" ] && docker rm -f $ids >/dev/null
        nets=$(docker network ls -q --filter label=io.caravanserai.node=$n)
        [ -n "$nets" ] && docker network rm $nets >/dev/null
        vols=$(docker volume ls -q --filter label=io.caravanserai.node=$n)
        [ -n "$vols" ] && docker volume rm $vols >/dev/null
    done
fi
rm -rf "$demo"
echo "demo: removed"
