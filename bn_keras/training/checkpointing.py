"""Exact resume in Keras: checkpoints of weights, BN statistics and optimizer state, and the
callback through which the run's controller writes them and stops training."""

from __future__ import annotations

import shutil
from pathlib import Path

import keras
import tensorflow as tf

from bn_keras.runs.checkpoint import damaged, read_state, write_state
from bn_keras.runs.controller import RunController


class RunCheckpoint:
    """A run's training state in `directory`: a TF checkpoint plus state.json naming it
    (runs.checkpoint.Checkpoint).

    The data order needs no saving: it is a pure function of (seed, iteration). The checkpoint
    holds the model's variables (weights and BN moving statistics) and the optimizer's (iteration
    count and Adadelta's accumulators); the previous checkpoint is kept.
    """

    def __init__(self, directory: Path, model: keras.Model):
        self.directory = Path(directory)
        self._checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
        self._manager = tf.train.CheckpointManager(self._checkpoint, str(directory), max_to_keep=2)

    def save(self, step: int, state: dict) -> None:
        """Writes the training state at iteration `step`, then state.json with `state`.

        A failed write (full disk...) removes this checkpoint's partial files and re-raises;
        state.json then still names the previous checkpoint, which is intact.
        """
        try:
            write_state(self.directory, step, self._manager.save(checkpoint_number=step), state)
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
        saved = read_state(self.directory)
        if saved is None:
            return None
        state, path = saved
        try:
            self._checkpoint.restore(str(path)).assert_existing_objects_matched()
        except (ValueError, KeyError, TypeError, AssertionError, tf.errors.OpError) as err:
            raise damaged(self.directory, err) from err
        return state


class CheckpointCallback(keras.callbacks.Callback):
    """After each step (and its row): checkpoints when the controller says so, and stops
    training on a stop request or a diverged loss."""

    def __init__(self, controller: RunController):
        super().__init__()
        self._controller = controller

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if self._controller.end_of_step(step, float(logs["loss"])):
            self.model.stop_training = True
