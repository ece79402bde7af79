"""Trains one network with the original PyTorch recipe and records it as the Keras trainer does.

The recipe is the original code's: `torch.manual_seed(seed)`, PyTorch's default init and
BatchNorm, `nn.CrossEntropyLoss`, `torch.optim.Adadelta`, `StepLR` stepped after every epoch, and
a shuffling loader over the training set whose last batch per epoch is partial. The run skeleton
(bn_keras.runs) keeps the record, so the run directory gets the same config.json, metrics.csv,
checkpoints and result.json as a Keras run, and a stopped or killed run resumes exactly.
TensorFlow never loads here: a child process reads the dataset (see twin.arrays).

`train_and_evaluate` reads as its phases: set up (threads, seed, data), build the engine, start
or resume the run directory, train, then the result and result.json.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
import torch
from absl import logging

from bn_keras.config import checks, datasets
from bn_keras.config.settings import Config
from bn_keras.data import facts
from bn_keras.runs import records
from bn_keras.runs.controller import RunController
from bn_keras.runs.records import RunResult, write_result
from bn_keras.runs.resume import StartingPoint, start_or_resume
from bn_keras.runs.run_dir import CHECKPOINT_DIR
from bn_keras.twin import arrays, support
from bn_keras.twin.batches import to_tensors
from bn_keras.twin.engine import TorchCheckpoint, TwinEngine

if TYPE_CHECKING:
    from bn_keras.data.originals import Splits

# Intra-op threads per run: measured on the 2-core machine, two one-thread runs side by side
# finish more runs per hour than one two-thread run at a time (README, "The PyTorch twin").
TORCH_THREADS = 1
# config.json's `distribution`: one process, one replica.
DISTRIBUTION = {
    "strategy": "none (one PyTorch process)",
    "replicas": 1,
    "workers": 1,
    "sync_bn": False,
    "steps_per_execution": 1,
    "data_split": "whole batches on one replica",
}


@dataclasses.dataclass(frozen=True)
class Setup:
    """What every phase of a twin run reads: the config, the run directory, the data as
    tensors (train, test) and where it came from, and iterations per epoch."""

    config: Config
    run_dir: Path
    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    data_source: str
    per_epoch: int


def train_and_evaluate(
    config: Config,
    run_dir: Path,
    *,
    data: Splits | None = None,
    stop_request: threading.Event | None = None,
) -> RunResult:
    """Trains `config.model` in PyTorch for `config.train_steps` iterations, evaluating on the
    whole test set at iteration 0, every `eval_every` iterations and at the end.

    Writes config.json, metrics.csv and checkpoints into `run_dir`, result.json last. A run
    directory holding a checkpoint of the same run is resumed at the checkpoint's exact
    iteration, with the same batches to come.

    Args:
        config: a validated configuration that support.check_supported accepts.
        run_dir: the run directory (created if missing).
        data: overrides the prepared TFDS dataset (tests pass tiny arrays).
        stop_request: when set (by a signal handler), training checkpoints and stops after the
            current iteration; the result then has `interrupted_at`.

    Returns:
        The run's measurements.

    Raises:
        DataError: the child process reading the dataset failed.
        TrainingDiverged: the loss became NaN or infinite; the metrics so far are kept.
        CheckpointError: the checkpoint, or the metrics rows it covers, are damaged.
    """
    setup = set_up(config, Path(run_dir), data)
    engine = TwinEngine(config, setup.train, setup.test, setup.per_epoch)
    starting = start_or_resume(
        config,
        setup.run_dir,
        TorchCheckpoint(setup.run_dir / CHECKPOINT_DIR, engine),
        lambda: run_record(setup),
    )
    controller = RunController(
        config,
        setup.run_dir,
        engine,
        starting,
        steps_per_epoch=setup.per_epoch,
        stop_request=stop_request,
    )
    _train(engine, controller, starting, config.train_steps)
    result = controller.result()
    if result.interrupted_at is None:
        write_result(result)
    return result


def set_up(config: Config, run_dir: Path, data: Splits | None = None) -> Setup:
    """Sets torch's threads, seed and determinism, then reads the data as tensors.

    Raises:
        DataError: the child process reading the dataset failed.
    """
    dataset = datasets.get(config.dataset)
    if data is None:
        data_source, loaded = arrays.load(config)
        data = SimpleNamespace(**loaded)
    else:
        data_source = facts.INJECTED_SOURCE
    torch.set_num_threads(TORCH_THREADS)
    torch.manual_seed(config.seed)
    if config.deterministic:
        torch.use_deterministic_algorithms(True)
    train = to_tensors(data.train_images, data.train_labels, dataset)
    test = to_tensors(data.test_images, data.test_labels, dataset)
    logging.info(
        "%s source: %s (%d train, %d test)", dataset.label, data_source, len(train[1]), len(test[1])
    )
    checks.check_batch_size(config.batch_size, len(train[1]))
    per_epoch = facts.steps_per_epoch(len(train[1]), config.batch_size)
    return Setup(config, run_dir, train, test, data_source, per_epoch)


def run_record(setup: Setup) -> dict:
    """config.json's contents: the Keras record's keys, the framework, and what was ignored.

    The recorded config names framework "pytorch" however the trainer was called.
    """
    config = setup.config
    distribution = {
        **DISTRIBUTION,
        "global_batch_size": config.batch_size,
        "per_replica_batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
    }
    engine = records.EngineRecord(
        libraries={"torch": torch.__version__, "numpy": np.__version__},
        devices={"torch_threads": torch.get_num_threads()},
        extra={
            "framework": support.FRAMEWORK,
            "ignored_settings": support.ignored_settings(config),
        },
    )
    recorded = dataclasses.replace(config, framework=support.FRAMEWORK)
    return records.run_record(recorded, distribution, setup.data_source, engine)


def _train(
    engine: TwinEngine, controller: RunController, starting: StartingPoint, steps: int
) -> None:
    """The plain loop: one batch per iteration, the controller after each."""
    controller.begin(starting.step)
    for step in range(starting.step + 1, steps + 1):
        loss = engine.train_step(step)
        controller.record_if_due(step)
        if controller.end_of_step(step, loss):
            return
