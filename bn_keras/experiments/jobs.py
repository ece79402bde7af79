"""The sweep's jobs: planned from flagfiles, finished ones skipped, their progress read from their
run directories (bn_keras.experiments.executors runs them)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bn_keras.common import cli
from bn_keras.common.errors import DataError
from bn_keras.config.commands import SweepOptions
from bn_keras.config.names import PAPER_EXPERIMENTS
from bn_keras.config.seeds import seeds_label
from bn_keras.config.settings import Config
from bn_keras.experiments import catalog
from bn_keras.experiments.catalog import Experiment
from bn_keras.runs import run_dir
from bn_keras.runs.metrics_file import read_metrics

REPO = catalog.REPO
QUICK_FLAGS = ("--train_steps=200", "--eval_every=50")
KERAS = "keras"
TWIN = "pytorch"  # the twin's --framework value and its results subdirectory
TORCH_INSTALL = "CPU wheel: pip install torch --index-url https://download.pytorch.org/whl/cpu"


@dataclasses.dataclass
class Job:
    """One training run of the sweep and its live progress."""

    experiment: str
    seed: int
    args: list[str]
    run_dir: Path
    config: dict
    step: int = 0
    steps_per_second: float = 0.0
    test_accuracy: float | None = None
    returncode: int | None = None
    last_error: str = ""
    start_flags: tuple[str, ...] = ()  # ("--overwrite",) to start afresh rather than resume
    launch_args: list[str] = dataclasses.field(default_factory=list)  # as its executor ran it
    framework: str = KERAS
    # A stack's seeds' jobs (experiments.stacks): this job trains them in one process; its
    # run_dir is the stack's directory and its progress is its first seed's.
    members: list[Job] = dataclasses.field(default_factory=list)

    @property
    def runs(self) -> list[Job]:
        """The runs this job trains: a stack's seeds' jobs, or the job itself."""
        return self.members or [self]

    @property
    def name(self) -> str:
        """The run directory's name, under its framework for a twin's run ("pytorch/mlp_seed0")."""
        return (
            self.run_dir.name
            if self.framework == KERAS
            else f"{self.framework}/{self.run_dir.name}"
        )

    @property
    def log_path(self) -> Path:
        """logs/<run name>.log beside the run directory."""
        return self.run_dir.parent / "logs" / f"{self.run_dir.name}.log"

    @property
    def total_steps(self) -> int:
        return self.config["train_steps"]


def prepare_dataset(
    dataset: str, source: str, data_dir: str | None, files_dir: str | None = None
) -> str:
    """Prepares the dataset in a child process (`python -m bn_keras.data.prepare`), so that the
    sweep itself never loads TensorFlow; returns where it came from.

    Raises:
        DataError: it could not be prepared; the message is the child's error line.
    """
    arguments = [f"--dataset={dataset}", f"--dataset_source={source}"]
    arguments += [
        f"--{n}={v}" for n, v in (("data_dir", data_dir), ("dataset_files", files_dir)) if v
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "bn_keras.data.prepare", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise DataError(f"preparing {dataset} failed: {last.removeprefix(cli.ERROR_PREFIX)}")
    return (proc.stdout.strip().splitlines() or [""])[-1]


def dataset_flags(options: SweepOptions) -> list[str]:
    """main's flags for the sweep's dataset settings that differ from their defaults (an MNIST
    sweep's runs get the flags they always got)."""
    names = ("dataset", "data_dir", "dataset_source", "dataset_files")
    defaults = SweepOptions()
    return [
        f"--{name}={getattr(options, name)}"
        for name in names
        if getattr(options, name) != getattr(defaults, name)
    ]


def all_experiments(flag_dir: str = catalog.FLAG_DIR) -> list[str]:
    """Every experiment flagfile in `flag_dir`: the paper's first, then the others by name."""
    return catalog.flagfile_names(flag_dir)


def plan_job(
    experiment: str,
    seed: int,
    results_dir: Path,
    extra: list[str],
    flag_dir: str = catalog.FLAG_DIR,
    framework: str = KERAS,
    resolve: Callable[[list[str]], dict] = catalog.resolve,
) -> Job:
    """The job of one (experiment, seed) of a flagfile in `flag_dir` (see `plan`).

    Raises:
        SystemExit: there is no such flagfile.
        ConfigError: bn_keras.main would refuse the job's flags.
    """
    declared = catalog.from_flagfile(experiment, flag_dir)
    return plan(declared, seed, Path(results_dir), extra, framework, resolve)


def plan(
    experiment: Experiment,
    seed: int,
    results_dir: Path,
    extra: Sequence[str],
    framework: str = KERAS,
    resolve: Callable[[list[str]], dict] = catalog.resolve,
) -> Job:
    """The job of one (experiment, seed) with its configuration, resolved as bn_keras.main would.

    Args:
        experiment: what runs.
        seed: the run's seed.
        results_dir: where its run directory goes.
        extra: more flags for bn_keras.main (--quick's, --data_dir...).
        framework: KERAS, or a twin's name passed on as --framework.
        resolve: turns the flags into the run's configuration (a seam for tests).

    Raises:
        ConfigError: bn_keras.main would refuse the job's flags.
    """
    run_name = f"{experiment.name}_seed{seed}"
    args = [*experiment.args, f"--seed={seed}", *extra]
    args += [] if framework == KERAS else [f"--framework={framework}"]
    args += [f"--run_name={run_name}", f"--results_dir={results_dir}"]
    config = resolve(args)
    return Job(experiment.name, seed, args, results_dir / run_name, config, framework=framework)


def plan_jobs(
    experiments: list[str],
    seeds: int,
    extra_seeds: int,
    results_dir: Path,
    extra: list[str],
    flag_dir: str = catalog.FLAG_DIR,
    framework: str = KERAS,
    resolve: Callable[[list[str]], dict] = catalog.resolve,
) -> list[Job]:
    """One job per (experiment, seed), in a fixed order: --seeds for the paper's experiments,
    `extra_seeds` for the others; the arguments as for plan_job."""
    return [
        plan_job(experiment, seed, results_dir, extra, flag_dir, framework, resolve)
        for experiment in experiments
        for seed in range(seeds if experiment in PAPER_EXPERIMENTS else extra_seeds)
    ]


def frameworks_to_run(
    results_dir: Path, paper: list[str], twin: bool, torch_available: bool
) -> tuple[dict[str, Path], str | None]:
    """Keras, and the PyTorch twin for the paper's experiments when asked for and importable.

    Args:
        results_dir: the Keras runs' directory; the twin's go into its pytorch/ subdirectory.
        paper: the paper's experiments among those chosen (the twin has only these).
        twin: whether the twin was asked for.
        torch_available: whether torch is importable.

    Returns:
        The results directory per framework, and a one-line note when the twin is skipped for
        want of torch (else None).
    """
    frameworks = {KERAS: Path(results_dir)}
    if not (paper and twin):
        return frameworks, None
    if not torch_available:
        return frameworks, f"PyTorch twin skipped: torch is not installed ({TORCH_INSTALL})"
    return frameworks | {TWIN: Path(results_dir) / TWIN}, None


FINISHED, RESUMABLE, FRESH = "finished", "resumable", "fresh"


def run_state(job: Job) -> str:
    """FINISHED or RESUMABLE when the run directory holds this job's run (settings that cannot
    change its numbers, such as steps_per_execution, aside), FRESH otherwise."""
    try:
        record = json.loads((job.run_dir / run_dir.CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return FRESH
    if run_dir.settings_that_differ(record.get("config", {}), Config(**job.config)):
        return FRESH
    return FINISHED if (job.run_dir / run_dir.RESULT_FILE).is_file() else RESUMABLE


def read_progress(job: Job) -> None:
    """Updates the job's step, test accuracy and speed from the last rows of its metrics.csv
    (a stack's: its first seed's, whose steps and speed are the stack's).

    The run directory's record, not the printed progress line, is the source: rows are whole
    (metrics_file) and carry step, test_accuracy and elapsed_s.
    """
    try:
        rows = read_metrics(job.runs[0].run_dir / run_dir.METRICS_FILE)
    except (OSError, ValueError, KeyError):
        return
    if not rows:
        return
    last = rows[-1]
    job.step, job.test_accuracy = int(last["step"]), last["test_accuracy"]
    if len(rows) > 1:
        seconds = last["elapsed_s"] - rows[-2]["elapsed_s"]
        job.steps_per_second = (last["step"] - rows[-2]["step"]) / seconds if seconds > 0 else 0.0


def accuracies(job: Job) -> str:
    """The finished line's accuracy: `test accuracy 0.9801`, or each seed's of a stack:
    `test accuracy 0.9801 0.9794 (seeds 0-1)`."""
    for run in job.members:
        read_progress(run)
    values = " ".join(
        "-" if run.test_accuracy is None else f"{run.test_accuracy:.4f}" for run in job.runs
    )
    seeds = f" (seeds {seeds_label(tuple(run.seed for run in job.members))})" if job.members else ""
    return f"test accuracy {values}{seeds}"


def status_line(jobs: list[Job], running: list[Job], done: int, start: float) -> str:
    remaining = sum(j.total_steps - j.step for j in jobs if j.returncode is None)
    rate = sum(j.steps_per_second for j in running)
    eta = datetime.timedelta(seconds=round(remaining / rate)) if rate else "?"
    parts = [
        f"{j.name} {j.step}/{j.total_steps} {j.steps_per_second:.0f} steps/s acc "
        + (f"{j.test_accuracy:.4f}" if j.test_accuracy is not None else "-")
        for j in running
    ]
    elapsed = datetime.timedelta(seconds=round(time.monotonic() - start))
    return f"[{done}/{len(jobs)} done, {elapsed}] " + " | ".join(parts) + f" | sweep ETA {eta}"
