# Shell helpers shared by the tests/agent suites. Source it after setting
# `suite` (the prefix of every check's name) and `tmp` (the run's own
# temporary directory).

pass() { echo "PASS $suite:$1"; }
# fail NAME [WHY]: the check failed; what the last `run` printed follows.
fail() {
    echo "FAIL $suite:$1${2:+ ($2)}"
    for f in "$tmp/out" "$tmp/err"; do
        [ -s "$f" ] && sed 's/^/    /' "$f" | head -15
    done
    return 0
}

# run NAME WANT CMD...: runs CMD with stdout/stderr in $tmp/out, $tmp/err and
# checks its exit code; returns 0 when it matched.
run() {
    local name=$1 want=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$?
    if [ "$got" -eq "$want" ]; then pass "$name"; return 0; fi
    fail "$name" "exit $got, want $want"
    return 1
}

# has NAME FILE PATTERN: FILE matches the extended regex PATTERN (lacks: not).
has() {
    if grep -qE -- "$3" "$2"; then pass "$1"; else fail "$1" "$(basename "$2") lacks /$3/"; fi
}
lacks() {
    if grep -qE -- "$3" "$2"; then fail "$1" "$(basename "$2") has /$3/"; else pass "$1"; fi
}

# poll SECONDS CMD...: runs CMD every 0.3 s until it succeeds or time runs out.
poll() {
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.3
    done
}

# remove_projects NAME...: every engine object labelled with these projects.
remove_projects() {
    command -v docker >/dev/null || return 0
    local p f
    for p in "$@"; do
        f="label=io.caravanserai.project=$p"
        docker ps -aq --filter "$f" | xargs -r docker rm -f >/dev/null 2>&1
        docker network ls -q --filter "$f" | xargs -r docker network rm >/dev/null 2>&1
        docker volume ls -q --filter "$f" | xargs -r docker volume rm -f >/dev/null 2>&1
    done
    return 0
}
