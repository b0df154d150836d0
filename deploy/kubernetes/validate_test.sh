#!/usr/bin/env bash
# Proves that validate.js can fail: feeds it broken manifests and expects exit 1 with the reason,
# and a valid one and expects exit 0. Needs node and the npm packages, not kubectl.
# Exit 0 = every case behaved, 1 = not, 77 = node or the npm packages are missing (skip).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
node="${NODE:-node}"
command -v "$node" >/dev/null || { echo "SKIP: node is not installed"; exit 77; }
if [[ -z "${NODE_PATH:-}" ]]; then
  NODE_PATH="$("$here/../../scripts/npm-deps.sh")" || { echo "SKIP: no npm packages"; exit 77; }
  export NODE_PATH
fi

passed=0
failed=0
# expect NAME WANT_STATUS WANT_TEXT  (manifest on stdin)
expect() {
  local out status=0
  out="$("$node" "$here/validate.js" 2>&1)" || status=$?
  if [[ "$status" == 77 ]]; then echo "$out"; exit 77; fi
  if [[ "$status" == "$2" && "$out" == *"$3"* ]]; then
    passed=$((passed + 1))
    echo "ok   $1"
  else
    failed=$((failed + 1))
    echo "FAIL $1: want status $2 and '$3', got status $status:"
    sed 's/^/     /' <<<"$out"
  fi
}

# A valid Service; $1 is extra text for its port entry.
service() {
  printf 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  selector: {app: a}\n'
  printf '  ports:\n    - name: grpc\n      port: 50051\n%s' "$1"
}
# A valid Deployment; $1 replaces the replicas value, $2 is the container's extra text.
deployment() {
  printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, labels: {app: a}}\n'
  printf 'spec:\n  replicas: %s\n  selector: {matchLabels: {app: a}}\n' "$1"
  printf '  template:\n    metadata: {labels: {app: a}}\n    spec:\n      containers:\n'
  printf '        - name: c\n          image: i\n%s' "$2"
}

expect "a valid Service and Deployment pass" 0 "k8s: 2 passed, 0 failed" \
  < <(service ""; echo ---; deployment 2 "")
expect "replicas: \"two\" fails" 1 "data/spec/replicas must be integer" < <(deployment '"two"' "")
expect "an unknown field (portz) fails" 1 "unknown field /spec/ports/0/portz" \
  < <(service "      portz: 50051"$'\n')
expect "a misspelt nested field fails" 1 \
  "unknown field /spec/template/spec/containers/0/securityContext/runAsNonroot" \
  < <(deployment 2 "          securityContext: {runAsNonroot: true}"$'\n')
expect "labels and annotations are maps, not unknown fields" 0 "k8s: 1 passed, 0 failed" \
  < <(printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n'
       printf '  labels: {x.example/any: y}\n  annotations: {z: w}\ndata: {k: v}\n')
expect "an unknown kind fails" 1 "unknown kind example.com/v1/Widget" \
  < <(printf 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n')
expect "a nested type is not a kind" 1 "unknown kind apps/v1/DeploymentSpec" \
  < <(printf 'apiVersion: apps/v1\nkind: DeploymentSpec\n')
expect "a misspelt service.json key fails" 1 "service.json: unknown key callback.snii" \
  < <(printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  service.json: %s\n' \
        "'{\"callback\": {\"snii\": true}}'")
expect "a failed kustomize build counts" 1 "FAIL overlays/x: kubectl kustomize failed" \
  < <(printf '# ossup-source: overlays/x\n# ossup-kustomize-failed: overlays/x\n---\n')

expect "empty input fails" 1 "no Kubernetes objects in the input" < /dev/null

echo "k8s-negative: $passed passed, $failed failed"
[[ "$failed" == 0 ]]
