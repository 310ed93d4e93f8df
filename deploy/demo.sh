#!/usr/bin/env bash
# The demo (README's first command), as root on a fresh Debian/Ubuntu machine:
#   ./deploy/demo.sh        install what is needed, build, bring up a 2-host lab, and run a
#                           container with limits from the busybox test image on each host
#   ./deploy/demo.sh down   remove the lab and the demo's image files
# Environment: SHOAL_DEMO_LAB (lab name, default demo), SHOAL_DEMO_DIR (image output,
# default /var/lib/shoal-demo), SHOAL_DEMO_SKIP_INSTALL=1 (skip install-deps.sh: the test suite
# has already run it).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
LAB=${SHOAL_DEMO_LAB:-demo}
OUT=${SHOAL_DEMO_DIR:-/var/lib/shoal-demo}
HOSTS=(h1 h2)

shoal() { node "$REPO/dist/cli/main.js" "$@"; }
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
# Runs the shoal CLI inside a lab host, where SHOAL_ROOT/SHOAL_RUN are that host's own.
in_host() { local host=$1; shift; shoal lab exec --name "$LAB" "$host" -- node "$REPO/dist/cli/main.js" "$@"; }

case "${1:-up}" in
  up) ;;
  down)
    shoal lab down --name "$LAB"
    rm -rf "$OUT"
    exit 0
    ;;
  *)
    echo "usage: $0 [up|down]" >&2
    exit 2
    ;;
esac

if [ "$(id -u)" != 0 ]; then
  echo "shoal demo: run this as root (it makes namespaces, cgroups and mounts)" >&2
  exit 1
fi

if [ "${SHOAL_DEMO_SKIP_INSTALL:-}" != 1 ]; then
  step "installing dependencies and building (deploy/install-deps.sh)"
  bash deploy/install-deps.sh
fi

step "building the busybox test image into $OUT"
mkdir -p "$OUT"
npx tsx deploy/images/build.ts --out "$OUT" busybox
IMAGE_TAR=$OUT/busybox.oci.tar
if [ ! -f "$IMAGE_TAR" ]; then
  echo "shoal demo: the image builder wrote no $IMAGE_TAR" >&2
  exit 1
fi

step "bringing up a ${#HOSTS[@]}-host lab named $LAB"
# A lab left by an earlier run of the demo is replaced, so the demo can be run again.
shoal lab down --name "$LAB" >/dev/null
shoal lab up --name "$LAB" --hosts "${#HOSTS[@]}"
trap 'echo; echo "shoal demo: failed; the lab is still up. Look around with: shoal lab exec --name $LAB h1 -- sh; remove it with: ./deploy/demo.sh down" >&2' ERR

# What each container prints: its processes, its hostname and the limits its cgroups hold
# (v1 paths first, then v2).
INSIDE='ps; hostname; cat /sys/fs/cgroup/memory/memory.limit_in_bytes || cat /sys/fs/cgroup/memory.max;'
INSIDE+=' echo "cpu quota: $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max)";'
INSIDE+=' echo "pids max: $(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)"'

for h in "${HOSTS[@]}"; do
  step "$h: loading the image ($IMAGE_TAR)"
  in_host "$h" image load -i "$IMAGE_TAR"
  step "$h: running a container with --memory 64m --cpus 0.5 --pids-limit 64"
  in_host "$h" container run --rm --memory 64m --cpus 0.5 --pids-limit 64 --hostname "web-$h" busybox \
    sh -c "$INSIDE"
done

ADDR2=$(shoal lab exec --name "$LAB" h2 -- sh -c 'echo $SHOAL_ADDR')
step "h1 -> h2 ($ADDR2) over the lab's own underlay"
shoal lab exec --name "$LAB" h1 -- busybox ping -c 2 -W 2 "$ADDR2"

trap - ERR
step "done"
echo "The lab $LAB is still up:"
shoal lab ls
echo "Run commands in a host with:  node dist/cli/main.js lab exec --name $LAB h1 -- sh"
echo "Remove everything with:       ./deploy/demo.sh down"
