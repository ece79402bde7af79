"""The probes' figures and table, rebuilt from the run directories alone.

The command is `python -m bn_keras.probes.plot results/probes` (bn_keras/probes/plot.py).

For each network with runs without and with BN: Ioffe & Szegedy's percentile panels
(activations_<net>), the per-layer grid (activations_grid_<net>), Santurkar et al.'s landscape
bands (landscape_<net>) and the internal covariate shift per layer (ics_<net>); then summary.md
with the table and the answers to the probes' questions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bn_keras.config import networks
from bn_keras.reporting import rebuild as rebuild_lib
from bn_keras.reporting.curves import STYLES, network_title
from bn_keras.reporting.paper import summary as summary_lib
from bn_keras.reporting.probes import probe_table as table
from bn_keras.runs.metrics_file import read_metrics
from bn_keras.runs.reader import Run
from bn_keras.runs.run_dir import ACTIVATIONS_FILE, ICS_FILE, LANDSCAPE_FILE

QUANTILES = ("p15", "p50", "p85")


def columns(rows: list[dict]) -> dict[str, np.ndarray]:
    """Rows of a probe file as one array per column."""
    return {name: np.array([r[name] for r in rows]) for name in rows[0]} if rows else {}


def probed_units(activation_columns: dict) -> dict[str, list[str]]:
    """{layer: [unit, ...]} from column names `<layer>:<unit>:p<q>`, in file order."""
    units: dict[str, list[str]] = {}
    for name in activation_columns:
        if name.count(":") == 2:
            layer, unit, _ = name.split(":")
            if unit not in units.setdefault(layer, []):
                units[layer].append(unit)
    return units


def typical_unit(units: list[str]) -> str:
    """The middle one of the evenly spaced probed units: chosen before looking at the data."""
    return units[len(units) // 2]


def _bn_runs(pair: tuple[Run, Run]):
    return zip((False, True), pair)


def _title(run: Run) -> str:
    network = network_title(run.record.get("config", {}).get("model"), run.experiment)
    return f"{network}, seed {run.seed}"


def activations_figure(pair: tuple[Run, Run]) -> Figure:
    """Ioffe & Szegedy's Fig. 1(b, c): one unit of the last hidden layer, without and with BN."""
    fig = Figure(figsize=(9.6, 3.8), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for (bn, run), ax in zip(_bn_runs(pair), axes):
        data = columns(read_metrics(run.run_dir / ACTIVATIONS_FILE))
        units = probed_units(data)
        layer = list(units)[-1]
        unit = typical_unit(units[layer])
        for q, style in zip(QUANTILES, (":", "-", ":")):
            ax.plot(data["step"], data[f"{layer}:{unit}:{q}"], style, color=STYLES[bn]["color"],
                    label=f"{q[1:]}th percentile")  # fmt: skip
        ax.set_title(f"{'with' if bn else 'without'} BN: {layer} unit {unit}", fontsize=9)
        ax.set_xlabel("training iterations")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("input to the activation")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{_title(pair[0])}: activation input percentiles (test batch)", fontsize=10)
    return fig


def activations_grid(pair: tuple[Run, Run]) -> Figure:
    """Every probed unit of every probed layer: median line, 15th-85th percentile band."""
    data = [columns(read_metrics(run.run_dir / ACTIVATIONS_FILE)) for run in pair]
    layers = list(probed_units(data[0]))
    fig = Figure(figsize=(9.6, 2.2 * len(layers) + 0.6), layout="constrained")
    axes = fig.subplots(len(layers), 2, squeeze=False)
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:cyan"]
    for col, (bn, values) in enumerate(zip((False, True), data)):
        units = probed_units(values)
        for row, layer in enumerate(layers):
            ax = axes[row][col]
            for color, unit in zip(colors * 4, units.get(layer, [])):
                key = f"{layer}:{unit}"
                ax.plot(values["step"], values[f"{key}:p50"], color=color, linewidth=1)
                ax.fill_between(values["step"], values[f"{key}:p15"], values[f"{key}:p85"],
                                color=color, alpha=0.15, linewidth=0)  # fmt: skip
            ax.set_title(f"{layer}, {'with' if bn else 'without'} BN", fontsize=8)
            ax.grid(True, alpha=0.3)
            ax.tick_params(labelsize=7)
        axes[-1][col].set_xlabel("training iterations")
    fig.suptitle(
        f"{_title(pair[0])}: input to the activation, median and 15th-85th percentiles per unit",
        fontsize=10,
    )
    return fig


def _band(ax: Axes, steps, low, high, bn: bool, label: str) -> None:
    style = STYLES[bn]
    ax.fill_between(steps, low, high, color=style["color"], alpha=0.25, linewidth=0)
    ax.plot(steps, low, color=style["color"], linewidth=0.6)
    ax.plot(steps, high, color=style["color"], linewidth=0.6, label=label)


def landscape_figure(pair: tuple[Run, Run]) -> Figure:
    """Santurkar et al.'s Fig. 4: loss landscape, gradient predictiveness, beta-smoothness."""
    fig = Figure(figsize=(12.8, 3.8), layout="constrained")
    loss_ax, grad_ax, beta_ax = fig.subplots(1, 3)
    for bn, run in _bn_runs(pair):
        data = columns(read_metrics(run.run_dir / LANDSCAPE_FILE))
        steps, label = data["step"], STYLES[bn]["label"]
        _band(loss_ax, steps, data["loss_min"], data["loss_max"], bn, label)
        _band(grad_ax, steps, data["grad_diff_min"], data["grad_diff_max"], bn, label)
        beta_ax.plot(steps, data["beta_smoothness"], color=STYLES[bn]["color"],
                     linestyle=STYLES[bn]["linestyle"], label=label)  # fmt: skip
    titles = (
        "(a) loss landscape: L(W - eta g) over eta",
        "(b) gradient predictiveness: |grad L(W - eta g) - g|",
        "(c) effective beta-smoothness",
    )
    for ax, title in zip((loss_ax, grad_ax, beta_ax), titles):
        ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("training iterations")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    span = pair[0].record.get("config", {}).get("landscape_span", "span")
    fig.suptitle(
        f"{_title(pair[0])}: eta from eta_eff/{span:g} to {span:g} eta_eff, "
        "eta_eff = |Adadelta step| / |g|",
        fontsize=10,
    )
    return fig


def ics_figure(pair: tuple[Run, Run]) -> Figure:
    """Santurkar et al.'s Fig. 3: |G - G'| and cos(G, G') per layer, without and with BN."""
    data = [columns(read_metrics(run.run_dir / ICS_FILE)) for run in pair]
    layers = [name.split(":")[0] for name in data[0] if name.endswith(":ics_l2")]
    fig = Figure(figsize=(2.8 * len(layers), 4.8), layout="constrained")
    axes = fig.subplots(2, len(layers), squeeze=False)
    for bn, values in zip((False, True), data):
        for col, layer in enumerate(layers):
            for row, what in enumerate(("ics_l2", "ics_cos")):
                axes[row][col].plot(values["step"], values[f"{layer}:{what}"],
                                    color=STYLES[bn]["color"], linestyle=STYLES[bn]["linestyle"],
                                    linewidth=1, label=STYLES[bn]["label"])  # fmt: skip
    for col, layer in enumerate(layers):
        axes[0][col].set_title(f"{layer}: |G - G'|", fontsize=9)
        axes[1][col].set_title(f"{layer}: cos(G, G')", fontsize=9)
        axes[1][col].set_xlabel("training iterations")
        for row in (0, 1):
            axes[row][col].grid(True, alpha=0.3)
            axes[row][col].tick_params(labelsize=7)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{_title(pair[0])}: internal covariate shift (Santurkar et al. Def. 2.1)",
                 fontsize=10)  # fmt: skip
    return fig


def is_probed(run: Run) -> bool:
    """The run finished and holds every probe file."""
    files = (ACTIVATIONS_FILE, LANDSCAPE_FILE, ICS_FILE)
    return run.result is not None and all((run.run_dir / f).is_file() for f in files)


def probe_pairs(results_dir: Path) -> dict[str, list[tuple[Run, Run]]]:
    """{network: [(run without BN, run with BN) per seed both have]}, by seed, of the probed
    runs of `results_dir`.

    Raises:
        FileNotFoundError: `results_dir` holds no run directory.
    """
    runs = rebuild_lib.read_runs(results_dir)
    by_experiment = summary_lib.group_by_experiment([run for run in runs if is_probed(run)])
    pairs = {}
    for base in networks.NETWORKS:
        with_bn = {r.seed: r for r in by_experiment.get(base + summary_lib.BN_SUFFIX, [])}
        matched = [(r, with_bn[r.seed]) for r in by_experiment.get(base, []) if r.seed in with_bn]
        if matched:
            pairs[base] = matched
    return pairs


def rebuild(
    results_dir: Path, command: str | None = None, total_wall_time: str | None = None
) -> list[Path]:
    """Draws every figure and writes summary.md into `results_dir`; returns the paths.

    Raises:
        FileNotFoundError: no run directory, or no network has probed runs both without and
            with BN.
    """
    results_dir = Path(results_dir)
    pairs = probe_pairs(results_dir)
    if not pairs:
        raise FileNotFoundError(f"no pair of probed runs (without and with BN) in {results_dir}")
    paths = rebuild_lib.write_figures(results_dir, probe_figures(pairs))
    return [*paths, table.write_summary(pairs, results_dir, command, total_wall_time)]


def probe_figures(pairs: dict[str, list[tuple[Run, Run]]]) -> Iterator[tuple[str, Figure]]:
    """Each network's four figures with their file stems, of its lowest seed (the table takes
    them all), drawn one at a time."""
    for base, seeds in pairs.items():
        pair = seeds[0]
        yield f"activations_{base}", activations_figure(pair)
        yield f"activations_grid_{base}", activations_grid(pair)
        yield f"landscape_{base}", landscape_figure(pair)
        yield f"ics_{base}", ics_figure(pair)
