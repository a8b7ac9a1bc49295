#!/usr/bin/env bash
# caravanctl's command-line contract: help, usage errors (exit 2), failures
# (exit 1), and that what `convert` prints is itself a valid manifest.
set -uo pipefail
cd "$(dirname "$0")/../.."
ctl=${BUILD:-build}/caravanctl
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect NAME CODE CMD...: runs CMD, checks its exit code.
expect() {
    local name=$1 want=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$?
    if [ "$got" -eq "$want" ]; then
        echo "PASS cli:$name"
    else
        echo "FAIL cli:$name (exit $got, want $want)"
        sed 's/^/    /' "$tmp/err" | head -20
    fi
}

# expect_err NAME PATTERN: the last command's stderr matches PATTERN.
expect_err() {
    if grep -qE -- "$2" "$tmp/err"; then echo "PASS cli:$1"; else
        echo "FAIL cli:$1 (stderr lacks /$2/)"; sed 's/^/    /' "$tmp/err" | head -20; fi
}

expect help 0 "$ctl" --help
expect no-command 2 "$ctl"
expect unknown-command 2 "$ctl" frobnicate
expect_err unknown-command-named "unknown command 'frobnicate'"
expect unknown-global-flag 2 "$ctl" --frob validate
for cmd in validate convert; do
    expect "$cmd-help" 0 "$ctl" "$cmd" --help
    expect "$cmd-unknown-flag" 2 "$ctl" "$cmd" --bogus -f examples/wordpress.yaml
    expect_err "$cmd-unknown-flag-named" "unknown option '--bogus'"
    expect "$cmd-missing-value" 2 "$ctl" "$cmd" -f
    expect "$cmd-no-file" 2 "$ctl" "$cmd"
done

for f in examples/*.yaml; do
    expect "validate-example-$(basename "$f" .yaml)" 0 "$ctl" validate -f "$f"
done
expect validate-stdin 0 sh -c "'$ctl' validate -f - < examples/wordpress.yaml"
printf 'apiVersion: caravanserai/v1\nkind: Project\nmetadata: {name: x}\nspec: {services: [{name: a}]}\n' >"$tmp/bad.yaml"
expect validate-invalid 1 "$ctl" validate -f "$tmp/bad.yaml"
expect_err validate-invalid-message "bad.yaml:4:[0-9]+: spec.services\[0\].image: required field is missing"
expect validate-stdin-invalid 1 sh -c "'$ctl' validate -f - < '$tmp/bad.yaml'"
expect_err validate-stdin-source "^<stdin>:4:"
expect validate-mixed 1 "$ctl" validate -f examples/wordpress.yaml -f "$tmp/bad.yaml"
expect validate-missing-file 1 "$ctl" validate -f "$tmp/nope.yaml"
expect_err validate-missing-file-named "nope.yaml: cannot read"

expect convert-bad-format 2 "$ctl" convert -f examples/wordpress.yaml -o xml
expect convert-invalid 1 "$ctl" convert -f "$tmp/bad.yaml"
for fmt in json yaml; do
    "$ctl" convert -f examples/wordpress.yaml -o "$fmt" >"$tmp/conv.$fmt" 2>"$tmp/err"
    expect "convert-$fmt-revalidates" 0 "$ctl" validate -f "$tmp/conv.$fmt"
    "$ctl" convert -f "$tmp/conv.$fmt" -o "$fmt" >"$tmp/conv2.$fmt" 2>"$tmp/err"
    expect "convert-$fmt-is-a-fixed-point" 0 cmp "$tmp/conv.$fmt" "$tmp/conv2.$fmt"
done
expect convert-multi-doc 0 "$ctl" convert -f examples/preview.yaml -o json
cp "$tmp/out" "$tmp/list.json"
expect convert-multi-doc-list 0 grep -q '"kind": "List"' "$tmp/list.json"

# keygen: a 0600 key file in a 0700 directory, never overwritten silently.
expect keygen-help 0 "$ctl" keygen --help
expect keygen-unknown-flag 2 "$ctl" keygen --bogus
expect keygen-default-path 0 env HOME="$tmp/home" "$ctl" keygen
cp "$tmp/out" "$tmp/keygen.out"
expect keygen-prints-public-key 0 grep -qE '^public_key=[0-9a-f]{64}$' "$tmp/keygen.out"
key="$tmp/home/.config/caravanserai/operator.key"
expect keygen-file-mode-0600 0 test "$(stat -c %a "$key")" = 600
expect keygen-dir-mode-0700 0 test "$(stat -c %a "$(dirname "$key")")" = 700
cp "$key" "$tmp/key.before"
expect keygen-refuses-overwrite 1 env HOME="$tmp/home" "$ctl" keygen
expect keygen-refusal-keeps-key 0 cmp "$key" "$tmp/key.before"
expect keygen-force-replaces 0 env HOME="$tmp/home" "$ctl" keygen --force
expect keygen-force-new-key 1 cmp -s "$key" "$tmp/key.before"

# The API commands: help, usage errors (2) and failures that need no peer (1).
for cmd in apply get describe delete logs watch nodes admit sign-request join-token; do
    expect "$cmd-help" 0 "$ctl" "$cmd" --help
    expect "$cmd-unknown-flag" 2 "$ctl" "$cmd" --bogus
    expect_err "$cmd-unknown-flag-named" "unknown option '--bogus'"
done
expect apply-no-file 2 "$ctl" apply
expect apply-bad-timeout 2 "$ctl" apply -f examples/wordpress.yaml --wait --timeout soon
expect get-no-kind 2 "$ctl" get
expect get-unknown-kind 2 "$ctl" get widgets
expect get-bad-output 2 "$ctl" get projects -o xml
expect describe-no-name 2 "$ctl" describe project
expect delete-unknown-kind 2 "$ctl" delete widget x
expect logs-no-service 2 "$ctl" logs web
expect logs-bad-tail 2 "$ctl" logs web/app --tail many
expect watch-unknown-kind 2 "$ctl" watch widgets
expect bad-peer 2 "$ctl" --peer 'x:99999' get projects
expect_err bad-peer-named "invalid --peer"

# Config file: CARAVANCTL_CONFIG names it; unknown keys are errors.
printf 'peer: 127.0.0.1:1\n' >"$tmp/cfg.yaml"
expect config-peer-used 1 env HOME="$tmp/home" CARAVANCTL_CONFIG="$tmp/cfg.yaml" "$ctl" get projects
expect_err config-peer-unreachable "^error: cannot reach 127\.0\.0\.1:1: Connection refused$"
printf 'peer: 127.0.0.1:1\nkeyy: /x\n' >"$tmp/cfg-bad.yaml"
expect config-unknown-key 1 env HOME="$tmp/home" CARAVANCTL_CONFIG="$tmp/cfg-bad.yaml" "$ctl" get projects
expect_err config-unknown-key-named 'cfg-bad.yaml:2: unknown key "keyy"'
printf -- '- a\n- b\n' >"$tmp/cfg-list.yaml"
printf 'peer: 127.0.0.1:1\npeer: 127.0.0.1:2\n' >"$tmp/cfg-dup.yaml"
expect config-duplicate-key 1 env HOME="$tmp/home" CARAVANCTL_CONFIG="$tmp/cfg-dup.yaml" "$ctl" get projects
expect_err config-duplicate-key-named 'cfg-dup.yaml:2: duplicate key "peer"'
expect config-not-a-mapping 1 env CARAVANCTL_CONFIG="$tmp/cfg-list.yaml" "$ctl" get projects
printf 'key: %s\n' "$tmp/none.key" >"$tmp/cfg-key.yaml"
expect config-key-missing 1 env CARAVANCTL_CONFIG="$tmp/cfg-key.yaml" "$ctl" admit --pubkey 00 n1
expect_err config-key-missing-named "no operator key at $tmp/none.key"
expect apply-invalid-offline 1 env CARAVANCTL_CONFIG="$tmp/cfg.yaml" "$ctl" apply -f "$tmp/bad.yaml"
expect_err apply-invalid-offline-why "spec.services\[0\].image: required field is missing"
nodekey=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
expect sign-request-prints 0 env HOME="$tmp/home" CARAVANCTL_CONFIG=/dev/null "$ctl" sign-request GET /v1/projects --node-key "$nodekey"
cp "$tmp/out" "$tmp/headers"
expect sign-request-headers 0 grep -qE '^X-Cara-Signature: [0-9a-f]{128}$' "$tmp/headers"
expect sign-request-names-the-node 0 grep -qx "X-Cara-Node: $nodekey" "$tmp/headers"
expect sign-request-bad-node-key 2 env HOME="$tmp/home" CARAVANCTL_CONFIG=/dev/null "$ctl" sign-request GET /v1/projects --node-key 0011
expect_err sign-request-bad-node-key-why "--node-key needs a public key of 64 hex digits"
# Without --node-key it asks the peer for its key; an unreachable peer is a failure.
expect sign-request-asks-the-peer 1 env HOME="$tmp/home" CARAVANCTL_CONFIG=/dev/null "$ctl" --peer 127.0.0.1:1 sign-request GET /v1/projects
expect_err sign-request-asks-the-peer-why "^error: cannot reach 127\.0\.0\.1:1: Connection refused$"

# join-token create: one token line on stdout, its expiry and uses on
# stderr; offline (no peer); bad --ttl and --uses values are usage errors.
jt() { env HOME="$tmp/home" CARAVANCTL_CONFIG=/dev/null "$ctl" join-token "$@"; }
token_re='^cara-join-v1\.[A-Za-z0-9_-]{200,}\.[A-Za-z0-9_-]{43}$'
expect join-token-create 0 jt create
expect_err join-token-default-says-expiry "^join token expires [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z \(in 86400 s\); admits up to 1 node$"
cp "$tmp/out" "$tmp/token1"
expect join-token-one-line 0 test "$(wc -l <"$tmp/token1")" -eq 1
expect join-token-format 0 grep -qE "$token_re" "$tmp/token1"
expect join-token-ttl-uses 0 jt create --ttl 90m --uses 3
cp "$tmp/out" "$tmp/token2"
expect_err join-token-ttl-uses-said "\(in 5400 s\); admits up to 3 nodes$"
expect join-token-format-2 0 grep -qE "$token_re" "$tmp/token2"
expect join-token-fresh-each-time 1 cmp -s "$tmp/token1" "$tmp/token2"
for ttl in 45s 30m 12h 365d; do
    expect "join-token-ttl-$ttl" 0 jt create --ttl "$ttl"
done
expect join-token-uses-max 0 jt create --uses 1000
for ttl in 0h 366d 1.5h 24 h -1h 10000000000s ""; do
    expect "join-token-bad-ttl-'$ttl'" 2 jt create --ttl "$ttl"
    expect_err "join-token-bad-ttl-'$ttl'-says" "--ttl needs a duration such as 30m, 24h or 7d"
done
for uses in 0 1001 -1 two 1e3 "" 01x; do
    expect "join-token-bad-uses-'$uses'" 2 jt create --uses "$uses"
    expect_err "join-token-bad-uses-'$uses'-says" "--uses needs a whole number from 1 to 1000, got '$uses'"
done
expect join-token-no-subcommand 2 jt
expect_err join-token-no-subcommand-says "expected a subcommand: create"
expect join-token-unknown-subcommand 2 jt revoke
expect_err join-token-unknown-subcommand-says "unknown subcommand 'revoke'"
expect join-token-extra-argument 2 jt create now
expect join-token-ttl-needs-value 2 jt create --ttl
expect join-token-no-key 1 env CARAVANCTL_CONFIG="$tmp/cfg-key.yaml" "$ctl" join-token create
expect_err join-token-no-key-says "no operator key at $tmp/none.key"

# cara-agent's own command line and --config file (no engine needed: the
# agent serves its API while the engine is unreachable).
agent=${BUILD:-build}/cara-agent
expect agent-help 0 "$agent" --help
expect agent-unknown-flag 2 "$agent" --bogus
expect agent-needs-operator-key 2 "$agent" --name n1 --data-dir "$tmp/a"
expect_err agent-needs-operator-key-says "at least one --operator-pubkey"
expect agent-bad-key 2 "$agent" --name n1 --data-dir "$tmp/a" --operator-pubkey "$tmp/nope.pub"
expect agent-bad-name 2 "$agent" --name Bad_Name --operator-pubkey "$tmp/keygen.out"
printf 'name: n1\nbogusKey: 1\n' >"$tmp/agent.yaml"
expect agent-config-unknown-key 2 "$agent" --config "$tmp/agent.yaml"
expect_err agent-config-unknown-key-says 'agent.yaml:2: unknown key "bogusKey"'
aport=$((20000 + RANDOM % 40000))
printf 'name: cfgnode\ndataDir: %s\napi: ["127.0.0.1:%s"]\noperatorPubkeys: [%s]\ndockerHost: unix://%s/no.sock\nlogFormat: json\n' \
    "$tmp/adata" "$aport" "$tmp/keygen.out" "$tmp" >"$tmp/agent.yaml"
health() { curl -sf "http://127.0.0.1:$aport/healthz"; }
for name in cfgnode flagnode; do
    extra=(); [ "$name" = flagnode ] && extra=(--name flagnode)
    "$agent" --config "$tmp/agent.yaml" "${extra[@]}" 2>"$tmp/agent.log" &
    apid=$!
    for _ in $(seq 1 50); do health >/dev/null && break; sleep 0.1; done
    health >"$tmp/health.json" 2>/dev/null
    expect "agent-config-$name-serves" 0 grep -q "\"node\":\"$name\"" "$tmp/health.json"
    kill -TERM "$apid"; wait "$apid"
    expect "agent-config-$name-sigterm-exit-0" 0 test $? -eq 0
done
expect agent-logs-json 0 grep -q '^{"ts":' "$tmp/agent.log"

# What a peer says is printed without its terminal control characters: a
# hostile node cannot send escape sequences to the operator's terminal.
fport=$((20000 + RANDOM % 40000))
cat >"$tmp/fakepeer.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"error": "not found \\u001b[31mRED\\u001b[0m \\u0007bell", "reason": "NotFound"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
s.timeout = 30
for _ in range(5):  # the readiness probe, the request, and a margin
    s.handle_request()
PY
python3 "$tmp/fakepeer.py" "$fport" &
fpid=$!
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$fport") 2>/dev/null && break; sleep 0.1; done
expect peer-error-is-a-failure 1 env CARAVANCTL_CONFIG=/nonexistent "$ctl" --peer "127.0.0.1:$fport" get projects x
expect_err peer-error-printed "not found \?\[31mRED"
cp "$tmp/err" "$tmp/peer.err"
expect peer-error-has-no-escape 1 grep -q $'\x1b' "$tmp/peer.err"
kill "$fpid" 2>/dev/null; wait "$fpid" 2>/dev/null || true
