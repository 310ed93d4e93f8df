#!/usr/bin/env bash
# Installs everything shoal needs on a fresh Debian/Ubuntu machine, as root: Debian packages,
# npm packages (npm ci), the native addon and shim, and the TypeScript build. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "shoal: run this as root (it installs packages and makes namespaces, cgroups and mounts)" >&2
  exit 1
fi

# Runtime needs: iproute2 (netns, veth, bridge, vxlan), nftables, libseccomp (shim),
# util-linux (nsenter), busybox-static and redis-server (test images are built from them),
# protobuf-compiler (proto codegen check), crun/runc/etcd (benchmark yardsticks).
PKGS=(build-essential python3 pkg-config libseccomp-dev iproute2 nftables util-linux procps psmisc kmod
      busybox-static redis-server protobuf-compiler crun runc etcd-server etcd-client iperf3 conntrack)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# redis-server and etcd are started by tests on their own ports; do not leave the packaged
# services running on the default ones.
for svc in redis-server etcd; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build
