#!/usr/bin/env bash
# The main job: set up (.venv, install, offline MNIST when needed; an active virtual environment
# instead, as scripts/ensure_env.sh says), run every experiment over seeds, then draw the figures
# and write the summary (docs/sweep.md). Options go to the sweep:
#   --seeds=N  -j N  --stack_size=N  --quick  --force  --experiments=a,b  --data_dir=DIR
#   --until_decided --max_seeds=N  --notwin  --dataset=fashion_mnist (into results/fashion_mnist/)
# By default each paper pair gets the fixed design's 10 seeds per arm (results/summary.md states
# the design), trained in stacks: each experiment's unfinished Keras seeds 5 at a time as one
# stacked model (--stack_size=5; 1: one run per seed), two processes at a time (-j 2), each seed
# still its own run directory. With torch importable the PyTorch twin's runs, one seed per
# process, go into results/pytorch/.
# --probes runs the probe experiments of flags/probes/ into results/probes/ instead.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_env.sh
start=$(date +%s)
python -m bn_keras.sweep "$@"
results=results
chosen=""
dataset=mnist
plot=bn_keras.plot
for arg in "$@"; do
  case "$arg" in
    --quick) results=results_quick ;;
    --results_dir=*) chosen="${arg#*=}" ;;
    --dataset=*) dataset="${arg#*=}" ;;
    --probes) plot=bn_keras.probes.plot ;;
  esac
done
if [ "$plot" = bn_keras.probes.plot ]; then results="$results/probes"; fi
if [ "$dataset" != mnist ]; then results="$results/$dataset"; fi
results="${chosen:-$results}"
python -m "$plot" "$results" --command="./run_all.sh $*" \
  --total_wall_time="$(( $(date +%s) - start )) s"
