"""One figure per network overlaying the Keras port's curves and the PyTorch twin's, with bands."""

from __future__ import annotations

from collections.abc import Iterator

from matplotlib.figure import Figure

from bn_keras.reporting.curves import draw_curve, legend_title, mean_curve, network_title
from bn_keras.reporting.paper.summary import (
    BN_SUFFIX,
    Run,
    Summary,
    framework_name,
    group_by_experiment,
)

COLORS = ("tab:blue", "tab:orange", "tab:green")  # primary framework first
LINESTYLES = ("-", "--", ":")


def framework_figure(base: str, groups: dict[str, dict[str, list[Run]]]) -> Figure:
    """Without BN and with BN side by side on one y-range, each framework's mean curve and band
    overlaid (each seed's curve with fewer than 5 seeds).

    Args:
        base: the experiment without BN, e.g. "lenetr".
        groups: per framework (primary first), finished runs per experiment; each must hold
            `base` and its BN twin.

    Returns:
        A two-panel figure, log x.
    """
    fig = Figure(figsize=(10.4, 4.4), layout="constrained")
    for ax, experiment in zip(fig.subplots(1, 2, sharey=True), (base, base + BN_SUFFIX)):
        curves = []
        for i, (framework, experiments) in enumerate(groups.items()):
            runs = experiments[experiment]
            curve = mean_curve(runs)
            curves.append(curve)
            seeds = f"{len(runs)} seed{'s' if len(runs) > 1 else ''}"
            label = f"{framework_name(framework)}, {seeds}"
            style = {"color": COLORS[i % len(COLORS)], "linestyle": LINESTYLES[i % 3]}
            draw_curve(ax, curve, curve.steps > 0, label, **style)
        ax.set_xscale("log")
        ax.set_title("with BN" if experiment != base else "without BN", fontsize=9)
        ax.set_xlabel("training iterations")
        ax.set_ylabel("test accuracy")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right", title=legend_title(curves), title_fontsize=7)
    names = " and ".join(framework_name(f) for f in groups)
    fig.suptitle(f"{network_title(base, base)}: {names}, test accuracy", fontsize=10)
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
