#!/usr/bin/env bash
# Exits 0 when clang can link a libFuzzer target on this machine.
command -v clang >/dev/null || exit 1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n){(void)d;(void)n;return 0;}\n' >"$dir/f.c"
clang -fsanitize=fuzzer,address -o "$dir/f" "$dir/f.c" >/dev/null 2>&1
