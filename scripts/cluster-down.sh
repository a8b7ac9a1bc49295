#!/usr/bin/env bash
# Removes what tests/cluster made (docs/cluster-tests.md), from the state
# files under $CLUSTER_BASE (default /var/tmp/cara-cluster): processes,
# the containers of the per-host engines, mounts under the run's data
# roots, network namespaces, links, the root namespace's iptables rules,
# WireGuard sockets, and the run's directory.
#
#   cluster-down.sh               every run whose owning process is gone
#   cluster-down.sh --all         every run, also one still going
#   cluster-down.sh DIR           the run in DIR (the harness's own trap)
#   cluster-down.sh --kill-host NS DATAROOT
#                                 kill -9 of everything in namespace NS and
#                                 of the containers of the engine at DATAROOT
#   cluster-down.sh --umount DIR  unmount everything under DIR
#
# Every step tolerates what is already gone, so it can run twice, or after
# a run killed halfway through making a host.
set -uo pipefail
base=${CLUSTER_BASE:-/var/tmp/cara-cluster}

# mounts_under DIR: mount points under DIR, deepest first.
mounts_under() {
    awk -v d="$1/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo |
        awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2-
}
umount_under() {
    local m
    for m in $(mounts_under "$1"); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    done
}

# container_cgroups DATAROOT: the cgroup directories (every v1 hierarchy
# and v2) of the containers this engine's data root knows.
container_cgroups() {
    local d id
    for d in "$1"/containers/*/; do
        [ -d "$d" ] || continue
        id=$(basename "$d")
        # cgroupfs driver (v1, v2), then the systemd driver (v2, v1).
        ls -d /sys/fs/cgroup/*/docker/"$id" /sys/fs/cgroup/docker/"$id" \
            /sys/fs/cgroup/system.slice/docker-"$id".scope \
            /sys/fs/cgroup/*/system.slice/docker-"$id".scope 2>/dev/null
    done
}
kill_containers() {
    local c pids
    for c in $(container_cgroups "$1"); do
        pids=$(cat "$c/cgroup.procs" 2>/dev/null)
        # shellcheck disable=SC2086
        [ -n "$pids" ] && kill -9 $pids 2>/dev/null
    done
}
rmdir_cgroups() {
    local c
    for c in $(container_cgroups "$1"); do rmdir "$c" 2>/dev/null; done
}

# kill_host NS DATAROOT: the namespace's processes first (no engine is
# left to restart a container), then the containers (their processes live
# in namespaces of their own); again until nothing is left.
kill_host() {
    local ns=$1 root=$2 pids
    for _ in $(seq 1 50); do
        pids=$(ip netns pids "$ns" 2>/dev/null)
        # shellcheck disable=SC2086
        [ -n "$pids" ] && kill -9 $pids 2>/dev/null
        kill_containers "$root"
        pids=$(ip netns pids "$ns" 2>/dev/null)
        local left=""
        for c in $(container_cgroups "$root"); do left+=$(cat "$c/cgroup.procs" 2>/dev/null); done
        [ -z "$pids" ] && [ -z "$left" ] && return 0
        sleep 0.1
    done
    echo "cluster-down: processes left in $ns" >&2
    return 1
}

down_run() {
    local dir=$1 kind a rest
    local state="$dir/state"
    [ -f "$state" ] || { echo "cluster-down: no state file in $dir" >&2; return 1; }
    # Hosts first: processes, containers, mounts, cgroups, namespaces.
    while read -r kind a rest; do
        [ "$kind" = host ] || continue
        local ns
        ns=$(awk -v i="$a" '$1 == "netns" && $2 ~ ("-n" i "$") { print $2 }' "$state")
        [ -n "$ns" ] && kill_host "$ns" "$dir/n$a/docker"
    done <"$state"
    # The root namespace's processes (the operator's wireguard-go).
    while read -r kind a rest; do
        [ "$kind" = pidfile ] && [ -f "$a" ] && kill -9 "$(cat "$a")" 2>/dev/null
    done <"$state"
    umount_under "$dir"
    while read -r kind a rest; do
        [ "$kind" = host ] && rmdir_cgroups "$dir/n$a/docker"
    done <"$state"
    # Then what lives in the kernel by name, last made first (an iptables
    # rule is several words: $rest unquoted on purpose).
    # shellcheck disable=SC2086
    tac "$state" | while read -r kind a rest; do
        case $kind in
            netns) ip netns del "$a" 2>/dev/null ;;
            link) ip link del "$a" 2>/dev/null ;;
            iptables) while iptables -D "$a" $rest 2>/dev/null; do :; done ;;
            wgsock) rm -f "/var/run/wireguard/$a.sock" ;;
        esac
    done
    if [ -n "$(mounts_under "$dir")" ]; then
        echo "cluster-down: mounts remain under $dir; it is kept" >&2
        return 1
    fi
    rm -rf "$dir"
    rmdir "$(dirname "$dir")" 2>/dev/null # the base too, once no run is left in it
    echo "cluster-down: removed $(basename "$dir")"
}

case ${1:-} in
    --kill-host) kill_host "$2" "$3"; exit ;;
    --umount) umount_under "$2"; exit 0 ;;
    "" | --all)
        rc=0
        for s in "$base"/*/state; do
            [ -f "$s" ] || continue
            owner=$(awk '$1 == "owner" { print $2 }' "$s")
            if [ "${1:-}" != --all ] && [ -n "$owner" ] && kill -0 "$owner" 2>/dev/null; then
                echo "cluster-down: $(dirname "$s") belongs to running process $owner (--all removes it)"
                continue
            fi
            down_run "$(dirname "$s")" || rc=1
        done
        exit $rc
        ;;
    -*) echo "usage: cluster-down.sh [--all | DIR | --kill-host NS DATAROOT | --umount DIR]" >&2; exit 2 ;;
    *) down_run "$1" ;;
esac
