#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, builds, then runs every
# test as root against the real kernel. CI runs exactly this: a type check of the whole tree
# (tests included), the tests, then every benchmark in smoke mode (small sizes, no anchors: it
# proves that each still runs, not how fast; a few minutes). Arguments go to vitest; with any,
# only those tests run (no type check, no benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
if [ "$#" -gt 0 ]; then
  exec npx vitest run "$@"
fi
npm run typecheck
npx vitest run
npx tsx test/bench-helpers/smoke-all.ts
