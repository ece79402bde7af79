"""The explanation grid's answer from its runs: summary.md (design, verdicts, tables), one
figure per experiment, and the verdict block of docs/why.md.

The command is `python -m bn_keras.plot results/why` (bn_keras/plot.py recognizes the grid's run
directories and reads its levels through bn_keras/experiments/grid.py); the verdict rules are
reporting/why/why_verdicts.py's, the statistics reporting/why/trend.py's. Like the main summary,
nothing is rewritten whose bytes would not change, and the provenance lines are kept while the
finished runs are the same (reporting/provenance.py).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from bn_keras.common import tables
from bn_keras.common.atomic import write_bytes_atomic
from bn_keras.reporting import provenance
from bn_keras.reporting import rebuild as rebuild_lib
from bn_keras.reporting.why import trend
from bn_keras.reporting.why import why_verdicts as rules
from bn_keras.reporting.why.trend_figure import trend_figure
from bn_keras.runs.reader import Run

SUMMARY_FILE = rebuild_lib.SUMMARY_FILE
TITLE = "Why BN helps here: the explanation grid"
SWEEP_LOG = "sweep.log"
BEGIN, END = (
    "<!-- why: verdicts begin (python -m bn_keras.plot results/why) -->",
    "<!-- why: end -->",
)
_SWEEP_END = re.compile(r"^sweep: (\d+) runs finished, (\d+) failed, (\S+) wall time$", re.M)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One experiment of the grid read from its runs.

    Attributes:
        name: e.g. "capacity".
        factor: the x axis in words, e.g. "width multiplier".
        scale: the trend's scale (trend.SCALES).
        series: (label, levels) per network or optimizer; for the verdicts, capacity's first
            series is the ReLU LeNet-5 and learning_rate's first is Adadelta.
    """

    name: str
    factor: str
    scale: str
    series: tuple[tuple[str, tuple[trend.Level, ...]], ...]


@dataclasses.dataclass(frozen=True)
class Design:
    """What the grid fixed: seeds per arm, run length, the well-trained threshold, its command,
    and the final accuracy at or below which a run is at chance (its dataset's)."""

    seeds: int
    train_steps: int
    well_trained: float
    command: str
    at_chance: float


@dataclasses.dataclass(frozen=True)
class Answer:
    """The verdicts and the readings they rest on."""

    verdicts: tuple[rules.Verdict, ...]
    growth: dict[str, tuple[rules.Growth, ...]]  # per experiment along width or depth
    ranges: tuple[rules.RateRange, ...]


def answer(experiments: Mapping[str, Experiment], well_trained: float) -> Answer:
    """The three verdicts from the grid's "capacity", "depth" and "learning_rate" experiments."""
    growth = {
        name: tuple(
            rules.growth(label, levels, experiments[name].scale, direction)
            for label, levels in experiments[name].series
        )
        for name, direction in (("capacity", -1), ("depth", +1))
    }
    rates = experiments["learning_rate"].series
    ranges = tuple(rules.rate_range(label, levels, well_trained) for label, levels in rates)
    verdicts = (
        rules.capacity_verdict(growth["capacity"][0], growth["capacity"][1:]),
        rules.optimization_verdict(growth["depth"]),
        rules.step_size_verdict(rates[0][1], ranges[0]),
    )
    return Answer(verdicts, growth, ranges)


def _mean(values: tuple[float, ...]) -> str:
    return f"{np.mean(values):.4f}" if values else "-"


def _pair(a: object, b: object) -> str:
    return f"{a}, {b}"


def levels_table(levels: Sequence[trend.Level]) -> list[str]:
    """Per level: runs, diverged, at chance and failed share of each arm, the means of the runs
    that trained and BN minus no BN with its Welch 95% interval."""
    header = ["level", "runs (no BN, BN)", "diverged", "at chance", "failed share", "no BN", "BN"]
    rows = [
        [f"{lv.x:g}", _pair(*lv.runs), _pair(*lv.diverged), _pair(*lv.at_chance)]
        + [_pair(*(f"{f}/{n}" for f, n in zip(lv.failed, lv.runs)))]
        + [_mean(lv.without), _mean(lv.with_bn), rules.interval_text(lv.effect)]
        for lv in levels
    ]
    return tables.table([*header, "BN - no BN [95% CI]"], rows, compact=True)


def cost_lines(runs: Sequence[Run], log: str | None) -> list[str]:
    """The runs' cost: their training time summed, and each end of the sweep that sweep.log
    records (its runs, failures and wall time)."""
    trained = sum(r.result.get("train_seconds", 0.0) for r in runs)
    lines = [
        f"Training time summed over the {len(runs)} finished runs: "
        f"{datetime.timedelta(seconds=round(trained))}"
    ]
    for finished, failed, wall in _SWEEP_END.findall(log or ""):
        lines.append(f"{SWEEP_LOG}: {finished} runs finished, {failed} failed, {wall} wall time")
    return lines


def _header(runs: Sequence[Run], head: list[str], cost: list[str]) -> list[str]:
    versions = [r.record.get("versions", {}) for r in runs]
    commits = sorted({str(v.get("git_commit")) for v in versions}) or ["unknown"]
    cpus = sorted({str(r.record.get("machine", {}).get("cpu_count")) for r in runs})
    return [
        *head,
        *(f"- {line}" for line in cost),
        f"- Machine: {', '.join(cpus)} CPUs",
        f"- Runs' git commit: {', '.join(commits)}",
    ]


def _design(experiments: Mapping[str, Experiment], design: Design, short: list[str]) -> list[str]:
    levels = [
        f"  - {e.name}, {e.factor} (trend on {e.scale} scale): "
        + "; ".join(f"{label} at {', '.join(f'{lv.x:g}' for lv in lvs)}" for label, lvs in e.series)
        for e in experiments.values()
    ]
    met = "every arm has them" if not short else f"arms short of them: {', '.join(short)}"
    depths = [int(lv.x) for lv in experiments["depth"].series[0][1]]
    return [
        "",
        "## Design (fixed before the results below)",
        "",
        f"- The grid: `{design.command}` (bn_keras/experiments/grid.py).",
        f"- Seeds: {design.seeds} per arm (seeds 0-{design.seeds - 1}), run seed by seed across "
        f"all arms, every arm with and without BN over the same seeds; {met}.",
        "- Factors and levels, on the paper's recipe except for the factor itself:",
        *levels,
        f"- Primary quantity: final test accuracy at {design.train_steps:,} iterations (the "
        "last evaluation of each run).",
        f"- Failure: the loss stopped being finite (`diverged_at` in result.json) or the final "
        f"accuracy is at most {design.at_chance} (chance). Failed runs are counted, not averaged: "
        "the failed share of each arm is reported per level.",
        "- Per level: BN minus no BN over the runs that trained, with Welch's 95% interval.",
        "- Trend: the least-squares slope of the per-level effects on the factor's scale, its "
        "95% interval from the contrast's Welch-Satterthwaite degrees of freedom over all arms "
        "(reporting/trend.py); levels with fewer than two trained runs in an arm are left out.",
        f"- Trains well (the learning rate): no run failed and the mean final accuracy is at "
        f"least {design.well_trained}.",
        *(f"- {text}" for text in rules.rules(design.well_trained, depths)),
        "- When: the rules were fixed (bn_keras/reporting/why_verdicts.py) after the 8-run "
        "pilot (results/why_pilot/) and while the grid ran, before its results were read.",
    ]


def _section(experiment: Experiment, result: Answer, well: float) -> list[str]:
    lines = ["", f"## {experiment.name}: BN's effect against the {experiment.factor}", ""]
    readings = {g.label: g for g in result.growth.get(experiment.name, ())}
    ranges = {r.label: r for r in result.ranges}
    for label, levels in experiment.series:
        fitted = trend.effect_trend(levels, experiment.scale)
        lines += [f"### {label}", "", *levels_table(levels), ""]
        lines.append(f"- Trend: {fitted.text() if fitted else 'fewer than two usable levels'}")
        if label in readings:
            lines.append(f"- Reading: **{readings[label].outcome}**: {readings[label].reason}")
        if experiment.name == "learning_rate":
            lines.append(f"- Trains well (>= {well}): {ranges[label].text()}")
        lines.append("")
    lines.append(f"![{experiment.name}](why_{experiment.name}.png)")
    return lines


def markdown(
    runs: Sequence[Run],
    experiments: Mapping[str, Experiment],
    design: Design,
    result: Answer,
    header: list[str],
) -> str:
    """summary.md's text: the header, the design, the verdicts, then each experiment."""
    short = sorted(
        {
            f"{label} at {lv.x:g} ({_pair(*lv.runs)})"
            for e in experiments.values()
            for label, levels in e.series
            for lv in levels
            if min(lv.runs) < design.seeds
        }
    )
    lines = [*header, *_design(experiments, design, short), "", rules.VERDICTS_HEADING, ""]
    lines += [f"- {v.line}" for v in result.verdicts]
    for experiment in experiments.values():
        lines += _section(experiment, result, design.well_trained)
    unfinished = [r for r in runs if not r.finished]
    if unfinished:
        lines += ["", "## Unfinished runs (left out)", ""]
        lines += [f"- {r.run_dir.name}" for r in unfinished]
    return "\n".join(lines) + "\n"


def page_block(result: Answer, results_link: str, cost: Sequence[str] = ()) -> str:
    """The verdict table, the cost and the figures for docs/why.md, between its markers."""
    rows = [[v.explanation, f"**{v.outcome}**", v.reason] for v in result.verdicts]
    header = ["explanation", "verdict", "the numbers it rests on"]
    lines = [BEGIN, "", *tables.table(header, rows, compact=True)]
    lines += ["", f"Learning rates that train well: {'; '.join(r.text() for r in result.ranges)}."]
    lines += ["", f"Cost: {'; '.join(cost)}." if cost else "Cost: no finished run."]
    lines += ["", f"All numbers, tables and the design: [summary]({results_link}/summary.md).", ""]
    for name in ("capacity", "depth", "learning_rate"):
        lines.append(f"![{name}]({results_link}/why_{name}.png)")
    return "\n".join([*lines, "", END])


def update_page(page: Path, block: str) -> bool:
    """Puts `block` between the markers of `page`, writing only when its bytes change.

    Returns:
        Whether it wrote.

    Raises:
        ValueError: `page` lacks the markers.
    """
    text = page.read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{page} lacks the markers {BEGIN} ... {END}")
    head, rest = text.split(BEGIN, 1)
    new = head + block + rest.split(END, 1)[1]
    return provenance.write_if_changed(page, new.encode(), write_bytes_atomic)


def rebuild(
    results_dir: Path,
    runs: Sequence[Run],
    experiments: Mapping[str, Experiment],
    design: Design,
    command: str | None = None,
    total_wall_time: str | None = None,
    page: Path | None = None,
) -> tuple[Answer, list[Path]]:
    """Writes summary.md and the figures into `results_dir`, and the verdict block into `page`.

    Args:
        results_dir: the grid's results directory.
        runs: its runs, finished or not (bn_keras.runs.reader.load_runs).
        experiments: the grid's experiments read from those runs, by name.
        design: what the grid fixed.
        command: the command that made the runs, for the provenance lines.
        total_wall_time: its wall time as free text.
        page: docs/why.md, or None to leave the page alone.

    Returns:
        The answer, and the paths of the files (re)built.
    """
    results_dir = Path(results_dir)
    result = answer(experiments, design.well_trained)
    finished = [r for r in runs if r.finished]
    md_path = results_dir / SUMMARY_FILE
    head = rebuild_lib.summary_head(TITLE, md_path, finished, command, total_wall_time)
    cost = cost_lines(finished, provenance.read_previous(results_dir / SWEEP_LOG))
    text = markdown(runs, experiments, design, result, _header(finished, head, cost))
    figures = (
        (f"why_{e.name}", trend_figure(e.series, e.scale, e.factor, f"{e.name}: BN's effect"))
        for e in experiments.values()
    )
    paths = [
        rebuild_lib.write_text(md_path, text),
        *rebuild_lib.write_figures(results_dir, figures),
    ]
    if page is not None:
        link = Path("..", results_dir.resolve().relative_to(page.resolve().parents[1]))
        update_page(page, page_block(result, link.as_posix(), cost))
        paths.append(page)
    return result, paths
