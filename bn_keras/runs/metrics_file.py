"""The run's metrics file: a CSV that grows by whole rows only, readable at any moment."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from bn_keras.common.atomic import write_text_atomic

FIELDS = (
    "step",
    "epoch",
    "learning_rate",
    "train_loss",
    "test_loss",
    "test_accuracy",
    "elapsed_s",
)
# With --eval_train only: the whole training set in inference mode, beside the test set's columns
# (train_loss is the running mean of the training batches since the previous row).
TRAIN_SET_LOSS = "train_set_loss"
TRAIN_SET_ACCURACY = "train_set_accuracy"


def run_fields(eval_train: bool) -> tuple[str, ...]:
    """The columns of a run's metrics file: FIELDS, and the training set's two before
    elapsed_s when `eval_train`."""
    if not eval_train:
        return FIELDS
    return (*FIELDS[:-1], TRAIN_SET_LOSS, TRAIN_SET_ACCURACY, FIELDS[-1])


def _format(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    return "" if math.isnan(value) else f"{value:.6g}"


class MetricsWriter:
    """Appends rows to a CSV file, one `write` call per row, flushed to disk before returning.

    A process killed mid-write can leave at most a partial last line without its newline; readers
    skip it and the next writer cuts it off before appending.
    """

    def __init__(self, path: Path, fields: Sequence[str] = FIELDS):
        self.path = Path(path)
        self.fields = tuple(fields)
        _drop_partial_last_line(self.path)
        if not self.path.exists() or self.path.stat().st_size == 0:
            self._write(",".join(self.fields) + "\n")

    def append(self, row: dict[str, float | int]) -> None:
        """Writes one row; `row` holds a value for every field (NaN is written empty)."""
        self._write(",".join(_format(row[name]) for name in self.fields) + "\n")

    def _write(self, line: str) -> None:
        """Appends `line` whole; a failed write (full disk...) cuts the file back and raises.

        Raises:
            OSError: with `path` as its filename; the file holds what it held before.
        """
        data = line.encode()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as err:
            raise OSError(err.errno, err.strerror, str(self.path)) from err
        size = os.fstat(fd).st_size
        try:
            written = 0
            while written < len(data):  # a nearly full disk can take part of a write
                written += os.write(fd, data[written:])
            os.fsync(fd)
        except OSError as err:
            os.ftruncate(fd, size)
            raise OSError(err.errno, err.strerror, str(self.path)) from err
        finally:
            os.close(fd)


def _drop_partial_last_line(path: Path) -> None:
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


def _whole_lines(path: Path) -> str:
    """The file's text up to its last newline: a line torn by a kill is left out."""
    text = Path(path).read_text()
    return text[: text.rfind("\n") + 1]


def read_metrics(path: Path) -> list[dict[str, float]]:
    """Reads the whole rows of a metrics file as floats (empty cells become NaN)."""
    whole = _whole_lines(path)
    return [
        {name: float(value) if value else math.nan for name, value in row.items()}
        for row in csv.DictReader(io.StringIO(whole))
    ]


def truncate_after(path: Path, step: int) -> None:
    """Drops the rows after iteration `step` (and any torn last line), atomically.

    A resumed run continues from its checkpoint at `step`; rows written after that checkpoint
    are measured again, so they must go to avoid duplicates.
    """
    lines = _whole_lines(path).splitlines(keepends=True)
    kept = lines[:1] + [line for line in lines[1:] if int(line.split(",", 1)[0]) <= step]
    write_text_atomic(Path(path), "".join(kept))


def missing_rows(path: Path, steps: Iterable[int]) -> list[int]:
    """The iterations among `steps` without a whole row in the file (all, if it is unreadable)."""
    try:
        recorded = {int(row["step"]) for row in read_metrics(path)}
    except (OSError, ValueError, KeyError, TypeError):
        recorded = set()
    return [step for step in steps if step not in recorded]
