"""GPU check: the six networks on the GPU agree with the committed CPU runs, and how fast they go.

Usage (about 3 minutes on one GPU at the default 2,000 iterations):
    python scripts/gpu_check.py [--steps=2000] [--out=/tmp/gpu_check]

Trains each paper network with seed 0 for --steps iterations (the paper's recipe, evaluation every
500), then compares its test accuracy at the last iteration with the committed CPU runs in
results/ at the same iteration: the GPU run agrees when it lies within 3 standard deviations of the
three CPU seeds (at least 0.003) of CPU seed 0. Exits 1 when a network disagrees.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bn_keras.runs.metrics_file import read_metrics
from bn_keras.runs.run_dir import METRICS_FILE, RESULT_FILE

REPO = Path(__file__).resolve().parents[1]
NETWORKS = ("mlp", "mlp_bn", "lenet", "lenet_bn", "lenetr", "lenetr_bn")
MIN_TOLERANCE = 0.003


def cpu_accuracies(network: str, step: int) -> list[float]:
    """Test accuracy at `step` of each committed CPU seed of `network`."""
    values = []
    for run in sorted((REPO / "results").glob(f"{network}_seed*")):
        rows = {int(r["step"]): r["test_accuracy"] for r in read_metrics(run / METRICS_FILE)}
        if step in rows:
            values.append(rows[step])
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--out", default="/tmp/gpu_check")
    args = parser.parse_args()
    lines, failures = [], 0
    for network in NETWORKS:
        model, _, bn = network.partition("_")
        command = [
            sys.executable, "-m", "bn_keras.main", "--flagfile=flags/recipe.flags",
            f"--model={model}", f"--bn={'true' if bn else 'false'}", "--seed=0",
            f"--train_steps={args.steps}", f"--eval_every={min(500, args.steps)}", "--noexport",
            f"--results_dir={args.out}", f"--run_name={network}", "--overwrite",
        ]  # fmt: skip
        start = time.monotonic()
        subprocess.run(command, cwd=REPO, check=True)
        wall = time.monotonic() - start
        result = json.loads((Path(args.out) / network / RESULT_FILE).read_text())
        cpu = cpu_accuracies(network, result["steps"])
        if len(cpu) < 2:
            verdict, tolerance = "no CPU reference at this step", float("nan")
        else:
            tolerance = max(3 * statistics.stdev(cpu), MIN_TOLERANCE)
            agrees = abs(result["final_test_accuracy"] - cpu[0]) <= tolerance
            verdict = "agrees" if agrees else "DISAGREES"
            failures += not agrees
        lines.append(
            f"| {network} | {result['steps_per_second']:.0f} | {wall:.0f} | "
            f"{result['final_test_accuracy']:.4f} | {cpu[0] if cpu else float('nan'):.4f} | "
            f"±{tolerance:.4f} | {verdict} |"
        )
    print(f"\n| network | GPU steps/s | wall s | GPU acc @{args.steps} | CPU seed 0 | tol | |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(lines))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
