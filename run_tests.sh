#!/usr/bin/env bash
# Runs the test suite; sets up .venv first when no virtual environment is active.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_env.sh
exec python -m pytest -q tests "$@"
