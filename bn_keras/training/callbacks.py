"""The Keras engine of a run: what the run's controller asks of a compiled model, the callback
that records the metrics rows through it, and the rows' TensorBoard copy."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf

from bn_keras.runs.controller import RunController
from bn_keras.runs.metrics_file import TRAIN_SET_ACCURACY, TRAIN_SET_LOSS


class KerasEngine:
    """A compiled model as the controller sees it (runs.controller.Engine).

    Args:
        evaluate: the test loss and accuracy of the model now (training.evaluation).
        train_loss: the compiled training-loss metric; its sum and count are the interval's.
        learning_rate: the schedule, by iteration.
        before_checkpoint: called before each checkpoint (averages BN statistics across
            replicas where they are kept per replica), or None.
        evaluate_train_set: the whole training set's loss and accuracy in inference mode
            (training.evaluation), for --eval_train; None without it.
    """

    def __init__(
        self,
        evaluate: Callable[[], tuple[float, float]],
        train_loss: keras.metrics.Mean,
        learning_rate: Callable[[int], float],
        before_checkpoint: Callable[[], None] | None = None,
        evaluate_train_set: Callable[[], tuple[float, float]] | None = None,
    ):
        self.evaluate = evaluate
        self._evaluate_train_set = evaluate_train_set
        self._train_loss = train_loss
        self._learning_rate = learning_rate
        self._before_checkpoint = before_checkpoint

    def evaluate_train_set(self) -> tuple[float, float]:
        if self._evaluate_train_set is None:
            raise RuntimeError("the training set's evaluation was not made: --eval_train is off")
        return self._evaluate_train_set()

    def learning_rate(self, step: int) -> float:
        return float(self._learning_rate(step))

    def interval_loss(self) -> tuple[float, float]:
        return float(self._train_loss.total.numpy()), float(self._train_loss.count.numpy())

    def reset_interval_loss(self) -> None:
        self._train_loss.reset_state()

    def before_checkpoint(self) -> None:
        if self._before_checkpoint is not None:
            self._before_checkpoint()


class TestAccuracyCallback(keras.callbacks.Callback):
    """Evaluates on the whole test set before training, every `eval_every` iterations and at the
    end, each time recording a metrics row through the run's controller."""

    def __init__(self, controller: RunController):
        super().__init__()
        self._controller = controller

    def _step(self) -> int:
        return int(self.model.optimizer.iterations.numpy())

    def on_train_begin(self, logs=None):
        self._controller.begin(self._step())

    def on_train_batch_end(self, batch, logs=None):
        self._controller.record_if_due(self._step())


_SCALARS = (
    "learning_rate",
    "train_loss",
    "test_loss",
    "test_accuracy",
    TRAIN_SET_LOSS,
    TRAIN_SET_ACCURACY,
)


def tensorboard_rows(log_dir: Path) -> Callable[[dict], None]:
    """Writes each metrics row's values (NaN left out) as TensorBoard scalars in `log_dir`."""
    writer = tf.summary.create_file_writer(str(log_dir))

    def write(row: dict) -> None:
        with writer.as_default(step=row["step"]):
            for name in _SCALARS:
                if name in row and not math.isnan(row[name]):
                    tf.summary.scalar(name, row[name])
        writer.flush()

    return write
