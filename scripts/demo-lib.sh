# shellcheck shell=bash
# What scripts/demo.sh, demo-down.sh and demo-node.sh share (README.md,
# "Try it"). The demo is a tests/cluster run (tests/cluster/lib.sh,
# docs/cluster-tests.md) with a fixed run id, "demo", under a base
# directory of its own, so that it outlives `make demo` and `make
# cluster-down` (which cleans up after killed test runs) never takes it
# for one of those. One demo per machine.
#
#   /var/tmp/cara-demo/demo/   the run: its state file, hosts' engines,
#                              agents' data, logs, operator key, demo.env
#   build/demo/config.yaml     caravanctl's config for the user (peer and key)
#
# Source it from the repository's root after `set -uo pipefail`.

root=$PWD
build=${BUILD:-build}
demo_dir=$root/$build/demo
export CLUSTER_BASE=${CARA_DEMO_BASE:-/var/tmp/cara-demo}
export CLUSTER_RID=demo
demo_run=$CLUSTER_BASE/$CLUSTER_RID
demo_env=$demo_run/demo.env
cl_ctl=$root/$build/caravanctl
cl_agent=$root/$build/cara-agent
# shellcheck source=tests/agent/lib.sh
. tests/agent/lib.sh # poll
# shellcheck source=tests/cluster/lib.sh
. tests/cluster/lib.sh
cl_image=caravanserai/busybox:demo # what examples/demo/*.yaml run

demo_say() { echo "demo: $*"; }
demo_die() { echo "demo: $*" >&2; exit 1; }

# demo_save: the harness's variables that later commands (kill, start,
# down, a second `make demo`) need, written next to the run's state file.
demo_save() {
    {
        printf 'cl_rid=%q\ncl_dir=%q\n' "$cl_rid" "$cl_dir"
        printf 'cl_under_net=%q\ncl_ov_net=%q\n' "$cl_under_net" "$cl_ov_net"
        printf 'cl_root_wg_port=%q\ncl_op_pub=%q\n' "$cl_root_wg_port" "$cl_op_pub"
        printf 'cl_hosts=(%s)\n' "${cl_hosts[*]}"
    } >"$demo_env.new" && mv "$demo_env.new" "$demo_env"
}

# demo_load: 0 when a demo was made and its variables are set again.
demo_load() {
    [ -f "$demo_env" ] || return 1
    # shellcheck source=/dev/null
    . "$demo_env"
}

# demo_intact: 0 when the demo's kernel objects and its operator's
# WireGuard still exist (a reboot removes them; the files stay). Hosts
# that were killed count as intact: `make demo` starts them again.
demo_intact() {
    local i
    kill -0 "$(cat "$cl_dir/wg.pid" 2>/dev/null)" 2>/dev/null || return 1
    ip link show "$cl_rid-wg" >/dev/null 2>&1 && ip link show "$cl_rid-br" >/dev/null 2>&1 || return 1
    for i in "${cl_hosts[@]}"; do [ -e "/var/run/netns/$(cl_ns "$i")" ] || return 1; done
}

# demo_host_up I: host I's agent answers.
demo_host_up() { curl -sf --max-time 2 "$(api_of "$1")/healthz" >/dev/null; }

# demo_index NODE: the index of a demo host named n2, demo-n2 or 2.
demo_index() {
    local n=${1#"$cl_rid-"} i
    n=${n#n}
    for i in "${cl_hosts[@]}"; do [ "$i" = "$n" ] && { echo "$i"; return 0; }; done
    return 1
}

# demo_config I: caravanctl's config for the user, talking to host I over
# the overlay (the root namespace is a WireGuard peer of every host).
demo_config() {
    mkdir -p "$demo_dir"
    export CARAVANCTL_CONFIG=$demo_dir/config.yaml
    printf 'peer: %s:%s\nkey: %s\n' "$(cl_ov "$1")" "$cl_api_port" "$cl_dir/operator.key" \
        >"$CARAVANCTL_CONFIG.new" && mv "$CARAVANCTL_CONFIG.new" "$CARAVANCTL_CONFIG"
}

# demo_peer: the index of the host the user's config talks to.
demo_peer() {
    local a
    a=$(sed -n 's/^peer: *\([0-9.]*\):.*/\1/p' "$demo_dir/config.yaml" 2>/dev/null)
    [ -n "$a" ] && echo "${a##*.}"
}
