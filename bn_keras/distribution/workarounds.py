"""Workarounds for upstream bugs, each naming its issue; tests/test_workarounds.py shows each is
still needed (it fails once upstream fixes the bug, so the workaround can go).

keras-team/keras#20585 (tensorflow/tensorflow#72388): Keras 3's `Model.fit` under
MultiWorkerMirroredStrategy fails at its first step, in two places of the TensorFlow trainer:

1. `_maybe_symbolic_build` takes the first input batch, which is distributed, and calls
   `strategy.reduce("MEAN", (x, y))` on it only to learn its shapes. With several workers that
   reduce runs across workers on a tuple and raises "Attempt to convert a value (PerReplica...)".
2. `reduce_per_replica` reduces the step's logs (scalars) across workers with
   `strategy.reduce("MEAN", v, axis=0)`, which raises "Invalid reduction dimension 0 for input
   with 0 dimensions".

The fixes are as small as the bugs: (1) build from this worker's own part of the batch (the
shapes are all that is needed); (2) reduce scalars with `axis=None`. Both act only under several
workers; single-process training never reaches them.

keras-team/keras#19246: fit's multi-step loop (steps_per_execution > 1) fails under any strategy
with several replicas, MirroredStrategy on one machine included, with "You must feed a value for
placeholder tensor" from its `has_next` conditional. Runs with several replicas therefore execute
one step per call; steps_per_execution changes speed only, never results.
"""

from __future__ import annotations

import types

import keras
import tensorflow as tf
from keras.src import tree
from keras.src.backend.tensorflow import trainer as tf_trainer

_original_reduce_per_replica = tf_trainer.reduce_per_replica


def _is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    return tf_trainer._collective_all_reduce_multi_worker(strategy)


def _maybe_symbolic_build_from_local_batch(self, iterator=None, data_batch=None):
    """keras-team/keras#20585 part 1: `TensorFlowTrainer._maybe_symbolic_build` without the
    cross-worker reduce of the input batch."""
    if iterator is not None:
        for _, _, batches in iterator:
            batch = next(batches)
            break
        data_batch = tree.map_structure(
            lambda value: (
                self.distribute_strategy.experimental_local_results(value)[0]
                if isinstance(value, tf.distribute.DistributedValues)
                else value
            ),
            batch,
        )
    with self.distribute_strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _reduce_per_replica(values, strategy, reduction):
    """keras-team/keras#20585 part 2: scalar logs reduced across workers with axis=None."""
    if reduction in ("auto", "mean") and _is_multi_worker(strategy):
        return tree.map_structure(
            lambda value: (
                strategy.reduce("MEAN", value, axis=None)
                if tf_trainer._is_per_replica_instance(value)
                else value
            ),
            values,
        )
    return _original_reduce_per_replica(values, strategy, reduction)


def fix_multi_worker_fit(model: keras.Model, strategy: tf.distribute.Strategy) -> None:
    """Lets `model.fit` train under MultiWorkerMirroredStrategy (keras-team/keras#20585).

    Does nothing unless `strategy` spans several workers.
    """
    if _is_multi_worker(strategy):
        build_from_local_batch(model)
        reduce_scalar_logs()


def build_from_local_batch(model: keras.Model) -> None:
    """Fix 1 of keras-team/keras#20585, for this model only."""
    model._maybe_symbolic_build = types.MethodType(_maybe_symbolic_build_from_local_batch, model)


def reduce_scalar_logs() -> None:
    """Fix 2 of keras-team/keras#20585 (Keras's trainer module; idempotent)."""
    tf_trainer.reduce_per_replica = _reduce_per_replica


def single_step_execution_needed(strategy: tf.distribute.Strategy) -> bool:
    """Whether fit must run one step per call (keras-team/keras#19246: several replicas)."""
    return strategy.num_replicas_in_sync > 1
