"""Issue 22's tables and figures from the grid's runs (results/why/ after `sweep --why`).

For each experiment of bn_keras/experiments/grid.py and each series along its factor: per level,
the finished runs of each arm, how many diverged and how many ended at chance, the mean final
accuracy of the others and BN minus no BN with Welch's 95% interval; then the trend of that effect
along the factor (reporting/trend.py). For the learning rate, the rates at which each arm trains
well (no run failed, mean final accuracy >= grid.WELL_TRAINED) and how many decades they span.

    python scripts/why_report.py [--results=results/why]

Writes <results>/why.md and the figures <results>/why_<experiment>.png and .svg.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bn_keras.common.atomic import write_text_atomic
from bn_keras.experiments import grid
from bn_keras.reporting import trend
from bn_keras.reporting.figures import save_figure
from bn_keras.reporting.summary import load_runs


def _mean(values: tuple[float, ...]) -> str:
    return f"{np.mean(values):.4f}" if values else "-"


def _effect(level: trend.Level) -> str:
    e = level.effect
    return f"{e.effect:+.4f} [{e.low:+.4f}, {e.high:+.4f}]" if e else "-"


def _levels_table(levels: list[trend.Level]) -> list[str]:
    lines = [
        "| level | runs (no BN, BN) | diverged (no BN, BN) | at chance (no BN, BN) | no BN | BN "
        "| BN - no BN [95% CI] |",
        "|---|---|---|---|---|---|---|",
    ]
    for lv in levels:
        runs, diverged, chance = lv.runs, lv.diverged, lv.at_chance
        lines.append(
            f"| {lv.x:g} | {runs[0]}, {runs[1]} | {diverged[0]}, {diverged[1]} | "
            f"{chance[0]}, {chance[1]} | "
            f"{_mean(lv.without)} | {_mean(lv.with_bn)} | {_effect(lv)} |"
        )
    return lines


def report(results: Path) -> str:
    """The Markdown report, writing each experiment's figure into `results` on the way."""
    runs = load_runs(results)
    lines = [f"# Why BN helps here: the grid's runs in {results}/", ""]
    for experiment in grid.EXPERIMENTS.values():
        lines += [f"## {experiment.name}: BN's effect against the {experiment.factor}", ""]
        series = [(s.label, grid.levels(s, runs)) for s in experiment.series]
        for label, levels in series:
            fitted = trend.effect_trend(levels, experiment.scale)
            lines += [f"### {label}", "", *_levels_table(levels), ""]
            lines += [f"Trend: {fitted.text() if fitted else 'fewer than two usable levels'}", ""]
            if experiment.name == "learning_rate":
                without, with_bn = trend.well_trained(levels, grid.WELL_TRAINED)
                for arm, good in (("without BN", without), ("with BN", with_bn)):
                    span = trend.span_decades(good)
                    lines.append(
                        f"- trains well ({grid.WELL_TRAINED}) {arm}: "
                        + (
                            f"{', '.join(f'{x:g}' for x in good)} ({span:.2f} decades)"
                            if good
                            else "none"
                        )
                    )
                lines.append("")
        fig = trend.trend_figure(series, experiment.scale, experiment.factor, experiment.name)
        save_figure(fig, results, f"why_{experiment.name}")
        lines += [f"![{experiment.name}](why_{experiment.name}.png)", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=grid.RESULTS_DIR)
    args = parser.parse_args()
    text = report(args.results)
    write_text_atomic(args.results / "why.md", text + "\n")
    print(text)


if __name__ == "__main__":
    main()
