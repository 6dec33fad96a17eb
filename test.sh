#!/usr/bin/env bash
# The whole test suite: install into .venv, lint, then pytest (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
