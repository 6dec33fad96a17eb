#!/usr/bin/env bash
# The whole test suite: install into .venv, start the real services (PostgreSQL, Redis,
# OpenSearch via deploy/), lint (ruff), check the floors (import-linter) and the types (mypy),
# then pytest (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
eval "$(deploy/services.sh start)"
.venv/bin/ruff check .
.venv/bin/lint-imports
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
