#!/usr/bin/env bash
# Start, stop or check every real service the production mode and its tests use.
# Prints the SOC_* variables that point the product at them (eval-able) on start.
source "$(dirname "$0")/common.sh"
here=$(dirname "$0")
case "${1:-}" in
  start)
    "$here/postgres.sh" start
    "$here/redis.sh" start
    "$here/opensearch.sh" start
    "$here/browser.sh" start
    "$here/pdf.sh" start
    "$here/oidc.sh" start  # prints its SOC_TEST_OIDC_* variables
    echo "export SOC_TEST_DATABASE_URL=postgresql+psycopg://soc@127.0.0.1:${SOC_PG_PORT:-55432}/soc"
    echo "export SOC_TEST_REDIS_URL=redis://127.0.0.1:${SOC_REDIS_PORT:-6379}/0"
    echo "export SOC_TEST_OPENSEARCH_URL=http://127.0.0.1:${SOC_OPENSEARCH_PORT:-9200}"
    ;;
  stop) "$here/oidc.sh" stop; "$here/opensearch.sh" stop; "$here/redis.sh" stop; "$here/postgres.sh" stop ;;
  status) "$here/postgres.sh" status; "$here/redis.sh" status; "$here/opensearch.sh" status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
