#!/usr/bin/env bash
# Runs ruff (lint and format check), then the test suite in two processes (pytest-xdist, one test
# file per process at a time; BN_KERAS_TEST_WORKERS=0 runs it in this one); sets up .venv first
# when no virtual environment is active. Arguments go to pytest (e.g. -p randomly, --reverse,
# -m "not network").
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_env.sh
python -m ruff check .
python -m ruff format --check .
exec python -m pytest -q -n "${BN_KERAS_TEST_WORKERS:-2}" --dist loadfile tests "$@"
