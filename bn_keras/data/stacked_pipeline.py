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

from bn_keras.config import checks
from bn_keras.config.datasets import Dataset
from bn_keras.data.input_pipeline import batches_from, replica_rows, shuffled, steps_per_epoch
from bn_keras.data.normalization import normalize


def stacked_train_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    seeds: Sequence[int],
    start_step: int = 0,
    replica_slice: tuple[int, int] | None = None,
    *,
    dataset: Dataset,
) -> tf.data.Dataset:
    """An endless stream of stacked training batches: seed i of `seeds` in channel i.

    Args:
        images: uint8 images [N, 28, 28, 1], kept in memory.
        labels: int labels [N].
        batch_size: the global batch size of every seed.
        seeds: the shuffling seeds, in the stack's order.
        start_step: the number of batches already consumed (to resume mid-epoch).
        replica_slice: `(r, R)` keeps replica r's rows of every batch, as `train_dataset` does.
        dataset: the declaration whose mean and std normalize the images.

    Returns:
        A dataset of (float32 images [b, 28, 28, S], int64 labels [b, S]) batches.
    """
    num_examples = len(labels)
    checks.check_batch_size(batch_size, num_examples)
    per_epoch = steps_per_epoch(num_examples, batch_size)
    images = tf.constant(images[..., 0])  # [N, 28, 28]
    labels = tf.constant(labels, dtype=tf.int64)

    def epoch_orders(epoch: tf.Tensor) -> tf.data.Dataset:
        orders = [shuffled(num_examples, seed, epoch) for seed in seeds]
        return tf.data.Dataset.from_tensor_slices(tf.stack(orders, axis=1)).batch(batch_size)

    def gather(indices: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:  # indices [b, S]
        indices = replica_rows(indices, replica_slice)
        batch = tf.transpose(tf.gather(images, indices), [0, 2, 3, 1])  # [b, 28, 28, S]
        return normalize(batch, dataset), tf.gather(labels, indices)

    return batches_from(epoch_orders, gather, start_step, per_epoch)
