"""Builds a dataset's official TFDS builder without internet: its download replaced by local
IDX files written from arrays. The result is the dataset that `tfds.load(name)` reads.

Works for the builders of the MNIST family (TFDS `mnist`, `fashion_mnist`), whose split
generators take the four files from `download_and_extract` and read them as IDX files.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import tensorflow_datasets as tfds

from bn_keras.common.errors import DataError
from bn_keras.config.datasets import Dataset
from bn_keras.data import dataset_integrity, idx
from bn_keras.data.originals import Splits

# The official builders' keys for the four files.
_KEYS = {"train": ("train_data", "train_labels"), "test": ("test_data", "test_labels")}


class _LocalFiles:
    """Stands in for the TFDS download manager: the 'downloads' are local IDX files."""

    def __init__(self, paths: dict[str, str]):
        self._paths = paths

    def download_and_extract(self, urls: dict[str, str]) -> dict[str, str]:
        return {key: self._paths[key] for key in urls}


def _offline_builder(tfds_name: str) -> type:
    """The official builder of TFDS dataset `tfds_name`, its download replaced by local files."""
    official = tfds.builder_cls(tfds_name)

    class Offline(official, skip_registration=True):
        name = tfds_name  # same name and version: the data lands where tfds.load looks

        def __init__(self, *, idx_files: dict[str, str], counts: dict[str, int], **kwargs):
            self._idx_files = idx_files
            self._counts = counts
            super().__init__(**kwargs)

        def _split_generators(self, dl_manager):
            del dl_manager
            generators = super()._split_generators(_LocalFiles(self._idx_files))
            for generator in generators:
                # The official builder hard-codes 60,000/10,000; use the real sizes (tests: tiny).
                path = generator.gen_kwargs["data_path"]
                generator.gen_kwargs["num_examples"] = self._counts[path]
            return generators

    return Offline


def build(dataset: Dataset, splits: Splits, data_dir: str | None, source: str) -> None:
    """Prepares TFDS `dataset.name` in `data_dir` from arrays, with the official builder;
    `source` (where the arrays came from) goes into the manifest.

    TFDS writes into a temporary directory and renames it when complete, so a failure leaves
    nothing half-written in `data_dir`; then the files' SHA-256 manifest is recorded
    (dataset_integrity).

    Raises:
        DataError: the arrays do not have the declared image shape, or images and labels differ
            in number.
    """
    _check_shapes(dataset, splits)
    with tempfile.TemporaryDirectory(prefix="bn_keras_idx_") as tmp:
        idx_files, counts = {}, {}
        for split, (images_key, labels_key) in _KEYS.items():
            images, labels = getattr(splits, f"{split}_images"), getattr(splits, f"{split}_labels")
            for key, array in ((images_key, images[..., 0]), (labels_key, labels)):
                path = Path(tmp) / f"{key}.idx"
                idx.write(path, array)
                idx_files[key] = str(path)
            counts[idx_files[images_key]] = len(labels)
        builder = _offline_builder(dataset.name)(
            idx_files=idx_files, counts=counts, data_dir=data_dir
        )
        builder.download_and_prepare()
    dataset_integrity.write_manifest(builder.data_dir, source)


def _check_shapes(dataset: Dataset, splits: Splits) -> None:
    for split in ("train", "test"):
        images = getattr(splits, f"{split}_images")
        labels = getattr(splits, f"{split}_labels")
        if (
            images.shape[1:] != dataset.image_shape
            or len(images) != len(labels)
            or images.dtype != "uint8"
        ):
            raise DataError(
                f"{split} split: {images.shape} {images.dtype} images and {len(labels)} labels; "
                f"expected N uint8 images of {'x'.join(map(str, dataset.image_shape))} and N "
                "labels"
            )
