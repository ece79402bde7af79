"""MNIST for the twin: the prepared TFDS `mnist` the Keras runs read, loaded in a subprocess.

TensorFlow and torch in one process crash here (a segmentation fault in torch's first training
step once TFDS has read MNIST, torch 2.14 with TensorFlow 2.21 on CPU), so a child process with
TensorFlow reads both splits and hands them over as one .npz file; the twin never imports
TensorFlow. `python -m bn_keras.twin.mnist_arrays DATA_DIR|- SOURCE OUT.npz` is that child.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bn_keras.common.errors import DataError

TIMEOUT_S = 1800  # preparing MNIST offline from the wheel takes a few minutes at most


def load(data_dir: str | None, source: str) -> tuple[str, dict[str, np.ndarray]]:
    """Both splits of the prepared TFDS mnist, prepared first if needed (input_pipeline).

    Args:
        data_dir: TFDS data directory; None is TFDS's default.
        source: --mnist_source ("auto", "tfds" or "offline").

    Returns:
        The source description and the arrays train_images, train_labels, test_images,
        test_labels (uint8 images [N, 28, 28, 1], int64 labels).

    Raises:
        DataError: the child process failed; the message holds its last line.
    """
    with tempfile.TemporaryDirectory(prefix="bn_keras_twin_mnist_") as tmp:
        out = Path(tmp) / "mnist.npz"
        command = [sys.executable, "-m", __name__, data_dir or "-", source, str(out)]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
        if done.returncode != 0 or not out.is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise DataError(f"reading MNIST for the PyTorch twin failed: {last}")
        with np.load(out) as arrays:
            data = {name: arrays[name] for name in arrays.files if name != "source"}
            description = str(arrays["source"])
    return description, data


def _export(data_dir: str | None, source: str, out: Path) -> None:
    from bn_keras.data import input_pipeline  # this child process alone loads TensorFlow

    description = input_pipeline.ensure_mnist(data_dir, source)
    mnist = input_pipeline.load_mnist(data_dir)
    np.savez(
        out,
        train_images=mnist.train_images,
        train_labels=mnist.train_labels.astype(np.int64),
        test_images=mnist.test_images,
        test_labels=mnist.test_labels.astype(np.int64),
        source=np.array(description),
    )


if __name__ == "__main__":
    _data_dir, _source, _out = sys.argv[1:]
    _export(None if _data_dir == "-" else _data_dir, _source, Path(_out))
