"""The sweep's first phase: from its settings to the jobs it runs (paper pairs and their stacks,
the twin, the probes, the explanation grid, any dataset), planned without knowing where they
will run."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

from bn_keras.common.errors import ConfigError
from bn_keras.config import checks
from bn_keras.config.commands import SweepOptions
from bn_keras.config.names import BN_SUFFIX, PAPER_EXPERIMENTS
from bn_keras.config.settings import default_results_dir
from bn_keras.experiments.jobs import (
    KERAS,
    QUICK_FLAGS,
    Job,
    all_experiments,
    dataset_flags,
    frameworks_to_run,
    plan_job,
    plan_jobs,
)


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """What a sweep runs, and what the seed-adding rounds need to plan more of it."""

    jobs: list[Job]
    results_dir: Path  # where the runs go (the Keras runs', for the paper experiments)
    frameworks: dict[str, Path]  # each framework's results directory
    pairs: list[str]  # the paper pairs whose seeds --until_decided adds ([] without it)
    seeds: int
    extra: list[str]  # flags every run gets after its experiment's
    flag_dir: str
    notes: list[str]  # lines for the user: a twin skipped, and why
    grid: bool  # the explanation grid: its verdicts are its summary's, not the paper's

    def round_jobs(self, pending: dict[tuple[str, str], int]) -> list[Job]:
        """Seeds 0..n-1 of both arms of each (framework, pair) in `pending` (n each)."""
        return [
            plan_job(e, seed, self.frameworks[framework], self.extra, self.flag_dir, framework)
            for (framework, pair), n in pending.items()
            for e in (pair, pair + BN_SUFFIX)
            for seed in range(n)
        ]


def plan(options: SweepOptions, seeds_given: bool) -> SweepPlan:
    """The sweep's jobs for `options`.

    Args:
        options: the sweep's settings, checked.
        seeds_given: whether --seeds was given (the probes and the grid have their own default).

    Raises:
        SystemExit: an unknown experiment (one error line).
        ConfigError: a results directory that cannot be one (a file, say), or more than one of
            --probes, --why and --confirm, or --confirm with --experiments.
    """
    chosen = [name for name in ("probes", "why", "confirm") if getattr(options, name)]
    if len(chosen) > 1:
        raise ConfigError(f"--{' and --'.join(chosen)} are different sweeps: give one of them")
    if options.confirm and options.experiment_list:
        raise ConfigError("--confirm runs its whole design: drop --experiments")
    base = "results_quick" if options.quick else "results"
    results_dir = Path(options.results_dir or default_results_dir(options.dataset, base))
    flag_dir, seeds = "flags", options.seeds
    if options.probes:
        flag_dir, results_dir = "flags/probes", Path(options.results_dir or results_dir / "probes")
        seeds = options.seeds if seeds_given else 1
    checks.check_directory(str(results_dir), "--results_dir")
    extra = [*(QUICK_FLAGS if options.quick else ()), *dataset_flags(options)]
    if options.why:
        return _grid_plan(options, results_dir, extra, seeds_given)
    if options.confirm:
        return _confirm_plan(options, extra, seeds_given)
    experiments = options.experiment_list or all_experiments(flag_dir)
    paper = [] if options.probes else [e for e in experiments if e in PAPER_EXPERIMENTS]
    frameworks, note = frameworks_to_run(
        results_dir, paper, options.twin, importlib.util.find_spec("torch") is not None
    )
    notes = [note] if note else []
    jobs = plan_jobs(experiments, seeds, options.extra_seeds, results_dir, extra, flag_dir)
    for framework, directory in list(frameworks.items()):
        if framework == KERAS:
            continue
        try:
            jobs += plan_jobs(paper, seeds, 0, directory, extra, flag_dir, framework)
        except SystemExit as err:  # a bn_keras.main without the twin refuses --framework
            notes.append(f"{framework} twin skipped: {str(err).splitlines()[-1]}")
            del frameworks[framework]
    pairs = [e for e in paper if e + BN_SUFFIX in paper] if options.until_decided else []
    return SweepPlan(jobs, results_dir, frameworks, pairs, seeds, extra, flag_dir, notes, False)


def _grid_plan(
    options: SweepOptions, results_dir: Path, extra: list[str], seeds_given: bool
) -> SweepPlan:
    """The explanation grid: a fixed number of seeds per arm, no seeds added, no twin."""
    from bn_keras.experiments import grid

    directory = Path(options.results_dir or results_dir / grid.RESULTS_DIR.name)
    checks.check_directory(str(directory), "--results_dir")
    seeds = options.seeds if seeds_given else grid.SEEDS
    experiments = options.experiment_list or list(grid.EXPERIMENTS)
    jobs = grid.plan_jobs(experiments, seeds, directory, extra)
    return SweepPlan(jobs, directory, {KERAS: directory}, [], seeds, extra, "flags", [], True)


def _confirm_plan(options: SweepOptions, extra: list[str], seeds_given: bool) -> SweepPlan:
    """The confirmatory grid on the sweep's dataset: its seeds from its first, no twin."""
    from bn_keras.experiments import confirm

    directory = Path(options.results_dir or confirm.results_dir(options.dataset))
    checks.check_directory(str(directory), "--results_dir")
    seeds = options.seeds if seeds_given else confirm.SEEDS
    jobs = confirm.plan_jobs(seeds, directory, extra)
    return SweepPlan(jobs, directory, {KERAS: directory}, [], seeds, extra, "flags", [], True)
