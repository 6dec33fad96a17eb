#!/usr/bin/env bash
# The local OpenID Connect provider the sign-in tests use (tests/tenants/test_oidc*.py,
# tests/web/test_oidc_browser.py): the OpenID-certified `oidc-provider` from npm, at the version
# pinned in deploy/oidc/package-lock.json, run with Node.js 20+ on 127.0.0.1:${SOC_OIDC_PORT:-9400}.
# Its config (deploy/oidc/provider.mjs) has one client "soc" and the test users of users.json.
#   oidc.sh start    install (npm ci, once per lockfile) and start unless it answers; prints
#                    the eval-able SOC_TEST_OIDC_* variables
#   oidc.sh stop | status
source "$(dirname "$0")/common.sh"
PORT=${SOC_OIDC_PORT:-9400}
SRC="$ROOT/deploy/oidc"
DIR="$DEPLOY_DIR/oidc"
PIDFILE="$DIR/provider.pid"
ISSUER="http://127.0.0.1:$PORT"
SECRET=${SOC_OIDC_TEST_CLIENT_SECRET:-soc-test-secret}

healthy() { curl -fs --max-time 2 "$ISSUER/.well-known/openid-configuration" >/dev/null; }

install() {
  if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    die "oidc-provider needs Node.js 20 or later (found: $(node --version 2>/dev/null || echo none))"
  fi
  local want; want=$(sha256sum "$SRC/package-lock.json" | cut -d' ' -f1)
  [ -f "$SRC/node_modules/.soc-installed" ] && [ "$(cat "$SRC/node_modules/.soc-installed")" = "$want" ] && return 0
  log "npm ci in deploy/oidc (oidc-provider)"
  (cd "$SRC" && npm ci --omit=dev --no-audit --no-fund --loglevel=error >"$DIR/npm.log" 2>&1) \
    || { tail -20 "$DIR/npm.log" >&2; die "npm ci failed in deploy/oidc"; }
  echo "$want" > "$SRC/node_modules/.soc-installed"
}

start() {
  mkdir -p "$DIR"
  exec 9>"$DIR/start.lock"; flock 9  # test workers and scripts may ask at once
  # A provider started from another config or version is replaced.
  local config; config=$(cat "$SRC/provider.mjs" "$SRC/users.json" "$SRC/package-lock.json" | sha256sum | cut -d' ' -f1)
  if healthy && [ "$(cat "$DIR/config.sha256" 2>/dev/null)" = "$config" ]; then
    log "oidc-provider already up on $ISSUER"; return
  fi
  healthy && stop
  wait_for 10 bash -c "! curl -fs --max-time 1 $ISSUER/.well-known/openid-configuration" || true
  install
  # Detached, with none of this shell's descriptors (the lock, a caller's pipes) held open.
  (
    for fd in $(ls /proc/$BASHPID/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
    OIDC_PORT=$PORT OIDC_STATE_DIR="$DIR" OIDC_CLIENT_SECRET="$SECRET" \
      exec setsid node "$SRC/provider.mjs"
  ) </dev/null >"$DIR/provider.log" 2>&1 &
  echo $! > "$PIDFILE"
  echo "$config" > "$DIR/config.sha256"
  wait_for 30 healthy || { tail -20 "$DIR/provider.log" >&2; die "oidc-provider did not answer on $ISSUER in 30 s"; }
  log "oidc-provider is up on $ISSUER"
}

stop() {
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    kill "$(cat "$PIDFILE")"; log "oidc-provider stopped"
  else log "oidc-provider is not running"; fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  start)
    start
    echo "export SOC_TEST_OIDC_ISSUER=$ISSUER"
    echo "export SOC_TEST_OIDC_CLIENT_SECRET=$SECRET" ;;
  stop) stop ;;
  status) healthy && echo "up $ISSUER" || { echo "down"; exit 1; } ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
