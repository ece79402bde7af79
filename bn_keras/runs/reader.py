"""Finished and unfinished runs read back from a results tree: the run reader every report uses.

A run directory is named `<experiment>_seed<seed>` (RUN_NAME) and holds config.json, metrics.csv
and, once finished, result.json (bn_keras/runs/run_dir.py); a twin's runs sit in the tree's
pytorch/ subdirectory. The sweep, the summary, the explanation grid and the probes all read runs
here, never files of their own.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from bn_keras.common.errors import ConfigError, RecordError
from bn_keras.config import datasets
from bn_keras.config.datasets import Dataset
from bn_keras.config.settings import upgrade_record
from bn_keras.runs.metrics_file import read_metrics
from bn_keras.runs.predictions import read_predictions
from bn_keras.runs.run_dir import CONFIG_FILE, METRICS_FILE, RESULT_FILE

KERAS = "keras"
TWIN_DIRS = ("pytorch",)  # subdirectories of a results tree holding another framework's runs
RUN_NAME = re.compile(r"^(?P<experiment>.+)_seed(?P<seed>\d+)$")


@dataclasses.dataclass(frozen=True)
class Run:
    """One run directory as recorded: config.json, metrics.csv rows and result.json if finished."""

    experiment: str
    seed: int
    run_dir: Path
    record: dict
    rows: list[dict[str, float]]
    result: dict | None

    @property
    def finished(self) -> bool:
        return self.result is not None and bool(self.rows)

    @property
    def framework(self) -> str:
        """The framework that trained the run: config "framework", "keras" when absent."""
        return self.record.get("config", {}).get("framework") or KERAS

    @property
    def dataset(self) -> str:
        """The dataset the run trained on: config "dataset", the default when absent."""
        return upgrade_record(self.record.get("config", {}))["dataset"]

    @property
    def final_accuracy(self) -> float:
        return self.rows[-1]["test_accuracy"]

    @property
    def best_accuracy(self) -> float:
        return max(r["test_accuracy"] for r in self.rows if not math.isnan(r["test_accuracy"]))

    def test_predictions(self) -> np.ndarray | None:
        """The predicted class (uint8) of every test image in the test set's order, written at
        the end of a run under --save_predictions; None where there is no such file.

        Raises:
            RecordError: the file is damaged.
        """
        return read_predictions(self.run_dir)

    def first_step_reaching(self, threshold: float) -> int | None:
        """The first evaluated step with test accuracy >= `threshold`, None if there is none."""
        return next((int(r["step"]) for r in self.rows if r["test_accuracy"] >= threshold), None)


def run_dirs(results_dir: Path) -> Iterator[Path]:
    """The entries of a results tree and of its twin subdirectories, each sorted by name."""
    for directory in (results_dir, *(results_dir / name for name in TWIN_DIRS)):
        if directory.is_dir():
            yield from sorted(directory.iterdir())


def load_runs(results_dir: Path) -> list[Run]:
    """Reads the run directories of a results tree and of its twin subdirectories (pytorch/).

    Args:
        results_dir: holds `<experiment>_seed<N>/` directories, and may hold `pytorch/` with
            more; other entries, and directories without config.json and metrics.csv (such as
            logs/), are skipped.

    Returns:
        The runs, finished or not: those of `results_dir` by directory name, then the twin's.

    Raises:
        ConfigError: the runs are of several datasets (a summary never mixes them).
        RecordError: a run directory with metrics.csv but no config.json, or whose config.json,
            metrics.csv or result.json cannot be read, or a finished run whose metrics.csv ends
            before the iteration its result.json records.
    """
    runs = []
    for run_dir in run_dirs(Path(results_dir)):
        match = RUN_NAME.match(run_dir.name)
        if not (match and (run_dir / METRICS_FILE).is_file()):
            continue  # not a run, or one stopped before its first row: nothing to read
        runs.append(_read_run(run_dir, match["experiment"], int(match["seed"])))
    one_dataset(runs)
    return runs


def _read_run(run_dir: Path, experiment: str, seed: int) -> Run:
    """The run recorded in `run_dir`, its files checked as load_runs says."""
    remedy = (
        f"move {run_dir} out of {run_dir.parent} (or delete it and run the sweep that made it "
        "again, which trains it afresh)"
    )

    def damaged(name: str, what: str) -> RecordError:
        return RecordError(f"{run_dir / name} {what}: {remedy}")

    try:
        record = json.loads((run_dir / CONFIG_FILE).read_text())
    except FileNotFoundError:
        raise damaged(CONFIG_FILE, "is missing beside its metrics.csv") from None
    except (OSError, ValueError) as err:
        raise damaged(CONFIG_FILE, f"cannot be read ({type(err).__name__})") from None
    try:
        rows = read_metrics(run_dir / METRICS_FILE)
    except (OSError, ValueError, TypeError, csv.Error) as err:
        raise damaged(METRICS_FILE, f"has a row that is not numbers ({err})") from None
    if any("step" not in row or "test_accuracy" not in row for row in rows):
        raise damaged(METRICS_FILE, "lacks its step or test_accuracy column")
    result_path, result = run_dir / RESULT_FILE, None
    if result_path.is_file():
        try:
            result = json.loads(result_path.read_text())
        except (OSError, ValueError) as err:
            raise damaged(RESULT_FILE, f"cannot be read ({type(err).__name__})") from None
    if not isinstance(record, dict):
        raise damaged(CONFIG_FILE, "is not a run's record")
    if not isinstance(result, dict | None):
        raise damaged(RESULT_FILE, "is not a run's result")
    steps = (result or {}).get("steps")
    if result and result.get("diverged_at") is None and isinstance(steps, int):
        last = rows[-1]["step"] if rows else math.nan  # NaN: an empty cell
        if last != steps:
            raise damaged(
                METRICS_FILE, f"ends at iteration {last:g} but result.json records {steps}"
            )
    return Run(experiment, seed, run_dir, record, rows, result)


def one_dataset(runs: Iterable[Run]) -> Dataset:
    """The one dataset the runs' config.json records (the default for none or for records
    from before the setting).

    Raises:
        ConfigError: the runs are of several datasets, or of one not declared.
    """
    names = {upgrade_record(run.record.get("config", {}))["dataset"] for run in runs}
    if len(names) > 1:
        raise ConfigError(
            f"runs of several datasets ({', '.join(sorted(names))}) in one summary: keep each "
            "dataset's runs in their own results directory (results/<dataset>)"
        )
    return datasets.get(names.pop() if names else datasets.DEFAULT)
