"""Trains one network with the original recipe and records it in its run directory."""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import subprocess
import time
from pathlib import Path

import keras
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from bn_keras import distribute, input_pipeline, models, recipe
from bn_keras.atomic import write_json_atomic
from bn_keras.callbacks import TestAccuracyCallback
from bn_keras.config import Config
from bn_keras.evaluation import make_test_evaluator
from bn_keras.export import export_saved_model, save_keras_model
from bn_keras.metrics_file import MetricsWriter

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
SAVED_MODEL_DIR = "saved_model"
KERAS_MODEL_FILE = "model.keras"
TENSORBOARD_DIR = "tensorboard"
RESULT_FILE = "result.json"  # written last: its presence marks a finished run


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What a run measured."""

    run_dir: Path
    steps: int
    final_test_accuracy: float
    final_test_loss: float
    train_seconds: float
    steps_per_second: float
    rows: list[dict]


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


def run_record(config: Config, strategy: tf.distribute.Strategy, data_source: str) -> dict:
    """Everything config.json holds: settings, distribution, data source, versions and machine."""
    replicas = strategy.num_replicas_in_sync
    return {
        "config": config.to_dict(),
        "distribution": {
            "strategy": type(strategy).__name__,
            "replicas": replicas,
            "per_replica_batch_size": config.batch_size / replicas,
        },
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


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bn_keras")
    except PackageNotFoundError:
        return "unknown"


def _jit_compile(setting: str) -> str | bool:
    return {"auto": "auto", "true": True, "false": False}[setting]


def build_compiled_model(config: Config, steps_per_epoch: int) -> keras.Model:
    """Builds and compiles the configured network; call it inside the strategy's scope."""
    model = models.build_model(
        config.model,
        bn=config.bn,
        bn_options=models.BnOptions(config.bn_momentum, config.bn_epsilon),
        init=config.init,
    )
    model.compile(
        optimizer=recipe.make_optimizer(config, steps_per_epoch),
        loss=recipe.make_loss(),
        steps_per_execution=config.resolved_steps_per_execution,
        jit_compile=_jit_compile(config.jit_compile),
    )
    return model


def train_and_evaluate(
    config: Config,
    run_dir: Path,
    *,
    strategy: tf.distribute.Strategy | None = None,
    mnist: input_pipeline.Mnist | None = None,
) -> TrainResult:
    """Trains `config.model` for `config.train_steps` iterations, evaluating every `eval_every`.

    Writes into `run_dir`: config.json, metrics.csv, TensorBoard events and, when `config.export`,
    the SavedModel and model.keras.

    Args:
        config: a validated configuration.
        run_dir: the run directory (created if missing).
        strategy: overrides the strategy named in the config (tests inject one).
        mnist: overrides the dataset read with tfds.load (tests inject tiny arrays).

    Returns:
        The run's measurements.
    """
    run_dir = Path(run_dir)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = strategy or distribute.get_strategy(config.strategy)
    if mnist is None:
        data_source = input_pipeline.ensure_mnist(config.data_dir, config.mnist_source)
        mnist = input_pipeline.load_mnist(config.data_dir)
    else:
        data_source = "arrays passed to train_and_evaluate"
    logging.info(
        "MNIST source: %s (%d train, %d test)",
        data_source,
        mnist.num_train,
        len(mnist.test_labels),
    )

    run_dir.mkdir(parents=True, exist_ok=True)
    record = run_record(config, strategy, data_source)
    write_json_atomic(run_dir / CONFIG_FILE, record)
    logging.info(
        "Strategy %s: %d replica(s), global batch %d, per-replica batch %g",
        record["distribution"]["strategy"],
        strategy.num_replicas_in_sync,
        config.batch_size,
        record["distribution"]["per_replica_batch_size"],
    )

    per_epoch = input_pipeline.steps_per_epoch(mnist.num_train, config.batch_size)
    with strategy.scope():
        model = build_compiled_model(config, per_epoch)
    schedule = recipe.learning_rate_schedule(config, per_epoch)
    test_ds = input_pipeline.test_dataset(
        mnist.test_images, mnist.test_labels, config.test_batch_size
    )
    accuracy_callback = TestAccuracyCallback(
        make_test_evaluator(model, test_ds, strategy),
        every=config.eval_every,
        total_steps=config.train_steps,
        num_train=mnist.num_train,
        batch_size=config.batch_size,
        learning_rate=lambda step: float(schedule(step)),
        writer=MetricsWriter(run_dir / METRICS_FILE),
        tensorboard_dir=run_dir / TENSORBOARD_DIR,
        label=run_dir.name,
    )
    train_ds = input_pipeline.train_dataset(
        mnist.train_images, mnist.train_labels, config.batch_size, config.seed
    )
    start = time.monotonic()
    model.fit(
        train_ds,
        epochs=1,
        steps_per_epoch=config.train_steps,
        callbacks=[accuracy_callback],
        shuffle=False,  # the pipeline shuffles, per epoch and by seed
        verbose=0,
    )
    seconds = time.monotonic() - start
    if config.export:
        export_saved_model(model, run_dir / SAVED_MODEL_DIR)
        save_keras_model(model, run_dir / KERAS_MODEL_FILE)
    last = accuracy_callback.rows[-1]
    result = TrainResult(
        run_dir=run_dir,
        steps=config.train_steps,
        final_test_accuracy=last["test_accuracy"],
        final_test_loss=last["test_loss"],
        train_seconds=seconds,
        steps_per_second=config.train_steps / seconds,
        rows=accuracy_callback.rows,
    )
    write_json_atomic(
        run_dir / RESULT_FILE,
        {
            "steps": result.steps,
            "final_test_accuracy": result.final_test_accuracy,
            "final_test_loss": result.final_test_loss,
            "train_seconds": round(result.train_seconds, 2),
            "steps_per_second": round(result.steps_per_second, 2),
        },
    )
    return result
