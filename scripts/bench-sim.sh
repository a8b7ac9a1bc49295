#!/usr/bin/env bash
# The simulator's speed and memory at scale (issue 9, point 6; docs/sim.md,
# "Speed and scale"): one line per run with the wall time, the speed-up
# over real time (whole run, and past the boot), peak RSS and RSS per node.
#
# Runs, each on one core, one at a time:
#   20 nodes, every nemesis, 10 min simulated (target: >= 1000x real time)
#   100 nodes, every nemesis, 2 min
#   1000 nodes, every in-model nemesis of large.yaml, BENCH_SIM_1000 (default
#     10m; target: within 2 min of wall time)
#   10,000 nodes: refused, and why (the admission cap).
# Knobs: BENCH_SIM_SEED (1), BENCH_SIM_1000 (10m), BENCH_SIM_SKIP_1000=1.
set -uo pipefail
cd "$(dirname "$0")/.."
sim=${BUILD:-build}/cara-sim
seed=${BENCH_SIM_SEED:-1}
d1000=${BENCH_SIM_1000:-10m}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ ! -x "$sim" ]; then
    echo "bench-sim: $sim not built (make sim)" >&2
    exit 1
fi

# A field of the summary, which prints one field per line.
field() { sed -n "s/^ *\"$2\": \\([^,]*\\),\$/\\1/p" "$1" | head -n 1; }

run() {
    local name=$1; shift
    local out=$tmp/$name.json
    "$sim" --seed "$seed" "$@" >"$out" 2>"$tmp/$name.err"
    local rc=$?
    local nodes wall speed run_speed boot rss per v
    nodes=$(field "$out" nodes)
    wall=$(field "$out" wall_s)
    speed=$(field "$out" sim_speedup)
    run_speed=$(field "$out" run_speedup)
    boot=$(field "$out" boot_wall_s)
    rss=$(field "$out" peak_rss_bytes)
    per=$(field "$out" per_node_bytes)
    v=$(field "$out" violations_count)
    if [ -z "$wall" ]; then
        printf '%-26s exit %d: %s\n' "$name" "$rc" "$(head -n 1 "$tmp/$name.err")"
        return
    fi
    printf '%-26s %5s nodes  wall %7.1f s (boot %6.1f s)  %7.0fx real time (%7.0fx past the boot)  RSS %6.0f MB, %5.2f MB a node  violations %s\n' \
        "$name" "$nodes" "$wall" "$boot" "$speed" "$run_speed" "$((rss / 1000000))" \
        "$(echo "$per / 1000000" | bc -l)" "$v"
}

echo "bench-sim: seed $seed, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
run "20 nodes, all, 10m" --nodes 20 --duration 10m --nemesis all
run "100 nodes, all, 2m" --nodes 100 --duration 2m --nemesis all
if [ "${BENCH_SIM_SKIP_1000:-0}" != 1 ]; then
    run "1000 nodes, large, $d1000" --scenario examples/sim/large.yaml --duration "$d1000"
fi
run "10000 nodes" --nodes 10000 --duration 10s --nemesis none
