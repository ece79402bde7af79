"""The input of a stack of seeds: every seed's own batches, side by side in the channel axis.

Seed s's batch at iteration t is exactly the one `input_pipeline.train_dataset` gives a run with
seed s at iteration t: each epoch's order is the same stateless shuffle of (seed, epoch). The S
orders of an epoch are computed together, and each step gathers its S batches from the images in
memory in one `tf.gather`, so the pipeline's cost grows with the images gathered, not with S.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from bn_keras.data.input_pipeline import steps_per_epoch
from bn_keras.data.normalization import normalize


def stacked_train_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    seeds: Sequence[int],
    start_step: int = 0,
    replica_slice: tuple[int, int] | None = None,
) -> tf.data.Dataset:
    """An endless stream of stacked training batches: seed i of `seeds` in channel i.

    Args:
        images: uint8 images [N, 28, 28, 1], kept in memory.
        labels: int labels [N].
        batch_size: the global batch size of every seed.
        seeds: the shuffling seeds, in the stack's order.
        start_step: the number of batches already consumed (to resume mid-epoch).
        replica_slice: `(r, R)` keeps replica r's rows of every batch, as `train_dataset` does.

    Returns:
        A dataset of (float32 images [b, 28, 28, S], int64 labels [b, S]) batches.
    """
    num_examples = len(labels)
    per_epoch = steps_per_epoch(num_examples, batch_size)
    images = tf.constant(images[..., 0])  # [N, 28, 28]
    labels = tf.constant(labels, dtype=tf.int64)
    seed_values = [tf.constant(seed, tf.int64) for seed in seeds]

    def epoch_orders(epoch: tf.Tensor) -> tf.data.Dataset:
        orders = [
            tf.random.experimental.stateless_shuffle(
                tf.range(num_examples), seed=tf.stack([seed, epoch])
            )
            for seed in seed_values
        ]
        return tf.data.Dataset.from_tensor_slices(tf.stack(orders, axis=1)).batch(batch_size)

    def gather(indices: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:  # indices [b, S]
        if replica_slice is not None:
            replica, replicas = replica_slice
            n = tf.shape(indices)[0]
            indices = indices[replica * n // replicas : (replica + 1) * n // replicas]
        batch = tf.transpose(tf.gather(images, indices), [0, 2, 3, 1])  # [b, 28, 28, S]
        return normalize(batch), tf.gather(labels, indices)

    first_epoch, skip = divmod(start_step, per_epoch)
    return (
        tf.data.Dataset.counter(first_epoch)
        .flat_map(epoch_orders)
        .skip(skip)
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )
