#!/usr/bin/env bash
# `make demo-down`: removes everything `make demo` made, from the run's
# state file (scripts/cluster-down.sh): the hosts' processes and their
# containers, the mounts of their engines, the network namespaces, the
# links, the root namespace's iptables rule, the WireGuard sockets, the
# run's directory under /var/tmp/cara-demo, and build/demo. Also after a
# `make demo` that was killed halfway; quiet when there is nothing.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=scripts/demo-lib.sh
. scripts/demo-lib.sh
rc=0
if [ -d "$CLUSTER_BASE" ]; then
    scripts/cluster-down.sh --all || rc=1
    rmdir "$CLUSTER_BASE" 2>/dev/null
fi
rm -rf "$demo_dir"
if [ $rc = 0 ]; then demo_say "removed"; else demo_say "some things could not be removed (see above)"; fi
exit $rc
