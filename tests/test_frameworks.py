"""Keras and PyTorch runs side by side: grouping by framework, agreement table, verdicts, figure."""

from __future__ import annotations

import csv

import pytest

from bn_keras import plot
from bn_keras.common.atomic import write_json_atomic
from bn_keras.reporting import curves
from bn_keras.reporting.paper import claims, framework_figures, summary, summary_files
from bn_keras.runs import reader
from bn_keras.runs.metrics_file import MetricsWriter

EVERY = 100


def _write_run(root, experiment, seed, accuracies, framework=None):
    run_dir = root / f"{experiment}_seed{seed}"
    run_dir.mkdir(parents=True)
    config = {"model": experiment.removesuffix("_bn"), "bn": experiment.endswith("_bn")}
    config |= {"seed": seed, "train_steps": EVERY * (len(accuracies) - 1), "batch_size": 64}
    if framework:
        config["framework"] = framework
    write_json_atomic(run_dir / "config.json", {"config": config, "versions": {}})
    writer = MetricsWriter(run_dir / "metrics.csv")
    for i, accuracy in enumerate(accuracies):
        row = {"step": i * EVERY, "epoch": 0.0, "learning_rate": 1.0, "train_loss": 0.1}
        writer.append(row | {"test_loss": 0.1, "test_accuracy": accuracy, "elapsed_s": float(i)})
    result = {"steps": config["train_steps"], "train_seconds": 1.0, "steps_per_second": 100.0}
    write_json_atomic(run_dir / "result.json", result)


# Final accuracies per seed; lenetr agrees across frameworks, mlp_bn differs by 0.006.
KERAS = {
    "lenetr": [0.9920, 0.9922, 0.9918, 0.9921],
    "lenetr_bn": [0.9926, 0.9927, 0.9925, 0.9928],
    "mlp": [0.9700, 0.9705, 0.9710, 0.9695],
    "mlp_bn": [0.9770, 0.9775, 0.9772, 0.9768],
}
PYTORCH = {
    "lenetr": [0.9921, 0.9919, 0.9920, 0.9922],
    "lenetr_bn": [0.9925, 0.9928, 0.9926, 0.9927],
    "mlp": [0.9702, 0.9706, 0.9698, 0.9704],
    "mlp_bn": [0.9830, 0.9835, 0.9832, 0.9828],
}


@pytest.fixture
def results(tmp_path):
    for finals, root, framework in (
        (KERAS, tmp_path, None),
        (PYTORCH, tmp_path / "pytorch", "pytorch"),
    ):
        for experiment, values in finals.items():
            for seed, final in enumerate(values):
                reach = 0.98 if experiment.startswith("lenetr") else 0.96
                _write_run(root, experiment, seed, [0.1, reach, final], framework)
    return tmp_path


def test_runs_are_grouped_by_framework(results):
    runs = reader.load_runs(results)
    assert {r.framework for r in runs} == {"keras", "pytorch"}
    result = summary.summarize(runs)
    assert result.framework == "keras" and list(result.twins) == ["pytorch"]
    assert {r.framework for r in result.finished} == {"keras"}  # tables and paper figures
    twin = result.twins["pytorch"]
    assert twin.experiments["mlp_bn"].final.mean == pytest.approx(0.983125)
    assert [(v.pair, v.claim) for v in twin.verdicts] == [
        ("mlp", claims.SPEEDS_UP),
        ("mlp", claims.RAISES),
        ("lenetr", claims.NO_DIFFERENCE),
    ]
    assert {v.pair: v.outcome for v in twin.verdicts if v.claim != claims.SPEEDS_UP} == {
        "mlp": claims.REPRODUCED,
        "lenetr": claims.REPRODUCED,
    }


def test_agreement_is_keras_minus_pytorch_with_tost(results):
    result = summary.summarize(reader.load_runs(results))
    rows = {a.experiment: a for a in result.agreement["pytorch"]}
    assert list(rows) == ["mlp", "mlp_bn", "lenetr", "lenetr_bn"]
    assert rows["mlp_bn"].effect.interval.effect == pytest.approx(0.977125 - 0.983125)
    words = {e: claims.AGREEMENT_WORDS[a.verdict.outcome] for e, a in rows.items()}
    assert words == {
        "mlp": "EQUIVALENT",
        "mlp_bn": "DIFFERENT",
        "lenetr": "EQUIVALENT",
        "lenetr_bn": "EQUIVALENT",
    }


def test_summary_files_show_the_twin(results):
    plot.rebuild(results)
    md = (results / "summary.md").read_text()
    assert "## Keras and PyTorch side by side" in md
    assert "| mlp_bn | 4 / 4 | -0.0060 |" in md and "**DIFFERENT**" in md
    assert "### Each framework alone (secondary, unadjusted)" in md
    assert "| mlp | BN raises final accuracy | PyTorch | +0.0129 |" in md
    rows = list(csv.DictReader((results / "summary.csv").open()))
    twin = {r["experiment"]: r for r in rows if r["framework"] == "pytorch"}
    assert twin["mlp_bn"]["vs_primary_agreement"] == "DIFFERENT"
    assert float(twin["mlp_bn"]["vs_primary_effect"]) == pytest.approx(-0.006)
    assert twin["lenetr_bn"]["no_difference_verdict"] == claims.REPRODUCED
    assert (results / "frameworks_lenetr.png").is_file()


def test_one_finding_per_claim_from_both_frameworks(results):
    """The pooled effect and the interaction against a hand computation from the seeds."""
    result = summary.summarize(reader.load_runs(results))
    verdicts = {(v.pair, v.claim): v for v in result.verdicts}
    raises = verdicts["mlp", claims.RAISES]
    # Keras: 0.977125 - 0.97025 = 0.006875; PyTorch: 0.983125 - 0.97025 = 0.012875.
    assert raises.effect.interval.effect == pytest.approx((0.006875 + 0.012875) / 2)
    assert raises.effect.n == (4, 4, 4, 4) and raises.outcome == claims.REPRODUCED
    assert raises.interaction.interval.effect == pytest.approx(0.006875 - 0.012875)
    # The frameworks' BN effects differ, well beyond the margin: said in the same words.
    assert claims.finding(raises.interaction, directed=False).startswith(
        "a real effect beyond the margin"
    )
    alone = dict(raises.alone)
    assert alone["keras"].effect.interval.effect == pytest.approx(0.006875)
    assert alone["pytorch"].effect.interval.effect == pytest.approx(0.012875)
    assert alone["keras"].p_adjusted is None and raises.p_adjusted is not None
    assert [(v.pair, v.claim) for v in result.verdicts] == [
        ("mlp", claims.SPEEDS_UP),
        ("mlp", claims.RAISES),
        ("lenetr", claims.NO_DIFFERENCE),
    ]


def test_framework_figure_overlays_both_frameworks(results):
    result = summary.summarize(reader.load_runs(results))
    figures = dict(framework_figures.framework_figures(result))
    assert list(figures) == ["frameworks_mlp", "frameworks_lenetr"]
    fig = figures["frameworks_lenetr"]
    without, with_bn = fig.axes
    # Four seeds per arm, fewer than five: each seed drawn, one legend entry per framework.
    labelled = [ln.get_label() for ln in with_bn.get_lines() if not ln.get_label().startswith("_")]
    assert labelled == ["Keras, 4 seeds", "PyTorch, 4 seeds"]
    assert len(with_bn.get_lines()) == 8 and not with_bn.collections  # no t-band
    assert with_bn.get_legend().get_title().get_text() == curves.SEEDS_TEXT
    assert (without.get_title(), with_bn.get_title()) == ("without BN", "with BN")
    assert fig.get_suptitle() == "LeNet-5, ReLU: Keras and PyTorch, test accuracy"
    assert without.get_ylim() == with_bn.get_ylim()  # one y-range for both panels


def test_without_twin_runs_one_line_and_no_figure(tmp_path):
    for experiment, values in KERAS.items():
        for seed, final in enumerate(values):
            _write_run(tmp_path, experiment, seed, [0.1, 0.96, final])
    result = summary.summarize(reader.load_runs(tmp_path))
    # No framework figure among those plot.rebuild draws (test_summary_files_show_the_twin: it
    # draws and writes them where there are twin runs).
    assert result.twins == {} and list(framework_figures.framework_figures(result)) == []
    summary_files.write_summary(result, tmp_path)
    assert (
        "No PyTorch twin runs (results/pytorch/): Keras only."
        in (tmp_path / "summary.md").read_text()
    )
