"""Summary math on hand-made run directories: thresholds, seeds, speed-ups and verdicts."""

from __future__ import annotations

import csv
import math

import pytest

from bn_keras.common.atomic import write_json_atomic
from bn_keras.reporting import report, summary
from bn_keras.runs.metrics_file import MetricsWriter

EVERY = 100


def write_run(results, name, accuracies, *, finished=True, seconds=10.0):
    """A run directory in the real formats, evaluated every EVERY steps from step 0."""
    run_dir = results / name
    run_dir.mkdir(parents=True)
    experiment, seed = name.rsplit("_seed", 1)
    steps = EVERY * (len(accuracies) - 1)
    config = {
        "model": experiment.removesuffix("_bn"),
        "bn": experiment.endswith("_bn"),
        "seed": int(seed),
        "train_steps": steps if finished else steps * 2,
        "batch_size": 64,
        "learning_rate": 1.0,
        "lr_schedule": "epoch",
        "lr_decay": 0.7,
    }
    write_json_atomic(
        run_dir / "config.json",
        {
            "config": config,
            "machine": {
                "platform": "Linux-test",
                "processor": "x86_64",
                "cpu_count": 2,
                "gpus": [],
            },
            "versions": {"tensorflow": "2.21.0", "keras": "3.15.0", "git_commit": "abc1234"},
        },
    )
    writer = MetricsWriter(run_dir / "metrics.csv")
    for i, accuracy in enumerate(accuracies):
        writer.append(
            {
                "step": i * EVERY,
                "epoch": i * EVERY / 938,
                "learning_rate": 1.0,
                "train_loss": math.nan if i == 0 else 0.1,
                "test_loss": 0.1,
                "test_accuracy": accuracy,
                "elapsed_s": float(i),
            }
        )
    if finished:
        write_json_atomic(
            run_dir / "result.json",
            {
                "steps": steps,
                "final_test_accuracy": accuracies[-1],
                "final_test_loss": 0.1,
                "train_seconds": seconds,
                "steps_per_second": steps / seconds,
            },
        )
    return run_dir


def _summarize(tmp_path):
    return summary.summarize(summary.load_runs(tmp_path))


def test_first_step_reaching_a_threshold_or_never(tmp_path):
    write_run(tmp_path, "mlp_seed0", [0.1, 0.975, 0.98, 0.97])
    (run,) = summary.load_runs(tmp_path)
    assert run.first_step_reaching(0.97) == 100
    assert run.first_step_reaching(0.98) == 200  # equal counts as reached
    assert run.first_step_reaching(0.99) is None
    assert run.final_accuracy == 0.97 and run.best_accuracy == 0.98


def test_seed_statistics_use_sample_std_and_count_seeds_that_never_reach(tmp_path):
    write_run(tmp_path, "mlp_seed0", [0.1, 0.97, 0.98], seconds=10)
    write_run(tmp_path, "mlp_seed1", [0.1, 0.5, 0.99], seconds=20)
    write_run(tmp_path, "mlp_seed2", [0.1, 0.97, 0.985], seconds=30)
    stats = _summarize(tmp_path).experiments["mlp"]
    assert stats.seeds == (0, 1, 2)
    assert stats.final.mean == pytest.approx(0.985)
    assert stats.final.std == pytest.approx(0.005)  # ddof=1; ddof=0 would give 0.00408
    assert (stats.final.min, stats.final.max) == (0.98, 0.99)
    assert stats.iterations[0.97] == pytest.approx(400 / 3)  # 100, 200, 100
    assert stats.iterations[0.99] is None and stats.reached[0.99] == 1
    assert stats.iterations_text(0.99) == "never (1/3)"
    assert stats.train_seconds == pytest.approx(20)


def test_one_seed_has_zero_std(tmp_path):
    write_run(tmp_path, "lenet_seed0", [0.1, 0.98])
    assert _summarize(tmp_path).experiments["lenet"].final.std == 0.0


def test_unfinished_runs_and_foreign_directories_are_left_out(tmp_path):
    write_run(tmp_path, "mlp_seed0", [0.1, 0.98])
    write_run(tmp_path, "mlp_seed1", [0.1, 0.5], finished=False)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "mlp_seed0.log").write_text("step 1/2\n")
    (tmp_path / "notes_seed3").mkdir()  # a run name but no run files
    result = _summarize(tmp_path)
    stats = result.experiments["mlp"]
    assert stats.seeds == (0,) and stats.final.mean == 0.98
    assert [r.run_dir.name for r in result.unfinished] == ["mlp_seed1"]
    md_path, _ = report.write_summary(result, tmp_path)
    assert "mlp_seed1: last evaluation at step 100 of 200" in md_path.read_text()


@pytest.mark.parametrize(
    ("without_bn", "with_bn", "expected"),
    [
        (300.0, 100.0, 3.0),
        (100.0, 400.0, 0.25),
        (None, 100.0, summary.BN_ONLY),
        (100.0, None, summary.BN_NEVER),
        (None, None, summary.NEITHER),
    ],
)
def test_speedup(without_bn, with_bn, expected):
    assert summary.speedup(without_bn, with_bn) == expected


def test_pair_speedups_from_runs(tmp_path):
    write_run(tmp_path, "ioffe_mlp_seed0", [0.1, 0.5, 0.5, 0.97, 0.98])
    write_run(tmp_path, "ioffe_mlp_bn_seed0", [0.1, 0.97, 0.99, 0.99, 0.99])
    (pair,) = _summarize(tmp_path).pairs
    assert pair.name == "ioffe_mlp" and pair.bn.experiment == "ioffe_mlp_bn"
    assert pair.speedups == {0.97: 3.0, 0.98: 2.0, 0.99: summary.BN_ONLY}


def _pair(tmp_path, base, without_bn, with_bn):
    for name, curves in ((base, without_bn), (base + "_bn", with_bn)):
        for seed, curve in enumerate(curves):
            write_run(tmp_path, f"{name}_seed{seed}", curve)


def _verdicts(result):
    return {(v.pair, v.claim): v for v in result.verdicts}


def test_verdicts_reproduced(tmp_path):
    slow = [[0.1, 0.5, 0.97, 0.98, 0.980], [0.1, 0.6, 0.97, 0.98, 0.982]]
    fast = [[0.1, 0.97, 0.98, 0.99, 0.990], [0.1, 0.97, 0.98, 0.99, 0.991]]
    _pair(tmp_path, "mlp", slow, fast)
    _pair(tmp_path, "lenetr", fast, [c[:-1] + [c[-1] - 0.0005] for c in fast])
    verdicts = _verdicts(_summarize(tmp_path))
    assert set(verdicts) == {
        ("mlp", summary.SPEEDS_UP),
        ("mlp", summary.RAISES),
        ("lenetr", summary.NO_DIFFERENCE),
    }
    assert all(v.holds for v in verdicts.values())
    raises = verdicts["mlp", summary.RAISES]
    assert "difference +0.0095" in raises.evidence and "seed spread 0.0020" in raises.evidence
    assert raises.line.startswith("mlp: BN raises final accuracy: REPRODUCED (")
    assert "speed-up 2.00x" in verdicts["mlp", summary.SPEEDS_UP].evidence


def test_verdicts_not_reproduced(tmp_path):
    # lenet: BN slower to 97% and never reaches 99%; its gain (+0.002) is inside the seed spread.
    _pair(
        tmp_path,
        "lenet",
        [[0.1, 0.97, 0.99, 0.985], [0.1, 0.97, 0.99, 0.990]],
        [[0.1, 0.5, 0.98, 0.988], [0.1, 0.6, 0.98, 0.991]],
    )
    # lenetr: BN far better, beyond the spread, so "no difference" fails.
    _pair(tmp_path, "lenetr", [[0.1, 0.97, 0.98]], [[0.1, 0.98, 0.99]])
    verdicts = _verdicts(_summarize(tmp_path))
    assert not any(v.holds for v in verdicts.values())
    assert "NOT REPRODUCED" in verdicts["lenet", summary.RAISES].line
    assert "speed-up 0.50x" in verdicts["lenet", summary.SPEEDS_UP].evidence
    assert "speed-up BN never" in verdicts["lenet", summary.SPEEDS_UP].evidence


def test_faster_but_never_reaching_the_last_threshold_is_not_a_speed_up(tmp_path):
    _pair(tmp_path, "mlp", [[0.1, 0.5, 0.97, 0.99]], [[0.1, 0.97, 0.98, 0.985]])
    verdict = _verdicts(_summarize(tmp_path))["mlp", summary.SPEEDS_UP]
    assert not verdict.holds


def test_spread_is_the_wider_range_and_no_threshold_reached_proves_nothing(tmp_path):
    # BN's seeds vary more (0.008) than the baseline's (0.001); its gain of 0.0055 is inside that.
    without_bn = [[0.1, 0.5, 0.960], [0.1, 0.5, 0.961]]
    _pair(tmp_path, "mlp", without_bn, [[0.1, 0.6, 0.962], [0.1, 0.6, 0.970]])
    _pair(tmp_path, "lenet", without_bn, [[0.1, 0.6, 0.962]])
    result = _summarize(tmp_path)
    pair = next(p for p in result.pairs if p.name == "mlp")
    assert pair.spread == pytest.approx(0.008)
    assert pair.final_difference == pytest.approx(0.0055)
    verdicts = _verdicts(result)
    assert not verdicts["mlp", summary.RAISES].holds
    assert verdicts["lenet", summary.RAISES].holds  # +0.0015 beats the spread of 0.001
    assert pair.speedups[0.97] == summary.NEITHER  # one BN seed of two reached 97%: not enough
    assert not verdicts["lenet", summary.SPEEDS_UP].holds  # neither reaches 97%


def test_write_summary_files(tmp_path):
    _pair(tmp_path, "mlp", [[0.1, 0.5, 0.97], [0.1, 0.97, 0.98]], [[0.1, 0.99, 0.99]] * 2)
    md_path, csv_path = report.write_summary(
        _summarize(tmp_path), tmp_path, command="./run_all.sh --seeds=2", total_wall_time="3h"
    )
    md = md_path.read_text()
    for text in (
        "./run_all.sh --seeds=2",
        "Wall time of this command: 3h",
        "Linux-test, x86_64, 2 CPUs, no GPU",
        "TensorFlow 2.21.0, Keras 3.15.0",
        "abc1234",
        "never (1/2)",
        "mlp: BN speeds convergence: REPRODUCED",
    ):
        assert text in md
    rows = {r["experiment"]: r for r in csv.DictReader(csv_path.open())}
    assert set(rows) == {"mlp", "mlp_bn"}
    assert float(rows["mlp"]["final_mean"]) == pytest.approx(0.975)
    assert rows["mlp"]["iterations_to_98"] == "" and rows["mlp"]["seeds_reaching_98"] == "1"
    assert float(rows["mlp_bn"]["speedup_to_97"]) == pytest.approx(1.5)
    assert rows["mlp_bn"]["speedup_to_99"] == summary.BN_ONLY
    assert rows["mlp_bn"]["baseline"] == "mlp"
    assert not list(tmp_path.glob(".*.tmp"))
