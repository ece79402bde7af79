"""Finished and unfinished runs read back from a results tree: the run reader every report uses.

A run directory is named `<experiment>_seed<seed>` (RUN_NAME) and holds config.json, metrics.csv
and, once finished, result.json (bn_keras/runs/run_dir.py); a twin's runs sit in the tree's
pytorch/ subdirectory. The sweep, the summary, the explanation grid and the probes all read runs
here, never files of their own.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from bn_keras.common.errors import ConfigError
from bn_keras.config import datasets
from bn_keras.config.datasets import Dataset
from bn_keras.config.settings import upgrade_record
from bn_keras.runs.metrics_file import read_metrics
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
    """
    runs = []
    for run_dir in run_dirs(Path(results_dir)):
        match = RUN_NAME.match(run_dir.name)
        has_files = (run_dir / CONFIG_FILE).is_file() and (run_dir / METRICS_FILE).is_file()
        if not (match and has_files):
            continue
        result_path = run_dir / RESULT_FILE
        runs.append(
            Run(
                experiment=match["experiment"],
                seed=int(match["seed"]),
                run_dir=run_dir,
                record=json.loads((run_dir / CONFIG_FILE).read_text()),
                rows=read_metrics(run_dir / METRICS_FILE),
                result=json.loads(result_path.read_text()) if result_path.is_file() else None,
            )
        )
    one_dataset(runs)
    return runs


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
