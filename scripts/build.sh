#!/usr/bin/env bash
# Configures and builds one build tree. Usage: scripts/build.sh [release|asan] [ninja targets...]
#   release  build/       RelWithDebInfo (default)
#   asan     build-asan/  Debug with AddressSanitizer + UndefinedBehaviorSanitizer
set -euo pipefail
cd "$(dirname "$0")/.."

flavor="${1:-release}"
shift || true
case "$flavor" in
  release) dir=build; args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan) dir=build-asan; args=(-DCMAKE_BUILD_TYPE=Debug -DOSSUP_SANITIZE=ON -DOSSUP_BENCHMARKS=OFF) ;;
  *) echo "build.sh: unknown flavor '$flavor' (release|asan)" >&2; exit 2 ;;
esac

# Let ccache reuse objects across clones in different folders (CI builds a fresh clone): paths
# relative to the clone, and the build directory left out of the hash (-g would include it).
export CCACHE_BASEDIR="$PWD"
export CCACHE_NOHASHDIR=1
if [[ ! -f "$dir/build.ninja" ]]; then
  cmake -S . -B "$dir" -G Ninja "${args[@]}" >/dev/null
fi
cmake --build "$dir" -j "${OSSUP_JOBS:-2}" ${1:+--target "$@"}
