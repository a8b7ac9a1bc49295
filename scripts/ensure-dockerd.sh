#!/usr/bin/env bash
# Makes sure a Docker engine answers on /var/run/docker.sock: installs
# docker.io when missing and starts dockerd in the background when nothing
# answers. Idempotent; used by `make test` and `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
sock=${DOCKER_SOCK:-/var/run/docker.sock}
ping() { curl -sf --max-time 2 --unix-socket "$sock" http://docker/_ping >/dev/null 2>&1; }
ping && exit 0
scripts/deps.sh docker.io busybox-static curl
ping && exit 0
mkdir -p build
echo "ensure-dockerd: starting dockerd (log: build/dockerd.log)"
# setsid: the engine must outlive this script and the make that ran it.
# Default options, as a user's own engine has: project networks take their
# subnets from the agent's pool, not the engine's (docs/agent.md).
setsid dockerd >build/dockerd.log 2>&1 </dev/null &
for _ in $(seq 1 60); do
    if ping; then
        # This engine is ours to restart: tests that check surviving an
        # engine restart do so only then (never a system-managed one).
        echo "started $(date -u +%FT%TZ)" >build/dockerd.started
        exit 0
    fi
    sleep 1
done
echo "ensure-dockerd: dockerd did not answer within 60 s; last log lines:" >&2
tail -20 build/dockerd.log >&2
exit 1
