#!/usr/bin/env bash
# Malformed manifests and the exact errors they must produce. For each
# corpus/NAME.yaml, `caravanctl validate -f NAME.yaml` (run inside corpus/,
# so the source is the bare file name) must exit 1 and print exactly
# corpus/NAME.err on stderr.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-build}
case $build in /*) ctl=$build/caravanctl ;; *) ctl=$root/$build/caravanctl ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$here/corpus" || exit 1
for yaml in *.yaml; do
    name=${yaml%.yaml}
    if [ ! -f "$name.err" ]; then
        echo "FAIL corpus:$name (no $name.err)"
        continue
    fi
    "$ctl" validate -f "$yaml" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" -eq 1 ] && cmp -s "$tmp/err" "$name.err"; then
        echo "PASS corpus:$name"
    else
        echo "FAIL corpus:$name (exit $rc, want 1)"
        diff -u "$name.err" "$tmp/err" | sed 's/^/    /'
    fi
done
