"""The sweep's numbers and the paper's claims checked against them, rebuilt from run directories."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import statistics
from pathlib import Path

from absl import logging

from bn_keras.runs.metrics_file import read_metrics
from bn_keras.runs.run_dir import CONFIG_FILE, METRICS_FILE, RESULT_FILE

THRESHOLDS = (0.97, 0.98, 0.99)
PAPER_BASES = ("mlp", "lenet", "lenetr")
BN_SUFFIX = "_bn"
BN_ONLY = "BN only"  # speed-up where only the BN twin reaches the threshold
BN_NEVER = "BN never"  # speed-up where only the network without BN reaches it
NEITHER = "-"
SPEEDS_UP = "BN speeds convergence"
RAISES = "BN raises final accuracy"
NO_DIFFERENCE = "BN makes no difference"
CLAIMS = {"mlp": (SPEEDS_UP, RAISES), "lenet": (SPEEDS_UP, RAISES), "lenetr": (NO_DIFFERENCE,)}
_RUN_NAME = re.compile(r"^(?P<experiment>.+)_seed(?P<seed>\d+)$")


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
    def final_accuracy(self) -> float:
        return self.rows[-1]["test_accuracy"]

    @property
    def best_accuracy(self) -> float:
        return max(r["test_accuracy"] for r in self.rows if not math.isnan(r["test_accuracy"]))

    def first_step_reaching(self, threshold: float) -> int | None:
        """The first evaluated step with test accuracy >= `threshold`, None if there is none."""
        return next((int(r["step"]) for r in self.rows if r["test_accuracy"] >= threshold), None)


def load_runs(results_dir: Path) -> list[Run]:
    """Reads the run directories of a results tree.

    Args:
        results_dir: holds `<experiment>_seed<N>/` directories; other entries, and directories
            without config.json and metrics.csv (such as logs/), are skipped.

    Returns:
        The runs, finished or not, sorted by directory name.
    """
    runs = []
    for run_dir in sorted(Path(results_dir).iterdir()):
        match = _RUN_NAME.match(run_dir.name)
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
    return runs


@dataclasses.dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation (0 for one value), minimum and maximum."""

    mean: float
    std: float
    min: float
    max: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return cls(statistics.fmean(values), std, min(values), max(values))

    @property
    def range(self) -> float:
        return self.max - self.min


@dataclasses.dataclass(frozen=True)
class ExperimentStats:
    """One experiment over its finished seeds.

    Attributes:
        iterations: per threshold, the mean first step reaching it when every seed did, else None.
        reached: per threshold, how many seeds reached it.
    """

    experiment: str
    seeds: tuple[int, ...]
    final: Spread
    best: Spread
    iterations: dict[float, float | None]
    reached: dict[float, int]
    train_seconds: float
    steps_per_second: float

    def iterations_text(self, threshold: float) -> str:
        """The mean iterations to `threshold`, like "1234", or "never (1/3)" if a seed missed it."""
        its = self.iterations[threshold]
        if its is not None:
            return f"{its:.0f}"
        return f"never ({self.reached[threshold]}/{len(self.seeds)})"


def experiment_stats(runs: list[Run]) -> ExperimentStats:
    """Statistics over the finished runs of one experiment (`runs` must be non-empty)."""
    reached = {
        t: [s for r in runs if (s := r.first_step_reaching(t)) is not None] for t in THRESHOLDS
    }
    return ExperimentStats(
        experiment=runs[0].experiment,
        seeds=tuple(r.seed for r in runs),
        final=Spread.of([r.final_accuracy for r in runs]),
        best=Spread.of([r.best_accuracy for r in runs]),
        iterations={
            t: statistics.fmean(steps) if len(steps) == len(runs) else None
            for t, steps in reached.items()
        },
        reached={t: len(steps) for t, steps in reached.items()},
        train_seconds=statistics.fmean(r.result["train_seconds"] for r in runs),
        steps_per_second=statistics.fmean(r.result["steps_per_second"] for r in runs),
    )


def speedup(without_bn: float | None, with_bn: float | None) -> float | str:
    """BN's speed-up to a threshold: iterations(X) / iterations(X_bn).

    Args:
        without_bn: mean iterations of X to the threshold, None if a seed never reached it.
        with_bn: the same for X_bn.

    Returns:
        The ratio, or BN_ONLY, BN_NEVER or NEITHER when one or both never reach it.
    """
    if without_bn is None:
        return NEITHER if with_bn is None else BN_ONLY
    return BN_NEVER if with_bn is None else float(without_bn) / with_bn


def format_speedup(value: float | str) -> str:
    return f"{value:.2f}x" if isinstance(value, float) else value


@dataclasses.dataclass(frozen=True)
class Pair:
    """An experiment X and its BatchNorm twin X_bn, compared."""

    base: ExperimentStats
    bn: ExperimentStats

    @property
    def name(self) -> str:
        return self.base.experiment

    @property
    def speedups(self) -> dict[float, float | str]:
        return {t: speedup(self.base.iterations[t], self.bn.iterations[t]) for t in THRESHOLDS}

    @property
    def final_difference(self) -> float:
        """mean final accuracy with BN minus without."""
        return self.bn.final.mean - self.base.final.mean

    @property
    def spread(self) -> float:
        """Seed-to-seed spread: the larger of the two experiments' max - min final accuracy."""
        return max(self.base.final.range, self.bn.final.range)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A claim of the paper about one pair, and whether the data reproduce it."""

    pair: str
    claim: str
    holds: bool
    evidence: str

    @property
    def line(self) -> str:
        word = "REPRODUCED" if self.holds else "NOT REPRODUCED"
        return f"{self.pair}: {self.claim}: {word} ({self.evidence})"


def _speedup_verdict(pair: Pair) -> Verdict:
    speedups = pair.speedups
    bn_reaches_all = all(s != BN_NEVER for s in speedups.values())
    faster = all(s > 1 for s in speedups.values() if isinstance(s, float))
    any_reached = any(s != NEITHER for s in speedups.values())
    evidence = ", ".join(
        f"{t:.0%}: {pair.base.iterations_text(t)} vs {pair.bn.iterations_text(t)} it, "
        f"speed-up {format_speedup(s)}"
        for t, s in speedups.items()
    )
    return Verdict(pair.name, SPEEDS_UP, bn_reaches_all and faster and any_reached, evidence)


def _accuracy_verdict(pair: Pair, claim: str) -> Verdict:
    diff, spread = pair.final_difference, pair.spread
    holds = diff > 0 and diff > spread if claim == RAISES else abs(diff) <= spread
    evidence = (
        f"final accuracy {pair.bn.final.mean:.4f} with BN vs {pair.base.final.mean:.4f} without, "
        f"difference {diff:+.4f}, seed spread {spread:.4f}"
    )
    return Verdict(pair.name, claim, holds, evidence)


def verdicts_for(pair: Pair) -> list[Verdict]:
    """The paper's claims about `pair` (none for pairs outside the paper)."""
    return [
        _speedup_verdict(pair) if claim == SPEEDS_UP else _accuracy_verdict(pair, claim)
        for claim in CLAIMS.get(pair.name, ())
    ]


@dataclasses.dataclass(frozen=True)
class Summary:
    """Everything summary.md and summary.csv show."""

    experiments: dict[str, ExperimentStats]
    pairs: list[Pair]
    verdicts: list[Verdict]
    unfinished: list[Run]
    finished: list[Run]


def group_by_experiment(runs: list[Run]) -> dict[str, list[Run]]:
    """Runs per experiment, the paper's experiments first, then the rest by name."""
    groups: dict[str, list[Run]] = {}
    for run in sorted(runs, key=lambda r: (_order(r.experiment), r.seed)):
        groups.setdefault(run.experiment, []).append(run)
    return groups


def _order(experiment: str) -> tuple:
    base = experiment.removesuffix(BN_SUFFIX)
    rank = PAPER_BASES.index(base) if base in PAPER_BASES else len(PAPER_BASES)
    return rank, base, experiment.endswith(BN_SUFFIX)


def summarize(runs: list[Run]) -> Summary:
    """Statistics per experiment, pair comparisons and the paper's verdicts.

    Args:
        runs: what load_runs() returned; unfinished runs are listed but left out of statistics.

    Returns:
        The summary, experiments ordered as the paper's first, then the others by name.
    """
    finished = [r for r in runs if r.finished]
    for run in runs:
        if run.result is not None and not run.rows:
            logging.warning("%s has result.json but no metrics rows: left out", run.run_dir)
    experiments = {
        name: experiment_stats(group) for name, group in group_by_experiment(finished).items()
    }
    pairs = [
        Pair(stats, experiments[name + BN_SUFFIX])
        for name, stats in experiments.items()
        if name + BN_SUFFIX in experiments
    ]
    verdicts = [v for pair in pairs for v in verdicts_for(pair)]
    unfinished = [r for r in runs if not r.finished]
    return Summary(experiments, pairs, verdicts, unfinished, finished)
