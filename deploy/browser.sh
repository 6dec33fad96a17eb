#!/usr/bin/env bash
# The browser the end-to-end tests drive (Playwright with the Debian chromium, issue 5).
source "$(dirname "$0")/common.sh"
case "${1:-start}" in
  start) apt_install chromium; log "chromium: $(command -v chromium || echo missing)" ;;
  stop) ;;
  status) command -v chromium >/dev/null && echo "chromium: installed" || echo "chromium: missing" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
