#!/usr/bin/env bash
# The sans-IO rule, checked on the built core library (DESIGN.md §1.4): no
# object of src/base, src/spec, src/crdt, src/gossip, src/sched or src/core may call
# the OS for time, randomness, files, sockets or processes, nor reach
# src/os or the agent's libraries. Lists the core's undefined symbols and
# fails on any from the deny list. Prints one PASS or FAIL line.
set -uo pipefail
cd "$(dirname "$0")/.."
lib=${BUILD:-build}/libcara-core.a
if [ ! -f "$lib" ]; then
    echo "FAIL core:no-os-calls ($lib not built)"
    exit 1
fi
deny='^(cara_os_.*|uv_.*|curl_.*|sqlite3_.*|MHD_.*|clock_gettime|gettimeofday|time|clock|nanosleep|usleep|sleep|rand|random|srand|srandom|drand48|getrandom|arc4random.*|randombytes.*|open|open64|openat|fopen|fopen64|creat|read|write|pread|pwrite|close|fclose|fread|fwrite|unlink|rename|mkdir|opendir|stat|fstat|lstat|socket|connect|bind|listen|accept|accept4|send|sendto|sendmsg|recv|recvfrom|recvmsg|getaddrinfo|fork|execve|execvp|system|popen|getenv|signal|sigaction|pthread_create)$'
bad=$(nm -u --format=posix "$lib" 2>/dev/null | awk '{print $1}' | sort -u | grep -E "$deny")
if [ -n "$bad" ]; then
    echo "FAIL core:no-os-calls (the core library calls: $(echo $bad | tr '\n' ' '))"
    exit 1
fi
echo "PASS core:no-os-calls"
