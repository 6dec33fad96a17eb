#!/usr/bin/env bash
# A local PostgreSQL cluster of our own (data under var/deploy/pgdata): start | stop | status.
# Listens on 127.0.0.1:${SOC_PG_PORT:-55432}; database and user "soc", trust auth on loopback.
source "$(dirname "$0")/common.sh"
PORT=${SOC_PG_PORT:-55432}
DATA="$DEPLOY_DIR/pgdata"
SOCK="$DEPLOY_DIR/pgsock"

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] || return 1
  echo "$dir"
}

healthy() { pg_isready -h 127.0.0.1 -p "$PORT" -q 2>/dev/null; }

start() {
  pg_bin >/dev/null || apt_install postgresql
  local bin; bin=$(pg_bin) || die "PostgreSQL server binaries not found after install"
  if healthy; then log "PostgreSQL already up on 127.0.0.1:$PORT"; return; fi
  local runner=root
  if [ "$(id -u)" -eq 0 ]; then ensure_user postgres; runner=postgres; fi
  mkdir -p "$DATA" "$SOCK"
  [ "$runner" = root ] || chown -R "$runner": "$DATA" "$SOCK"
  chmod 700 "$DATA"
  if [ ! -f "$DATA/PG_VERSION" ]; then
    log "initdb $DATA"
    as_user "$runner" "$bin/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  as_user "$runner" "$bin/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start \
    -o "-h 127.0.0.1 -p $PORT -k $SOCK -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null \
    || { tail -20 "$DATA/server.log" >&2; die "PostgreSQL did not start"; }
  wait_for 30 healthy || die "PostgreSQL not ready in 30 s"
  psql -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname='soc'" | grep -q 1 \
    || psql -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE ROLE soc LOGIN SUPERUSER"
  psql -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='soc'" | grep -q 1 \
    || psql -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE DATABASE soc OWNER soc"
  log "PostgreSQL is up: postgresql+psycopg://soc@127.0.0.1:$PORT/soc"
}

stop() {
  local bin; bin=$(pg_bin) || { log "PostgreSQL not installed"; return; }
  if [ -f "$DATA/postmaster.pid" ]; then
    local runner=root; [ "$(id -u)" -eq 0 ] && runner=postgres
    as_user "$runner" "$bin/pg_ctl" -D "$DATA" -m fast stop >/dev/null && log "PostgreSQL stopped"
  else
    log "PostgreSQL is not running"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) healthy && echo "up postgresql://soc@127.0.0.1:$PORT/soc" || { echo "down"; exit 1; } ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
