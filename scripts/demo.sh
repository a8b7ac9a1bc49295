#!/usr/bin/env bash
# `make demo`: three real hosts on this machine, each a network namespace
# with its own WireGuard (wireguard-go) on a 100.64.K.0/24 overlay, its own
# dockerd and its own cara-agent, joined by a token (tests/cluster/lib.sh);
# then the cluster settings and the example projects, applied with --wait.
# The hosts keep running after it returns; caravanctl, from this (the
# root) namespace, reaches them over the overlay with build/demo/config.yaml.
#
# Run twice, it reuses the running demo: hosts that were killed start
# again and the examples are applied again (unchanged ones stay as they
# are). A demo whose kernel objects are gone (a reboot) is removed and
# made again. If any step fails, everything is removed and the hosts'
# logs are kept in build/demo/logs.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=scripts/demo-lib.sh
. scripts/demo-lib.sh
t0=$SECONDS

cluster_preflight || demo_die "this machine cannot make the demo's hosts: $cl_why"

# failed: keep the hosts' logs, then remove what was made.
failed() {
    trap - EXIT
    echo "demo: failed; removing it (the hosts' logs are in $build/demo/logs)" >&2
    mkdir -p "$demo_dir/logs"
    local f
    for f in "$demo_run"/*.log "$demo_run"/n*/*.log; do
        [ -f "$f" ] && cp "$f" "$demo_dir/logs/$(basename "$(dirname "$f")")-$(basename "$f")"
    done
    scripts/cluster-down.sh --all >&2
    rmdir "$CLUSTER_BASE" 2>/dev/null
    exit 1
}
trap failed EXIT
trap 'exit 1' INT TERM

if demo_load && demo_intact; then
    demo_say "reusing the running demo ($cl_dir)"
    for i in "${cl_hosts[@]}"; do
        demo_host_up "$i" && continue
        demo_say "n$i is down: starting it again"
        kill_host "$i"
        start_host "$i" || exit 1
    done
else
    if [ -d "$demo_run" ]; then
        demo_say "removing a demo that no longer runs"
        scripts/cluster-down.sh --all || exit 1
    fi
    rm -rf "$demo_dir"
    cluster_up 3 || exit 1
    demo_save || exit 1
fi
demo_config 1

three_ready() { [ "$(ready_count 1)" = 3 ] && [ "$(ready_count 3)" = 3 ]; }
poll 90 three_ready || { "$cl_ctl" get nodes >&2; echo "demo: three nodes were not Ready in 90 s" >&2; exit 1; }
echo
"$cl_ctl" get nodes || exit 1
echo

# Short timers, so that a failover takes about half a minute
# (docs/manifest.md, "Cluster settings").
"$cl_ctl" settings apply -f examples/demo/settings.yaml || exit 1
# The preview project expires five minutes from now.
expire=$(date -u -d '+5 minutes' +%Y-%m-%dT%H:%M:%SZ)
sed "s/expireAt: .*/expireAt: \"$expire\"/" examples/demo/preview.yaml >"$demo_dir/preview.yaml"
"$cl_ctl" apply --wait --timeout 90s -f examples/demo/guestbook.yaml -f "$demo_dir/preview.yaml" || exit 1
echo
"$cl_ctl" get projects || exit 1
echo
echo "probe reaches web by its service name:"
page() { "$cl_ctl" logs guestbook/probe --tail 1 2>/dev/null | grep -q 'page written'; }
poll 20 page
"$cl_ctl" logs guestbook/probe --tail 1
trap - EXIT

owner=$(cl_index "$("$cl_ctl" get projects guestbook -o json | jq -r '.status.nodeRef // empty')")
[[ $owner =~ ^[123]$ ]] || owner=2
watcher=$((owner % 3 + 1)) # a host that will survive the kill below
ctl=$build/caravanctl
cat <<EOT

demo: three hosts ready, the examples Running, in $((SECONDS - t0)) s.
The hosts keep running (state in $cl_dir). Next:
  export CARAVANCTL_CONFIG=$CARAVANCTL_CONFIG
  $ctl get nodes                 # three Ready nodes, as n1 sees them
  $ctl get projects              # preview expires at $expire
  $ctl --peer $(cl_ov "$watcher") get projects -w   # in a second terminal: n$watcher's view as it changes
  make demo-kill NODE=n$owner         # guestbook runs on n$owner: that host loses power; it moves within half a minute
  make demo-start NODE=n$owner        # n$owner comes back
  make demo-down                 # removes everything the demo made
EOT
