#!/usr/bin/env bash
# make bench-compose: the same three-service project brought up and down by
# docker-compose (Debian's) and by caravanctl + cara-agent on the same
# engine, alternating, five runs each. Prints both medians and the ratios
# (goal: ratio_up and ratio_down <= 1.15), then the agent's resident memory
# with 50 projects applied.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${CARA_BENCH_RUNS:-5}
port=${CARA_BENCH_PORT:-17961}
image=caravanserai/busybox:bench
scripts/deps.sh docker-compose bc
scripts/ensure-dockerd.sh
scripts/test-image.sh "$image" >/dev/null
make --no-print-directory all >/dev/null

work=$(mktemp -d)
agent_pid=
cleanup() {
    [ -n "$agent_pid" ] && kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
    docker-compose -p cbench -f "$work/docker-compose.yml" down -v -t 10 >/dev/null 2>&1 || true
    ids=$(docker ps -aq --filter label=io.caravanserai.node=bench)
    [ -n "$ids" ] && docker rm -f $ids >/dev/null
    nets=$(docker network ls -q --filter label=io.caravanserai.node=bench)
    [ -n "$nets" ] && docker network rm $nets >/dev/null
    vols=$(docker volume ls -q --filter label=io.caravanserai.node=bench)
    [ -n "$vols" ] && docker volume rm $vols >/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# The same workload for both: a web server, a worker and a probe that
# reaches the web server by name, sharing one volume. Each process exits on
# SIGTERM, so neither tool waits out a stop timeout. (docker-compose reads
# "$$" as a literal "$".)
loop='trap "exit 0" TERM; while true; do sleep 1 & wait $!; done'
web='trap "kill $h; exit 0" TERM; httpd -f -p 8080 -h /www & h=$!; wait $h'
cat >"$work/bench.yaml" <<EOT
apiVersion: caravanserai/v1
kind: Project
metadata: {name: cbench}
spec:
  services:
    - {name: web, image: "$image", command: [sh, -c, '$web']}
    - {name: worker, image: "$image", command: [sh, -c, '$loop'], volumeMounts: [{name: data, mountPath: /data}]}
    - {name: probe, image: "$image", command: [sh, -c, 'trap "exit 0" TERM; while true; do wget -qO- http://web:8080/ >/dev/null; sleep 1 & wait \$!; done']}
  volumes: [{name: data}]
EOT
cat >"$work/docker-compose.yml" <<EOT
version: "3"
services:
  web: {image: "$image", command: [sh, -c, '${web//\$/\$\$}']}
  worker: {image: "$image", command: [sh, -c, '${loop//\$/\$\$}'], volumes: ["data:/data"]}
  probe: {image: "$image", command: [sh, -c, 'trap "exit 0" TERM; while true; do wget -qO- http://web:8080/ >/dev/null; sleep 1 & wait \$\$!; done']}
volumes: {data: {}}
EOT

export CARAVANCTL_CONFIG=$work/ctl.yaml
build/caravanctl keygen --out "$work/operator.key" >"$work/operator.pub"
printf 'peer: 127.0.0.1:%s\nkey: %s\n' "$port" "$work/operator.key" >"$CARAVANCTL_CONFIG"
build/cara-agent --name bench --data-dir "$work/data" --api "127.0.0.1:$port" \
    --operator-pubkey "$work/operator.pub" --log-level warn 2>"$work/agent.log" &
agent_pid=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
build/caravanctl admit >/dev/null

now() { date +%s.%N; }
declare -a cu cd ku kd
for i in $(seq 1 "$runs"); do
    t0=$(now); docker-compose -p cbench -f "$work/docker-compose.yml" up -d >/dev/null 2>&1; t1=$(now)
    docker-compose -p cbench -f "$work/docker-compose.yml" down -v -t 10 >/dev/null 2>&1; t2=$(now)
    cu+=("$(echo "$t1 - $t0" | bc)"); cd+=("$(echo "$t2 - $t1" | bc)")
    t0=$(now); build/caravanctl apply --wait -f "$work/bench.yaml" >/dev/null; t1=$(now)
    build/caravanctl delete project cbench --wait >/dev/null; t2=$(now)
    ku+=("$(echo "$t1 - $t0" | bc)"); kd+=("$(echo "$t2 - $t1" | bc)")
    echo "run $i: compose up ${cu[-1]} s down ${cd[-1]} s; caravanserai up ${ku[-1]} s down ${kd[-1]} s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
mcu=$(median "${cu[@]}"); mcd=$(median "${cd[@]}"); mku=$(median "${ku[@]}"); mkd=$(median "${kd[@]}")
echo "compose_up_median_s=$mcu compose_down_median_s=$mcd"
echo "caravanserai_up_median_s=$mku caravanserai_down_median_s=$mkd"
echo "ratio_up=$(echo "scale=3; $mku / $mcu" | bc)"
echo "ratio_down=$(echo "scale=3; $mkd / $mcd" | bc)"

# Memory with 50 small projects applied and running.
for i in $(seq 1 50); do
    sed "s/name: cbench/name: rss-$i/" "$work/bench.yaml" | awk '/- \{name: worker/ || !/- \{name: (web|probe)/' >"$work/p$i.yaml"
done
build/caravanctl apply --wait --timeout 10m $(for i in $(seq 1 50); do echo -f "$work/p$i.yaml"; done) >/dev/null
echo "projects_running=$(build/caravanctl get projects --phase Running -o json | grep -c '"name": "rss-')"
echo "agent_rss_kb=$(awk '/^VmRSS/ {print $2}' /proc/$agent_pid/status)"
for i in $(seq 1 50); do build/caravanctl delete project "rss-$i" >/dev/null; done
for _ in $(seq 1 120); do
    [ -z "$(docker ps -aq --filter label=io.caravanserai.node=bench)" ] && break; sleep 1
done
