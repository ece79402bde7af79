"""A dataset prepared for `tfds.load` and read into memory: downloaded by TFDS, or built offline
from its original files (a folder, or the package its declaration names), checked before use.
"""

from __future__ import annotations

import fcntl
import json
import socket
from collections.abc import Callable
from pathlib import Path

import tensorflow_datasets as tfds
from absl import logging

from bn_keras.common.errors import DataError
from bn_keras.config.datasets import Dataset
from bn_keras.data import dataset_integrity, offline_build, originals, packages
from bn_keras.data.originals import Splits

_TFDS_DOWNLOAD_HOST = ("storage.googleapis.com", 443)
# Builders of datasets prepared by earlier bn_keras versions, as dataset_info.json names them.
_OFFLINE_MODULES = (offline_build.__name__, "bn_keras.data.mnist_offline")


def _tfds_download_reachable(timeout_s: float = 3.0) -> bool:
    # TFDS retries an unreachable download for minutes before it gives up; ask the network first.
    try:
        with socket.create_connection(_TFDS_DOWNLOAD_HOST, timeout=timeout_s):
            return True
    except OSError:
        return False


def ensure(
    dataset: Dataset, data_dir: str | None, source: str = "auto", files_dir: str | None = None
) -> str:
    """Makes sure TFDS `dataset.name` is prepared and intact in `data_dir`, says its source.

    A prepared dataset is checked against its SHA-256 manifest first (see dataset_integrity);
    one that fails is reported in a warning and rebuilt from `source`, never read.

    Args:
        dataset: the declaration.
        data_dir: TFDS data directory; None means TFDS's default (`~/tensorflow_datasets`).
        source: "tfds" downloads with TFDS, "offline" builds it from the original files,
            "auto" uses TFDS when its download host answers and the original files otherwise.
        files_dir: a folder holding the original files, used for an offline build instead of
            the declared package.

    Returns:
        A short description of the source used, for logs and config.json.

    Raises:
        DataError: the chosen source failed, or a damaged dataset could not be rebuilt (the
            message names the damaged file).
    """
    builder = tfds.builder(dataset.name, data_dir=data_dir)
    # The workers of a local multi-worker run start together: one prepares, the others wait.
    lock_path = Path(builder.data_dir).parents[1] / f".bn_keras_{dataset.name}.lock"
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(lock_path, "a")  # noqa: SIM115 (held across the preparation below)
    except OSError:  # a read-only data dir: nothing can be prepared there anyway
        return _ensure_prepared(builder, dataset, data_dir, source, files_dir)
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure_prepared(builder, dataset, data_dir, source, files_dir)


def _ensure_prepared(
    builder: tfds.core.DatasetBuilder,
    dataset: Dataset,
    data_dir: str | None,
    source: str,
    files_dir: str | None,
) -> str:
    if not builder.is_prepared():
        prepare, description = _preparer(dataset, source, files_dir)
        prepare(data_dir)
        return description
    damage = dataset_integrity.find_damage(builder.data_dir)
    if damage is None:
        return f"prepared TFDS {dataset.name} in {builder.data_dir} ({_prepared_from(builder)})"
    logging.warning("Prepared %s rejected, rebuilding it: %s", dataset.label, damage)
    prepare, description = _preparer(dataset, source, files_dir)
    try:
        dataset_integrity.replace_dataset(builder.data_dir, prepare)
    except (DataError, OSError) as err:
        raise DataError(
            f"{damage}, and it could not be rebuilt ({err}): delete {builder.data_dir} and rerun "
            "where its source is reachable"
        ) from err
    return f"{description}, replacing a copy that failed its checksum"


def _preparer(
    dataset: Dataset, source: str, files_dir: str | None
) -> tuple[Callable[[str | None], None], str]:
    """The function that prepares the dataset in a data dir from `source`, and its description."""
    if files_dir:
        description = f"offline build from {files_dir}"
        return _builder(dataset, lambda: originals.from_folder(dataset, files_dir), description)
    if source == "tfds" or (source == "auto" and _tfds_download_reachable()):
        return (lambda data_dir: _download_with_tfds(dataset, data_dir)), "TFDS download"
    if dataset.source is None:
        raise DataError(
            f"{dataset.label} has no offline source: use --dataset_source=tfds where TFDS can "
            "download, or --dataset_files=<folder of its files>"
        )
    logging.info(
        "TFDS download unreachable or not chosen: building %s from %s",
        dataset.label,
        dataset.source.requirement,
    )
    description = f"offline build from {dataset.source.requirement} ({dataset.source.member})"
    cache = packages.default_cache_dir()
    return _builder(dataset, lambda: originals.from_package(dataset, cache), description)


def _builder(
    dataset: Dataset, read: Callable[[], Splits], description: str
) -> tuple[Callable[[str | None], None], str]:
    def prepare(data_dir: str | None) -> None:
        offline_build.build(dataset, read(), data_dir, description)

    return prepare, description


def _download_with_tfds(dataset: Dataset, data_dir: str | None) -> None:
    builder = tfds.builder(dataset.name, data_dir=data_dir)
    logging.info("Downloading %s with TFDS into %s", dataset.label, builder.data_dir)
    try:
        builder.download_and_prepare()
    except Exception as err:  # TFDS raises many kinds; all mean the same to the user
        raise DataError(
            f"TFDS could not download {dataset.label} ({type(err).__name__}); rerun with "
            "--dataset_source=offline to build it from its original files"
        ) from err
    dataset_integrity.write_manifest(builder.data_dir, "TFDS download")


def _prepared_from(builder: tfds.core.DatasetBuilder) -> str:
    # The manifest records the source; before it did, the builder's module in dataset_info.json.
    recorded = dataset_integrity.recorded_source(builder.data_dir)
    if recorded:
        return recorded
    try:
        info = json.loads(Path(builder.data_dir, "dataset_info.json").read_text())
    except (OSError, ValueError):
        return "origin unknown"
    return "built offline" if info.get("moduleName") in _OFFLINE_MODULES else "TFDS download"


def load(dataset: Dataset, data_dir: str | None) -> Splits:
    """Reads both splits of the prepared TFDS dataset into memory with `tfds.load`."""
    train, test = tfds.as_numpy(
        tfds.load(
            dataset.name,
            split=["train", "test"],
            data_dir=data_dir,
            batch_size=-1,
            as_supervised=True,
            download=False,
        )
    )
    return Splits(train[0], train[1], test[0], test[1])
