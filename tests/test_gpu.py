"""The six paper networks trained on a GPU agree with the committed CPU runs; slow, and skipped
without a GPU (TensorFlow's CUDA build: docs/distribution.md).

Each network trains with seed 0 for STEPS iterations of the paper's recipe (evaluation every
500) through the real command; its test accuracy there must lie within 3 standard deviations of
the committed CPU seeds' accuracies at the same iteration (at least MIN_TOLERANCE) of CPU seed
0's. Each run's steps per second are printed. About 3 minutes on one GPU:

    python -m pytest -m slow -s tests/test_gpu.py
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import tensorflow as tf

from bn_keras.config.names import PAPER_EXPERIMENTS, split_experiment
from bn_keras.runs.metrics_file import read_metrics
from bn_keras.runs.reader import RUN_NAME
from bn_keras.runs.run_dir import METRICS_FILE, RESULT_FILE

STEPS = 2000
MIN_TOLERANCE = 0.003


def _has_gpu() -> bool:
    """Whether TensorFlow sees a GPU, asked only where an NVIDIA driver is loaded: asking starts
    CUDA, which prints an error line on a machine without one."""
    driver = Path("/proc/driver/nvidia/version").is_file()
    return driver and bool(tf.config.list_physical_devices("GPU"))


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not _has_gpu(), reason="needs a GPU and TensorFlow's CUDA build (docs/distribution.md)"
    ),
]


def cpu_accuracies(results, experiment: str, step: int) -> list[float]:
    """Test accuracy at `step` of each committed CPU seed of `experiment`, seed 0 first."""
    runs = sorted(
        results.glob(f"{experiment}_seed*"), key=lambda p: int(RUN_NAME.match(p.name)["seed"])
    )
    values = []
    for run in runs:
        rows = {int(r["step"]): r["test_accuracy"] for r in read_metrics(run / METRICS_FILE)}
        if step in rows:
            values.append(rows[step])
    return values


@pytest.mark.parametrize("experiment", PAPER_EXPERIMENTS)
def test_a_gpu_run_agrees_with_the_cpu_runs(experiment, cli, tmp_path):
    model, bn = split_experiment(experiment)
    proc = cli.run(
        "bn_keras.main",
        "--flagfile=flags/recipe.flags",
        f"--model={model}",
        f"--bn={'true' if bn else 'false'}",
        "--seed=0",
        f"--train_steps={STEPS}",
        f"--eval_every={min(500, STEPS)}",
        "--noexport",
        f"--results_dir={tmp_path}",
        f"--run_name={experiment}",
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / experiment / RESULT_FILE).read_text())
    cpu = cpu_accuracies(cli.repo / "results", experiment, result["steps"])
    assert len(cpu) >= 2, f"fewer than two committed CPU runs of {experiment} at {STEPS}"
    tolerance = max(3 * statistics.stdev(cpu), MIN_TOLERANCE)
    gpu = result["final_test_accuracy"]
    print(
        f"{experiment}: {result['steps_per_second']:.0f} steps/s on the GPU, accuracy {gpu:.4f} "
        f"at {result['steps']}, CPU seed 0 {cpu[0]:.4f} ±{tolerance:.4f}"
    )
    assert abs(gpu - cpu[0]) <= tolerance
