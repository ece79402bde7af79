"""A summary's provenance lines: which commands made its runs, kept across rebuilds.

A command that only reads the runs (`plot`, or `./run_all.sh` when every run was finished
already) keeps the provenance the summary already states; one after which the finished runs
differ adds a line to it. The runs are told apart by a line the summary carries, "- Finished
runs: N, the first started F, the latest started T", by N and T (a line without F, as summaries
wrote it before, reads the same; summaries written before that line existed are compared by
their run count). F is there for designs registered before a grid: it dates the first run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

COMMAND = "- Command: "
WALL = "- Wall time of this command: "
THEN = "- Then: "
RUNS = "- Finished runs: "
KEPT = (COMMAND, WALL, THEN)
_RUNS_COUNT = re.compile(r"^- Finished runs: (\d+)")
_LATEST = re.compile(r"the latest started (\S+)")


class RecordLike(Protocol):
    record: dict


def runs_line(runs: Sequence[RecordLike]) -> str:
    """E.g. "- Finished runs: 98, the first started 2026-11-26T21:02:11+00:00, the latest
    started 2026-11-27T03:20:00+00:00" (on one line)."""
    started = [r.record.get("started") for r in runs if r.record.get("started")]
    if not started:
        return f"{RUNS}{len(runs)}"
    return f"{RUNS}{len(runs)}, the first started {min(started)}, the latest started {max(started)}"


def _runs_key(line: str) -> tuple[int | None, str | None]:
    """What tells two finished-runs lines apart: their count and their latest start."""
    latest = _LATEST.search(line)
    return _count(line), latest[1] if latest else None


def _count(line: str | None) -> int | None:
    match = _RUNS_COUNT.match(line or "")
    return int(match[1]) if match else None


def _first(command: str | None, wall: str | None) -> list[str]:
    return ([f"{COMMAND}`{command}`"] if command else []) + ([f"{WALL}{wall}"] if wall else [])


def provenance_lines(
    previous: str | None,
    current_runs: str,
    command: str | None,
    wall: str | None,
    legacy_count: Callable[[str], int | None] = lambda text: None,
) -> list[str]:
    """The provenance lines of a summary about to be rewritten.

    Args:
        previous: the summary as it stands (None when there is none).
        current_runs: runs_line() of the runs it now summarizes.
        command: the command that ran this time (--command), if given.
        wall: that command's wall time as free text, if given.
        legacy_count: how many runs a summary without a RUNS line counted, if it says.

    Returns:
        Without a previous summary: `command` and `wall`. With one and the same runs: its
        provenance lines unchanged, whatever `command` says. With different runs: its lines
        plus one "- Then: ..." line naming `command` (or saying that none was given).
    """
    if previous is None:
        return _first(command, wall)
    lines = previous.splitlines()
    kept = [line for line in lines if line.startswith(KEPT)]
    before = next((line for line in lines if line.startswith(RUNS)), None)
    count_before = _count(before) if before else legacy_count(previous)
    if before is not None and _runs_key(before) == _runs_key(current_runs):
        return kept
    if before is None and count_before == _count(current_runs):
        return kept
    if not kept:
        return _first(command, wall)
    change = f"finished runs {'?' if count_before is None else count_before} -> "
    change += f"{_count(current_runs)}"
    if command:
        timing = f", wall time {wall}" if wall else ""
        return [*kept, f"{THEN}`{command}`{timing} ({change})"]
    return [*kept, f"{THEN}runs made by a command not given to plot ({change})"]


def read_previous(path: Path) -> str | None:
    """The summary at `path`, None when there is none."""
    path = Path(path)
    return path.read_text() if path.is_file() else None


def write_if_changed(path: Path, data: bytes, write: Callable[[Path, bytes], object]) -> bool:
    """Writes `data` with `write` unless `path` holds exactly these bytes already, so that a
    rebuild from unchanged runs leaves every file untouched. Returns whether it wrote."""
    path = Path(path)
    if path.is_file() and path.read_bytes() == data:
        return False
    write(path, data)
    return True
