"""One figure per network overlaying the Keras port's curves and the PyTorch twin's, with bands."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from matplotlib.figure import Figure

from bn_keras.reporting import statistics
from bn_keras.reporting.summary import (
    BN_SUFFIX,
    Run,
    Summary,
    framework_name,
    group_by_experiment,
)

COLORS = ("tab:blue", "tab:orange", "tab:green")  # primary framework first
LINESTYLES = ("-", "--", ":")
BAND_TEXT = "bands: 95% CI of the mean over seeds (t)"


def _curve(runs: list[Run]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Steps every seed evaluated (after step 0), mean accuracy and its 95% CI band in [0, 1]."""
    by_step = [{int(r["step"]): r["test_accuracy"] for r in run.rows} for run in runs]
    steps = sorted(set.intersection(*(set(s) for s in by_step)) - {0})
    acc = np.array([[s[step] for step in steps] for s in by_step])
    low, high = np.clip(statistics.mean_band(acc), 0.0, 1.0)  # accuracy lies in [0, 1]
    return np.array(steps), acc.mean(axis=0), low, high


def framework_figure(base: str, groups: dict[str, dict[str, list[Run]]]) -> Figure:
    """Without BN and with BN side by side, each framework's mean curve and band overlaid.

    Args:
        base: the experiment without BN, e.g. "lenetr".
        groups: per framework (primary first), finished runs per experiment; each must hold
            `base` and its BN twin.

    Returns:
        A two-panel figure, log x.
    """
    fig = Figure(figsize=(10.4, 4.4), layout="constrained")
    for ax, experiment in zip(fig.subplots(1, 2), (base, base + BN_SUFFIX)):
        for i, (framework, experiments) in enumerate(groups.items()):
            runs = experiments[experiment]
            steps, mean, low, high = _curve(runs)
            color = COLORS[i % len(COLORS)]
            seeds = f"{len(runs)} seed{'s' if len(runs) > 1 else ''}"
            label = f"{framework_name(framework)}, {seeds}"
            ax.plot(steps, mean, color=color, linestyle=LINESTYLES[i % 3], label=label)
            ax.fill_between(steps, low, high, color=color, alpha=0.15, linewidth=0)
        ax.set_xscale("log")
        ax.set_title(f"{experiment} ({'with' if experiment != base else 'without'} BN)", fontsize=9)
        ax.set_xlabel("training iterations")
        ax.set_ylabel("test accuracy")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right", title=BAND_TEXT, title_fontsize=7)
    names = " and ".join(framework_name(f) for f in groups)
    fig.suptitle(f"{base}: {names}, test accuracy (mean over seeds)", fontsize=10)
    return fig


def framework_figures(summary: Summary) -> Iterator[tuple[str, Figure]]:
    """(stem, figure) for each pair that every framework of `summary` has finished runs of.

    Nothing when the summary holds one framework only.
    """
    if not summary.twins:
        return
    groups = {summary.framework: group_by_experiment(summary.finished)}
    groups |= {f: group_by_experiment(view.finished) for f, view in summary.twins.items()}
    for pair in summary.pairs:
        wanted = (pair.name, pair.name + BN_SUFFIX)
        if all(e in experiments for experiments in groups.values() for e in wanted):
            yield f"frameworks_{pair.name}", framework_figure(pair.name, groups)
