#!/usr/bin/env bash
# Runs ruff (lint and format check), then the test suite in two processes (pytest-xdist, one test
# file per process at a time; BN_KERAS_TEST_WORKERS=0 runs it in this one), then the tests marked
# `kernels` again with oneDNN off (TensorFlow's Eigen kernels, as on CPUs without AVX-512 where
# the user turns bn_keras's oneDNN default off); sets up .venv first when no virtual environment
# is active. Arguments go to both pytest runs (e.g. -p randomly, --reverse, -m "not network"; a
# -m replaces pytest.ini's -m "not slow", and the second run's -m kernels replaces it in turn). The
# tests marked slow: python -m pytest -m slow tests.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_env.sh
python -m ruff check .
python -m ruff format --check .
workers=(-n "${BN_KERAS_TEST_WORKERS:-2}" --dist loadfile)
python -m pytest -q "${workers[@]}" tests "$@"
echo "The tests marked kernels again, with TF_ENABLE_ONEDNN_OPTS=0:"
# Only the files that mark tests `kernels` are collected (collecting every file costs each worker
# seconds of imports); a file marks them with pytest.mark.kernels, so it names mark.kernels.
mapfile -t kernel_files < <(grep -l "mark\.kernels" tests/test_*.py)
TF_ENABLE_ONEDNN_OPTS=0 python -m pytest -q "${workers[@]}" "${kernel_files[@]}" "$@" -m kernels
