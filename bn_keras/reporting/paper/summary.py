"""The sweep's numbers and the paper's claims checked against them, rebuilt from run directories."""

from __future__ import annotations

import dataclasses
import statistics

from absl import logging

from bn_keras.config import datasets, networks
from bn_keras.config.datasets import Dataset
from bn_keras.config.names import BN_SUFFIX
from bn_keras.reporting import effects
from bn_keras.reporting import statistics as stats_lib
from bn_keras.reporting.paper import claims, findings
from bn_keras.runs import reader
from bn_keras.runs.reader import KERAS, Run

PAPER_BASES = tuple(n.name for n in networks.paper())
NEITHER = "-"  # speed-up where no seed of either arm reaches the threshold
FRAMEWORK_NAMES = {KERAS: "Keras", "pytorch": "PyTorch"}


def framework_name(framework: str) -> str:
    """The framework as written in prose, e.g. "PyTorch"."""
    return FRAMEWORK_NAMES.get(framework, framework)


@dataclasses.dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation (0 for one value), minimum, maximum and the 95% CI of the
    mean (t-based; the mean itself for one value)."""

    mean: float
    std: float
    min: float
    max: float
    ci_low: float
    ci_high: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        low, high = stats_lib.mean_band([[v] for v in values])
        return cls(statistics.fmean(values), std, min(values), max(values), low[0], high[0])

    @property
    def range(self) -> float:
        return self.max - self.min

    def ci_text(self) -> str:
        """The mean with its 95% CI, e.g. "0.9921 [0.9905, 0.9937]"."""
        return f"{self.mean:.4f} [{self.ci_low:.4f}, {self.ci_high:.4f}]"


@dataclasses.dataclass(frozen=True)
class ExperimentStats:
    """One experiment over its finished seeds.

    Attributes:
        iterations: per threshold, the restricted mean at tau of the iterations to it (RMST: a
            seed that never reached it counts as tau, its train_steps).
        medians: per threshold, the median iterations, None where half or more seeds never
            reached it.
        reached: per threshold, how many seeds reached it.
        tau: the restriction, train_steps.
    """

    experiment: str
    seeds: tuple[int, ...]
    final: Spread
    best: Spread
    iterations: dict[float, float]
    medians: dict[float, float | None]
    reached: dict[float, int]
    tau: int
    train_seconds: float
    steps_per_second: float

    def iterations_text(self, threshold: float) -> str:
        """The RMST, the median and how many seeds reached `threshold`, e.g.
        "4230; median 3900; 8/10 reached" or "10000; median > 10,000; 0/3 reached"."""
        median = effects.median_text(self.medians[threshold], self.tau)
        reached = f"{self.reached[threshold]}/{len(self.seeds)} reached"
        return f"{self.iterations[threshold]:.0f}; median {median}; {reached}"


def experiment_stats(runs: list[Run]) -> ExperimentStats:
    """Statistics over the finished runs of one experiment (`runs` must be non-empty)."""
    tau = effects.tau_of(runs)
    restricted = {t: effects.restricted_iterations(runs, t) for t in effects.thresholds_of(runs)}
    return ExperimentStats(
        experiment=runs[0].experiment,
        seeds=tuple(r.seed for r in runs),
        final=Spread.of([r.final_accuracy for r in runs]),
        best=Spread.of([r.best_accuracy for r in runs]),
        iterations={t: statistics.fmean(v) for t, (v, _) in restricted.items()},
        medians={t: effects.median_or_none(v, n) for t, (v, n) in restricted.items()},
        reached={t: reached for t, (_, reached) in restricted.items()},
        tau=tau,
        train_seconds=statistics.fmean(r.result["train_seconds"] for r in runs),
        steps_per_second=statistics.fmean(r.result["steps_per_second"] for r in runs),
    )


def speedup(without_bn: ExperimentStats, with_bn: ExperimentStats, threshold: float) -> float | str:
    """BN's speed-up to a threshold: RMST(X) / RMST(X_bn), NEITHER when no seed of either
    reached it."""
    if not without_bn.reached[threshold] and not with_bn.reached[threshold]:
        return NEITHER
    return without_bn.iterations[threshold] / with_bn.iterations[threshold]


def format_speedup(value: float | str) -> str:
    return f"{value:.2f}x" if isinstance(value, float) else value


@dataclasses.dataclass(frozen=True)
class Pair:
    """An experiment X and its BatchNorm twin X_bn, compared: BN minus no BN per quantity."""

    base: ExperimentStats
    bn: ExperimentStats
    effects: list[effects.Effect]

    @property
    def name(self) -> str:
        return self.base.experiment

    @property
    def speedups(self) -> dict[float, float | str]:
        return {t: speedup(self.base, self.bn, t) for t in self.base.iterations}

    def effect(self, quantity: str) -> effects.Effect:
        return next(e for e in self.effects if e.quantity == quantity)


@dataclasses.dataclass(frozen=True)
class Agreement:
    """One experiment in two frameworks: final accuracy of the primary minus the twin's."""

    experiment: str
    effect: effects.Effect
    verdict: claims.Verdict


@dataclasses.dataclass(frozen=True)
class FrameworkView:
    """The statistics, pairs and verdicts of one framework's finished runs (its verdicts are
    that framework's alone, unadjusted)."""

    framework: str
    experiments: dict[str, ExperimentStats]
    pairs: list[Pair]
    verdicts: list[claims.Verdict]
    finished: list[Run]


@dataclasses.dataclass(frozen=True)
class Summary:
    """Everything summary.md and summary.csv show.

    `verdicts` are the paper's claims decided from every framework's runs together (pooled,
    Holm-adjusted: reporting/paper/findings.py). The primary framework (Keras when it has runs)
    fills experiments, pairs, finished and `alone` (its own unadjusted verdicts); `twins` holds
    every other framework's view, `agreement` its comparison with the primary per experiment.
    """

    experiments: dict[str, ExperimentStats]
    pairs: list[Pair]
    verdicts: list[claims.Verdict]
    unfinished: list[Run]
    finished: list[Run]
    framework: str = KERAS
    twins: dict[str, FrameworkView] = dataclasses.field(default_factory=dict)
    agreement: dict[str, list[Agreement]] = dataclasses.field(default_factory=dict)
    alone: list[claims.Verdict] = dataclasses.field(default_factory=list)
    dataset: Dataset = dataclasses.field(default_factory=lambda: datasets.get(datasets.DEFAULT))

    @property
    def thresholds(self) -> tuple[float, ...]:
        """The thresholds whose iterations-to are reported; none while not yet fixed."""
        return self.dataset.thresholds or ()

    @property
    def views(self) -> dict[str, FrameworkView]:
        """Every framework's view, the primary first."""
        primary = FrameworkView(
            self.framework, self.experiments, self.pairs, self.alone, self.finished
        )
        return {self.framework: primary, **self.twins}


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


def framework_view(framework: str, finished: list[Run], dataset: Dataset) -> FrameworkView:
    """Statistics per experiment, pair effects and the paper's verdicts for one framework."""
    groups = group_by_experiment(finished)
    experiments = {name: experiment_stats(group) for name, group in groups.items()}
    pairs = [
        Pair(
            stats,
            experiments[name + BN_SUFFIX],
            effects.pair_effects(groups[name], groups[name + BN_SUFFIX]),
        )
        for name, stats in experiments.items()
        if name + BN_SUFFIX in experiments
    ]
    verdicts = [v for pair in pairs for v in claims.verdicts_for(pair.name, pair.effects, dataset)]
    return FrameworkView(framework, experiments, pairs, verdicts, finished)


def agreement(primary: list[Run], twin: list[Run]) -> list[Agreement]:
    """Per experiment in both: primary minus twin final accuracy, and whether they agree."""
    ours, theirs = group_by_experiment(primary), group_by_experiment(twin)
    rows = []
    for experiment in (e for e in ours if e in theirs):
        effect = effects.accuracy_effect(
            effects.FINAL,
            [r.final_accuracy for r in theirs[experiment]],
            [r.final_accuracy for r in ours[experiment]],
        )
        verdict = claims.no_difference_verdict(experiment, effect, claims.AGREES)
        rows.append(Agreement(experiment, effect, verdict))
    return rows


def summarize(runs: list[Run]) -> Summary:
    """Statistics per experiment, pair comparisons and the paper's verdicts, per framework.

    Args:
        runs: what load_runs() returned; unfinished runs are listed but left out of statistics.

    Returns:
        The summary of the primary framework (Keras when it has runs), experiments ordered as the
        paper's first, then the others by name; other frameworks in `twins` and `agreement`.
    """
    for run in runs:
        if run.result is not None and not run.rows:
            logging.warning("%s has result.json but no metrics rows: left out", run.run_dir)
    by_framework: dict[str, list[Run]] = {}
    for run in runs:
        if run.finished:
            by_framework.setdefault(run.framework, []).append(run)
    frameworks = sorted(by_framework, key=lambda f: (f != KERAS, f))
    primary = frameworks[0] if frameworks else KERAS
    dataset = reader.one_dataset(runs)
    view = framework_view(primary, by_framework.get(primary, []), dataset)
    twins = {f: framework_view(f, by_framework[f], dataset) for f in frameworks[1:]}
    groups = {f: group_by_experiment(by_framework[f]) for f in frameworks}
    return Summary(
        experiments=view.experiments,
        pairs=view.pairs,
        verdicts=findings.claim_verdicts(groups),
        unfinished=[r for r in runs if not r.finished],
        finished=view.finished,
        framework=primary,
        twins=twins,
        agreement={f: agreement(view.finished, by_framework[f]) for f in twins},
        alone=view.verdicts,
        dataset=dataset,
    )
