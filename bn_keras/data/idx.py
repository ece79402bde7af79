"""The IDX format of the MNIST family's original files: uint8 arrays behind a big-endian header.

A header is a magic number (0x08: unsigned bytes; then the number of dimensions) and each
dimension's size as a big-endian uint32. Reading refuses what is not such a file, or is cut
short, in one DataError line naming the file.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from bn_keras.common.errors import DataError

_UNSIGNED_BYTES = 0x08


def encode(array: np.ndarray) -> bytes:
    """The IDX file of a uint8 array, uncompressed."""
    header = np.array([(_UNSIGNED_BYTES << 8) | array.ndim, *array.shape], dtype=">u4")
    return header.tobytes() + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write(path: Path, array: np.ndarray) -> None:
    """Writes a uint8 array as an uncompressed IDX file."""
    Path(path).write_bytes(encode(array))


def decode(data: bytes, name: str) -> np.ndarray:
    """The uint8 array an IDX file holds.

    Args:
        data: the file's bytes, uncompressed.
        name: the file, for the refusal.

    Raises:
        DataError: not an IDX file of unsigned bytes, or its size is not what its header says.
    """
    if len(data) < 4 or data[0] or data[1] or data[2] != _UNSIGNED_BYTES or not data[3]:
        raise DataError(f"{name} is not an IDX file of unsigned bytes (header {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name} is cut short: {len(data)} bytes, less than its header")
    shape = tuple(int(n) for n in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        what = "cut short" if len(data) < expected else "longer than its header says"
        raise DataError(
            f"{name} is {what}: {len(data):,} bytes, its header {shape} needs {expected:,}"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def read_bytes(path: Path) -> bytes:
    """A file's bytes, gunzipped when its name ends in .gz.

    Raises:
        DataError: it cannot be read, or is not whole gzip data.
    """
    try:
        data = Path(path).read_bytes()
        return gzip.decompress(data) if str(path).endswith(".gz") else data
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DataError(f"{path} cannot be read ({type(err).__name__}: {err})") from err
