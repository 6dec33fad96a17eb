#!/usr/bin/env bash
# The gettext catalogues: extract every marked message (Python and templates) into
# soc/core/locale/messages.pot, merge it into the Dutch messages.po (dropping what no code
# says any more), compile messages.mo. Add Dutch with scripts/translate.py; list what lacks
# Dutch with scripts/translate.py --missing.
set -euo pipefail
cd "$(dirname "$0")/.."
LOC=soc/core/locale
exec 9>"$LOC/.lock"
flock 9
.venv/bin/pybabel -q extract -F $LOC/babel.cfg --no-default-keywords -k _ -k N_ -k P_:1c,2 \
  -k pgettext:2c,3 --no-location --sort-output --omit-header -o $LOC/messages.pot \
  soc risk kri tenants ingest detections
.venv/bin/pybabel -q update -i $LOC/messages.pot -d $LOC -l nl --no-fuzzy-matching --ignore-obsolete
.venv/bin/pybabel -q compile -d $LOC -l nl --statistics
