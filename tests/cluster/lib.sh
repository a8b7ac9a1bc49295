# shellcheck shell=bash
# A multi-host Caravanserai cluster on one machine (docs/cluster-tests.md).
#
# Each host is a network namespace with a veth to an underlay bridge in the
# root namespace, a userspace WireGuard interface (wireguard-go, real keys)
# meshed with every other host over the underlay, its own dockerd (default
# options, started with `nsenter --net`), and a cara-agent bound to its
# overlay address. The root namespace is one more WireGuard peer, the
# operator's laptop: caravanctl runs there and reaches the agents over the
# overlay, as an operator on a tailnet would.
#
# Source tests/agent/lib.sh first (poll), set `root` (the repository),
# `cl_ctl` and `cl_agent` (the binaries); then call cluster_up N.
# Everything is named after the run id ($cl_rid) and written to a state
# file before it is made, so scripts/cluster-down.sh can remove it after a
# run that was killed.

CLUSTER_BASE=${CLUSTER_BASE:-/var/tmp/cara-cluster}
cl_image=caravanserai/busybox:test
cl_wg_port=51820
cl_api_port=7951
cl_gossip_port=7950
cl_hosts=() # the indices of the hosts made so far

# ---- Names and addresses -------------------------------------------------------------------

cl_ns() { echo "$cl_rid-n$1"; }                # network namespace of host I
cl_name() { echo "$cl_rid-n$1"; }              # its node name
cl_wg() { echo "$cl_rid-w$1"; }                # its WireGuard interface (unique: the
                                               # UAPI socket is /var/run/wireguard/NAME.sock)
cl_under() { echo "$cl_under_net.$1"; }        # underlay address
cl_ov() { echo "$cl_ov_net.$1"; }              # overlay address
cl_hdir() { echo "$cl_dir/n$1"; }
cl_sock() { echo "$cl_dir/n$1/docker.sock"; }
cl_index() { echo "${1##*-n}"; }               # node name -> I

# The state file: one line per thing made, written before it is made.
cl_record() { echo "$*" >>"$cl_dir/state"; }

# ---- Helpers the scenarios use ---------------------------------------------------------------

ctl() { local i=$1; shift; "$cl_ctl" --peer "$(cl_ov "$i"):$cl_api_port" "$@"; }
host_exec() { local i=$1; shift; nsenter --net="/var/run/netns/$(cl_ns "$i")" "$@"; }
engine() { local i=$1; shift; docker -H "unix://$(cl_sock "$i")" "$@"; }
api_of() { echo "http://$(cl_ov "$1"):$cl_api_port"; }


# ready_count I: how many nodes node I lists as Ready.
ready_count() { ctl "$1" get nodes 2>/dev/null | awk '$2 == "Ready"' | wc -l; }

# engine_running I P: how many running containers of project P engine I holds
# (nothing printed when the engine does not answer).
engine_running() {
    curl -sf --max-time 3 --unix-socket "$(cl_sock "$1")" -G "http://docker/containers/json" \
        --data-urlencode "filters={\"label\":[\"io.caravanserai.project=$2\"]}" | jq length
}

# ---- Preflight ---------------------------------------------------------------------------------

# cluster_preflight: 0 when this machine can make hosts; else 1 with the
# reason in cl_why.
cluster_preflight() {
    local t
    cl_why=""
    [ "$(id -u)" = 0 ] || { cl_why="needs root (network namespaces, iptables, dockerd)"; return 1; }
    for t in ip nsenter wireguard-go wg dockerd containerd docker iptables jq curl busybox; do
        command -v "$t" >/dev/null || { cl_why="$t is not installed (make test installs it)"; return 1; }
    done
    [ -e /dev/net/tun ] || { cl_why="/dev/net/tun is missing (wireguard-go needs a TUN device)"; return 1; }
    # What a host needs, tried once in a throwaway namespace: a veth pair, a
    # TUN device (wireguard-go) and an iptables chain.
    local probe="cara-probe-$$"
    if ! ip netns add "$probe" 2>/dev/null; then cl_why="cannot create a network namespace"; return 1; fi
    if ! ip -n "$probe" link add cara-p0 type veth peer name cara-p1 2>/dev/null; then
        cl_why="cannot create a veth pair"
    elif ! ip -n "$probe" tuntap add dev cara-t0 mode tun 2>/dev/null; then
        cl_why="cannot create a TUN device (wireguard-go needs one)"
    elif ! ip netns exec "$probe" iptables -N CARA-PROBE 2>/dev/null; then
        cl_why="iptables does not work in a network namespace"
    fi
    ip netns del "$probe"
    [ -z "$cl_why" ] || return 1
    for t in "$cl_ctl" "$cl_agent"; do
        [ -x "$t" ] || { cl_why="$t is not built"; return 1; }
    done
    return 0
}

# ---- Bringing hosts up ----------------------------------------------------------------------

# cl_pick_net: a K for which neither 10.77.K.0/24 nor 100.64.K.0/24 is
# routed here nor held by another run's state file.
cl_route_of() { ip -4 -o route get "$1" 2>&1 | sed -E 's/ (src|uid) .*//; s/^[^ ]+ //'; }
cl_pick_net() {
    local k routes dflt
    routes=$(ip -4 route show table all; ip -4 addr show)
    # Where the default route sends a packet ("via GW dev DEV", or nowhere):
    # a K whose addresses go anywhere else is routed here, by a route of any
    # prefix (a user's 10.0.0.0/8 VPN, a Tailscale 100.64.0.0/10).
    dflt=$(ip -4 route show default | head -1 | sed -E 's/^default //; s/ (proto|metric|onlink|linkdown) .*//; s/ +$//')
    [ -n "$dflt" ] || dflt=$(cl_route_of 10.77.0.1 | grep -i unreachable)
    for k in $(seq 0 250); do
        grep -qE "(^| )(10\.77|100\.64)\.$k\." <<<"$routes" && continue
        [ "$(cl_route_of "10.77.$k.1")" = "$dflt" ] && [ "$(cl_route_of "100.64.$k.1")" = "$dflt" ] || continue
        [ -z "$(ss -Hlun "sport = :$((cl_wg_port + 1 + k))" 2>/dev/null)" ] || continue
        grep -qsx "net $k" "$CLUSTER_BASE"/*/state && continue
        echo "$k"; return 0
    done
    return 1
}

cl_start_wg() { # I: wireguard-go in host I's namespace, keys and peers set
    local i=$1 j wg
    wg=$(cl_wg "$i")
    host_exec "$i" env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$wg" >"$(cl_hdir "$i")/wg.log" 2>&1 &
    echo $! >"$(cl_hdir "$i")/wg.pid"
    disown $!
    poll 10 test -S "/var/run/wireguard/$wg.sock" || { echo "wireguard-go did not start in $(cl_ns "$i")" >&2; return 1; }
    host_exec "$i" wg set "$wg" private-key "$(cl_hdir "$i")/wg.key" listen-port "$cl_wg_port" || return 1
    host_exec "$i" ip addr add "$(cl_ov "$i")/24" dev "$wg" || return 1
    host_exec "$i" ip link set "$wg" up || return 1
    host_exec "$i" wg set "$wg" peer "$(cat "$cl_dir/op.wgpub")" \
        endpoint "$cl_under_net.254:$cl_root_wg_port" allowed-ips "$cl_ov_net.254/32" persistent-keepalive 10 || return 1
    for j in "${cl_hosts[@]}"; do
        [ "$j" = "$i" ] && continue
        cl_peer_pair "$i" "$j" || return 1
    done
}
cl_peer_pair() { # I J: host I knows host J as a peer
    host_exec "$1" wg set "$(cl_wg "$1")" peer "$(cat "$(cl_hdir "$2")/wg.pub")" \
        endpoint "$(cl_under "$2"):$cl_wg_port" allowed-ips "$(cl_ov "$2")/32" persistent-keepalive 10
}

# Each host's engine has a containerd of its own, in its namespace. A
# dockerd started without --containerd uses the machine's containerd when
# /run/containerd/containerd.sock exists (Debian's docker.io runs
# containerd.service under systemd): the hosts would then share it, their
# containers would outlive a killed host, and the user's own engine's
# containerd would hold the test's containers. Otherwise the engine runs
# with default options.
cl_start_containerd() { # I
    local i=$1 h
    h=$(cl_hdir "$i")
    mkdir -p "$h/ctd"
    cat >"$h/ctd/config.toml" <<EOT
version = 2
root = "$h/docker/ctd"
state = "$h/exec/ctd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$h/ctd.sock"
[debug]
  address = ""
EOT
    rm -f "$h/ctd.sock"
    host_exec "$i" containerd --config "$h/ctd/config.toml" >>"$h/containerd.log" 2>&1 &
    echo $! >"$h/containerd.pid"
    disown $!
    poll 30 test -S "$h/ctd.sock" || { echo "containerd of n$i did not start (see $h/containerd.log)" >&2; return 1; }
}

cl_start_dockerd() { # I
    local i=$1 h
    h=$(cl_hdir "$i")
    cl_start_containerd "$i" || return 1
    rm -f "$h/docker.pid"
    host_exec "$i" dockerd --data-root "$h/docker" --exec-root "$h/exec" -H "unix://$h/docker.sock" \
        --containerd "$h/ctd.sock" --pidfile "$h/docker.pid" >>"$h/dockerd.log" 2>&1 &
    echo $! >"$h/dockerd.launch.pid"
    disown $!
    poll 60 curl -sf --max-time 2 --unix-socket "$h/docker.sock" http://docker/_ping ||
        { echo "dockerd of n$i did not answer (see $h/dockerd.log)" >&2; return 1; }
}

cl_start_agent() { # I [ARGS...]
    local i=$1 h; shift
    h=$(cl_hdir "$i")
    echo "---- start $(date +%s.%N)" >>"$h/agent.log"
    host_exec "$i" "$cl_agent" --name "$(cl_name "$i")" --data-dir "$h/agent" \
        --api "$(cl_ov "$i"):$cl_api_port" --bind "$(cl_ov "$i"):$cl_gossip_port" \
        --docker-host "unix://$h/docker.sock" --operator-pubkey "$cl_op_pub" \
        --label "cara-host=n$i" "$@" >>"$h/agent.log" 2>&1 &
    echo "$!" >"$h/agent.pid"
    disown $!
    poll 30 curl -sf --max-time 2 "$(api_of "$i")/healthz" ||
        { echo "agent n$i did not answer (see $h/agent.log)" >&2; return 1; }
}

cl_make_host() { # I: namespace, underlay, keys, WireGuard, dockerd, image
    local i=$1 ns h veth
    ns=$(cl_ns "$i"); h=$(cl_hdir "$i"); veth="$cl_rid-v$i"
    mkdir -p "$h"
    cl_record "host $i"
    cl_record "netns $ns"
    ip netns add "$ns" || return 1
    cl_record "link $veth"
    ip link add "$veth" type veth peer name eth0 netns "$ns" || return 1
    ip link set "$veth" master "$cl_rid-br" up || return 1
    host_exec "$i" ip link set lo up
    host_exec "$i" ip addr add "$(cl_under "$i")/24" dev eth0 || return 1
    host_exec "$i" ip link set eth0 up || return 1
    # The partition chain: cut_minority fills it, heal flushes it.
    host_exec "$i" iptables -N CARA-CUT && host_exec "$i" iptables -I INPUT -j CARA-CUT &&
        host_exec "$i" iptables -I OUTPUT -j CARA-CUT || return 1
    (umask 077; wg genkey >"$h/wg.key") && wg pubkey <"$h/wg.key" >"$h/wg.pub" || return 1
    cl_record "wgsock $(cl_wg "$i")"
    cl_start_wg "$i" || return 1
    wg set "$cl_rid-wg" peer "$(cat "$h/wg.pub")" endpoint "$(cl_under "$i"):$cl_wg_port" \
        allowed-ips "$(cl_ov "$i")/32" persistent-keepalive 10 || return 1
    local j
    for j in "${cl_hosts[@]}"; do cl_peer_pair "$j" "$i" || return 1; done
    cl_hosts+=("$i")
    cl_start_dockerd "$i" || return 1
    DOCKER_SOCK=$(cl_sock "$i") "$root/scripts/test-image.sh" "$cl_image" >/dev/null || return 1
}

# cluster_up N: makes hosts 1..N; n1 is admitted by the operator, the
# others join with a token. The run id is random unless CLUSTER_RID is
# set. Returns non-zero (saying why) on any failure; the caller's trap
# runs cluster_down.
cluster_up() {
    local n=$1 i k
    # CLUSTER_RID fixes the run id (make demo: "demo"); it names links, so
    # it is short: letters and digits, at most 8.
    cl_rid=${CLUSTER_RID:-cc$(od -An -N2 -tx2 /dev/urandom | tr -d ' ')}
    [[ $cl_rid =~ ^[a-z][a-z0-9]{0,7}$ ]] || { echo "bad run id '$cl_rid'" >&2; return 1; }
    mkdir -p "$CLUSTER_BASE"
    cl_dir="$CLUSTER_BASE/$cl_rid"
    mkdir -p "$cl_dir"
    k=$(cl_pick_net) || { echo "no free 10.77.K.0/24 and 100.64.K.0/24" >&2; return 1; }
    cl_under_net="10.77.$k"; cl_ov_net="100.64.$k"
    cl_root_wg_port=$((cl_wg_port + 1 + k))
    cl_record "owner $$"
    cl_record "net $k"
    echo "cluster: run $cl_rid, underlay $cl_under_net.0/24, overlay $cl_ov_net.0/24, state in $cl_dir"

    # The underlay: a bridge in the root namespace. Docker's FORWARD policy
    # is DROP and bridged frames pass the root's iptables
    # (bridge-nf-call-iptables), so the bridge's own traffic is accepted by
    # one rule of this run.
    cl_record "link $cl_rid-br"
    ip link add "$cl_rid-br" type bridge || return 1
    ip addr add "$cl_under_net.254/24" dev "$cl_rid-br" && ip link set "$cl_rid-br" up || return 1
    local rule="FORWARD -i $cl_rid-br -o $cl_rid-br -m comment --comment cara-cluster-$cl_rid -j ACCEPT"
    cl_record "iptables $rule"
    # shellcheck disable=SC2086 # a rule is several words
    iptables -I $rule || return 1

    # The operator's laptop: a WireGuard peer of every host, in the root
    # namespace.
    (umask 077; wg genkey >"$cl_dir/op.wgkey") && wg pubkey <"$cl_dir/op.wgkey" >"$cl_dir/op.wgpub" || return 1
    cl_record "link $cl_rid-wg"
    cl_record "wgsock $cl_rid-wg"
    WG_PROCESS_FOREGROUND=1 wireguard-go -f "$cl_rid-wg" >"$cl_dir/wg.log" 2>&1 &
    echo $! >"$cl_dir/wg.pid"
    disown $!
    cl_record "pidfile $cl_dir/wg.pid"
    poll 10 test -S "/var/run/wireguard/$cl_rid-wg.sock" || { echo "wireguard-go did not start" >&2; return 1; }
    wg set "$cl_rid-wg" private-key "$cl_dir/op.wgkey" listen-port "$cl_root_wg_port" || return 1
    ip addr add "$cl_ov_net.254/24" dev "$cl_rid-wg" && ip link set "$cl_rid-wg" up || return 1
    # Tailscale's netfilter rules drop 100.64.0.0/10 arriving on any other
    # interface than tailscale0 (its ts-input chain): the hosts' answers on
    # this run's interface are accepted first.
    local in_rule="INPUT -i $cl_rid-wg -s $cl_ov_net.0/24 -m comment --comment cara-cluster-$cl_rid -j ACCEPT"
    cl_record "iptables $in_rule"
    # shellcheck disable=SC2086 # a rule is several words
    iptables -I $in_rule || return 1

    # The operator's key and caravanctl's config live in the run directory.
    export CARAVANCTL_CONFIG="$cl_dir/ctl.yaml"
    "$cl_ctl" keygen --out "$cl_dir/operator.key" >"$cl_dir/keygen.out" || return 1
    cl_op_pub=$(sed -n 's/^public_key=//p' "$cl_dir/keygen.out")
    printf 'key: %s\n' "$cl_dir/operator.key" >"$CARAVANCTL_CONFIG"

    for i in $(seq 1 "$n"); do
        cl_make_host "$i" || { echo "host n$i could not be made" >&2; return 1; }
    done
    cl_start_agent 1 || return 1
    ctl 1 admit >/dev/null || { echo "admit of n1 failed" >&2; return 1; }
    cl_token=$("$cl_ctl" join-token create --uses 20 --ttl 1h 2>/dev/null) || return 1
    for i in $(seq 2 "$n"); do
        cl_start_agent "$i" --join "$(cl_ov 1):$cl_gossip_port" --token "$cl_token" || return 1
    done
}

# cluster_add I...: more hosts, joined with the token (the cluster is up).
cluster_add() {
    local i
    for i in "$@"; do cl_make_host "$i" || return 1; done
    for i in "$@"; do
        cl_start_agent "$i" --join "$(cl_ov 1):$cl_gossip_port" --token "$cl_token" || return 1
    done
}

# cluster_down: removes everything this run made (scripts/cluster-down.sh
# reads the state file).
cluster_down() {
    [ -n "${cl_dir:-}" ] && [ -d "$cl_dir" ] || return 0
    "$root/scripts/cluster-down.sh" "$cl_dir"
}

# ---- Faults -------------------------------------------------------------------------------------

# cut A B: drops the WireGuard underlay traffic between the hosts of the
# lists A and B ("1 2" "3 4 5"), both directions, in A's namespaces (the
# operator's laptop still reaches everyone).
cut() {
    local a b
    for a in $1; do
        for b in $2; do
            host_exec "$a" iptables -A CARA-CUT -o eth0 -d "$(cl_under "$b")" -p udp -j DROP || return 1
            host_exec "$a" iptables -A CARA-CUT -i eth0 -s "$(cl_under "$b")" -p udp -j DROP || return 1
        done
    done
}
cut_minority() { cut "$1" "$2"; }
# cut_oneway FROM TO: TO stops hearing FROM over the overlay (packets from
# FROM's overlay address dropped at TO's WireGuard interface); FROM still
# hears TO.
cut_oneway() {
    host_exec "$2" iptables -A CARA-CUT -i "$(cl_wg "$2")" -s "$(cl_ov "$1")" -j DROP
}
heal() {
    local i
    for i in "${cl_hosts[@]}"; do host_exec "$i" iptables -F CARA-CUT; done
}

# cl_netns_pids I: every process in host I's namespace (agent, wireguard-go,
# dockerd, containerd, shims).
cl_netns_pids() { ip netns pids "$(cl_ns "$1")" 2>/dev/null; }

# kill_host I: the host loses power: kill -9 of its agent, its dockerd and
# containerd, the containers they ran and its WireGuard; its disk (data
# roots) stays.
kill_host() {
    local i=$1
    "$root/scripts/cluster-down.sh" --kill-host "$(cl_ns "$i")" "$(cl_hdir "$i")/docker"
    rm -f "/var/run/wireguard/$(cl_wg "$i").sock"
    # The mounts a killed engine leaves: its next start finds them stale.
    "$root/scripts/cluster-down.sh" --umount "$(cl_hdir "$i")"
    return 0
}

# start_host I: WireGuard, dockerd and the agent again (its data dir holds
# its admission; it joins through any other host).
start_host() {
    local i=$1 j seeds=()
    if [ -z "$(cl_netns_pids "$i")" ]; then
        cl_start_wg "$i" || return 1
        cl_start_dockerd "$i" || return 1
    fi
    for j in "${cl_hosts[@]}"; do [ "$j" = "$i" ] || seeds+=("$(cl_ov "$j"):$cl_gossip_port"); done
    cl_start_agent "$i" --join "$(IFS=,; echo "${seeds[*]}")"
}
