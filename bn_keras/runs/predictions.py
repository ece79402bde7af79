"""A run's test-set predictions (--save_predictions): the predicted class of every test image,
in the test set's order, as one .npy file written whole."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from bn_keras.common.atomic import write_bytes_atomic
from bn_keras.common.errors import RecordError
from bn_keras.runs.run_dir import PREDICTIONS_FILE

DTYPE = np.uint8  # ten classes


def write_predictions(run_dir: Path, classes: np.ndarray) -> None:
    """Writes `classes` (one per test image) to the run directory's predictions file, atomically.

    Raises:
        ValueError: `classes` is not one class index per image, within uint8.
        OSError: the write failed; the file holds what it held before.
    """
    classes = np.asarray(classes)
    if classes.ndim != 1 or (classes.size and (classes.min() < 0 or classes.max() > 255)):
        raise ValueError(f"predictions must be class indices 0-255 in one row, not {classes.shape}")
    buffer = io.BytesIO()
    np.save(buffer, classes.astype(DTYPE), allow_pickle=False)
    write_bytes_atomic(Path(run_dir) / PREDICTIONS_FILE, buffer.getvalue())


def read_predictions(run_dir: Path) -> np.ndarray | None:
    """The run directory's predicted classes, or None where it holds no predictions file.

    Raises:
        RecordError: the file is there but is not one row of uint8 classes.
    """
    path = Path(run_dir) / PREDICTIONS_FILE
    if not path.is_file():
        return None
    try:
        classes = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise RecordError(
            f"{path} cannot be read ({type(err).__name__}): train the run again (--overwrite)"
        ) from None
    if classes.dtype != DTYPE or classes.ndim != 1:
        raise RecordError(
            f"{path} holds {classes.dtype} {classes.shape}, not one row of uint8: train the run "
            "again (--overwrite)"
        )
    return classes
