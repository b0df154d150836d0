#!/usr/bin/env bash
# Microbenchmarks of the protocol hot paths (policy signing, callback verification).
# Prints medians of 5 repetitions. Extra arguments go to Google Benchmark, e.g.
#   scripts/bench-protocol.sh --benchmark_filter=Verify
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release protocol_bench >/dev/null
exec build/service/protocol/protocol_bench --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true --benchmark_min_time=0.5 "$@"
