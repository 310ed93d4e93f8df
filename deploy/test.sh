#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, builds, then runs every
# test as root against the real kernel. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
npx vitest run "$@"
