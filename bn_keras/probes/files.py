"""The probes' files in a run directory: whole-row CSVs, truncated like metrics.csv on resume."""

from __future__ import annotations

from pathlib import Path

from absl import logging

from bn_keras.runs.metrics_file import MetricsWriter, truncate_after
from bn_keras.runs.run_dir import PROBE_FILES


def reset_files(run_dir: Path, resume_step: int | None) -> None:
    """Fresh start (`resume_step` None): deletes probe files of an earlier attempt. Resume: drops
    their rows after `resume_step`, which the resumed run measures again."""
    for name in PROBE_FILES:
        path = Path(run_dir) / name
        if resume_step is None:
            path.unlink(missing_ok=True)
        elif path.is_file():
            truncate_after(path, resume_step)


def open_rows(path: Path, fields: list[str]) -> MetricsWriter:
    """A whole-row writer on `path`; rows with other columns (other probe settings before a
    resume) are first moved aside to `<name>.old.csv`."""
    if path.is_file() and path.stat().st_size:
        with open(path) as f:
            header = f.readline().rstrip("\n").split(",")
        if header != list(fields):
            aside = path.with_suffix(".old.csv")
            path.replace(aside)
            logging.warning("%s had other columns (other probe settings): moved to %s", path, aside)
    return MetricsWriter(path, fields)
