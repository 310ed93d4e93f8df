#!/usr/bin/env bash
# The demo (README's first command), as root on a fresh Debian/Ubuntu machine:
#   ./deploy/demo.sh        install what is needed, build, bring up a 3-host lab, start
#                           `shoal daemon` on each host, form a cluster (init + 2 joins) and run
#                           a 3-replica service with limits from the busybox test image on it,
#                           then a 2-task stack whose tasks on different hosts talk over its
#                           overlay network (ping and TCP from one task to the other)
#   ./deploy/demo.sh down   remove the lab (its daemons and containers) and the demo's files
# Environment: SHOAL_DEMO_LAB (lab name, default demo), SHOAL_DEMO_DIR (image output,
# default /var/lib/shoal-demo), SHOAL_DEMO_SKIP_INSTALL=1 (skip install-deps.sh: the test suite
# has already run it).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
LAB=${SHOAL_DEMO_LAB:-demo}
OUT=${SHOAL_DEMO_DIR:-/var/lib/shoal-demo}
HOSTS=(h1 h2 h3)

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
# The demo's files (daemon logs) are root's alone, like SHOAL_ROOT (proto/file-modes.ts); the lab
# makes each host's SHOAL_ROOT/SHOAL_RUN 0700 itself. An earlier run's open directory is corrected.
mkdir -p -m 0700 "$OUT"
if [ "$(stat -c %a "$OUT")" != 700 ]; then
  echo "shoal demo: $OUT was mode 0$(stat -c %a "$OUT"), open to other local users: changed to 0700" >&2
  chmod 0700 "$OUT"
fi
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

# What each task prints: its processes and the limits its cgroups hold (v1 paths first, then v2).
INSIDE='ps -o pid,user,comm; cat /sys/fs/cgroup/memory/memory.limit_in_bytes || cat /sys/fs/cgroup/memory.max;'
INSIDE+=' echo "cpu quota: $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max)";'
INSIDE+=' echo "pids max: $(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)"'

addr() { shoal lab exec --name "$LAB" "$1" -- sh -c 'echo $SHOAL_ADDR'; }

for h in "${HOSTS[@]}"; do
  step "$h: loading the image ($IMAGE_TAR)"
  in_host "$h" image load -i "$IMAGE_TAR"
  step "$h: starting shoal daemon (log: $OUT/daemon-$h.log)"
  a=$(addr "$h")
  # `lab down` stops it with everything else that lives in the host
  nohup node "$REPO/dist/cli/main.js" lab exec --name "$LAB" "$h" -- node "$REPO/dist/cli/main.js" daemon \
    --listen-addr "$a:4243" --advertise-addr "$a:4243" >"$OUT/daemon-$h.log" 2>&1 </dev/null &
  for _ in $(seq 1 150); do
    in_host "$h" info >/dev/null 2>&1 && break
    sleep 0.2
  done
  in_host "$h" info >/dev/null
done

ADDR1=$(addr h1)
step "h1: shoal init (the first manager, with the cluster's root CA)"
in_host h1 init --advertise-addr "$ADDR1:4243"
TOKEN=$(in_host h1 join-token worker -q)
for h in "${HOSTS[@]:1}"; do
  step "$h: shoal join (mutual TLS from here on)"
  in_host "$h" join --token "$TOKEN" "$ADDR1:4243"
done
step "h1: shoal node ls"
in_host h1 node ls

step "h1: a service of 3 replicas, at most one per node, with --limit-memory 64m --limit-cpu 0.5 --limit-pids 64"
in_host h1 service create --name web --replicas 3 --max-replicas 1 --limit-memory 64m --limit-cpu 0.5 --limit-pids 64 \
  busybox sh -c "$INSIDE; exec sleep 86400"
in_host h1 service ps web
step "h1: shoal service logs web (each task prints its processes and limits)"
for _ in $(seq 1 50); do
  [ "$(in_host h1 service logs web | grep -c 'pids max')" -ge 3 ] && break
  sleep 0.2
done
in_host h1 service logs web

step "h1: a stack whose 2 tasks sit on different hosts, on the stack's overlay network (talk_default)"
cat >"$OUT/talk.yml" <<'YAML'
services:
  pong:
    image: busybox
    command: ["sh", "-c", "ip -4 addr show eth0; while true; do echo \"pong from $$(hostname)\" | nc -l -p 7000; done"]
    deploy:
      replicas: 2
      placement:
        max_replicas_per_node: 1
YAML
in_host h1 stack deploy -c "$OUT/talk.yml" talk
for _ in $(seq 1 100); do
  [ "$(in_host h1 service logs talk_pong 2>/dev/null | grep -c 'inet ')" -ge 2 ] && break
  sleep 0.3
done
in_host h1 service ps talk_pong
# each task printed its overlay address; find the one running on h1 and talk to the other
OVERLAY_ADDRS=$(in_host h1 service logs talk_pong | grep -o 'inet [0-9.]*' | awk '{print $2}' | sort -u)
HERE=$(in_host h1 container ls 2>/dev/null | awk '$2 ~ /^talk_pong\./ {print $2; exit}')
if [ -z "$HERE" ]; then
  # none on h1: at most one per node, so the two are on h2 and h3
  PEER_HOST=h2
  HERE=$(in_host h2 container ls 2>/dev/null | awk '$2 ~ /^talk_pong\./ {print $2; exit}')
else
  PEER_HOST=h1
fi
MINE=$(in_host "$PEER_HOST" container exec "$HERE" ip -4 addr show eth0 2>/dev/null | grep -o 'inet [0-9.]*' | awk '{print $2}')
OTHER=$(echo "$OVERLAY_ADDRS" | grep -vx "$MINE" | head -n 1)
step "$PEER_HOST: from task $HERE ($MINE) to the task on another host ($OTHER), over the overlay"
# the managers send the hosts each other's addresses right after the tasks start: allow a moment
for _ in $(seq 1 20); do
  in_host "$PEER_HOST" container exec "$HERE" ping -c 1 -W 1 "$OTHER" >/dev/null 2>&1 && break
done
in_host "$PEER_HOST" container exec "$HERE" ping -c 2 -W 3 "$OTHER"
in_host "$PEER_HOST" container exec "$HERE" nc -w 5 "$OTHER" 7000

ADDR2=$(shoal lab exec --name "$LAB" h2 -- sh -c 'echo $SHOAL_ADDR')
step "h1 -> h2 ($ADDR2) over the lab's own underlay"
shoal lab exec --name "$LAB" h1 -- busybox ping -c 2 -W 2 "$ADDR2"

trap - ERR
step "done"
echo "The lab $LAB is still up:"
shoal lab ls
echo "Run commands in a host with:  node dist/cli/main.js lab exec --name $LAB h1 -- sh"
echo "Remove everything with:       ./deploy/demo.sh down"
