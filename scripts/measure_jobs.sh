#!/usr/bin/env bash
# Does running two experiments at once beat one at a time on this machine? Times two identical
# 2,000-iteration runs per network, first one after the other, then both at once, and prints
# the throughput ratio (parallel / sequential). Usage: scripts/measure_jobs.sh [lenetr_bn mlp ...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_env.sh
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
run() {  # run NAME SEED MODEL_FLAGS...
  local name=$1 seed=$2; shift 2
  python -m bn_keras.main "$@" --seed="$seed" --train_steps=2000 --eval_every=500 --noexport \
    --results_dir="$out" --run_name="$name-$seed" --overwrite --verbosity=-1
}
experiments=("$@")
[ ${#experiments[@]} -gt 0 ] || experiments=(lenetr_bn mlp)
for exp in "${experiments[@]}"; do
  flags=(--flagfile="flags/$exp.flags")
  t0=$(date +%s.%N); run "$exp-seq" 0 "${flags[@]}"; run "$exp-seq" 1 "${flags[@]}"; t1=$(date +%s.%N)
  run "$exp-par" 0 "${flags[@]}" & run "$exp-par" 1 "${flags[@]}" & wait; t2=$(date +%s.%N)
  python - "$exp" "$t0" "$t1" "$t2" <<'PY'
import sys
exp, t0, t1, t2 = sys.argv[1], *map(float, sys.argv[2:])
seq, par = t1 - t0, t2 - t1
print(f"{exp}: two runs one at a time {seq:.1f} s, both at once {par:.1f} s, "
      f"-j 2 / -j 1 throughput {seq / par:.2f}")
PY
done
