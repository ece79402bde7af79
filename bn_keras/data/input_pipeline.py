"""The tf.data pipelines of a dataset held in memory: endless shuffled training batches and the
test set, normalized with the dataset's mean and std."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from bn_keras.config import checks
from bn_keras.config.datasets import Dataset
from bn_keras.data.facts import steps_per_epoch
from bn_keras.data.normalization import normalize


def train_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    seed: int,
    start_step: int = 0,
    replica_slice: tuple[int, int] | None = None,
    *,
    dataset: Dataset,
) -> tf.data.Dataset:
    """An endless stream of normalized training batches, reshuffled every epoch.

    Epoch e's order is a pure function of (seed, e), so the stream can start at any step and
    is the same on every run with the same seed.

    Args:
        images: uint8 images [N, height, width, 1]; kept in memory (this is the cache).
        labels: int labels [N].
        batch_size: the global batch size.
        seed: shuffling seed.
        start_step: the number of batches already consumed (to resume mid-epoch).
        replica_slice: `(r, R)` keeps only replica r's contiguous share of every global batch
            (rows r*n//R to (r+1)*n//R of a batch of n), so R replicas together see exactly the
            global batches; None keeps the whole batch.
        dataset: the declaration whose mean and std normalize the images.

    Returns:
        A dataset of (float32 images, int64 labels) batches.

    Raises:
        ConfigError: `batch_size` is above the number of examples.
    """
    num_examples = len(labels)
    checks.check_batch_size(batch_size, num_examples)
    per_epoch = steps_per_epoch(num_examples, batch_size)
    images = tf.constant(images)
    labels = tf.constant(labels, dtype=tf.int64)

    def epoch_order(epoch: tf.Tensor) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices(shuffled(num_examples, seed, epoch)).batch(
            batch_size
        )

    def gather(indices: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        indices = replica_rows(indices, replica_slice)
        return normalize(tf.gather(images, indices), dataset), tf.gather(labels, indices)

    return batches_from(epoch_order, gather, start_step, per_epoch)


def shuffled(num_examples: int, seed: int, epoch: tf.Tensor) -> tf.Tensor:
    """Epoch `epoch`'s order of the examples for `seed`: a pure function of (seed, epoch)."""
    return tf.random.experimental.stateless_shuffle(
        tf.range(num_examples), seed=tf.stack([tf.convert_to_tensor(seed, tf.int64), epoch])
    )


def replica_rows(indices: tf.Tensor, replica_slice: tuple[int, int] | None) -> tf.Tensor:
    """Replica r's contiguous rows r*n//R to (r+1)*n//R of a batch's indices, for `(r, R)`;
    all of them for None."""
    if replica_slice is None:
        return indices
    replica, replicas = replica_slice
    n = tf.shape(indices)[0]
    return indices[replica * n // replicas : (replica + 1) * n // replicas]


def batches_from(
    epoch_batches: Callable[[tf.Tensor], tf.data.Dataset],
    gather: Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]],
    start_step: int,
    per_epoch: int,
) -> tf.data.Dataset:
    """Endless epochs of index batches from `epoch_batches(epoch)`, gathered into examples by
    `gather`, starting `start_step` batches in."""
    first_epoch, skip = divmod(start_step, per_epoch)
    return (
        tf.data.Dataset.counter(first_epoch)
        .flat_map(epoch_batches)
        .skip(skip)
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
        .with_options(without_autotuning())
    )


def without_autotuning() -> tf.data.Options:
    """Options that turn tf.data's autotuner off (AUTOTUNE settings are then resolved untuned);
    every pipeline of this module carries them.

    With it on, a process whose CPUs were all busy (two trainings on two cores, or one with more
    threads than cores) was held at exactly 25.6 ms a step; with it off, the benchmark's sweep of
    `lenetr_bn` went from 390 to 548 seed-steps/s (stacks of 5, 2 processes x 1 thread) and from
    223 to 395 (single seeds), PyTorch's control unchanged (docs/speed.md). Gathers from memory
    and a cached test set need no tuning.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def test_dataset(
    images: np.ndarray, labels: np.ndarray, batch_size: int = 1000, *, dataset: Dataset
) -> tf.data.Dataset:
    """The test set in fixed order, normalized with `dataset`'s mean and std, cached after the
    first pass and prefetched, untuned like the training streams."""
    return (
        tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int64)))
        .batch(batch_size)
        .map(lambda x, y: (normalize(x, dataset), y), num_parallel_calls=tf.data.AUTOTUNE)
        .cache()
        .prefetch(tf.data.AUTOTUNE)
        .with_options(without_autotuning())
    )
