"""The sweep's numbers and the paper's claims checked against them, rebuilt from run directories."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import re
import statistics
from pathlib import Path

from absl import logging

from bn_keras.atomic import write_text_atomic
from bn_keras.metrics_file import read_metrics

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
        has_files = (run_dir / "config.json").is_file() and (run_dir / "metrics.csv").is_file()
        if not (match and has_files):
            continue
        result_path = run_dir / "result.json"
        runs.append(
            Run(
                experiment=match["experiment"],
                seed=int(match["seed"]),
                run_dir=run_dir,
                record=json.loads((run_dir / "config.json").read_text()),
                rows=read_metrics(run_dir / "metrics.csv"),
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


def _distinct(values) -> str:
    return ", ".join(sorted({str(v) for v in values})) or "unknown"


def _machine(record: dict) -> str:
    m = record.get("machine", {})
    gpus = ", ".join(m.get("gpus") or []) or "no GPU"
    return f"{m.get('platform')}, {m.get('processor')}, {m.get('cpu_count')} CPUs, {gpus}"


def _markdown(summary: Summary, command: str | None, total_wall_time: str | None) -> str:
    records = [r.record for r in summary.finished]
    versions = [rec.get("versions", {}) for rec in records]
    seeds = _distinct(len(s.seeds) for s in summary.experiments.values())
    lines = ["# BatchNorm ablation on MNIST: summary", ""]
    lines += [f"- Command: `{command}`"] if command else []
    lines += [f"- Total wall time: {total_wall_time}"] if total_wall_time else []
    lines += [
        f"- Machine: {_distinct(_machine(rec) for rec in records)}",
        f"- TensorFlow {_distinct(v.get('tensorflow') for v in versions)}, "
        f"Keras {_distinct(v.get('keras') for v in versions)}",
        f"- Git commit: {_distinct(v.get('git_commit') for v in versions)}",
        f"- Seeds per experiment: {seeds} (finished runs only; statistics over seeds, "
        "std is the sample std)",
        "",
        "## Experiments",
        "",
    ]
    thresholds = " | ".join(f"it. to {t:.0%}" for t in THRESHOLDS)
    lines += [
        "| experiment | seeds | final acc. | final min-max | best acc. | best min-max | "
        f"{thresholds} | wall time (s) | steps/s |",
        "|" + " --- |" * (8 + len(THRESHOLDS)),
    ]
    for s in summary.experiments.values():
        its = " | ".join(s.iterations_text(t) for t in THRESHOLDS)
        lines.append(
            f"| {s.experiment} | {len(s.seeds)} | {s.final.mean:.4f} ± {s.final.std:.4f} | "
            f"{s.final.min:.4f}-{s.final.max:.4f} | {s.best.mean:.4f} ± {s.best.std:.4f} | "
            f"{s.best.min:.4f}-{s.best.max:.4f} | {its} | {s.train_seconds:.0f} | "
            f"{s.steps_per_second:.1f} |"
        )
    lines += ["", "## BatchNorm against no BatchNorm", ""]
    speedup_cols = " | ".join(f"speed-up to {t:.0%}" for t in THRESHOLDS)
    lines += [
        f"| pair | final acc. difference (BN - no BN) | seed spread | {speedup_cols} |",
        "|" + " --- |" * (3 + len(THRESHOLDS)),
    ]
    for p in summary.pairs:
        ups = " | ".join(format_speedup(s) for s in p.speedups.values())
        lines.append(
            f"| {p.name} / {p.bn.experiment} | {p.final_difference:+.4f} | {p.spread:.4f} | {ups} |"
        )
    lines += ["", "## Verdicts", ""]
    lines += [f"- {v.line}" for v in summary.verdicts] or ["- no pair of the paper has finished"]
    if summary.unfinished:
        lines += ["", "## Unfinished runs (left out of the statistics)", ""]
        lines += [
            f"- {r.run_dir.name}: last evaluation at step "
            f"{int(r.rows[-1]['step']) if r.rows else '-'} of "
            f"{r.record.get('config', {}).get('train_steps', '?')}"
            for r in summary.unfinished
        ]
    return "\n".join(lines) + "\n"


def _csv(summary: Summary) -> str:
    pct = [f"{t * 100:.0f}" for t in THRESHOLDS]
    fields = ["experiment", "seeds"]
    fields += [f"{k}_{s}" for k in ("final", "best") for s in ("mean", "std", "min", "max")]
    fields += [f"{k}_{p}" for p in pct for k in ("iterations_to", "seeds_reaching")]
    fields += ["train_seconds_mean", "steps_per_second_mean", "baseline", "final_difference"]
    fields += ["seed_spread"] + [f"speedup_to_{p}" for p in pct]
    twins = {p.bn.experiment: p for p in summary.pairs}
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, lineterminator="\n")
    writer.writeheader()
    for s in summary.experiments.values():
        row = {"experiment": s.experiment, "seeds": len(s.seeds)}
        for key, spread in (("final", s.final), ("best", s.best)):
            row |= {f"{key}_{k}": getattr(spread, k) for k in ("mean", "std", "min", "max")}
        for t, p in zip(THRESHOLDS, pct):
            row[f"iterations_to_{p}"] = "" if s.iterations[t] is None else s.iterations[t]
            row[f"seeds_reaching_{p}"] = s.reached[t]
        row |= {"train_seconds_mean": s.train_seconds, "steps_per_second_mean": s.steps_per_second}
        if pair := twins.get(s.experiment):
            row |= {"baseline": pair.name, "final_difference": pair.final_difference}
            row["seed_spread"] = pair.spread
            row |= {f"speedup_to_{p}": pair.speedups[t] for t, p in zip(THRESHOLDS, pct)}
        writer.writerow(row)
    return out.getvalue()


def write_summary(
    summary: Summary,
    results_dir: Path,
    command: str | None = None,
    total_wall_time: str | None = None,
) -> tuple[Path, Path]:
    """Writes summary.md and summary.csv into `results_dir`, each atomically.

    Args:
        summary: what summarize() returned.
        results_dir: the results directory the runs were loaded from.
        command: the command that produced the results, shown in the provenance header.
        total_wall_time: the sweep's wall time as free text, shown in the provenance header.

    Returns:
        The paths of summary.md and summary.csv.
    """
    md_path, csv_path = Path(results_dir) / "summary.md", Path(results_dir) / "summary.csv"
    write_text_atomic(md_path, _markdown(summary, command, total_wall_time))
    write_text_atomic(csv_path, _csv(summary))
    for verdict in summary.verdicts:
        logging.info("%s", verdict.line)
    return md_path, csv_path
