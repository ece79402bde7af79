"""Trains one network with the original recipe and records it in its run directory.

`train_and_evaluate` reads as its phases: set up (distribution context, seed, data), build the
model, start or resume the run directory, make the run's controller (runs.controller) that the
callbacks drive, fit, then the result, the exports and result.json.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf
from absl import logging

from bn_keras.config.settings import Config
from bn_keras.data import input_pipeline
from bn_keras.data.originals import Splits
from bn_keras.runs.controller import RunController
from bn_keras.runs.predictions import write_predictions
from bn_keras.runs.records import RunResult, write_result
from bn_keras.runs.resume import StartingPoint
from bn_keras.runs.run_dir import (
    CONFIG_FILE,
    KERAS_MODEL_FILE,
    METRICS_FILE,
    PREDICTIONS_FILE,
    RESULT_FILE,
    SAVED_MODEL_DIR,
    TENSORBOARD_DIR,
)
from bn_keras.training import probe_callbacks, recipe
from bn_keras.training.callbacks import KerasEngine, TestAccuracyCallback, tensorboard_rows
from bn_keras.training.checkpointing import CheckpointCallback
from bn_keras.training.compiled_model import build_compiled_model
from bn_keras.training.evaluation import make_test_evaluator, make_test_predictor
from bn_keras.training.export import export_saved_model, save_keras_model
from bn_keras.training.resume import start_or_resume
from bn_keras.training.setup import Setup, set_up

__all__ = [  # build_compiled_model and the run-file names are here for the tests and scripts
    "CONFIG_FILE",
    "KERAS_MODEL_FILE",
    "METRICS_FILE",
    "PREDICTIONS_FILE",
    "RESULT_FILE",
    "SAVED_MODEL_DIR",
    "TENSORBOARD_DIR",
    "RunResult",
    "build_compiled_model",
    "train_and_evaluate",
]


def train_and_evaluate(
    config: Config,
    run_dir: Path,
    *,
    strategy: tf.distribute.Strategy | None = None,
    data: Splits | None = None,
    stop_request: threading.Event | None = None,
) -> RunResult:
    """Trains `config.model` for `config.train_steps` iterations, evaluating every `eval_every`.

    Writes into `run_dir`: config.json, metrics.csv, TensorBoard events, checkpoints, under
    `config.save_predictions` the test set's predicted classes and, when `config.export`, the
    SavedModel and model.keras; result.json last. Under several workers only the chief writes
    metrics, TensorBoard events, predictions and exports; every worker writes its own
    config.json, checkpoints and result.json into its own `run_dir`. A run directory holding a
    checkpoint of the same run is resumed at the checkpoint's exact iteration.

    Args:
        config: a validated configuration.
        run_dir: the run directory (created if missing).
        strategy: overrides the strategy named in the config (tests inject one).
        data: overrides the dataset read with tfds.load (tests inject tiny arrays).
        stop_request: when set (by a signal handler), training checkpoints and stops at the next
            callback; the result then has `interrupted_at`.

    Returns:
        The run's measurements.

    Raises:
        TrainingDiverged: the loss became NaN or infinite; metrics so far are kept. With
            `config.record_divergence` the run ends instead, its result.json holding
            `diverged_at` and the last evaluation before it, and nothing exported.
        CheckpointError: the checkpoint, or the metrics rows it covers, are damaged.
    """
    setup = set_up(config, Path(run_dir), strategy, data)
    model, train_loss = _build_model(setup)
    average_bn_statistics = setup.context.prepare_fit(model)
    probing = _make_probes(setup, model)
    starting = start_or_resume(setup, model)
    setup.context.log(setup.config_used)
    controller = _make_controller(
        setup, model, train_loss, starting, average_bn_statistics, stop_request
    )
    _fit(
        setup,
        model,
        starting.step,
        [TestAccuracyCallback(controller), *probing, CheckpointCallback(controller)],
    )
    result = controller.result()
    if result.interrupted_at is None:
        if result.diverged_at is None:
            _save_predictions(
                setup, model, resumed_finished=starting.step >= setup.config.train_steps
            )
        _export_and_record(setup, model, result)
    return result


def _build_model(setup: Setup) -> tuple[keras.Model, keras.metrics.Mean]:
    """The compiled model with its optimizer built, and its training-loss metric."""
    with setup.context.scope():
        train_loss = recipe.make_train_loss_metric()
        model = build_compiled_model(
            setup.config_used, setup.steps_per_epoch, train_loss, setup.context.sync_bn
        )
        model.optimizer.build(model.trainable_variables)  # so a checkpoint restores its slots
    return model, train_loss


def _make_probes(setup: Setup, model: keras.Model) -> list[keras.callbacks.Callback]:
    """The probe callbacks the config asks for (none unless asked), on the chief only.

    Made before the run directory is touched: a --probe_layers the model lacks is refused with
    the directory unchanged.

    Raises:
        ConfigError: --probe_layers names a layer the model does not have.
    """
    if not setup.context.chief:
        return []
    return probe_callbacks.make_callbacks(setup, model)


def _make_controller(
    setup: Setup,
    model: keras.Model,
    train_loss: keras.metrics.Mean,
    starting: StartingPoint,
    average_bn_statistics: Callable[[], None] | None,
    stop_request: threading.Event | None,
) -> RunController:
    """The run's controller, driving the Keras engine: test evaluation (and the training
    set's, under --eval_train), learning rate, loss."""
    config, context, run_dir, data = setup.config, setup.context, setup.run_dir, setup.data
    schedule = recipe.learning_rate_schedule(setup.config_used, setup.steps_per_epoch)
    evaluate = make_test_evaluator(
        model,
        _test_dataset(setup),
        context.strategy,
        len(data.test_labels),
        before=average_bn_statistics,
        fold_batch_norm=config.fold_bn_eval,
    )
    evaluate_train_set = None
    if config.eval_train:
        # The training set in fixed order, evaluated as the test set is; right after the test
        # set, whose evaluation has already brought per-replica BN statistics together.
        train_as_test = input_pipeline.test_dataset(
            data.train_images, data.train_labels, config.test_batch_size, dataset=setup.dataset
        )
        evaluate_train_set = make_test_evaluator(
            model,
            train_as_test,
            context.strategy,
            data.num_train,
            fold_batch_norm=config.fold_bn_eval,
        )
    return RunController(
        config,
        run_dir,
        KerasEngine(evaluate, train_loss, schedule, average_bn_statistics, evaluate_train_set),
        starting,
        steps_per_epoch=setup.steps_per_epoch,
        chief=context.chief,
        stop_request=stop_request,
        agree_to_stop=context.stop_agreement(),
        on_row=tensorboard_rows(run_dir / TENSORBOARD_DIR) if context.chief else None,
    )


def _test_dataset(setup: Setup) -> tf.data.Dataset:
    """The test set in its fixed order, in --test_batch_size batches."""
    return input_pipeline.test_dataset(
        setup.data.test_images,
        setup.data.test_labels,
        setup.config.test_batch_size,
        dataset=setup.dataset,
    )


def _save_predictions(setup: Setup, model: keras.Model, resumed_finished: bool) -> None:
    """Under --save_predictions, the chief writes the test set's predicted classes, by the
    evaluation's forward pass; a run resumed after its last step keeps the file it wrote."""
    config, path = setup.config, setup.run_dir / PREDICTIONS_FILE
    if not (config.save_predictions and setup.context.chief):
        return
    if resumed_finished and path.is_file():
        return
    predict = make_test_predictor(model, _test_dataset(setup), config.fold_bn_eval)
    write_predictions(setup.run_dir, predict())


def _fit(
    setup: Setup, model: keras.Model, start_step: int, callbacks: list[keras.callbacks.Callback]
) -> None:
    """Trains from `start_step` to the last iteration (nothing when already there)."""
    config, data = setup.config, setup.data
    if start_step >= config.train_steps:
        return
    train_ds = setup.context.train_dataset(
        lambda replica_slice: input_pipeline.train_dataset(
            data.train_images,
            data.train_labels,
            config.batch_size,
            config.seed,
            start_step,
            replica_slice,
            dataset=setup.dataset,
        )
    )
    model.fit(
        train_ds,
        epochs=1,
        steps_per_epoch=config.train_steps - start_step,
        callbacks=callbacks,
        shuffle=False,  # the pipeline shuffles, per epoch and by seed
        verbose=0,
    )


def _export_and_record(setup: Setup, model: keras.Model, result: RunResult) -> None:
    """Exports the model (chief only, when asked and not diverged), then writes result.json,
    which marks the run finished."""
    if result.diverged_at is not None:
        logging.warning(
            "training diverged at iteration %d: recorded in result.json", result.diverged_at
        )
    elif setup.config.export and setup.context.chief:
        export_saved_model(model, setup.run_dir / SAVED_MODEL_DIR, setup.dataset)
        save_keras_model(model, setup.run_dir / KERAS_MODEL_FILE)
    write_result(result)
