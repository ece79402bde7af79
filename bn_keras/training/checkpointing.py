"""Exact resume: checkpoints of weights, BN statistics and optimizer state, and the callback that
writes them every K iterations, on SIGINT/SIGTERM, and stops on a diverged loss."""

from __future__ import annotations

import json
import math
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf
from absl import logging

from bn_keras.common.atomic import write_json_atomic
from bn_keras.common.errors import CheckpointError
from bn_keras.common.storage import write_errors_reported
from bn_keras.training.callbacks import TestAccuracyCallback

STATE_FILE = "state.json"


class RunCheckpoint:
    """A run's training state in `directory`: a TF checkpoint plus state.json naming it.

    The data order needs no saving: it is a pure function of (seed, iteration). The checkpoint
    holds the model's variables (weights and BN moving statistics) and the optimizer's (iteration
    count and Adadelta's accumulators). state.json is replaced atomically after the checkpoint's
    files are complete, and the previous checkpoint is kept, so a crash at any moment leaves a
    complete state to resume from.
    """

    def __init__(self, directory: Path, model: keras.Model):
        self.directory = Path(directory)
        self._checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
        self._manager = tf.train.CheckpointManager(self._checkpoint, str(directory), max_to_keep=2)

    def save(self, step: int, extra: dict) -> None:
        """Writes the training state at iteration `step`, with `extra` (callback bookkeeping).

        A failed write (full disk...) removes this checkpoint's partial files and re-raises;
        state.json then still names the previous checkpoint, which is intact.
        """
        try:
            path = self._manager.save(checkpoint_number=step)
            write_json_atomic(self.directory / STATE_FILE, {"step": step, "path": path, **extra})
        except (OSError, tf.errors.OpError):
            for partial in self.directory.glob(f"ckpt-{step}[._]*"):
                if partial.is_dir():
                    shutil.rmtree(partial, ignore_errors=True)
                else:
                    partial.unlink(missing_ok=True)
            raise

    def restore(self) -> dict | None:
        """Restores the last saved state into the model and optimizer; None if there is none.

        Raises:
            CheckpointError: state.json or the checkpoint it names is unreadable or damaged.
        """
        state_path = self.directory / STATE_FILE
        if not state_path.is_file():
            return None
        try:
            state = json.loads(state_path.read_text())
            # By name, in this directory: a run directory that was moved or copied resumes from
            # its own checkpoint, not from the one at the path where it was written.
            path = self.directory / Path(state["path"]).name
            self._checkpoint.restore(str(path)).assert_existing_objects_matched()
        except (ValueError, KeyError, TypeError, AssertionError, tf.errors.OpError) as err:
            raise CheckpointError(
                f"the checkpoint in {self.directory} is unreadable ({type(err).__name__}): "
                "pass --overwrite to start the run afresh"
            ) from err
        return state


class CheckpointCallback(keras.callbacks.Callback):
    """Checkpoints every `every` iterations and when `stop_request` is set, then stops training
    in the latter case; stops training when the loss is no longer finite.

    `seconds` and `written` count the time spent writing checkpoints and their number, over
    the whole run: a resumed run continues the counts of the checkpoint it resumed from.
    """

    def __init__(
        self,
        checkpoint: RunCheckpoint,
        every: int,
        total_steps: int,
        accuracy: TestAccuracyCallback,
        stop_request: threading.Event | None = None,
        resume: dict | None = None,
        before_save: Callable[[], None] | None = None,
        agree_to_stop: Callable[[bool], bool] | None = None,
    ):
        super().__init__()
        self._before_save = before_save
        self._checkpoint = checkpoint
        self._every = every
        self._total_steps = total_steps
        self._accuracy = accuracy
        self._stop_request = stop_request
        self._agree_to_stop = agree_to_stop
        self.interrupted_at: int | None = None
        self.diverged_at: int | None = None
        self.seconds = (resume or {}).get("checkpoint_seconds", 0.0)
        self.written = (resume or {}).get("checkpoints_written", 0)

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if not math.isfinite(float(logs["loss"])):
            self.diverged_at = step
            self.model.stop_training = True
            return
        stop = self._stop_request is not None and self._stop_request.is_set()
        if self._agree_to_stop is not None:
            stop = self._agree_to_stop(stop)
        if stop:
            self._save(step)
            self.interrupted_at = step
            self.model.stop_training = True
        elif step % self._every == 0 or step == self._total_steps:
            self._save(step)

    def _save(self, step: int) -> None:
        start = time.monotonic()
        if self._before_save is not None:
            self._before_save()
        self.written += 1
        # The counts recorded include this checkpoint's count but not its time (unknown yet).
        extra = {
            **self._accuracy.resume_state(),
            "checkpoint_seconds": self.seconds,
            "checkpoints_written": self.written,
        }
        # Keras's fit loop takes an OutOfRangeError (TensorFlow's EFBIG) raised in a callback
        # for the end of the data and ends training quietly: report failed writes as ours.
        with write_errors_reported():
            self._checkpoint.save(step, extra)
        self.seconds += time.monotonic() - start
        logging.info("Checkpoint at iteration %d in %s", step, self._checkpoint.directory)
