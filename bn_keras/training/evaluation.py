"""Exact test-set evaluation in inference mode, under any tf.distribute strategy."""

from __future__ import annotations

import functools
from collections.abc import Callable

import keras
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

    if fold_batch_norm and folding.count_foldable(model):
        forward = folding.folded_inference(model)
    else:
        forward = functools.partial(model, training=False)

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
