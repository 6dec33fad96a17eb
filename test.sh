#!/usr/bin/env bash
# The whole test suite: install into .venv, start the real services (PostgreSQL, Redis,
# OpenSearch via deploy/), lint (ruff), check the floors (import-linter) and the types (mypy),
# then pytest. With no arguments the suite runs on two pytest-xdist workers, then the
# schemathesis fuzz file in one process (under xdist its cases are not reported one by one).
# With arguments they go to pytest, in SOC_TEST_WORKERS workers (default 0: this process).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
eval "$(deploy/services.sh start)"
.venv/bin/ruff check .
.venv/bin/lint-imports
.venv/bin/mypy
if [ $# -eq 0 ]; then
  status=0
  .venv/bin/python -m pytest -n "${SOC_TEST_WORKERS:-2}" --dist loadgroup --ignore=tests/fuzz \
    || status=$?
  .venv/bin/python -m pytest tests/fuzz || status=$?
  exit "$status"
fi
exec .venv/bin/python -m pytest -n "${SOC_TEST_WORKERS:-0}" --dist loadgroup "$@"
