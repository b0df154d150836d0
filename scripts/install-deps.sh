#!/usr/bin/env bash
# Installs what building and testing need on Debian 12, and nothing when it is all there.
# Usage: scripts/install-deps.sh [--build-only]
#   --build-only  only what configuring and compiling need (the container image's build stage)
set -euo pipefail

build_only=0
case "${1:-}" in
  '') ;;
  --build-only) build_only=1 ;;
  *) echo "usage: scripts/install-deps.sh [--build-only]" >&2; exit 2 ;;
esac

PKGS=(
  # toolchain
  cmake ninja-build g++ pkg-config ccache git ca-certificates curl python3
  # libraries (see the README's dependency table)
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev grpc-proto libabsl-dev
  libcurl4-openssl-dev libssl-dev openssl libpqxx-dev nlohmann-json3-dev libboost-dev
  libcli11-dev media-types libgoogle-perftools-dev
  # test and benchmark libraries (CMake's configure step looks for them)
  libgtest-dev libgmock-dev libbenchmark-dev
)
if (( ! build_only )); then
  PKGS+=(
    postgresql
    # the browser upload test (headless, driven by npm playwright-core)
    chromium
  )
  # Node.js runs the cross-language tests (ali-oss oracle, grpc-js client). Any node >= 18 on
  # PATH will do; otherwise Debian's packages are installed.
  command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
  command -v npm >/dev/null 2>&1 || PKGS+=(npm)
fi

if dpkg -s "${PKGS[@]}" >/dev/null 2>&1; then
  exit 0
fi

SUDO=()
if [[ "$(id -u)" != 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  SUDO=(sudo)
fi
echo "install-deps: installing missing Debian packages" >&2
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
  "${PKGS[@]}" >/dev/null
