#!/usr/bin/env bash
# Quick start: install into .venv, migrate the embedded database, load the demo, serve on :8000.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
exec .venv/bin/soc run --demo "$@"
