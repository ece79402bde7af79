"""Normalization, per-epoch shuffling, exact mid-epoch restart and the test pipeline."""

import numpy as np
import pytest

from bn_keras.config import datasets
from bn_keras.data import input_pipeline
from bn_keras.data.stacked_pipeline import stacked_train_dataset

MNIST = datasets.get("mnist")


def test_normalize_uses_mnist_mean_and_std():
    pixels = np.array([0, 255, 51], np.uint8)
    got = input_pipeline.normalize(pixels, MNIST).numpy()
    expected = (pixels / 255.0 - 0.1307) / 0.3081
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_steps_per_epoch_keeps_the_partial_last_batch():
    assert input_pipeline.steps_per_epoch(60_000, 64) == 938
    assert input_pipeline.steps_per_epoch(60_000, 60) == 1000


def _take(ds, n):
    return [(x.numpy(), y.numpy()) for x, y in ds.take(n)]


def _images_with_ids(n: int) -> tuple[np.ndarray, np.ndarray]:
    # Each image's first pixel is its index (mod 256) and its label is the index: traceable.
    images = np.zeros((n, 28, 28, 1), np.uint8)
    images[:, 0, 0, 0] = np.arange(n) % 256
    return images, np.arange(n)


def test_each_epoch_is_a_fresh_permutation_with_a_partial_last_batch():
    images, labels = _images_with_ids(100)
    batches = _take(input_pipeline.train_dataset(images, labels, 32, seed=3, dataset=MNIST), 8)
    sizes = [len(y) for _, y in batches]
    assert sizes == [32, 32, 32, 4, 32, 32, 32, 4]
    epoch0 = np.concatenate([y for _, y in batches[:4]])
    epoch1 = np.concatenate([y for _, y in batches[4:]])
    assert sorted(epoch0) == list(range(100)) and sorted(epoch1) == list(range(100))
    assert not np.array_equal(epoch0, epoch1)
    assert not np.array_equal(epoch0, np.arange(100))
    x, y = batches[0]
    np.testing.assert_allclose(
        x[:, 0, 0, 0], input_pipeline.normalize(y % 256, MNIST).numpy(), rtol=1e-6
    )


def test_order_depends_on_seed_only():
    images, labels = _images_with_ids(50)
    a = _take(input_pipeline.train_dataset(images, labels, 16, seed=1, dataset=MNIST), 5)
    b = _take(input_pipeline.train_dataset(images, labels, 16, seed=1, dataset=MNIST), 5)
    c = _take(input_pipeline.train_dataset(images, labels, 16, seed=2, dataset=MNIST), 5)
    assert all(np.array_equal(ya, yb) for (_, ya), (_, yb) in zip(a, b))
    assert not all(np.array_equal(ya, yc) for (_, ya), (_, yc) in zip(a, c))


@pytest.mark.parametrize("start", [1, 3, 4, 9])
def test_start_step_continues_the_same_stream(start):
    images, labels = _images_with_ids(100)
    full = _take(input_pipeline.train_dataset(images, labels, 32, seed=7, dataset=MNIST), 12)
    resumed = _take(
        input_pipeline.train_dataset(images, labels, 32, seed=7, start_step=start, dataset=MNIST),
        12 - start,
    )
    for (_, expected), (_, got) in zip(full[start:], resumed):
        np.testing.assert_array_equal(got, expected)


def test_test_dataset_is_ordered_normalized_and_batched():
    images, labels = _images_with_ids(2500)
    batches = _take(input_pipeline.test_dataset(images, labels, batch_size=1000, dataset=MNIST), 10)
    assert [len(y) for _, y in batches] == [1000, 1000, 500]
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), labels)
    x = np.concatenate([x for x, _ in batches])
    np.testing.assert_allclose(
        x[:, 0, 0, 0], input_pipeline.normalize(labels % 256, MNIST).numpy(), rtol=1e-6
    )


def test_every_pipeline_runs_without_the_autotuner():
    # The autotuner held contended processes at 25.6 ms a step (docs/speed.md).
    images, labels = _images_with_ids(100)
    single = input_pipeline.train_dataset(images, labels, 32, seed=1, dataset=MNIST)
    stacked = stacked_train_dataset(images, labels, 32, seeds=[0, 1], dataset=MNIST)
    test = input_pipeline.test_dataset(images, labels, batch_size=40, dataset=MNIST)
    for dataset in (single, stacked, single.take(3), test):
        assert dataset.options().autotune.enabled is False
