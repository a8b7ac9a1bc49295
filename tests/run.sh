#!/usr/bin/env bash
# Runs every test suite and ends with one line: "N passed, N failed".
# Each suite prints "PASS name" or "FAIL name" per test; a suite that
# crashes or exits non-zero without printing a FAIL counts as one failure.
# A check that cannot run here prints "SKIP name (why)" and is counted
# apart, never as passed.
set -uo pipefail
cd "$(dirname "$0")/.."
export CARA_SRC_ROOT=$PWD
export BUILD=${BUILD:-build}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
suite_failures=0

run_suite() {
    local name=$1; shift
    echo "== $name"
    local before
    before=$(grep -c '^FAIL' "$log")
    "$@" 2>&1 | tee -a "$log"
    local rc=${PIPESTATUS[0]}
    local after
    after=$(grep -c '^FAIL' "$log")
    if [ "$rc" -ne 0 ] && [ "$after" -eq "$before" ]; then
        echo "FAIL suite:$name exited $rc without naming a failed test" | tee -a "$log"
    fi
}

run_suite unit "$BUILD/test-unit"
run_suite core scripts/check-core.sh
for s in tests/*/run-*.sh; do
    [ -x "$s" ] || continue
    run_suite "$(basename "$s" .sh)" "$s"
done

passed=$(grep -c '^PASS' "$log")
failed=$(grep -c '^FAIL' "$log")
skipped=$(grep -c '^SKIP' "$log")
echo
if [ "$failed" -gt 0 ]; then
    echo "Failed:"
    grep '^FAIL' "$log" | sed 's/^/  /'
fi
if [ "$skipped" -gt 0 ]; then
    echo "Not run here:"
    grep '^SKIP' "$log" | sed 's/^/  /'
fi
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
