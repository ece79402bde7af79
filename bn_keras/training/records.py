"""What a run's config.json and result.json hold: settings, distribution, data source, versions
and machine; then the final measurements."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

import keras
import tensorflow as tf
import tensorflow_datasets as tfds

from bn_keras.config.settings import Config


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bn_keras")
    except PackageNotFoundError:
        return "unknown"


def run_record(config: Config, distribution: dict, data_source: str) -> dict:
    """Everything config.json holds: settings, distribution, data source, versions and machine."""
    return {
        "config": config.to_dict(),
        "distribution": distribution,
        "data_source": data_source,
        "versions": {
            "bn_keras": _package_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "tensorflow_datasets": tfds.__version__,
            "python": platform.python_version(),
            "git_commit": _git_commit(),
        },
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        },
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def result_record(
    steps: int,
    final_test_accuracy: float,
    final_test_loss: float,
    train_seconds: float,
    steps_per_second: float,
    checkpoint_seconds: float,
    checkpoints_written: int,
    diverged_at: int | None = None,
) -> dict:
    """Everything result.json holds: the last evaluation, time trained, checkpointing's cost;
    `diverged_at` only for a run that diverged: the iteration at which a non-finite loss was seen
    (the end of a compiled call of steps_per_execution iterations)."""
    record = {
        "steps": steps,
        "final_test_accuracy": final_test_accuracy,
        "final_test_loss": final_test_loss,
        "train_seconds": round(train_seconds, 2),
        "steps_per_second": round(steps_per_second, 2),
        "checkpoint_seconds": round(checkpoint_seconds, 3),
        "checkpoints_written": checkpoints_written,
    }
    return record if diverged_at is None else record | {"diverged_at": diverged_at}
