"""Exact test-set evaluation in inference mode, under any tf.distribute strategy."""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf


def make_test_evaluator(
    model: keras.Model, dataset: tf.data.Dataset, strategy: tf.distribute.Strategy
) -> Callable[[], tuple[float, float]]:
    """Returns a function computing (mean loss, accuracy) of `model` over all of `dataset`.

    The model runs with `training=False`, so BatchNorm uses its moving statistics. Sums and counts
    are reduced across replicas, so every example counts exactly once whatever the replica count.
    """
    distributed = strategy.experimental_distribute_dataset(dataset)

    def replica_sums(images, labels):
        logits = model(images, training=False)
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
        loss_sum, correct, count = sums().numpy()
        return float(loss_sum / count), float(correct / count)

    return evaluate
