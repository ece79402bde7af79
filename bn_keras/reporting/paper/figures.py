"""Figures 2-4 of the paper and the summary, rebuilt from the run directories alone.

The command is `python -m bn_keras.plot results/` (bn_keras/plot.py).

Figures use matplotlib's object API (`Figure`, no pyplot), which renders PNG with Agg and SVG with
the SVG backend whatever the session's default backend is: nothing needs a display.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bn_keras.config import networks
from bn_keras.reporting import rebuild as rebuild_lib
from bn_keras.reporting.curves import (
    STYLES,
    Curve,
    draw_curve,
    legend_title,
    mean_curve,
    network_title,
)
from bn_keras.reporting.paper import paper_checks, summary_files
from bn_keras.reporting.paper import summary as summary_lib
from bn_keras.reporting.paper.framework_figures import framework_figures
from bn_keras.runs.reader import Run

PAPER_FIGURES = {n.name: n.figure for n in networks.paper()}
ZOOM_DEPTH = 0.01  # the zoomed panels show this much accuracy below the best mean


def schedule_text(config: dict) -> str:
    """The learning-rate schedule in a few words, e.g. "x0.7/epoch"."""
    return {
        "epoch": f"x{config.get('lr_decay', 0):g}/epoch",
        "steps": f"x{config.get('lr_decay', 0):g}/{config.get('lr_decay_steps')} it",
        "constant": "constant lr",
    }.get(config.get("lr_schedule"), str(config.get("lr_schedule")))


def recipe_text(config: dict) -> str:
    """The training recipe in a few words, e.g. "Adadelta lr 1.0, x0.7/epoch, batch 64"."""
    lr, batch = config.get("learning_rate"), config.get("batch_size")
    return f"Adadelta lr {lr}, {schedule_text(config)}, batch {batch}"


def pair_title(base_runs: list[Run], bn_runs: list[Run]) -> str:
    """Network, recipe and seed count, e.g. "LeNet-5, sigmoid: Adadelta ..., 3 seeds"."""
    config = base_runs[0].record.get("config", {})
    network = network_title(config.get("model"), base_runs[0].experiment)
    counts = {len(base_runs), len(bn_runs)}
    seeds = f"{len(base_runs)}" if len(counts) == 1 else f"{len(base_runs)}/{len(bn_runs)}"
    return f"{network}: {recipe_text(config)}, {seeds} seed{'s' if max(counts) > 1 else ''}"


def draw_pair(ax: Axes, base: Curve, bn: Curve, title: str, zoom: bool = False) -> None:
    """Draws both experiments on `ax`: mean curves with their 95% CI bands, or with fewer than
    FEW_SEEDS seeds each seed's curve.

    Args:
        ax: the axes to draw on.
        base: the experiment without BN.
        bn: its BN twin.
        title: the panel title.
        zoom: linear x over the second half of training and y over the top ZOOM_DEPTH of
            accuracy (more if a final accuracy lies lower); otherwise log x from the first
            evaluation after step 0.
    """
    last = max(base.steps.max(), bn.steps.max())
    for is_bn, curve in ((False, base), (True, bn)):
        keep = curve.steps >= last / 2 if zoom else curve.steps > 0
        style = dict(STYLES[is_bn])
        draw_curve(ax, curve, keep, style.pop("label"), **style)
    if zoom:
        best = max(base.mean.max(), bn.mean.max())
        # Lower still when a final accuracy lies further down, so that both curves stay in view.
        low = min(best - ZOOM_DEPTH, base.mean[-1] - ZOOM_DEPTH / 5, bn.mean[-1] - ZOOM_DEPTH / 5)
        high = best + ZOOM_DEPTH / 10
        ax.set_ylim(low, high)
        ax.set_xlim(last / 2, last)
        # Each zoomed panel has its own y-range: say how tall it is, so that panels compare.
        ax.text(0.02, 0.97, f"zoom: the y-axis spans {100 * (high - low):.1f} points",
                transform=ax.transAxes, fontsize=7, va="top")  # fmt: skip
    else:
        ax.set_xscale("log")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("training iterations")
    ax.set_ylabel("test accuracy")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", title=legend_title([base, bn]), title_fontsize=7)


def pair_figure(groups: dict[str, list[Run]], base: str) -> Figure:
    """The paper's figure for `base` against `base`_bn: test accuracy over iterations.

    Args:
        groups: finished runs per experiment; must hold `base` and its BN twin.
        base: the experiment without BN, e.g. "lenet".

    Returns:
        A one-panel figure.
    """
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    _draw(fig.add_subplot(), groups, base, zoom=False)
    return fig


def panels_figure(groups: dict[str, list[Run]], bases: list[str], zoom: bool = False) -> Figure:
    """Several pairs side by side: the overview on one shared y-range, so that the panels'
    gaps compare; or their zoom on the end of training, each panel stating its y-range."""
    fig = Figure(figsize=(5.2 * len(bases), 4.4), layout="constrained")
    axes = fig.subplots(1, len(bases), squeeze=False, sharey=not zoom)[0]
    for ax, base in zip(axes, bases):
        _draw(ax, groups, base, zoom)
    return fig


def _draw(ax: Axes, groups: dict[str, list[Run]], base: str, zoom: bool) -> None:
    base_runs, bn_runs = groups[base], groups[base + summary_lib.BN_SUFFIX]
    title = pair_title(base_runs, bn_runs)
    draw_pair(ax, mean_curve(base_runs), mean_curve(bn_runs), title, zoom)


def schedules_figure(groups: dict[str, list[Run]]) -> Figure | None:
    """Figure 3's notes: sigmoid LeNet for 100K iterations under both learning-rate schedules.

    Black without BN, red with BN (the paper's colours); solid for x0.7 per epoch, dotted for
    the slower schedule. None when none of those experiments has finished runs.
    """
    present = [e for e in paper_checks.ITERATION_EXPERIMENTS if groups.get(e)]
    if not present:
        return None
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.add_subplot()
    for experiment in present:
        runs = groups[experiment]
        config = runs[0].record.get("config", {})
        curve = mean_curve(runs)
        keep = curve.steps > 0
        style = STYLES[config.get("bn", experiment.endswith(summary_lib.BN_SUFFIX))]
        label = f"{style['label']}, {schedule_text(config)}"
        linestyle = "-" if config.get("lr_schedule") == "epoch" else ":"
        ax.plot(curve.steps[keep], curve.mean[keep], color=style["color"], linestyle=linestyle,
                linewidth=1.5, label=label)  # fmt: skip
    ax.set_xscale("log")
    ax.set_ylim(0.95, 1.0)
    ax.set_title("LeNet-5, sigmoid, 100K iterations: x0.7 per epoch vs per 10 epochs", fontsize=9)
    ax.set_xlabel("training iterations")
    ax.set_ylabel("test accuracy")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def rebuild(
    results_dir: Path, command: str | None = None, total_wall_time: str | None = None
) -> tuple[summary_lib.Summary, list[Path]]:
    """Rebuilds summary.md, summary.csv and every figure from the run directories.

    Args:
        results_dir: the results tree of a sweep.
        command: the command that produced the results, for the summary's provenance header.
        total_wall_time: the sweep's wall time as free text, for the same header.

    Returns:
        The summary and the paths written.

    Raises:
        FileNotFoundError: `results_dir` holds no run directory.
    """
    results_dir = Path(results_dir)
    summary = summary_lib.summarize(rebuild_lib.read_runs(results_dir))
    paths = list(summary_files.write_summary(summary, results_dir, command, total_wall_time))
    return summary, paths + rebuild_lib.write_figures(results_dir, paper_figures(summary))


def paper_figures(summary: summary_lib.Summary) -> Iterator[tuple[str, Figure]]:
    """Every figure of the summary with its file stem, drawn one at a time: each pair's, the
    schedules', the overview and its zoom, and the frameworks' overlays."""
    groups = summary_lib.group_by_experiment(summary.finished)
    bases = [pair.name for pair in summary.pairs]
    for base in bases:
        yield PAPER_FIGURES.get(base, f"fig_{base}"), pair_figure(groups, base)
    schedules = schedules_figure(groups)
    if schedules is not None:
        yield "fig3_schedules", schedules
    paper = [base for base in PAPER_FIGURES if base in bases]
    if paper:
        yield "overview", panels_figure(groups, paper)
        yield "zoom", panels_figure(groups, paper, zoom=True)
    yield from framework_figures(summary)
