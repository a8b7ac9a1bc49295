#!/usr/bin/env bash
# A short run of every libFuzzer target over its seeds, as part of the test
# suite: CARA_FUZZ_SECONDS (default 5) seconds each. `make fuzz` runs them
# for longer. Prints one PASS, FAIL or SKIP line per target.
#
# The new inputs a run finds go to a scratch corpus, never into the
# committed seeds; a crashing input is kept under $FUZZ_BUILD as
# NAME-crash-... so it can be replayed with `$FUZZ_BUILD/NAME FILE`.
set -uo pipefail
cd "$(dirname "$0")/../.."
fuzz_build=${FUZZ_BUILD:-build-fuzz}
seconds=${CARA_FUZZ_SECONDS:-5}
status=0

for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    bin=$fuzz_build/$name
    if [ "${CARA_SKIP_FUZZ:-0}" = 1 ]; then
        echo "SKIP fuzz:$name (CARA_SKIP_FUZZ=1: this build runs without the fuzzers)"
        continue
    fi
    if [ ! -x "$bin" ]; then
        if scripts/have-libfuzzer.sh; then
            echo "SKIP fuzz:$name (not built: run make FUZZ_BUILD=$fuzz_build fuzz-build)"
        else
            echo "SKIP fuzz:$name (libFuzzer not available)"
        fi
        continue
    fi
    corpus=$(mktemp -d)
    log=$(mktemp)
    "$bin" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$fuzz_build/$name-" "$corpus" "tests/fuzz/seeds/$name" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    if [ "$rc" -eq 0 ]; then
        echo "PASS fuzz:$name (${execs:-?} runs in ${seconds} s)"
    else
        echo "FAIL fuzz:$name (exit $rc); last lines of its log:"
        tail -n 30 "$log" | sed 's/^/    /'
        status=1
    fi
    rm -rf "$corpus" "$log"
done
exit $status
