"""Trains one network with the original PyTorch recipe and records it as the Keras trainer does.

The recipe is the original code's: `torch.manual_seed(seed)`, PyTorch's default init and
BatchNorm, `nn.CrossEntropyLoss`, `torch.optim.Adadelta`, `StepLR` stepped after every epoch, and
a shuffling loader over the training set whose last batch per epoch is partial. The run directory
gets the same config.json, metrics.csv and result.json as a Keras run, so the summary and plots
read both. TensorFlow never loads here: a child process reads MNIST (see mnist_arrays).
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import platform
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
import torch
from absl import logging
from torch import nn

from bn_keras.common.atomic import write_json_atomic
from bn_keras.common.errors import TrainingDiverged
from bn_keras.config import checks
from bn_keras.config.mnist import MNIST_MEAN, MNIST_STD
from bn_keras.config.names import experiment_name
from bn_keras.config.settings import Config
from bn_keras.runs import provenance
from bn_keras.runs.metrics_file import MetricsWriter
from bn_keras.runs.run_dir import CONFIG_FILE, METRICS_FILE, RESULT_FILE
from bn_keras.twin import mnist_arrays, support
from bn_keras.twin.networks import build

if TYPE_CHECKING:
    from bn_keras.data.input_pipeline import Mnist

# Intra-op threads per run: measured on the 2-core machine, two one-thread runs side by side
# finish more runs per hour than one two-thread run at a time (README, "The PyTorch twin").
TORCH_THREADS = 1


@dataclasses.dataclass(frozen=True)
class TwinResult:
    """What a twin run measured (the fields of the Keras trainer's TrainResult)."""

    run_dir: Path
    steps: int
    final_test_accuracy: float
    final_test_loss: float
    train_seconds: float
    steps_per_second: float
    rows: list[dict]
    interrupted_at: int | None = None


def to_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images [N, 28, 28, 1] and labels [N] as normalized float32 [N, 1, 28, 28] and int64,
    with the Keras pipeline's arithmetic: pixels / 255, minus MNIST's mean, over its std."""
    pixels = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    normalized = (pixels.to(torch.float32) / 255.0 - MNIST_MEAN) / MNIST_STD
    return normalized.contiguous(), torch.from_numpy(np.asarray(labels, dtype=np.int64))


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Batches per epoch, the last one partial (a DataLoader's len with drop_last=False)."""
    return -(-num_examples // batch_size)


def decay_interval(config: Config, per_epoch: int) -> int | None:
    """Iterations between StepLR steps: an epoch, lr_decay_steps, or None (constant rate)."""
    return {"epoch": per_epoch, "steps": config.lr_decay_steps, "constant": None}[
        config.lr_schedule
    ]


def training_batches(
    images: torch.Tensor, labels: torch.Tensor, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless epochs of shuffled batches, drawn from torch's global generator.

    The indices are those of `DataLoader(dataset, batch_size, shuffle=True)` (a RandomSampler in
    a BatchSampler, drop_last=False): the same sampler, with each batch gathered by one index
    operation instead of batch_size single-example reads and a collate.
    """
    dataset = torch.utils.data.TensorDataset(images, labels)
    sampler = torch.utils.data.BatchSampler(
        torch.utils.data.RandomSampler(dataset), batch_size, drop_last=False
    )
    loader = torch.utils.data.DataLoader(dataset, sampler=sampler, batch_size=None)
    while True:
        yield from loader


@torch.no_grad()
def evaluate(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over all of a set, in eval mode (BN's moving statistics).

    Leaves the model in train mode.
    """
    model.eval()
    loss_sum, correct = 0.0, 0
    for x, y in zip(images.split(batch_size), labels.split(batch_size)):
        logits = model(x)
        loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").double().item()
        correct += int((logits.argmax(dim=1) == y).sum())
    model.train()
    return loss_sum / len(labels), correct / len(labels)


def run_record(config: Config, data_source: str) -> dict:
    """config.json's contents: the Keras record's keys, the framework, and what was ignored.

    The recorded config names framework "pytorch" however the trainer was called.
    """
    return {
        "config": dataclasses.replace(config, framework=support.FRAMEWORK).to_dict(),
        "framework": support.FRAMEWORK,
        "distribution": {
            "strategy": "none (one PyTorch process)",
            "replicas": 1,
            "workers": 1,
            "global_batch_size": config.batch_size,
            "per_replica_batch_size": config.batch_size,
            "sync_bn": False,
            "learning_rate": config.learning_rate,
            "steps_per_execution": 1,
            "data_split": "whole batches on one replica",
        },
        "ignored_settings": support.ignored_settings(config),
        "data_source": data_source,
        "versions": {
            "bn_keras": provenance.package_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "git_commit": provenance.git_commit(),
        },
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
        },
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _read_mnist(config: Config) -> tuple[str, SimpleNamespace]:
    source, arrays = mnist_arrays.load(config.data_dir, config.mnist_source)
    return source, SimpleNamespace(**arrays)


def train_and_evaluate(
    config: Config,
    run_dir: Path,
    *,
    mnist: Mnist | None = None,
    stop_request: threading.Event | None = None,
) -> TwinResult:
    """Trains `config.model` in PyTorch for `config.train_steps` iterations, evaluating on the
    whole test set at iteration 0, every `eval_every` iterations and at the end.

    Writes config.json and metrics.csv into `run_dir`, result.json last. The twin keeps no
    checkpoints: an unfinished run in `run_dir` is started again from iteration 0.

    Args:
        config: a validated configuration that support.check_supported accepts.
        run_dir: the run directory (created if missing).
        mnist: overrides the prepared TFDS MNIST (tests pass tiny arrays).
        stop_request: must be None: without checkpoints there is no clean stop to resume from.

    Returns:
        The run's measurements.

    Raises:
        DataError: the child process reading MNIST failed.
        TrainingDiverged: the loss became NaN or infinite; the metrics so far are kept.
    """
    if stop_request is not None:
        raise ValueError("the PyTorch twin keeps no checkpoints and takes no stop request")
    run_dir = Path(run_dir)
    if mnist is None:
        data_source, mnist = _read_mnist(config)
    else:
        data_source = "arrays passed to train_and_evaluate"
    torch.set_num_threads(TORCH_THREADS)
    torch.manual_seed(config.seed)
    if config.deterministic:
        torch.use_deterministic_algorithms(True)
    train_x, train_y = to_tensors(mnist.train_images, mnist.train_labels)
    test_x, test_y = to_tensors(mnist.test_images, mnist.test_labels)
    checks.check_batch_size(config.batch_size, len(train_y))
    per_epoch = steps_per_epoch(len(train_y), config.batch_size)
    logging.info("MNIST source: %s (%d train, %d test)", data_source, len(train_y), len(test_y))

    # The original's order: seed, build the model, then the optimizer, scheduler and loader.
    model = build(
        experiment_name(config.model, config.bn),
        bn_momentum=1.0 - config.bn_momentum,  # Keras's convention to PyTorch's
        bn_epsilon=config.bn_epsilon,
    )
    optimizer = torch.optim.Adadelta(
        model.parameters(), lr=config.learning_rate, rho=config.rho, eps=config.adadelta_epsilon
    )
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=config.lr_decay)
    decay_every = decay_interval(config, per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    batches = training_batches(train_x, train_y, config.batch_size)

    run_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = run_dir / METRICS_FILE
    metrics_path.unlink(missing_ok=True)  # rows of an attempt that did not finish
    (run_dir / RESULT_FILE).unlink(missing_ok=True)
    write_json_atomic(run_dir / CONFIG_FILE, run_record(config, data_source))
    writer = MetricsWriter(metrics_path)
    rows: list[dict] = []
    start = time.monotonic()

    def record(step: int, train_loss: float) -> None:
        test_loss, test_accuracy = evaluate(model, test_x, test_y, config.test_batch_size)
        row = {
            "step": step,
            "epoch": step / per_epoch,
            "learning_rate": optimizer.param_groups[0]["lr"],
            "train_loss": train_loss,
            "test_loss": test_loss,
            "test_accuracy": test_accuracy,
            "elapsed_s": time.monotonic() - start,
        }
        rows.append(row)
        writer.append(row)
        done = time.monotonic() - start
        logging.info(
            "%s step %d/%d | %.0f steps/s | test acc %.4f",
            run_dir.name,
            step,
            config.train_steps,
            step / done if step else math.nan,
            test_accuracy,
        )

    model.train()
    record(0, math.nan)
    loss_sum, examples = 0.0, 0  # the training loss of the current interval, per example
    for step in range(1, config.train_steps + 1):
        images, labels = next(batches)
        optimizer.zero_grad()
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        value = loss.item()
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"training diverged (loss not finite) at iteration {step}; the metrics so far "
                f"are in {metrics_path}: lower --learning_rate or check the data"
            )
        loss_sum += value * len(labels)
        examples += len(labels)
        if decay_every and step % decay_every == 0:
            scheduler.step()
        if step % config.eval_every == 0 or step == config.train_steps:
            record(step, loss_sum / examples)
            loss_sum, examples = 0.0, 0

    last = rows[-1]
    result = TwinResult(
        run_dir=run_dir,
        steps=last["step"],
        final_test_accuracy=last["test_accuracy"],
        final_test_loss=last["test_loss"],
        train_seconds=last["elapsed_s"],
        steps_per_second=last["step"] / last["elapsed_s"],
        rows=rows,
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
