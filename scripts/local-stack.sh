#!/usr/bin/env bash
# Brings up the whole local stack — a throwaway PostgreSQL, the OSS emulator and the service —
# and shows a real upload completing through it. The stack stays up until Ctrl-C; pass --once to
# stop right after the demo upload.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

scripts/install-deps.sh
NODE_PATH="$(scripts/npm-deps.sh)"
export NODE_PATH
scripts/build.sh release oss-upload-orchestrator oss-emulator >/dev/null

cleanup() {
  if [[ -n "${PGTMP_DIR:-}" ]]; then "$root/scripts/pgtmp.sh" stop "$PGTMP_DIR"; fi
}
trap cleanup EXIT
eval "$(scripts/pgtmp.sh start)"
echo "PostgreSQL at $DATABASE_URL"
node tests/e2e/demo.js "$@"
