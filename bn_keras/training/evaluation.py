"""Exact evaluation in inference mode, under any tf.distribute strategy, and the test set's
predicted classes by the same forward pass."""

from __future__ import annotations

import functools
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from bn_keras.models import folding


def make_test_evaluator(
    model: keras.Model,
    dataset: tf.data.Dataset,
    strategy: tf.distribute.Strategy,
    num_examples: int,
    before: Callable[[], None] | None = None,
    fold_batch_norm: bool = False,
) -> Callable[[], tuple[float, float]]:
    """Returns a function computing (mean loss, accuracy) of `model` over all of `dataset`.

    The model runs with `training=False`, so BatchNorm uses its moving statistics. The strategy
    splits every batch across its replicas (and workers: sharding by data, each batch part goes to
    one worker), and sums and counts are reduced across all of them, so every example counts
    exactly once whatever the replica count; the count is checked.

    Args:
        model: the model to evaluate.
        dataset: batches of (images, labels), global batch size.
        strategy: the strategy the model was built under.
        num_examples: the number of examples in `dataset`, to check that each counted once.
        before: called before each evaluation (to average unsynchronized BN statistics).
        fold_batch_norm: compute the logits with BN folded into the conv or dense layer before
            it (`bn_keras.models.folding`): the same up to float rounding, and fewer passes.

    Raises:
        RuntimeError: (from the returned function) the examples counted differ from num_examples.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    distributed = strategy.experimental_distribute_dataset(dataset.with_options(options))

    forward = inference(model, fold_batch_norm)

    def replica_sums(images, labels):
        logits = forward(images)
        losses = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        correct = tf.equal(tf.argmax(logits, axis=-1), tf.cast(labels, tf.int64))
        return (
            tf.reduce_sum(tf.cast(losses, tf.float64)),
            tf.reduce_sum(tf.cast(correct, tf.float64)),
            tf.cast(tf.size(labels), tf.float64),
        )

    @tf.function
    def sums():
        totals = tf.zeros([3], tf.float64)
        for images, labels in distributed:
            per_replica = strategy.run(replica_sums, args=(images, labels))
            reduced = [strategy.reduce("SUM", value, axis=None) for value in per_replica]
            totals += tf.stack(reduced)
        return totals

    def evaluate() -> tuple[float, float]:
        if before is not None:
            before()
        loss_sum, correct, count = sums().numpy()
        if count != num_examples:
            raise RuntimeError(f"evaluation counted {count:.0f} examples, not {num_examples}")
        return float(loss_sum / count), float(correct / count)

    return evaluate


def inference(
    model: keras.Model, fold_batch_norm: bool = False
) -> Callable[[tf.Tensor], tf.Tensor]:
    """The logits of `model` in inference mode: BN folded where asked and foldable
    (`bn_keras.models.folding`), else the model called with `training=False`."""
    if fold_batch_norm and folding.count_foldable(model):
        return folding.folded_inference(model)
    return functools.partial(model, training=False)


def make_test_predictor(
    model: keras.Model, dataset: tf.data.Dataset, fold_batch_norm: bool = False
) -> Callable[[], np.ndarray]:
    """Returns a function giving the predicted class of every example of `dataset`, in its order.

    The logits come from the same forward pass as make_test_evaluator's with the same
    `fold_batch_norm`, batch by batch in this process, so the predictions' accuracy is the
    evaluator's.

    Args:
        model: the model, read as it is at each call.
        dataset: batches of (images, labels), in the order the predictions keep.
        fold_batch_norm: as make_test_evaluator's.
    """
    forward = inference(model, fold_batch_norm)

    @tf.function
    def classes(images):
        return tf.argmax(forward(images), axis=-1)

    def predict() -> np.ndarray:
        return np.concatenate([classes(images).numpy() for images, _ in dataset])

    return predict
