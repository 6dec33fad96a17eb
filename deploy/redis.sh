#!/usr/bin/env bash
# A local Redis for Celery: start | stop | status, on 127.0.0.1:${SOC_REDIS_PORT:-6379}.
source "$(dirname "$0")/common.sh"
PORT=${SOC_REDIS_PORT:-6379}
DIR="$DEPLOY_DIR/redis"
PIDFILE="$DIR/redis.pid"

healthy() { redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG; }

start() {
  command -v redis-server >/dev/null || apt_install redis-server
  if healthy; then log "Redis already up on 127.0.0.1:$PORT"; return; fi
  mkdir -p "$DIR"
  redis-server --bind 127.0.0.1 --port "$PORT" --daemonize yes --dir "$DIR" \
    --pidfile "$PIDFILE" --logfile "$DIR/redis.log" --save "" --appendonly no
  wait_for 30 healthy || die "Redis did not answer PING in 30 s (see $DIR/redis.log)"
  log "Redis is up on 127.0.0.1:$PORT"
}

stop() {
  if healthy; then redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true; log "Redis stopped"
  else log "Redis is not running"; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) healthy && echo "up redis://127.0.0.1:$PORT" || { echo "down"; exit 1; } ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
