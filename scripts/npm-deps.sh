#!/usr/bin/env bash
# Installs the npm packages of the cross-language tests (pinned by tests/npm/package-lock.json)
# into a cache outside the source tree and prints the node_modules path.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${OSSUP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ossup}/npm"
stamp="$cache/.lock.sha256"
want="$(sha256sum tests/npm/package.json tests/npm/package-lock.json | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" || ! -d "$cache/node_modules" ]]; then
  mkdir -p "$cache"
  cp tests/npm/package.json tests/npm/package-lock.json "$cache/"
  (cd "$cache" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$want" >"$stamp"
fi
echo "$cache/node_modules"
