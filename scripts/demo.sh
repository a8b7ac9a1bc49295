#!/usr/bin/env bash
# `make demo`: a real three-node cluster on this machine: three cara-agents
# on loopback addresses (127.0.0.1-3), gossiping over UDP and TCP, the two
# later ones joining the first with a join token, all on this machine's
# Docker engine, with the example projects applied. Everything it makes
# lives under build/demo and in Docker objects labelled
# io.caravanserai.node=demo1..demo3; `make demo-down` removes all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=$PWD/build/demo
port=${CARA_DEMO_PORT:-7951}
ctl=build/caravanctl
mkdir -p "$demo"

scripts/ensure-dockerd.sh
scripts/test-image.sh caravanserai/busybox:demo

# The operator's key and caravanctl's config, kept inside build/demo so the
# demo never touches ~/.config.
export CARAVANCTL_CONFIG=$demo/config.yaml
if [ ! -f "$demo/operator.key" ]; then
    "$ctl" keygen --out "$demo/operator.key" >"$demo/operator.pub"
fi
printf 'peer: 127.0.0.1:%s\nkey: %s\n' "$port" "$demo/operator.key" >"$CARAVANCTL_CONFIG"

# start I [ARGS...]: node demoI on 127.0.0.I (API on $port, gossip on 7950).
start() {
    local i=$1; shift
    if [ -f "$demo/agent$i.pid" ] && kill -0 "$(cat "$demo/agent$i.pid")" 2>/dev/null; then
        echo "demo: demo$i already running (pid $(cat "$demo/agent$i.pid"))"
        return
    fi
    setsid build/cara-agent --name "demo$i" --data-dir "$demo/data$i" --api "127.0.0.$i:$port" \
        --bind "127.0.0.$i:7950" --operator-pubkey "$demo/operator.pub" "$@" \
        >"$demo/agent$i.log" 2>&1 </dev/null &
    echo $! >"$demo/agent$i.pid"
    echo "demo: started demo$i (pid $!, log build/demo/agent$i.log)"
    for _ in $(seq 1 50); do
        curl -sf "http://127.0.0.$i:$port/healthz" >/dev/null && return
        sleep 0.2
    done
}
start 1
"$ctl" admit
# The others admit themselves with a join token the operator signs.
[ -s "$demo/join.token" ] || "$ctl" join-token create --uses 2 --ttl 1h >"$demo/join.token"
start 2 --join 127.0.0.1:7950 --token "$(cat "$demo/join.token")"
start 3 --join 127.0.0.1:7950 --token "$(cat "$demo/join.token")"
for _ in $(seq 1 100); do
    [ "$("$ctl" get nodes 2>/dev/null | grep -c ' Ready')" -ge 3 ] && break
    sleep 0.3
done
"$ctl" get nodes
echo

# The preview project expires three minutes from now.
expire=$(date -u -d '+3 minutes' +%Y-%m-%dT%H:%M:%SZ)
sed "s/expireAt: .*/expireAt: \"$expire\"/" examples/demo/preview.yaml >"$demo/preview.yaml"
"$ctl" apply --wait -f examples/demo/guestbook.yaml -f "$demo/preview.yaml"
echo
"$ctl" get projects
echo
echo "probe reaches web by its service name:"
sleep 4
"$ctl" logs guestbook/probe --tail 2
cat <<EOT

The cluster is running. Try:
  export CARAVANCTL_CONFIG=$CARAVANCTL_CONFIG
  $ctl get projects            # preview expires at $expire
  $ctl describe project guestbook
  $ctl logs guestbook/probe -f
  $ctl get nodes               # membership as demo1 sees it
  $ctl --peer 127.0.0.2 get projects   # any node answers for the cluster
  make demo-down               # removes everything the demo made
EOT
