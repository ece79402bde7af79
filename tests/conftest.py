"""Shared fixtures: a tiny MNIST-shaped dataset, in memory and as a prepared TFDS `mnist`."""

from __future__ import annotations

import numpy as np
import pytest

from bn_keras import input_pipeline, mnist_offline

TINY_TRAIN = 200
TINY_TEST = 100


def _tiny_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced digits-like data: each class lights up its own block of pixels, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 60, size=(n, 28, 28, 1), dtype=np.uint8)
    for i, label in enumerate(labels):
        row = 2 + 2 * label
        images[i, row : row + 3, 4:24, 0] = 255
    return images, labels.astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_arrays() -> mnist_offline.MnistArrays:
    train_x, train_y = _tiny_split(TINY_TRAIN, seed=1)
    test_x, test_y = _tiny_split(TINY_TEST, seed=2)
    return mnist_offline.MnistArrays(train_x, train_y, test_x, test_y)


@pytest.fixture(scope="session")
def tiny_mnist(tiny_arrays) -> input_pipeline.Mnist:
    a = tiny_arrays
    return input_pipeline.Mnist(
        a.train_images,
        a.train_labels.astype(np.int64),
        a.test_images,
        a.test_labels.astype(np.int64),
    )


@pytest.fixture(scope="session")
def tiny_tfds_dir(tiny_arrays, tmp_path_factory) -> str:
    """A TFDS data dir holding `mnist` built by the offline path from the tiny arrays."""
    data_dir = tmp_path_factory.mktemp("tfds")
    mnist_offline.build_tfds_mnist(tiny_arrays, str(data_dir))
    return str(data_dir)
