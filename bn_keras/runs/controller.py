"""What happens between an engine's training steps, for either engine: the metrics rows and the
progress line, checkpoints on a cadence or on a stop request, divergence, and the result.

An engine (Keras's `fit` through two callbacks, the twin's plain loop) trains; the controller
decides when to evaluate and checkpoint and keeps the record (no TensorFlow, no torch).
"""

from __future__ import annotations

import datetime
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from absl import logging

from bn_keras.common.errors import TrainingDiverged
from bn_keras.common.storage import write_errors_reported
from bn_keras.config.settings import Config
from bn_keras.runs.metrics_file import (
    TRAIN_SET_ACCURACY,
    TRAIN_SET_LOSS,
    MetricsWriter,
    read_metrics,
    run_fields,
)
from bn_keras.runs.records import RunResult
from bn_keras.runs.resume import StartingPoint
from bn_keras.runs.run_dir import METRICS_FILE


class Engine(Protocol):
    """What the controller asks of an engine between its training steps."""

    def evaluate(self) -> tuple[float, float]:
        """The test loss and accuracy of the model as it is now, over the whole test set."""

    def evaluate_train_set(self) -> tuple[float, float]:
        """The loss and accuracy over the whole training set in inference mode, right after
        `evaluate`; asked only under --eval_train (an engine that refuses it need not have it)."""

    def learning_rate(self, step: int) -> float:
        """The learning rate in force after iteration `step` (the next step's)."""

    def interval_loss(self) -> tuple[float, float]:
        """The training-loss sum and example count of this process since the last reset."""

    def reset_interval_loss(self) -> None:
        """Starts a new interval of the training loss."""

    def before_checkpoint(self) -> None:
        """Brings the state a checkpoint saves up to date (nothing, for most engines)."""


def diverged(step: int, metrics_path: Path) -> TrainingDiverged:
    """The one-line report of a run whose loss stopped being finite at iteration `step`."""
    return TrainingDiverged(
        f"training diverged (loss not finite) at iteration {step}; "
        f"the metrics so far are in {metrics_path}, nothing was exported: "
        "lower --learning_rate or check the data"
    )


class RunController:
    """Keeps the record of one run while an engine trains it.

    Each evaluation appends a row to metrics.csv (step, epoch, learning rate, mean training loss
    since the previous row, test loss and accuracy, under --eval_train the whole training set's
    loss and accuracy, elapsed seconds), passes it to `on_row` and logs a progress line.
    Checkpoints are written every `checkpoint_every` iterations, at the end and on a stop
    request, carrying what a resumed run needs to continue the rows exactly.

    Attributes:
        rows: the rows evaluated in this process.
        interrupted_at: the iteration a stop request ended training at, else None.
        diverged_at: the iteration the loss stopped being finite at, else None.
        checkpoint_seconds: time spent writing checkpoints over the whole run (a resumed run
            continues its checkpoint's count).
        checkpoints_written: checkpoints written over the whole run.
    """

    def __init__(
        self,
        config: Config,
        run_dir: Path,
        engine: Engine,
        starting: StartingPoint,
        *,
        steps_per_epoch: int,
        chief: bool = True,
        stop_request: threading.Event | None = None,
        agree_to_stop: Callable[[bool], bool] | None = None,
        on_row: Callable[[dict], None] | None = None,
    ):
        """
        Args:
            config: the run's configuration (eval_every, train_steps, checkpoint_every).
            run_dir: the run directory; its metrics file is written by the chief only.
            engine: what trains.
            starting: where training starts, and the checkpoint to write.
            steps_per_epoch: iterations per epoch (the rows' epoch column).
            chief: whether this process writes the metrics file.
            stop_request: when set, training checkpoints and stops after the current step.
            agree_to_stop: the collective telling every worker whether any was asked to stop.
            on_row: also given each row (TensorBoard).
        """
        saved = starting.saved or {}
        self._config, self._engine, self._starting = config, engine, starting
        self._metrics_path = Path(run_dir) / METRICS_FILE
        self._label = Path(run_dir).name
        self._per_epoch = steps_per_epoch
        fields = run_fields(config.eval_train)
        self._writer = MetricsWriter(self._metrics_path, fields) if chief else None
        self._stop_request, self._agree_to_stop, self._on_row = stop_request, agree_to_stop, on_row
        self._saved = saved
        # The part of the current interval trained before the interruption, for a resumed run.
        self._carry = (saved.get("interval_loss_sum", 0.0), saved.get("interval_examples", 0))
        self.rows: list[dict] = []
        self.interrupted_at: int | None = None
        self.diverged_at: int | None = None
        self.checkpoint_seconds = saved.get("checkpoint_seconds", 0.0)
        self.checkpoints_written = saved.get("checkpoints_written", 0)

    def begin(self, step: int) -> None:
        """Starts the clocks, right before training goes on from iteration `step`; at iteration
        0, records row 0 (the untrained model)."""
        now = time.monotonic()
        self._clock_origin = now - self._saved.get("elapsed_s", 0.0)
        self._process_began, self._first_step = now, step
        self._engine.reset_interval_loss()
        if step == 0:
            self._record(0)

    def record_if_due(self, step: int) -> None:
        """After iteration `step`: a row every `eval_every` iterations and at the last."""
        if step % self._config.eval_every == 0 or step == self._config.train_steps:
            self._record(step)

    def end_of_step(self, step: int, loss: float) -> bool:
        """After iteration `step` and its row: checkpoints when due or asked to stop.

        Returns:
            Whether training must stop now: a stop request (checkpointed) or a diverged loss.
        """
        if not math.isfinite(loss):
            self.diverged_at = step
            return True
        stop = self._stop_request is not None and self._stop_request.is_set()
        if self._agree_to_stop is not None:
            stop = self._agree_to_stop(stop)
        if stop:
            self._save(step)
            self.interrupted_at = step
            return True
        if step % self._config.resolved_checkpoint_every == 0 or step == self._config.train_steps:
            self._save(step)
        return False

    def result(self) -> RunResult:
        """The run's measurements, from its metrics rows.

        Raises:
            TrainingDiverged: training stopped on a loss that was not finite, unless the config
                asks to record divergence as the run's outcome (its result then has
                `diverged_at`).
        """
        if self.diverged_at is not None and not self._config.record_divergence:
            raise diverged(self.diverged_at, self._metrics_path)
        # Other workers keep no metrics file: their rows are those evaluated in this process.
        rows = read_metrics(self._metrics_path) if self._writer else self.rows
        if not rows:  # a worker resumed from its final checkpoint has nothing left to evaluate
            rows = [
                {
                    "step": self._starting.step,
                    "test_loss": math.nan,
                    "test_accuracy": math.nan,
                    "elapsed_s": self._saved.get("elapsed_s", math.nan),
                }
            ]
        return RunResult.from_rows(
            self._metrics_path.parent,
            rows,
            interrupted_at=self.interrupted_at,
            checkpoint_seconds=self.checkpoint_seconds,
            checkpoints_written=self.checkpoints_written,
            diverged_at=self.diverged_at,
        )

    def _interval(self) -> tuple[float, float]:
        """Loss sum and example count of the current interval so far, carry included."""
        total, examples = self._engine.interval_loss()
        return self._carry[0] + total, self._carry[1] + examples

    def _record(self, step: int) -> None:
        test_loss, test_accuracy = self._engine.evaluate()
        total, examples = self._interval()
        row = {
            "step": step,
            "epoch": step / self._per_epoch,
            "learning_rate": self._engine.learning_rate(step),
            "train_loss": total / examples if examples else math.nan,
            "test_loss": test_loss,
            "test_accuracy": test_accuracy,
        }
        if self._config.eval_train:
            row[TRAIN_SET_LOSS], row[TRAIN_SET_ACCURACY] = self._engine.evaluate_train_set()
        row["elapsed_s"] = time.monotonic() - self._clock_origin
        self._engine.reset_interval_loss()
        self._carry = (0.0, 0)
        self.rows.append(row)
        # Keras's fit loop would take some failed writes for the end of the data: ours to report.
        with write_errors_reported():
            if self._writer:
                self._writer.append(row)
            if self._on_row:
                self._on_row(row)
        self._log_progress(step, test_accuracy)

    def _log_progress(self, step: int, test_accuracy: float) -> None:
        total = self._config.train_steps
        done = step - self._first_step
        seconds = time.monotonic() - self._process_began
        rate = done / seconds if done and seconds > 0 else math.nan
        eta = (total - step) / rate if done else math.nan
        eta_text = "?" if math.isnan(eta) else str(datetime.timedelta(seconds=round(eta)))
        logging.info(
            "%s step %d/%d (%.0f%%) | %.0f steps/s | test acc %.4f | ETA %s",
            self._label,
            step,
            total,
            100.0 * step / total,
            rate,
            test_accuracy,
            eta_text,
        )

    def _save(self, step: int) -> None:
        checkpoint = self._starting.checkpoint
        if checkpoint is None:
            return
        began = time.monotonic()
        self._engine.before_checkpoint()
        self.checkpoints_written += 1
        total, examples = self._interval()
        # The counts recorded include this checkpoint's count but not its time (unknown yet).
        state = {
            "elapsed_s": began - self._clock_origin,
            "interval_loss_sum": total,
            "interval_examples": examples,
            "checkpoint_seconds": self.checkpoint_seconds,
            "checkpoints_written": self.checkpoints_written,
        }
        with write_errors_reported():
            checkpoint.save(step, state)
        self.checkpoint_seconds += time.monotonic() - began
        logging.info("Checkpoint at iteration %d in %s", step, checkpoint.directory)
