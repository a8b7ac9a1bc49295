#!/usr/bin/env bash
# Imports the local test image `caravanserai/busybox:test` (no registry is
# reachable here): busybox-static's binary in an empty root with its applet
# links, so services can run sh, httpd, wget, nc and sleep. Idempotent.
set -euo pipefail
image=${1:-caravanserai/busybox:test}
sock=${DOCKER_SOCK:-/var/run/docker.sock}
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$sock" "http://docker/images/$image/json")
[ "$code" = 200 ] && exit 0
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ! "$busybox" --list >/dev/null 2>&1; then
    echo "test-image: busybox-static is needed (scripts/deps.sh busybox-static)" >&2
    exit 1
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/www" "$root/etc"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"
echo "hello from caravanserai" >"$root/www/index.html"
tar -C "$root" -c . | curl -sf --unix-socket "$sock" -X POST \
    -H 'Content-Type: application/x-tar' --data-binary @- \
    "http://docker/images/create?fromSrc=-&repo=${image%:*}&tag=${image##*:}" >/dev/null
echo "test-image: imported $image"
