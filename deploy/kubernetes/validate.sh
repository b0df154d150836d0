#!/usr/bin/env bash
# Offline check of the Kubernetes manifests, no cluster needed: renders the base and every overlay
# with `kubectl kustomize` and validates each object with validate.js (kubernetes-models@4 schemas,
# unknown fields, unknown kinds, service.json keys). Prints `k8s: N passed, M failed`.
# Exit 0 = all valid, 1 = something failed, 77 = kubectl or the npm packages are missing (skip).
# NODE_PATH: the node_modules of scripts/npm-deps.sh (installed and found here when unset).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
node="${NODE:-node}"

skip() {
  echo "SKIP: $*"
  exit 77
}
command -v kubectl >/dev/null ||
  skip "kubectl (1.21 or later) is not installed; Debian 12 has none that can render the overlay (README, Dependencies)"
command -v "$node" >/dev/null || skip "node is not installed"
if [[ -z "${NODE_PATH:-}" ]]; then
  NODE_PATH="$("$root/scripts/npm-deps.sh")" ||
    skip "scripts/npm-deps.sh could not install the npm packages"
  export NODE_PATH
fi

dirs=("$here/base")
for d in "$here"/overlays/*/; do
  [[ -f "$d/kustomization.yaml" ]] && dirs+=("${d%/}")
done
for d in "${dirs[@]}"; do
  name="${d#"$here/"}"
  echo "# ossup-source: $name"
  kubectl kustomize "$d" || echo "# ossup-kustomize-failed: $name"
  echo "---"
done | "$node" "$here/validate.js"
