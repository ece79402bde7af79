"""The explanation grid's verdicts on constructed levels with known slopes (each outcome
reachable), and the grid's report built from a hand-made results directory through
bn_keras.plot's entry point."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from bn_keras import plot
from bn_keras.experiments import grid
from bn_keras.reporting.why import trend, why
from bn_keras.reporting.why import why_verdicts as rules
from bn_keras.runs import reader
from bn_keras.runs.metrics_file import FIELDS

S, N, U = rules.SUPPORTED, rules.NOT_SUPPORTED, rules.UNDECIDED
WIDTHS = grid.WIDTHS
SPREAD = (-0.0005, 0.0, 0.0005)  # symmetric: each arm's mean is its centre exactly


def _level(x, without, with_bn, spread=SPREAD, **failures) -> trend.Level:
    return trend.Level(
        x, tuple(without + d for d in spread), tuple(with_bn + d for d in spread), **failures
    )


def _widths(slope, base_effect=0.001, spread=SPREAD):
    """BN's effect base_effect + slope x log2(width) at each width."""
    return [_level(w, 0.98, 0.98 + base_effect + slope * math.log2(w), spread) for w in WIDTHS]


def test_capacity_reaches_each_outcome():
    grows = rules.growth("ReLU", _widths(-0.004), "log2", -1)
    assert grows.outcome == S and grows.fitted.slope == pytest.approx(-0.004)
    assert grows.end.x == 0.25 and grows.end.effect.low > 0
    flat = rules.growth("ReLU", _widths(0.0), "log2", -1)
    assert flat.outcome == N and flat.fitted.low > -rules.MARGIN
    wrong_sign = rules.growth("ReLU", _widths(+0.003), "log2", -1)
    assert wrong_sign.outcome == N and wrong_sign.fitted.low > 0
    noisy = rules.growth("ReLU", _widths(-0.002, spread=(-0.02, 0.0, 0.02)), "log2", -1)
    assert noisy.outcome == U and noisy.fitted.low < -rules.MARGIN < 0 < noisy.fitted.high
    # A slope that is real but leaves the effect at width 0.25 at zero supports nothing.
    shrinking_harm = rules.growth("ReLU", _widths(-0.002, base_effect=-0.004), "log2", -1)
    assert shrinking_harm.fitted.high < 0 and shrinking_harm.end.effect.low < 0
    assert shrinking_harm.outcome == U


def test_the_smallest_slope_that_matters_is_the_margin_per_grid_step():
    assert rules.relevant_slope(WIDTHS, "log2") == pytest.approx(rules.MARGIN)
    assert rules.relevant_slope(grid.DEPTHS, "linear") == pytest.approx(rules.MARGIN * 2 / 7)
    # A slope inside delta: SUPPORTED when its interval excludes 0 and the effect at width 0.25
    # is above 0 (saying it is smaller than delta); NOT SUPPORTED when that effect is below 0.
    small = rules.growth("R", _widths(-0.0015, spread=(0, 1e-5, 2e-5)), "log2", -1)
    assert small.outcome == S and "; smaller than delta" in small.reason
    barely = rules.growth("R", _widths(-0.0015, base_effect=-0.01), "log2", -1)
    assert barely.fitted.low > -rules.MARGIN and barely.outcome == N


def test_rescue_at_the_deep_end_supports_and_failure_of_bn_there_does_not():
    depths = [_level(d, 0.97, 0.975) for d in grid.DEPTHS[:-1]]
    rescued = [*depths, trend.Level(10, (), (0.96, 0.961, 0.962), at_chance=(3, 0))]
    reading = rules.growth("sigmoid", rescued, "linear", +1)
    assert reading.outcome == S and "3/3 runs without BN failed" in reading.reason
    hurt = [*depths, trend.Level(10, (0.96, 0.961, 0.962), (), diverged=(0, 3))]
    assert rules.growth("sigmoid", hurt, "linear", +1).outcome == N
    # Failing at both ends is no growth: the trend decides (here from two levels, no slope).
    both = [trend.Level(3, (), (0.9, 0.91), at_chance=(2, 0)), *rescued[1:]]
    assert rules.growth("sigmoid", both, "linear", +1).outcome == U


def test_optimization_is_supported_by_either_mlp_and_refuted_only_by_both():
    grows = [_level(d, 0.97, 0.97 + 0.001 * d) for d in grid.DEPTHS]
    flat = [_level(d, 0.97, 0.971) for d in grid.DEPTHS]
    g, f = (rules.growth(label, lv, "linear", +1) for label, lv in (("g", grows), ("f", flat)))
    assert (g.outcome, f.outcome) == (S, N)
    assert rules.optimization_verdict([f, g]).outcome == S
    assert rules.optimization_verdict([f, f]).outcome == N
    undecided = dataclasses.replace(f, outcome=U)
    assert rules.optimization_verdict([f, undecided]).outcome == U


def _adadelta(effect_at_1, spread_at_1=SPREAD, lr10_rescued=True):
    levels = [_level(x, 0.99, 0.99) for x in (0.1, 0.3, 3.0)]
    levels.append(_level(1.0, 0.99, 0.99 + effect_at_1, spread_at_1))
    if lr10_rescued:
        levels.append(trend.Level(10.0, (), (0.985, 0.986, 0.987), at_chance=(3, 0)))
    else:
        levels.append(_level(10.0, 0.99, 0.99))
    return sorted(levels, key=lambda lv: lv.x)


def test_step_size_reaches_each_outcome():
    def verdict(levels):
        return rules.step_size_verdict(levels, rules.rate_range("Adadelta", levels, 0.98))

    supported = verdict(_adadelta(0.0))
    assert supported.outcome == S and "beyond the margin at lr 10" in supported.reason
    assert "(2.00 decades): BN widens it by +0.52 decades" in supported.reason
    assert verdict(_adadelta(0.004)).outcome == N  # BN helps at the recipe itself
    nothing = verdict(_adadelta(0.0, lr10_rescued=False))
    assert nothing.outcome == N and "adds nothing at any rate" in nothing.reason
    wide = verdict(_adadelta(0.0, spread_at_1=(-0.01, 0.0, 0.01)))
    assert wide.outcome == U and "TOST p" in wide.reason


def test_rate_ranges_say_how_bn_changes_them():
    def word(without, with_bn):
        return rules.RateRange("SGD", tuple(without), tuple(with_bn)).word

    assert word([0.01, 0.1], [0.01, 0.1, 1.0]) == "widens"
    assert word([0.01, 0.1], [0.1]) == "narrows"
    assert word([0.1], [0.1]) == "the same"
    assert word([0.01, 0.1], [0.1, 1.0]) == "differs"
    text = rules.RateRange("SGD", (0.01, 0.1), (0.01, 0.1, 1.0)).text()
    assert text == (
        "SGD: without BN 0.01, 0.1 (1.00 decades), with BN 0.01, 0.1, 1 (2.00 decades): "
        "BN widens it by +1.00 decades"
    )
    assert (
        rules.RateRange("SGD", (), (0.1,))
        .text()
        .endswith("without BN none, with BN 0.1 (0.00 decades): BN widens it")
    )
    assert rules.RateRange("SGD", (0.1,), (0.1,)).text().endswith(": BN leaves it the same")


# The hand-made grid: each arm's final accuracy from its fields, three seeds around it.
def _accuracy(arm: grid.Arm) -> float:
    """ReLU LeNet: BN's effect 0.001 - 0.004 log2(width); the sigmoid MLP at 10 layers without
    BN, Adadelta at lr 10 and SGD at lr >= 1 without BN, and SGD at 10 with BN: at chance."""
    if arm.model == "mlp":
        failed = arm.activation == "sigmoid" and arm.mlp_depth == 10 and not arm.bn
        return 0.1135 if failed else 0.975 + 0.002 * arm.bn
    if arm.optimizer == "sgd":
        failed = arm.learning_rate >= (10 if arm.bn else 1)
        return 0.1135 if failed else 0.985
    if arm.learning_rate == 10 and not arm.bn:
        return 0.1135
    if arm.model == "lenet":
        return 0.97 + 0.01 * arm.bn
    return 0.99 + arm.bn * (0.001 - 0.004 * math.log2(arm.width))


def _write_run(results: Path, arm: grid.Arm, seed: int, accuracy: float, finished: bool = True):
    """A run directory as the trainer leaves it (plain writes: a hundred runs, no fsync each)."""
    run_dir = results / f"{arm.name}_seed{seed}"
    run_dir.mkdir(parents=True)
    record = {
        "config": {"model": arm.model, "bn": arm.bn, "seed": seed, "train_steps": 10_000},
        "machine": {"cpu_count": 2},
        "versions": {"git_commit": "abc1234"},
        "started": f"2026-11-30T21:{seed:02d}:00+00:00",
    }
    (run_dir / "config.json").write_text(json.dumps(record))
    rows = [f"{step},0,1,0.1,0.1,{acc:.6g},0" for step, acc in ((0, 0.1), (10_000, accuracy))]
    (run_dir / "metrics.csv").write_text("\n".join([",".join(FIELDS), *rows, ""]))
    if finished:
        result = {"steps": 10_000, "train_seconds": 60.0}
        (run_dir / "result.json").write_text(json.dumps(result))


SEEDS = (-0.0001, 0.0001)  # two seeds per arm, symmetric around the arm's accuracy
COMMAND = "python -m bn_keras.sweep --why"


@pytest.fixture(scope="module")
def grid_results(tmp_path_factory):
    """The hand-made grid's results, and what bn_keras.plot printed for them."""
    results = tmp_path_factory.mktemp("grid") / "why"
    for arm in grid.arms(list(grid.EXPERIMENTS)):
        for seed, offset in enumerate(SEEDS):
            _write_run(results, arm, seed, _accuracy(arm) + offset * (_accuracy(arm) > 0.2))
    _write_run(results, grid.Arm("lenetr", True), 3, 0.5, finished=False)
    (results / "sweep.log").write_text("sweep: 104 runs finished, 0 failed, 2:10:00 wall time\n")
    (results / "logs").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        printed = []
        patch.setattr("builtins.print", lambda *args, **_: printed.append(" ".join(args)))
        plot.rebuild_tree(results, COMMAND, "2h 10m")
    return results, printed


def test_plot_recognizes_the_grid(grid_results, tmp_path):
    assert plot.is_grid(grid_results[0])
    (tmp_path / "paper" / "lenet_seed0").mkdir(parents=True)
    assert not plot.is_grid(tmp_path / "paper") and not plot.is_grid(tmp_path / "empty")


def test_plot_prints_the_verdicts(grid_results):
    results, out = grid_results
    assert out[0] == f"wrote 8 files into {results}"  # with reread.md, by the confirmatory rule
    reread = (results / "reread.md").read_text()
    assert reread.startswith("# The explanation grid re-read by the confirmatory rule")
    assert "| mnist | capacity (m = 0.002) |" in reread
    assert out[1].startswith(f"{rules.CAPACITY}: **SUPPORTED**: ReLU LeNet-5: the effect grows")
    assert "; beside it, LeNet-5 (sigmoid): NOT SUPPORTED: the slope's interval" in out[1]
    assert out[2].startswith(f"{rules.OPTIMIZATION}: **SUPPORTED**")
    assert "MLP (sigmoid): BN rescues training at 10: 2/2 runs without BN failed" in out[2]
    assert out[3].startswith(f"{rules.STEP_SIZE}: **SUPPORTED**")
    assert out[4] == f"summary: {results / 'summary.md'}"


def test_the_summary_states_the_design_then_the_results(grid_results):
    results, _ = grid_results
    text = (results / "summary.md").read_text()
    assert text.index("## Design") < text.index("## Verdicts") < text.index("## capacity")
    assert f"- Command: `{COMMAND}`" in text and "- Wall time of this command: 2h 10m" in text
    assert "- Finished runs: 104" in text
    assert "- Training time summed over the 104 finished runs: 1:44:00" in text
    assert "sweep.log: 104 runs finished, 0 failed, 2:10:00 wall time" in text
    assert "arms short of them: " in text  # 2 seeds of the design's 5
    assert "final test accuracy at 10,000 iterations" in text
    assert "| 0.25 | 2, 2 | 0, 0 | 0, 0 | 0/2, 0/2 | 0.9900 | 0.9990 | +0.0090 [" in text
    assert "| 10 | 2, 2 | 0, 0 | 2, 0 | 2/2, 0/2 | - | 0.9770 | - |" in text  # sigmoid MLP
    sgd = "plain SGD: without BN 0.003, 0.01, 0.03, 0.1, 0.3 (2.00 decades), with BN 0.003"
    assert sgd in text and "(3.00 decades): BN widens it by +1.00 decades" in text
    assert "- lenetr_w1_adadelta1_bn_seed3" in text.split("## Unfinished runs")[1]
    for stem in ("why_capacity", "why_depth", "why_learning_rate"):
        assert (results / f"{stem}.png").stat().st_size > 0
        assert f"]({stem}.png)" in text


def test_rebuilding_from_the_same_runs_rewrites_nothing(grid_results):
    results, _ = grid_results
    files = [results / "summary.md", *sorted(results.glob("why_*"))]
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    with pytest.MonkeyPatch.context() as patch:  # the figures' own bytes: test_plot.py's
        patch.setattr(why.rebuild_lib, "write_figures", lambda *args: [])
        plot.why_rebuild(results)  # a rebuild names no command: the first one's is kept
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files} == before


def test_the_page_gets_the_verdict_block_between_its_markers(grid_results, tmp_path):
    runs = reader.load_runs(grid_results[0])
    result = why.answer(plot.grid_experiments(runs), grid.WELL_TRAINED)
    page = tmp_path / "why.md"
    page.write_text(f"# Why\n\nprose\n\n{why.BEGIN}\nold\n{why.END}\n\nmore prose\n")
    log = (grid_results[0] / "sweep.log").read_text()
    block = why.page_block(result, "../results/why", why.cost_lines(runs[:3], log))
    assert why.update_page(page, block) and not why.update_page(page, block)
    text = page.read_text()
    assert text.startswith("# Why\n\nprose\n\n") and text.endswith("\n\nmore prose\n")
    assert "old" not in text and "| Capacity (the paper, Sec. 2.3) | **SUPPORTED** |" in text
    assert "![capacity](../results/why/why_capacity.png)" in text
    cost = "Cost: Training time summed over the 3 finished runs: 0:03:00; sweep.log: 104 runs"
    assert cost in text
    page.write_text("# Why\n")
    with pytest.raises(ValueError, match="lacks the markers"):
        why.update_page(page, block)


def test_the_main_summary_gets_one_line_per_explanation(grid_results, tmp_path):
    lines = rules.main_summary_section(grid_results[0] / "summary.md")
    assert lines[1] == "## Why BN helps here" and "[why/summary.md](why/summary.md)" in lines[3]
    verdicts = lines[5:]
    assert [v.split(":")[0] for v in verdicts] == [
        f"- {name}" for name in (rules.CAPACITY, rules.OPTIMIZATION, rules.STEP_SIZE)
    ]
    assert all("**SUPPORTED**" in v for v in verdicts)
    assert rules.main_summary_section(tmp_path / "why" / "summary.md") == []
    # A summary without the verdicts heading lends none of its other "- " lines.
    (tmp_path / "why").mkdir()
    (tmp_path / "why" / "summary.md").write_text("# Why\n\n- Command: `x`\n\n## capacity\n")
    assert rules.main_summary_section(tmp_path / "why" / "summary.md")[5:] == []
