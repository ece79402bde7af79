"""The callback that records test accuracy every N iterations, with progress and TensorBoard."""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf
from absl import logging

from bn_keras.metrics_file import MetricsWriter


def examples_before(step: int, num_examples: int, batch_size: int) -> int:
    """Training examples consumed by iterations 0..step-1 (each epoch's last batch is partial)."""
    per_epoch = -(-num_examples // batch_size)
    epochs, within = divmod(step, per_epoch)
    return epochs * num_examples + within * batch_size


class TestAccuracyCallback(keras.callbacks.Callback):
    """Evaluates on the whole test set before training, every `every` iterations and at the end.

    Each evaluation appends one row to the metrics file (step, epoch, learning rate, mean training
    loss since the previous row, test loss, test accuracy, elapsed seconds), writes the same values
    to TensorBoard and logs a progress line.
    """

    def __init__(
        self,
        evaluate: Callable[[], tuple[float, float]],
        *,
        every: int,
        total_steps: int,
        num_train: int,
        batch_size: int,
        learning_rate: Callable[[int], float],
        writer: MetricsWriter | None,
        tensorboard_dir: Path | None,
        label: str = "",
    ):
        super().__init__()
        self._evaluate = evaluate
        self._every = every
        self._total_steps = total_steps
        self._num_train = num_train
        self._batch_size = batch_size
        self._learning_rate = learning_rate
        self._writer = writer
        self._tensorboard = (
            tf.summary.create_file_writer(str(tensorboard_dir)) if tensorboard_dir else None
        )
        self._label = label
        self.rows: list[dict[str, float | int]] = []

    def _step(self) -> int:
        return int(self.model.optimizer.iterations.numpy())

    def on_train_begin(self, logs=None):
        self._start_time = time.monotonic()
        self._start_step = self._step()
        # Keras reports the running mean loss since fit() began; we difference it per interval.
        self._last_loss_total = 0.0
        self._last_examples = 0
        if self._start_step == 0:
            self._record(0, math.nan)

    def on_train_batch_end(self, batch, logs=None):
        step = self._step()
        if step % self._every and step != self._total_steps:
            return
        examples = examples_before(step, self._num_train, self._batch_size) - examples_before(
            self._start_step, self._num_train, self._batch_size
        )
        loss_total = float(logs["loss"]) * examples
        train_loss = (loss_total - self._last_loss_total) / (examples - self._last_examples)
        self._last_loss_total, self._last_examples = loss_total, examples
        self._record(step, train_loss)

    def _record(self, step: int, train_loss: float) -> None:
        test_loss, test_accuracy = self._evaluate()
        elapsed = time.monotonic() - self._start_time
        per_epoch = -(-self._num_train // self._batch_size)
        row = {
            "step": step,
            "epoch": step / per_epoch,
            "learning_rate": self._learning_rate(step),
            "train_loss": train_loss,
            "test_loss": test_loss,
            "test_accuracy": test_accuracy,
            "elapsed_s": elapsed,
        }
        self.rows.append(row)
        if self._writer:
            self._writer.append(row)
        if self._tensorboard:
            with self._tensorboard.as_default(step=step):
                for name in (
                    "learning_rate",
                    "train_loss",
                    "test_loss",
                    "test_accuracy",
                ):
                    if not math.isnan(row[name]):
                        tf.summary.scalar(name, row[name])
            self._tensorboard.flush()
        self._log_progress(step, elapsed, test_accuracy)

    def _log_progress(self, step: int, elapsed: float, test_accuracy: float) -> None:
        done = step - self._start_step
        rate = done / elapsed if done and elapsed > 0 else math.nan
        eta = (self._total_steps - step) / rate if done else math.nan
        eta_text = "?" if math.isnan(eta) else str(datetime.timedelta(seconds=round(eta)))
        logging.info(
            "%s step %d/%d (%.0f%%) | %.0f steps/s | test acc %.4f | ETA %s",
            self._label,
            step,
            self._total_steps,
            100.0 * step / self._total_steps,
            rate,
            test_accuracy,
            eta_text,
        )
