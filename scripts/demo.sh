#!/usr/bin/env bash
# `make demo`: one real cara-agent on this machine's Docker engine, with the
# example projects applied. Everything it makes lives under build/demo and
# in Docker objects labelled io.caravanserai.node=demo; `make demo-down`
# removes all of it.
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

if [ -f "$demo/agent.pid" ] && kill -0 "$(cat "$demo/agent.pid")" 2>/dev/null; then
    echo "demo: cara-agent already running (pid $(cat "$demo/agent.pid"))"
else
    setsid build/cara-agent --name demo --data-dir "$demo/data" --api "127.0.0.1:$port" \
        --operator-pubkey "$demo/operator.pub" >"$demo/agent.log" 2>&1 </dev/null &
    echo $! >"$demo/agent.pid"
    echo "demo: started cara-agent (pid $!, log build/demo/agent.log)"
fi
for _ in $(seq 1 50); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.2
done
"$ctl" admit

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
  $ctl get nodes
  make demo-down               # removes everything the demo made
EOT
