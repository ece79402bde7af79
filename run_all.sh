#!/usr/bin/env bash
# The main job: set up (.venv, install, offline MNIST when needed), run every experiment over seeds,
# then draw the figures and write the summary. Options go to the sweep:
#   --seeds=N  -j N  --quick  --force  --experiments=a,b  --data_dir=DIR
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_env.sh
start=$(date +%s)
python -m bn_keras.sweep "$@"
results=results
for arg in "$@"; do
  case "$arg" in
    --quick) results=results_quick ;;
    --results_dir=*) results="${arg#*=}" ;;
  esac
done
python -m bn_keras.plot "$results" --command="./run_all.sh $*" \
  --total_wall_time="$(( $(date +%s) - start )) s"
