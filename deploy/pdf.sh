#!/usr/bin/env bash
# The system libraries WeasyPrint renders the monthly KRI reports' PDFs with (pango, harfbuzz,
# fontconfig) and the font the report template names.
source "$(dirname "$0")/common.sh"
PACKAGES=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 libfontconfig1 fonts-dejavu-core)
case "${1:-start}" in
  start) apt_install "${PACKAGES[@]}" ;;
  stop) ;;
  status) dpkg -s "${PACKAGES[@]}" >/dev/null 2>&1 && echo "pdf libraries: installed" || echo "pdf libraries: missing" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
