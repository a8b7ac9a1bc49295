#!/usr/bin/env bash
# `make demo-kill NODE=n2` and `make demo-start NODE=n2`: one host of the
# demo loses power (kill -9 of its agent, dockerd, containerd, containers
# and WireGuard; its disk stays: tests/cluster/lib.sh kill_host), or is
# powered on again (WireGuard, dockerd, the agent, which joins through the
# others).
#
#   demo-node.sh kill|start NODE     NODE: n2, demo-n2 or 2
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=scripts/demo-lib.sh
. scripts/demo-lib.sh

usage() { echo "usage: make demo-kill NODE=nI | make demo-start NODE=nI (I: 1 to 3)" >&2; exit 2; }
{ [ $# = 2 ] && [ -n "$2" ]; } || usage
if ! demo_load || ! demo_intact; then demo_die "no demo is running (make demo)"; fi
i=$(demo_index "$2") || { echo "demo: no host '$2' in the demo" >&2; usage; }
export CARAVANCTL_CONFIG=$demo_dir/config.yaml

case $1 in
    kill)
        demo_host_up "$i" || [ -n "$(cl_netns_pids "$i")" ] || demo_die "n$i is already down"
        kill_host "$i"
        [ -z "$(cl_netns_pids "$i")" ] || demo_die "processes are left in $(cl_ns "$i")"
        demo_say "n$i lost power: its agent, dockerd, containers and WireGuard are killed; its disk stays"
        # The user's caravanctl talked to this host: it talks to a living one now.
        if [ "$(demo_peer)" = "$i" ]; then
            for j in "${cl_hosts[@]}"; do
                demo_host_up "$j" || continue
                demo_config "$j"
                demo_say "caravanctl now talks to n$j ($(cl_ov "$j")) in $CARAVANCTL_CONFIG"
                break
            done
        fi
        demo_say "the others see n$i NotReady within seconds; its projects run elsewhere after the grace"
        ;;
    start)
        demo_host_up "$i" && demo_die "n$i is already up"
        # A host half down (an agent that died alone) is taken down first.
        kill_host "$i"
        start_host "$i" || demo_die "n$i did not start (logs in $(cl_hdir "$i"))"
        demo_say "n$i is up again and rejoined the cluster"
        ;;
    *) usage ;;
esac
