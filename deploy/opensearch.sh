#!/usr/bin/env bash
# One local OpenSearch node for development and CI: start | stop | status.
# The distribution comes from Maven Central (integ-test-zip, no security plugin), unpacked under
# var/deploy; it listens on 127.0.0.1:${SOC_OPENSEARCH_PORT:-9200} with a small heap.
source "$(dirname "$0")/common.sh"
VERSIONS=${SOC_OPENSEARCH_VERSIONS:-"2.19.6 2.19.5 2.19.4 2.19.3"}
PORT=${SOC_OPENSEARCH_PORT:-9200}
HEAP=${SOC_OPENSEARCH_HEAP:-1g}
URL="http://127.0.0.1:$PORT"
PIDFILE="$DEPLOY_DIR/opensearch.pid"

healthy() { curl -fsS "$URL/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; }

fetch() {
  local found
  found=$(ls -d "$DEPLOY_DIR"/opensearch-2.* 2>/dev/null | sort -V | tail -1 || true)
  if [ -n "$found" ] && [ -x "$found/bin/opensearch" ]; then echo "$found"; return; fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch OpenSearch"
  local downloads="$DEPLOY_DIR/downloads" version
  mkdir -p "$downloads"
  for version in $VERSIONS; do
    log "fetching OpenSearch $version from Maven Central"
    if mvn -q -B dependency:copy \
        -Dartifact="org.opensearch.distribution.integ-test-zip:opensearch:$version:zip" \
        -DoutputDirectory="$downloads" >"$downloads/mvn-$version.log" 2>&1; then
      (cd "$DEPLOY_DIR" && unzip -q -o "$downloads/opensearch-$version.zip")
      echo "$DEPLOY_DIR/opensearch-$version"
      return
    fi
    log "OpenSearch $version did not resolve: $(tail -2 "$downloads/mvn-$version.log" | tr '\n' ' ')"
  done
  die "no OpenSearch version of [$VERSIONS] resolved from Maven Central"
}

start() {
  if healthy; then log "OpenSearch already up at $URL"; return; fi
  command -v java >/dev/null || die "a JDK (17+) is needed for OpenSearch"
  command -v unzip >/dev/null || apt_install unzip
  command -v curl >/dev/null || apt_install curl
  local home; home=$(fetch)
  local data="$DEPLOY_DIR/opensearch-data" logs="$DEPLOY_DIR/opensearch-logs"
  mkdir -p "$data" "$logs"
  cat > "$home/config/opensearch.yml" <<YML
cluster.name: soc-dev
node.name: soc-dev-1
network.host: 127.0.0.1
http.port: $PORT
transport.port: $((PORT + 100))
discovery.type: single-node
path.data: $data
path.logs: $logs
action.auto_create_index: true
cluster.routing.allocation.disk.threshold_enabled: false
YML
  local runner=root
  if [ "$(id -u)" -eq 0 ]; then  # OpenSearch refuses to run as root
    ensure_user opensearch
    chown -R opensearch: "$home" "$data" "$logs"
    runner=opensearch
  fi
  log "starting OpenSearch $(basename "$home") on $URL (heap $HEAP)"
  rm -f "$PIDFILE"
  touch "$PIDFILE" && chown "$runner" "$PIDFILE" 2>/dev/null || true
  local java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}
  as_user "$runner" env OPENSEARCH_JAVA_OPTS="-Xms$HEAP -Xmx$HEAP" OPENSEARCH_JAVA_HOME="$java_home" \
    "$home/bin/opensearch" -d -p "$PIDFILE" >"$logs/launcher.out" 2>&1 || { cat "$logs/launcher.out" >&2; die "OpenSearch failed to start"; }
  wait_for 180 healthy || { tail -40 "$logs"/soc-dev.log >&2 || true; die "OpenSearch did not become healthy in 180 s"; }
  log "OpenSearch is up at $URL"
}

stop() {
  if [ -s "$PIDFILE" ]; then
    local pid; pid=$(cat "$PIDFILE")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$PIDFILE"
    log "OpenSearch stopped"
  else
    log "OpenSearch is not running (no pid file)"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) healthy && echo "up $URL" || { echo "down"; exit 1; } ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
