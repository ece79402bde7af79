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

from bn_keras.common.storage import write_errors_reported
from bn_keras.runs.metrics_file import MetricsWriter


class TestAccuracyCallback(keras.callbacks.Callback):
    """Evaluates on the whole test set before training, every `every` iterations and at the end.

    Each evaluation appends one row to the metrics file (step, epoch, learning rate, mean training
    loss since the previous row, test loss, test accuracy, elapsed seconds), writes the same values
    to TensorBoard and logs a progress line.
    """

    def __init__(
        self,
        evaluate: Callable[[], tuple[float, float]],
        train_loss: keras.metrics.Mean,
        *,
        every: int,
        total_steps: int,
        steps_per_epoch: int,
        learning_rate: Callable[[int], float],
        writer: MetricsWriter | None,
        tensorboard_dir: Path | None,
        label: str = "",
        resume: dict | None = None,
    ):
        super().__init__()
        self._evaluate = evaluate
        self._train_loss = train_loss
        self._every = every
        self._total_steps = total_steps
        self._steps_per_epoch = steps_per_epoch
        self._learning_rate = learning_rate
        self._writer = writer
        self._tensorboard = (
            tf.summary.create_file_writer(str(tensorboard_dir)) if tensorboard_dir else None
        )
        self._label = label
        self._resume = resume or {}
        self.rows: list[dict[str, float | int]] = []

    def _step(self) -> int:
        return int(self.model.optimizer.iterations.numpy())

    def on_train_begin(self, logs=None):
        self._start_time = time.monotonic() - self._resume.get("elapsed_s", 0.0)
        # The training-loss metric is reset at every row; a resumed run carries the part of
        # the interval it trained before the interruption.
        self._start_step = self._step()
        self._process_start_time = time.monotonic()
        self._carry_sum = self._resume.get("interval_loss_sum", 0.0)
        self._carry_examples = self._resume.get("interval_examples", 0)
        self._train_loss.reset_state()
        if self._start_step == 0:
            self._record(0, math.nan)

    def _interval(self) -> tuple[float, float]:
        """Loss sum and example count of the current interval so far."""
        total = float(self._train_loss.total.numpy())
        count = float(self._train_loss.count.numpy())
        return self._carry_sum + total, self._carry_examples + count

    def resume_state(self) -> dict:
        """What a run resumed from a checkpoint taken now needs to continue the metrics exactly."""
        total, examples = self._interval()
        return {
            "elapsed_s": time.monotonic() - self._start_time,
            "interval_loss_sum": total,
            "interval_examples": examples,
        }

    def on_train_batch_end(self, batch, logs=None):
        step = self._step()
        if step % self._every and step != self._total_steps:
            return
        total, examples = self._interval()
        self._record(step, total / examples)
        self._train_loss.reset_state()
        self._carry_sum, self._carry_examples = 0.0, 0.0

    def _record(self, step: int, train_loss: float) -> None:
        test_loss, test_accuracy = self._evaluate()
        elapsed = time.monotonic() - self._start_time
        row = {
            "step": step,
            "epoch": step / self._steps_per_epoch,
            "learning_rate": self._learning_rate(step),
            "train_loss": train_loss,
            "test_loss": test_loss,
            "test_accuracy": test_accuracy,
            "elapsed_s": elapsed,
        }
        self.rows.append(row)
        with write_errors_reported():  # see CheckpointCallback._save: Keras would swallow them
            self._write(row)
        self._log_progress(step, test_accuracy)

    def _write(self, row: dict[str, float | int]) -> None:
        step = row["step"]
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

    def _log_progress(self, step: int, test_accuracy: float) -> None:
        done, seconds = step - self._start_step, time.monotonic() - self._process_start_time
        rate = done / seconds if done and seconds > 0 else math.nan
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
