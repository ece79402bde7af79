"""Figures and summary rebuilt from a tiny hand-made results tree through the CLI entry point."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from bn_keras.common.atomic import write_json_atomic
from bn_keras.reporting.paper import figures, summary
from bn_keras.runs import reader
from bn_keras.runs.metrics_file import MetricsWriter

EVERY = 100
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PAIRS = ("mlp", "lenet", "lenetr", "ioffe_mlp")


def _write_run(results, experiment, seed, accuracies, finished=True):
    run_dir = results / f"{experiment}_seed{seed}"
    run_dir.mkdir(parents=True)
    config = {
        "model": "mlp" if experiment.startswith("ioffe") else experiment.removesuffix("_bn"),
        "bn": experiment.endswith("_bn"),
        "seed": seed,
        "train_steps": EVERY * (len(accuracies) - 1),
        "batch_size": 64,
        "learning_rate": 1.0,
        "lr_schedule": "epoch",
        "lr_decay": 0.7,
    }
    record = {"config": config, "machine": {"cpu_count": 2}, "versions": {"tensorflow": "2.21"}}
    write_json_atomic(run_dir / "config.json", record)
    writer = MetricsWriter(run_dir / "metrics.csv")
    for i, accuracy in enumerate(accuracies):
        row = {"step": i * EVERY, "epoch": 0.0, "learning_rate": 1.0, "train_loss": math.nan}
        writer.append(row | {"test_loss": 0.1, "test_accuracy": accuracy, "elapsed_s": 0.0})
    if finished:
        result = {"steps": config["train_steps"], "train_seconds": 4.0, "steps_per_second": 100.0}
        write_json_atomic(run_dir / "result.json", result)


# Per experiment and seed: test accuracy at steps 0, 100, 200, 300, 400.
CURVES = {
    False: [[0.10, 0.50, 0.90, 0.970, 0.975], [0.10, 0.60, 0.92, 0.972, 0.979]],
    True: [[0.10, 0.90, 0.98, 0.990, 0.991], [0.10, 0.94, 0.98, 0.988, 0.993]],
}


@pytest.fixture
def results(tmp_path):
    for base in PAIRS:
        for bn, curves in CURVES.items():
            for seed, curve in enumerate(curves):
                _write_run(tmp_path, base + ("_bn" if bn else ""), seed, curve)
    _write_run(tmp_path, "lenet_bn", 2, [0.1, 0.2], finished=False)
    (tmp_path / "logs").mkdir()
    return tmp_path


def _plot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bn_keras.plot", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_rebuilds_every_figure_and_the_summary_and_a_rebuild_rewrites_nothing(results):
    """The command writes every figure and the summary; plot only reads the runs, so a second
    rebuild from unchanged runs, in another process and given another --command, leaves every
    file as it was, byte for byte and untouched (matplotlib's clip-path ids would differ)."""
    # As the README and run_all.sh write it: the results directory first, then the flags.
    proc = _plot(str(results), "--command=./run_all.sh", "--total_wall_time=2h")
    assert proc.returncode == 0, proc.stderr
    stems = ["fig2_mlp", "fig3_lenet", "fig4_lenetr", "fig_ioffe_mlp", "overview", "zoom"]
    for stem in stems:
        assert (results / f"{stem}.png").read_bytes().startswith(PNG_SIGNATURE)
        assert ET.parse(results / f"{stem}.svg").getroot().tag.endswith("svg")
    assert "Command: `./run_all.sh`" in (results / "summary.md").read_text()
    assert (results / "summary.csv").is_file()
    assert not list(results.glob(".*.tmp"))
    assert "lenet: BN raises final accuracy: " in proc.stdout and "Holm p=" in proc.stdout
    assert "unfinished, left out: lenet_bn_seed2" in proc.stdout
    written = sorted(results.glob("*.*"))
    first = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in written}
    figures.rebuild(results, "python -m bn_keras.sweep --seeds=2", "6 s")
    assert first and first == {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in written}
    assert "- Command: `./run_all.sh`" in (results / "summary.md").read_text()


def test_cli_refuses_a_tree_without_runs(tmp_path):
    proc = _plot(str(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"bn_keras: error: no <experiment>_seed<N> run directories in {tmp_path}"
    ]
    # A missing directory fails the same way: an error bn_keras.plot reports in its one line.
    with pytest.raises(FileNotFoundError):
        figures.rebuild(tmp_path / "missing")


def _groups(results):
    return summary.group_by_experiment(
        [r for r in reader.load_runs(results) if r.finished]  # the unfinished seed stays out
    )


def test_lenet_figure_with_two_seeds_draws_the_seeds(results):
    fig = figures.pair_figure(_groups(results), "lenet")
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert len(lines) == 4 and not ax.collections  # two seeds per arm, no t-band
    without, _, with_bn, _ = lines
    assert to_rgba(without.get_color()) == to_rgba("black") and without.get_linestyle() == "-"
    assert to_rgba(with_bn.get_color()) == to_rgba("red") and with_bn.get_linestyle() == "--"
    # Each seed's own curve, from the first evaluation after step 0 (log x).
    np.testing.assert_array_equal(without.get_xdata(), [100, 200, 300, 400])
    np.testing.assert_allclose(with_bn.get_ydata(), CURVES[True][0][1:])
    assert ax.get_xscale() == "log"
    assert ax.get_title() == "LeNet-5, sigmoid: Adadelta lr 1.0, x0.7/epoch, batch 64, 2 seeds"
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["without BN", "with BN"]
    assert legend.get_title().get_text() == "one line per seed (fewer than 5 seeds)"


def test_five_seeds_draw_the_mean_and_a_band_that_says_when_it_is_clipped():
    # Five seeds 0.8-1.0 at step 100: mean 0.9, sem 0.0354, t(0.975, 4) x sem = 0.098: fits.
    # Then 0.95-1.0 at step 200: the band's top passes 1 and is clipped there.
    runs = [_run(i, {0: 0.1, 100: 0.8 + 0.05 * i, 200: 1.0 - (0.05 if i == 0 else 0)})
            for i in range(5)]  # fmt: skip
    curve = figures.mean_curve(runs)
    assert not curve.few and curve.clipped and curve.high.max() == 1.0
    unclipped = figures.mean_curve(
        [_run(i, {0: 0.1, 100: 0.5 + 0.01 * i, 200: 0.6 + 0.01 * i}) for i in range(5)]
    )
    assert not unclipped.clipped
    fig = Figure()
    ax = fig.add_subplot()
    figures.draw_pair(ax, curve, unclipped, "test")
    assert len(ax.get_lines()) == 2 and len(ax.collections) == 2
    title = ax.get_legend().get_title().get_text()
    assert title == "bands: 95% CI of the mean over seeds (t); clipped to [0, 1]"


def test_the_overview_compares_like_with_like(results):
    fig = figures.panels_figure(_groups(results), ["mlp", "lenet", "lenetr"])
    assert len({ax.get_ylim() for ax in fig.axes}) == 1  # one shared y-range
    zoom = figures.panels_figure(_groups(results), ["mlp", "lenet", "lenetr"], zoom=True)
    for ax in zoom.axes:  # each zoomed panel has its own range, and says how tall it is
        low, high = ax.get_ylim()
        (text,) = ax.texts
        assert text.get_text() == f"zoom: the y-axis spans {100 * (high - low):.1f} points"


def test_zoom_shows_the_top_percent_over_the_second_half(results):
    """The top 1% below the best mean (0.992), reaching lower to keep the final accuracy
    without BN (0.977) in view."""
    fig = figures.panels_figure(_groups(results), ["mlp", "lenet", "lenetr"], zoom=True)
    assert len(fig.axes) == 3
    ax = fig.axes[1]
    low, high = ax.get_ylim()
    assert low == pytest.approx(0.977 - 0.002) and 0.992 <= high < 0.994
    assert ax.get_xlim() == (200, 400) and ax.get_xscale() == "linear"
    assert list(ax.get_lines()[0].get_xdata()) == [200, 300, 400]
    assert ax.texts[0].get_text().startswith("zoom: the y-axis spans")


def _run(seed, accuracy_by_step):
    rows = [{"step": float(step), "test_accuracy": acc} for step, acc in accuracy_by_step.items()]
    return reader.Run("mlp", seed, Path(f"mlp_seed{seed}"), {}, rows, {})


def test_mean_curve_keeps_the_steps_every_seed_evaluated():
    curve = figures.mean_curve(
        [_run(0, {0: 0.1, 100: 0.5, 150: 0.7, 200: 0.9}), _run(1, {0: 0.1, 100: 0.7, 200: 0.95})]
    )
    np.testing.assert_array_equal(curve.steps, [0, 100, 200])
    np.testing.assert_allclose(curve.mean, [0.1, 0.6, 0.925])
    # Two seeds: mean -+ t(0.975, 1) 12.706 * sem, sem = |a - b| / 2 = 0, 0.1 and 0.025 here,
    # clipped to [0, 1].
    np.testing.assert_allclose(curve.low, [0.1, 0.0, 0.925 - 0.3176551], rtol=1e-6)
    np.testing.assert_allclose(curve.high, [0.1, 1.0, 1.0])


def test_the_band_stays_within_the_possible_accuracies():
    # 0.9 and 1.0: mean 0.95, half-width 12.706 * 0.05 = 0.635, clipped to [0.315, 1].
    curve = figures.mean_curve([_run(0, {100: 0.9}), _run(1, {100: 1.0})])
    np.testing.assert_allclose(curve.low, [0.95 - 0.6353103], rtol=1e-6)
    np.testing.assert_array_equal(curve.high, [1.0])


def test_schedules_figure_draws_each_schedule_in_its_style(tmp_path):
    for experiment in ("lenet_100k", "lenet_100k_bn", "lenet_100k_slow"):
        _write_run(tmp_path, experiment, 0, [0.1, 0.96, 0.97, 0.98, 0.985])
    slow = tmp_path / "lenet_100k_slow_seed0" / "config.json"
    record = json.loads(slow.read_text())
    record["config"] |= {"lr_schedule": "steps", "lr_decay_steps": 9380, "bn": False}
    write_json_atomic(slow, record)
    fig = figures.schedules_figure(_groups(tmp_path))
    lines = fig.axes[0].get_lines()
    styles = [(line.get_color(), line.get_linestyle(), line.get_label()) for line in lines]
    assert styles == [
        ("black", "-", "without BN, x0.7/epoch"),
        ("red", "-", "with BN, x0.7/epoch"),
        ("black", ":", "without BN, x0.7/9380 it"),
    ]
    assert figures.schedules_figure({}) is None


def test_only_a_tree_of_confirmatory_arms_by_dataset_is_read_as_the_confirmatory_grid(tmp_path):
    from bn_keras import plot as plot_command

    paper = tmp_path / "results"
    (paper / "mlp_seed0").mkdir(parents=True)
    (paper / "fashion_mnist" / "lenetr_seed0").mkdir(parents=True)
    assert not plot_command.is_confirm_tree(paper)
    assert not plot_command.is_confirm_tree(paper / "fashion_mnist")
    confirm = tmp_path / "confirm"
    (confirm / "mnist" / "lenetr_w0.25_adadelta1_bn_seed200").mkdir(parents=True)
    (confirm / "fashion_mnist" / "mlp_d10_relu_w1_adadelta1_seed201").mkdir(parents=True)
    assert plot_command.is_confirm_tree(confirm)
    (confirm / "fashion_mnist" / "lenetr_seed0").mkdir()
    assert not plot_command.is_confirm_tree(confirm)
