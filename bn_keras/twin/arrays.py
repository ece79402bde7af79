"""The dataset for the twin: the prepared TFDS dataset the Keras runs read, loaded in a subprocess.

TensorFlow and torch in one process crash here (a segmentation fault in torch's first training
step once TFDS has read MNIST, torch 2.14 with TensorFlow 2.21 on CPU), so a child process with
TensorFlow reads both splits and hands them over as one .npz file; the twin never imports
TensorFlow. `python -m bn_keras.twin.arrays DATASET DATA_DIR|- SOURCE FILES|- OUT.npz` is that
child.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bn_keras.common.errors import DataError
from bn_keras.config.settings import Config

TIMEOUT_S = 1800  # an offline build from the original files takes a few minutes at most


def load(config: Config) -> tuple[str, dict[str, np.ndarray]]:
    """Both splits of the prepared TFDS `config.dataset`, prepared first if needed, from
    `config.dataset_source` (or `config.dataset_files`) into `config.data_dir`.

    Returns:
        The source description and the arrays train_images, train_labels, test_images,
        test_labels (uint8 images [N, height, width, 1], int64 labels).

    Raises:
        DataError: the child process failed; the message holds its last line.
    """
    with tempfile.TemporaryDirectory(prefix="bn_keras_twin_data_") as tmp:
        out = Path(tmp) / "data.npz"
        arguments = [
            config.dataset,
            config.data_dir or "-",
            config.dataset_source,
            config.dataset_files or "-",
            str(out),
        ]
        done = subprocess.run(
            [sys.executable, "-m", __name__, *arguments],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0 or not out.is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise DataError(f"reading {config.dataset} for the PyTorch twin failed: {last}")
        with np.load(out) as arrays:
            data = {name: arrays[name] for name in arrays.files if name != "source"}
            description = str(arrays["source"])
    return description, data


def _export(name: str, data_dir: str | None, source: str, files: str | None, out: Path) -> None:
    from bn_keras.config import datasets
    from bn_keras.data import preparation  # this child process alone loads TensorFlow

    dataset = datasets.get(name)
    description = preparation.ensure(dataset, data_dir, source, files)
    splits = preparation.load(dataset, data_dir)
    np.savez(
        out,
        train_images=splits.train_images,
        train_labels=splits.train_labels.astype(np.int64),
        test_images=splits.test_images,
        test_labels=splits.test_labels.astype(np.int64),
        source=np.array(description),
    )


if __name__ == "__main__":
    _name, _data_dir, _source, _files, _out = sys.argv[1:]
    _export(
        _name,
        None if _data_dir == "-" else _data_dir,
        _source,
        None if _files == "-" else _files,
        Path(_out),
    )
