"""What the three rebuilds share: the runs read, a summary's head, its files written.

The paper's summary (reporting/paper/), the explanation grid's (reporting/why/) and the probes'
(reporting/probes/) each own their verdicts, tables and figures; every one reads its results tree
through bn_keras.runs.reader, opens summary.md with the same head (its title, the commands that
made its runs, kept across rebuilds by reporting/provenance.py, and the finished-runs line), and
writes each file atomically and only when its bytes change, so that a rebuild from unchanged runs
leaves every file untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from matplotlib.figure import Figure

from bn_keras.common.atomic import write_bytes_atomic
from bn_keras.reporting import provenance
from bn_keras.reporting.style import save_figure
from bn_keras.runs import reader
from bn_keras.runs.reader import Run

SUMMARY_FILE = "summary.md"


def read_runs(results_dir: Path) -> list[Run]:
    """The runs of a results tree, finished or not (bn_keras.runs.reader.load_runs).

    Raises:
        FileNotFoundError: `results_dir` holds no run directory.
        ConfigError, RecordError: as load_runs.
    """
    runs = reader.load_runs(Path(results_dir))
    if not runs:
        raise FileNotFoundError(f"no <experiment>_seed<N> run directories in {results_dir}")
    return runs


def summary_head(
    title: str,
    path: Path,
    runs: Sequence[provenance.RecordLike],
    command: str | None,
    wall: str | None,
    legacy_count: Callable[[str], int | None] = lambda text: None,
) -> list[str]:
    """The first lines of the summary about to be written at `path`: "# `title`", the
    provenance lines (those of the summary there, kept or added to: provenance.provenance_lines)
    and the finished-runs line of `runs`.

    Args:
        title: the summary's title.
        path: where the summary is written (the one there, if any, gives the provenance).
        runs: the finished runs it summarizes.
        command: the command that ran this time, if given.
        wall: that command's wall time as free text, if given.
        legacy_count: how many runs a summary without a finished-runs line counted, if it says.
    """
    runs_line = provenance.runs_line(runs)
    previous = provenance.read_previous(path)
    kept = provenance.provenance_lines(previous, runs_line, command, wall, legacy_count)
    return [f"# {title}", "", *kept, runs_line]


def write_text(path: Path, text: str) -> Path:
    """Writes `text` to `path` atomically unless it holds these bytes already; returns `path`."""
    provenance.write_if_changed(Path(path), text.encode(), write_bytes_atomic)
    return Path(path)


def write_figures(results_dir: Path, figures: Iterable[tuple[str, Figure]]) -> list[Path]:
    """Saves each (stem, figure) as `stem`.png and `stem`.svg (style.save_figure); the paths."""
    return [path for stem, fig in figures for path in save_figure(fig, Path(results_dir), stem)]
