#!/usr/bin/env bash
# Brings up the local stack. Today that is the OSS protocol core only: it builds the project and
# runs the protocol self-test (reference vectors + a sample signed form). PostgreSQL, the OSS
# emulator and the service join this script as they land (issues 3 and 4).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release oss_protocol_selftest
exec build/service/protocol/oss_protocol_selftest
