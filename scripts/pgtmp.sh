#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster in a temp dir on a free 127.0.0.1 port.
#   eval "$(scripts/pgtmp.sh start)"   # exports PGTMP_DIR and DATABASE_URL
#   scripts/pgtmp.sh stop "$PGTMP_DIR"
# Set PGTMP_DURABLE=1 for PostgreSQL's durable defaults (benchmarks); tests turn fsync off.
set -euo pipefail

PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[[ -x "$PGBIN/initdb" ]] || { echo "pgtmp: PostgreSQL server binaries not found" >&2; exit 1; }

run_as_postgres() {
  if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  start)
    dir="$(mktemp -d /tmp/ossup-pg.XXXXXX)"
    [[ "$(id -u)" == 0 ]] && chown postgres:postgres "$dir"
    port="$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')"
    run_as_postgres "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C \
      --no-sync >"$dir/initdb.log" 2>&1
    opts="-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300"
    if [[ "${PGTMP_DURABLE:-0}" != 1 ]]; then
      opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    run_as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -o "$opts" \
      start >/dev/null
    echo "export PGTMP_DIR='$dir'"
    echo "export PGTMP_PORT='$port'"
    echo "export DATABASE_URL='postgresql://postgres@127.0.0.1:$port/postgres'"
    ;;
  stop)
    dir="${2:?usage: pgtmp.sh stop DIR}"
    [[ -d "$dir/data" ]] && run_as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop \
      >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: pgtmp.sh start | stop DIR" >&2
    exit 2
    ;;
esac
