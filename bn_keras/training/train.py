"""Trains one network with the original recipe and records it in its run directory."""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import platform
import subprocess
import threading
from pathlib import Path

import keras
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from bn_keras.common.atomic import write_json_atomic
from bn_keras.common.errors import CheckpointError, TrainingDiverged
from bn_keras.config.settings import Config
from bn_keras.data import input_pipeline
from bn_keras.distribution import strategies as distribute
from bn_keras.distribution import workarounds
from bn_keras.models import networks as models
from bn_keras.runs.metrics_file import MetricsWriter, missing_rows, read_metrics, truncate_after
from bn_keras.runs.run_dir import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    KERAS_MODEL_FILE,
    METRICS_FILE,
    RESULT_FILE,
    SAVED_MODEL_DIR,
    TENSORBOARD_DIR,
)
from bn_keras.training import cpu_threads, recipe
from bn_keras.training import probe_callbacks as probes
from bn_keras.training.callbacks import TestAccuracyCallback
from bn_keras.training.checkpointing import CheckpointCallback, RunCheckpoint
from bn_keras.training.evaluation import make_test_evaluator
from bn_keras.training.export import export_saved_model, save_keras_model


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What a run measured; `interrupted_at` is set when a stop request ended it early."""

    run_dir: Path
    steps: int
    final_test_accuracy: float
    final_test_loss: float
    train_seconds: float
    steps_per_second: float
    rows: list[dict]
    interrupted_at: int | None = None


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


def distribution_record(
    config: Config, strategy: tf.distribute.Strategy, model: keras.Model, sync_bn: bool
) -> dict:
    """How a run is distributed: strategy, replicas, workers, batch split, BN synchronization,
    and the learning rate and steps per call `model` trains with."""
    replicas = strategy.num_replicas_in_sync
    return {
        "strategy": type(strategy).__name__,
        "replicas": replicas,
        "workers": distribute.num_workers(strategy),
        "global_batch_size": config.batch_size,
        "per_replica_batch_size": config.batch_size / replicas,
        "sync_bn": sync_bn,
        "learning_rate": config.learning_rate,
        "steps_per_execution": model.steps_per_execution,
        "data_split": (
            "whole batches on one replica"
            if replicas == 1
            else "replica r of R trains on rows r*n//R to (r+1)*n//R of every global batch of n"
        ),
    }


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


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bn_keras")
    except PackageNotFoundError:
        return "unknown"


def _jit_compile(setting: str) -> str | bool:
    return {"auto": "auto", "true": True, "false": False}[setting]


def build_compiled_model(
    config: Config,
    steps_per_epoch: int,
    train_loss: keras.metrics.Mean | None = None,
    sync_bn: bool = False,
) -> keras.Model:
    """Builds and compiles the configured network; call it inside the strategy's scope.

    Args:
        config: the run's configuration.
        steps_per_epoch: iterations per epoch, for the per-epoch learning-rate schedule.
        train_loss: a metric to compile in, recording the training loss for the metrics rows.
        sync_bn: BatchNorm statistics over the global batch, across replicas.

    Under a strategy with several replicas, fit runs one step per call (keras-team/keras#19246).
    """
    model = models.build_model(
        config.model,
        bn=config.bn,
        bn_options=models.BnOptions(config.bn_momentum, config.bn_epsilon, sync_bn),
        init=config.init,
    )
    steps_per_execution = config.resolved_steps_per_execution
    if workarounds.single_step_execution_needed(tf.distribute.get_strategy()):
        steps_per_execution = 1
    model.compile(
        optimizer=recipe.make_optimizer(config, steps_per_epoch),
        loss=recipe.make_loss(),
        metrics=[train_loss] if train_loss is not None else None,
        steps_per_execution=steps_per_execution,
        jit_compile=_jit_compile(config.jit_compile),
    )
    return model


def _check_rows_until(metrics_path: Path, step: int, config: Config) -> None:
    """Raises CheckpointError unless the metrics file holds every row up to checkpoint `step`."""
    steps = [*range(0, step + 1, config.eval_every), config.train_steps]
    missing = missing_rows(metrics_path, [s for s in steps if s <= step])
    if missing:
        raise CheckpointError(
            f"{metrics_path} lacks the rows for iterations {missing[0]} to {missing[-1]} that "
            f"the checkpoint at iteration {step} covers (cut or edited): pass --overwrite to "
            "start the run afresh"
        )


def train_and_evaluate(
    config: Config,
    run_dir: Path,
    *,
    strategy: tf.distribute.Strategy | None = None,
    mnist: input_pipeline.Mnist | None = None,
    stop_request: threading.Event | None = None,
) -> TrainResult:
    """Trains `config.model` for `config.train_steps` iterations, evaluating every `eval_every`.

    Writes into `run_dir`: config.json, metrics.csv, TensorBoard events, checkpoints and, when
    `config.export`, the SavedModel and model.keras; result.json last. Under several workers only
    the chief writes metrics, TensorBoard events and exports; every worker writes its own
    config.json, checkpoints and result.json into its own `run_dir`. A run directory holding a
    checkpoint of the same run is resumed at the checkpoint's exact iteration.

    Args:
        config: a validated configuration.
        run_dir: the run directory (created if missing).
        strategy: overrides the strategy named in the config (tests inject one).
        mnist: overrides the dataset read with tfds.load (tests inject tiny arrays).
        stop_request: when set (by a signal handler), training checkpoints and stops at the next
            callback; the result then has `interrupted_at`.

    Returns:
        The run's measurements.

    Raises:
        TrainingDiverged: the loss became NaN or infinite; metrics so far are kept.
        CheckpointError: the checkpoint, or the metrics rows it covers, are damaged.
    """
    run_dir = Path(run_dir)
    if strategy is None and distribute.single_replica_requested(config.strategy):
        # Before anything starts TensorFlow's runtime. Not with several replicas: their
        # collectives wait for each other, which one inter-op thread could deadlock.
        cpu_threads.apply_cpu_defaults()
    strategy = strategy or distribute.get_strategy(config.strategy, config.device_list)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    replicas = strategy.num_replicas_in_sync
    chief = distribute.is_chief(strategy)
    sync_bn = config.bn and distribute.uses_sync_bn(config.sync_bn, replicas)
    if config.scale_lr:
        # The recorded config keeps the flag's value; config.json's distribution has the one used.
        config_used = dataclasses.replace(config, learning_rate=config.learning_rate * replicas)
    else:
        config_used = config
    if mnist is None:
        data_source = input_pipeline.ensure_mnist(config.data_dir, config.mnist_source)
        mnist = input_pipeline.load_mnist(config.data_dir)
    else:
        data_source = "arrays passed to train_and_evaluate"
    logging.info(
        "MNIST source: %s (%d train, %d test)", data_source, mnist.num_train, len(mnist.test_labels)
    )

    distribute.check_batches_fill_replicas(
        mnist.num_train, config.batch_size, replicas, "--batch_size"
    )
    distribute.check_batches_fill_replicas(
        len(mnist.test_labels), config.test_batch_size, replicas, "--test_batch_size"
    )
    per_epoch = input_pipeline.steps_per_epoch(mnist.num_train, config.batch_size)
    with strategy.scope():
        train_loss = recipe.make_train_loss_metric()
        model = build_compiled_model(config_used, per_epoch, train_loss, sync_bn)
        model.optimizer.build(model.trainable_variables)  # so a checkpoint restores its slots
    workarounds.fix_multi_worker_fit(model, strategy)
    average_bn_statistics = (
        None if sync_bn else distribute.moving_statistics_averager(model, strategy)
    )
    distribution = distribution_record(config_used, strategy, model, sync_bn)
    # Probes (none unless asked) run on the chief only, outside the replicas.
    probe_callbacks = probes.make_callbacks(config, model, mnist, run_dir) if chief else []
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = RunCheckpoint(run_dir / CHECKPOINT_DIR, model)
    resume = checkpoint.restore()
    metrics_path = run_dir / METRICS_FILE
    distribute.check_same_step(strategy, resume["step"] if resume else 0)
    if resume:
        start_step = resume["step"]
        if chief:  # other workers keep no metrics file
            _check_rows_until(metrics_path, start_step, config)
            truncate_after(metrics_path, start_step)
        logging.info("Resuming %s at iteration %d", run_dir, start_step)
    else:
        start_step = 0
        metrics_path.unlink(missing_ok=True)  # rows of an attempt that died before a checkpoint
        write_json_atomic(run_dir / CONFIG_FILE, run_record(config, distribution, data_source))
    if chief:
        probes.reset_files(run_dir, start_step if resume else None)
    logging.info(
        "Strategy %s: %d replica(s) on %d worker(s), global batch %d, per-replica batch %g, "
        "BN %s, learning rate %g",
        distribution["strategy"],
        replicas,
        distribution["workers"],
        config.batch_size,
        distribution["per_replica_batch_size"],
        "synchronized" if sync_bn else "per replica" if config.bn and replicas > 1 else "local",
        config_used.learning_rate,
    )
    if replicas > 1 and config.batch_size % replicas:
        logging.warning(
            "--batch_size=%d is not a multiple of the %d replicas: replicas get unequal parts, "
            "and the mean loss weights their examples unequally",
            config.batch_size,
            replicas,
        )

    schedule = recipe.learning_rate_schedule(config_used, per_epoch)
    test_ds = input_pipeline.test_dataset(
        mnist.test_images, mnist.test_labels, config.test_batch_size
    )
    accuracy_callback = TestAccuracyCallback(
        make_test_evaluator(
            model, test_ds, strategy, len(mnist.test_labels), before=average_bn_statistics
        ),
        train_loss,
        every=config.eval_every,
        total_steps=config.train_steps,
        steps_per_epoch=per_epoch,
        learning_rate=lambda step: float(schedule(step)),
        writer=MetricsWriter(metrics_path) if chief else None,
        tensorboard_dir=run_dir / TENSORBOARD_DIR if chief else None,
        label=run_dir.name,
        resume=resume,
    )
    checkpoint_callback = CheckpointCallback(
        checkpoint,
        config.resolved_checkpoint_every,
        config.train_steps,
        accuracy_callback,
        stop_request,
        resume=resume,
        before_save=average_bn_statistics,
        agree_to_stop=distribute.any_worker(strategy),
    )
    if start_step < config.train_steps:
        train_ds = distribute.distribute_train_dataset(
            strategy,
            lambda replica_slice: input_pipeline.train_dataset(
                mnist.train_images,
                mnist.train_labels,
                config.batch_size,
                config.seed,
                start_step,
                replica_slice,
            ),
        )
        model.fit(
            train_ds,
            epochs=1,
            steps_per_epoch=config.train_steps - start_step,
            callbacks=[accuracy_callback, *probe_callbacks, checkpoint_callback],
            shuffle=False,  # the pipeline shuffles, per epoch and by seed
            verbose=0,
        )
    if checkpoint_callback.diverged_at is not None:
        raise TrainingDiverged(
            f"training diverged (loss not finite) at iteration {checkpoint_callback.diverged_at}; "
            f"the metrics so far are in {metrics_path}, nothing was exported: "
            "lower --learning_rate or check the data"
        )
    # Other workers keep no metrics file: their rows are those evaluated in this process.
    rows = read_metrics(metrics_path) if chief else accuracy_callback.rows
    if not rows:  # a worker resumed from its final checkpoint has nothing left to evaluate
        rows = [{"step": start_step, "test_loss": math.nan, "test_accuracy": math.nan}]
        rows[0]["elapsed_s"] = (resume or {}).get("elapsed_s", math.nan)
    last = rows[-1]
    result = TrainResult(
        run_dir=run_dir,
        steps=int(last["step"]),
        final_test_accuracy=last["test_accuracy"],
        final_test_loss=last["test_loss"],
        train_seconds=last["elapsed_s"],
        steps_per_second=last["step"] / last["elapsed_s"] if last["elapsed_s"] else math.nan,
        rows=rows,
        interrupted_at=checkpoint_callback.interrupted_at,
    )
    if result.interrupted_at is not None:
        return result
    if config.export and chief:
        export_saved_model(model, run_dir / SAVED_MODEL_DIR)
        save_keras_model(model, run_dir / KERAS_MODEL_FILE)
    write_json_atomic(
        run_dir / RESULT_FILE,
        {
            "steps": result.steps,
            "final_test_accuracy": result.final_test_accuracy,
            "final_test_loss": result.final_test_loss,
            "train_seconds": round(result.train_seconds, 2),
            "steps_per_second": round(result.steps_per_second, 2),
            "checkpoint_seconds": round(checkpoint_callback.seconds, 3),
            "checkpoints_written": checkpoint_callback.written,
        },
    )
    return result
