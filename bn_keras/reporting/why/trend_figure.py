"""The explanation grid's figure: BN's effect along a factor with its intervals and trend."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from bn_keras.reporting import statistics as stats_lib
from bn_keras.reporting.why.trend import SCALES, Level, effect_trend


def trend_figure(
    series: Sequence[tuple[str, Sequence[Level]]],
    scale: str,
    factor: str,
    title: str,
) -> Figure:
    """BN's effect against the factor with its 95% intervals and fitted slope, one series per
    network or optimizer; below it, each arm's share of failed runs when any failed.

    Args:
        series: (label, levels) per series, e.g. ("LeNet-5 (ReLU)", levels).
        scale: the factor's scale (SCALES): a log scale gives a log x axis.
        factor: the x axis label, e.g. "width multiplier".
        title: the figure's title.
    """
    any_failed = any(sum(lv.failed) for _, levels in series for lv in levels)
    fig = Figure(figsize=(6.4, 5.6 if any_failed else 4.2), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1)) if any_failed else [fig.subplots()]
    top = axes[0]
    top.axhline(0.0, color="grey", linewidth=0.8)
    margin = stats_lib.ACCURACY_MARGIN
    top.axhspan(-margin, margin, color="grey", alpha=0.12, label=f"margin ±{margin}")
    transform = SCALES[scale][0]
    for index, (label, levels) in enumerate(series):
        offset = index - (len(series) - 1) / 2  # series side by side, not on top of each other
        points = [(lv.x, lv.effect) for lv in levels if lv.effect is not None]
        xs = [
            x * 2 ** (0.06 * offset) if scale != "linear" else x + 0.1 * offset for x, _ in points
        ]
        effects = [e.effect for _, e in points]
        errors = [[e.effect - e.low for _, e in points], [e.high - e.effect for _, e in points]]
        trend = effect_trend(levels, scale)
        line = top.errorbar(xs, effects, yerr=errors, fmt="o", capsize=3, label=label)
        if trend is not None:
            grid = np.linspace(min(trend.levels), max(trend.levels), 50)
            fit = [trend.intercept + trend.slope * transform(g) for g in grid]
            color, text = line[0].get_color(), f"{label}: {trend.text()}"
            top.plot(grid, fit, "--", color=color, linewidth=1, label=text)
        if any_failed:
            for arm, marker in ((0, "v"), (1, "^")):
                shares = [lv.failed_share[arm] for lv in levels]
                arm_label = f"{label}, {'with' if arm else 'without'} BN"
                xs = [lv.x for lv in levels]
                axes[1].plot(xs, shares, marker + "-", color=line[0].get_color(), label=arm_label)
    top.set_ylabel("BN minus no BN, final test accuracy")
    top.set_title(title, fontsize=9)
    top.legend(fontsize=6, loc="best")
    top.grid(True, alpha=0.3)
    if any_failed:
        axes[1].set_ylabel("share failed\n(diverged or chance)")
        axes[1].set_ylim(-0.05, 1.05)
        axes[1].legend(fontsize=6, loc="best")
        axes[1].grid(True, alpha=0.3)
    if scale != "linear":
        top.set_xscale("log")
    ticks = sorted({lv.x for _, levels in series for lv in levels})
    for ax in axes:  # the levels themselves, written as the grid names them (0.25, not 2.5e-1)
        ax.minorticks_off()
        ax.set_xticks(ticks, [f"{x:g}" for x in ticks])
    axes[-1].set_xlabel(f"{factor} (error bars: Welch 95% intervals over seeds)")
    return fig
