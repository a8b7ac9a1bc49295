#!/usr/bin/env bash
# The simulator's suite (docs/sim.md), run by tests/run.sh: scenarios that
# must hold every invariant, one scenario per checker built to break it
# (each must exit 1 naming that checker first), determinism, the outputs,
# and the link rule. Prints one PASS or FAIL line per check.
#
# CARA_SIM_SEEDS (default 3) sets how many seeds of the smoke scenario run;
# CARA_SIM_JOBS (default 2, the machine's cores) how many runs go at once.
set -uo pipefail
cd "$(dirname "$0")/../.."
sim=${BUILD:-build}/cara-sim
seeds=${CARA_SIM_SEEDS:-3}
jobs_max=${CARA_SIM_JOBS:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

pass() { echo "PASS sim:$1${2:+ ($2)}"; }
fail() {
    echo "FAIL sim:$1${2:+ ($2)}"
    status=1
}

if [ ! -x "$sim" ]; then
    fail build "$sim not built: make sim"
    exit 1
fi

# A JSON field of the summary, read without a JSON tool: the summary is
# printed one field per line.
field() { sed -n "s/^  \"$2\": \\(.*\\),\$/\\1/p" "$1" | head -n 1; }
# The checker named by the first violation on stderr.
first_checker() { sed -n 's/^cara-sim: .* the first, of \([a-z_]*\) at .*/\1/p' "$1"; }

# Runs cara-sim; expects exit 0, no violation and a converged liveness phase.
holds() {
    local name=$1; shift
    local out=$tmp/$name.json err=$tmp/$name.err
    "$sim" "$@" >"$out" 2>"$err"
    local rc=$?
    local v speed
    v=$(field "$out" violations_count)
    speed=$(field "$out" sim_speedup)
    if [ "$rc" -eq 0 ] && [ "$v" = 0 ] && grep -q '"views_agree_ms": [0-9]' "$out"; then
        pass "$name" "no violation, converged; $(printf '%.0f' "${speed:-0}")x real time"
    else
        fail "$name" "exit $rc, violations ${v:-?}: $(head -n 1 "$err")"
    fi
}

# Runs a scenario built to break one checker: exit 1, that checker first,
# and the seed named for a replay.
breaks() {
    local checker=$1 file=examples/sim/break-${1//_/-}.yaml
    local out=$tmp/break-$checker.json err=$tmp/break-$checker.err
    "$sim" --scenario "$file" >"$out" 2>"$err"
    local rc=$?
    local first
    first=$(first_checker "$err")
    if [ "$rc" -eq 1 ] && [ "$first" = "$checker" ] && grep -q -- '--seed [0-9]' "$err"; then
        pass "break-$checker" "fires on $file"
    else
        fail "break-$checker" "exit $rc, first violation '${first:-none}' on $file"
    fi
}

# Runs a check in the background, at most jobs_max at once; its PASS or
# FAIL lines are kept, and printed in the order the checks were started.
job_count=0
bg() {
    while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
        wait -n
    done
    job_count=$((job_count + 1))
    ("$@" >"$(printf '%s/lines.%03d' "$tmp" "$job_count")" 2>&1) &
}

# ---- Determinism ------------------------------------------------------------------------

determinism() {
    out=$tmp/det.json
    if "$sim" --scenario examples/sim/smoke.yaml --seed 11 --check-determinism --trace "$tmp/det.trace" \
        --plot "$tmp/det.svg" >"$out" 2>"$tmp/det.err" &&
        grep -q '"same": true' "$out"; then
        pass determinism "one seed, one trace hash: $(field "$out" trace_hash)"
    else
        fail determinism "$(head -n 1 "$tmp/det.err")"
    fi
    a=$(field "$out" trace_hash)
    "$sim" --scenario examples/sim/smoke.yaml --seed 11 --no-memo >"$tmp/nomemo.json" 2>/dev/null
    b=$(field "$tmp/nomemo.json" trace_hash)
    if [ -n "$a" ] && [ "$a" = "$b" ]; then
        pass memo-changes-nothing "the trace hash is the same without the memo of public-key operations"
    else
        fail memo-changes-nothing "with the memo $a, without $b"
    fi
    "$sim" --scenario examples/sim/smoke.yaml --seed 12 >"$tmp/other.json" 2>/dev/null
    c=$(field "$tmp/other.json" trace_hash)
    if [ -n "$c" ] && [ "$a" != "$c" ]; then
        pass trace-hash-sees-the-run "seed 11 and 12 differ"
    else
        fail trace-hash-sees-the-run "seed 11 and 12 both give $a"
    fi
}

# ---- 200 seeds of a small cluster under every in-model nemesis (the scheduling issue) -----
# Every checker is enforced on every seed. Not every seed holds yet: the
# seeds that break a checker are listed by number and checker in the
# check's line, and docs/scheduling.md ("Measured in the simulator") says
# which are known and why. More than sweep_bad_max of them (a regression)
# fail the check. CARA_SIM_SWEEP_BAD_MAX=0 makes it strict.
sweep_seeds=${CARA_SIM_SWEEP_SEEDS:-200}
sweep_bad_max=${CARA_SIM_SWEEP_BAD_MAX:-2}
sweep_part() { # FIRST LAST
    local seed
    for seed in $(seq "$1" "$2"); do
        "$sim" --scenario examples/sim/seeds.yaml --seed "$seed" >"$tmp/sweep.$seed.json" \
            2>"$tmp/sweep.$seed.err" || echo "$seed" >>"$tmp/sweep.failed.$1"
    done
}
sweep() {
    local half=$((sweep_seeds / 2)) seed bad="" n=0 which
    sweep_part 1 "$half" & sweep_part $((half + 1)) "$sweep_seeds" & wait
    for seed in $(cat "$tmp"/sweep.failed.* 2>/dev/null | sort -n); do
        which=$(sed -n 's/.*"checker": "\([a-z_]*\)".*/\1/p' "$tmp/sweep.$seed.json" | sort -u |
                tr '\n' '+' | sed 's/+$//')
        bad="$bad seed $seed (${which:-exit without a violation});"
        n=$((n + 1))
    done
    if [ "$n" -le "$sweep_bad_max" ]; then
        pass seeds "$sweep_seeds seeds of examples/sim/seeds.yaml, every checker enforced: $((sweep_seeds - n)) held everything${bad:+; broken, and known (docs/scheduling.md):$bad} at most $sweep_bad_max allowed"
    else
        fail seeds "$n of $sweep_seeds seeds broke a checker (at most $sweep_bad_max allowed):$bad replay one with: cara-sim --scenario examples/sim/seeds.yaml --seed N"
    fi
}

# ---- Invariants hold, each checker fires on a scenario built to break it, determinism ----

bg holds scale-100 --nodes 100 --duration 2m --nemesis all --seed 7 # the longest first
for seed in $(seq 1 "$seeds"); do
    bg holds "smoke-seed-$seed" --scenario examples/sim/smoke.yaml --seed "$seed"
done
bg holds partitions --scenario examples/sim/partitions.yaml
bg holds clocks --scenario examples/sim/clocks.yaml
bg holds runtime --scenario examples/sim/runtime.yaml
for checker in record_verifies genuine_only convergence membership acked_durable \
    scheduler_agreement two_copies liveness rendezvous; do
    bg breaks "$checker"
done
bg determinism
wait
sweep >"$tmp/lines.999"
cat "$tmp"/lines.*
if grep -q '^FAIL' "$tmp"/lines.*; then
    status=1
fi

# ---- The node objects decided and the runtimes ran ----------------------------------------

out=$tmp/smoke-seed-1.json
if grep -q '"node_publishes": [1-9]' "$out" && grep -q '"starts": [1-9]' "$out" &&
    grep -q '"running": [1-9]' "$out" && grep -q '"terminated": [1-9]' "$out"; then
    pass projects-run "smoke seed 1: $(sed -n 's/^ *"starts": \([0-9]*\),/\1/p' "$out") starts, $(sed -n 's/^ *"running": \([0-9]*\),/\1/p' "$out") projects running at the end"
else
    fail projects-run "smoke seed 1 published no node record, started no copy, or ended with nothing running or terminated"
fi

# ---- Outputs -------------------------------------------------------------------------------

"$sim" --nodes 8 --duration 60s --seed 3 --trace "$tmp/trace.txt" --plot "$tmp/plot.svg" \
    >"$tmp/out.json" 2>/dev/null
if grep -q 'liveness phase' "$tmp/trace.txt" && grep -q 'operator applies' "$tmp/trace.txt"; then
    pass trace "$(wc -l <"$tmp/trace.txt") lines"
else
    fail trace "no phases or operator actions in the trace"
fi
if head -c 5 "$tmp/plot.svg" | grep -q '<svg' && tail -n 1 "$tmp/plot.svg" | grep -q '</svg>' &&
    grep -q 'polyline' "$tmp/plot.svg"; then
    pass plot "$(wc -c <"$tmp/plot.svg") bytes of SVG"
else
    fail plot "not an SVG with a curve"
fi

# ---- A bad command line or scenario is refused, naming what is wrong ------------------------

printf 'nodes: 4\nnetwork:\n  lost: 1%%\n' >"$tmp/bad.yaml"
"$sim" --scenario "$tmp/bad.yaml" >/dev/null 2>"$tmp/bad.err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q 'network: unknown key "lost"' "$tmp/bad.err"; then
    pass bad-scenario "refused: $(head -n 1 "$tmp/bad.err")"
else
    fail bad-scenario "exit $rc: $(head -n 1 "$tmp/bad.err")"
fi
printf 'nodes: 4\nruntime:\n  pull_fail: 1%%\n' >"$tmp/bad3.yaml"
"$sim" --scenario "$tmp/bad3.yaml" >/dev/null 2>"$tmp/bad3.err"
rc=$?
printf 'nodes: 4\nchecks:\n  two_copies: maybe\n' >"$tmp/bad4.yaml"
"$sim" --scenario "$tmp/bad4.yaml" >/dev/null 2>"$tmp/bad4.err"
rc4=$?
if [ "$rc" -eq 2 ] && grep -q 'runtime: unknown key "pull_fail"' "$tmp/bad3.err" &&
    [ "$rc4" -eq 2 ] && grep -q 'two_copies: enforce or count' "$tmp/bad4.err"; then
    pass bad-runtime-and-checks "refused: $(head -n 1 "$tmp/bad3.err")"
else
    fail bad-runtime-and-checks "exit $rc and $rc4: $(head -n 1 "$tmp/bad3.err") / $(head -n 1 "$tmp/bad4.err")"
fi
"$sim" --nemesis isolate,earthquake >/dev/null 2>"$tmp/bad2.err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q 'unknown nemesis "earthquake"' "$tmp/bad2.err"; then
    pass bad-nemesis "refused"
else
    fail bad-nemesis "exit $rc"
fi

# ---- The simulator links the core alone (DESIGN.md §1.4) ------------------------------------

bad=$(nm "$sim" | awk '{print $NF}' | grep -E '^(cara_os_|uv_|curl_|sqlite3_|MHD_|cara_agent_)' | head -n 3)
if [ -z "$bad" ]; then
    pass core-only "no src/os, agent, libuv, curl, sqlite or microhttpd symbol in $sim"
else
    fail core-only "$sim holds $bad"
fi

exit $status
