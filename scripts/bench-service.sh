#!/usr/bin/env bash
# The service benchmarks in one command: installs what is missing, builds release, starts a
# durable throwaway PostgreSQL, runs every scenario with pgbench yardsticks in the same run
# (tests/load/bench.js), and writes build/bench/service-bench.{md,json}.
# Usage: scripts/bench-service.sh [--rounds=N]
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
scripts/install-deps.sh
NODE_PATH="$(scripts/npm-deps.sh)"
export NODE_PATH
scripts/build.sh release oss-upload-orchestrator oss-emulator ossup-load
export PGTMP_DURABLE=1
eval "$(scripts/pgtmp.sh start)"
trap '"$root/scripts/pgtmp.sh" stop "$PGTMP_DIR"' EXIT
node tests/load/bench.js "$@"
