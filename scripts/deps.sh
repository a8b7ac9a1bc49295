#!/usr/bin/env bash
# Installs the Debian packages Caravanserai builds and tests with. Idempotent
# and quiet when everything is present; needs root (or sudo) only when
# something is missing.
set -euo pipefail

packages=(
    build-essential pkg-config
    libsodium-dev libuv1-dev libmsgpack-dev libcurl4-openssl-dev libyaml-dev
    libjansson-dev libmicrohttpd-dev libsqlite3-dev
    faketime  # tests: an agent started with its clock set back
    jq iptables  # tests/agent/run-failover.sh: the API's JSON, a real cut between agents
    wireguard-go wireguard-tools  # tests/cluster: the hosts' userspace WireGuard overlay
)
# Extra packages a later step may ask for: `scripts/deps.sh docker.io ...`.
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps: need root to install ${missing[*]}" >&2; exit 1; }
    sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# `apt-get update` must run once on a new machine before any install.
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
