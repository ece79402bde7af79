"""Summary math on hand-made run directories: thresholds, seeds, speed-ups and verdicts."""

from __future__ import annotations

import csv
import math

import pytest

from bn_keras.common.atomic import write_json_atomic
from bn_keras.reporting import claims, report, summary
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


def test_verdicts_from_run_directories(tmp_path):
    # mlp: BN reaches 97% at 100 instead of 300 and ends 0.010 higher, both with small spread.
    slow = [
        [0.1, 0.5, 0.6, 0.97, 0.980],
        [0.1, 0.6, 0.6, 0.97, 0.981],
        [0.1, 0.5, 0.6, 0.97, 0.979],
    ]
    fast = [
        [0.1, 0.97, 0.98, 0.99, 0.990],
        [0.1, 0.97, 0.98, 0.99, 0.991],
        [0.1, 0.97, 0.98, 0.99, 0.989],
    ]
    _pair(tmp_path, "mlp", slow, fast)
    # lenetr: BN's final accuracy within 0.0002 of the baseline's over three close seeds.
    _pair(tmp_path, "lenetr", fast, [c[:-1] + [c[-1] + 0.0002] for c in fast])
    verdicts = _verdicts(_summarize(tmp_path))
    assert {k: v.outcome for k, v in verdicts.items()} == {
        ("mlp", claims.SPEEDS_UP): claims.REPRODUCED,
        ("mlp", claims.RAISES): claims.REPRODUCED,
        ("lenetr", claims.NO_DIFFERENCE): claims.REPRODUCED,
    }
    raises = verdicts["mlp", claims.RAISES]
    assert raises.effect.interval.effect == pytest.approx(0.010)
    assert raises.line.startswith("mlp: BN raises final accuracy: REPRODUCED (final accuracy")
    speed = verdicts["mlp", claims.SPEEDS_UP]
    # 98% and 99%: no seed without BN reached them; censored in one arm only, so bounds.
    assert speed.effect.quantity == "iterations to 99%" and speed.effect.never == (3, 0)


def test_one_seed_per_arm_leaves_every_claim_undecided(tmp_path):
    _pair(tmp_path, "lenet", [[0.1, 0.97, 0.98]], [[0.1, 0.98, 0.99]])
    verdicts = _verdicts(_summarize(tmp_path))
    assert {v.outcome for v in verdicts.values()} == {claims.UNDECIDED}
    assert verdicts["lenet", claims.RAISES].note == "needs 2+ seeds per arm"
    assert verdicts["lenet", claims.SPEEDS_UP].note == "needs 2+ seeds per arm"


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
        "| mlp | BN raises final accuracy | final accuracy | +0.0150 |",
        "equivalence margin 0.002",
        "No PyTorch twin runs (results/pytorch/): Keras only.",
    ):
        assert text in md
    rows = {r["experiment"]: r for r in csv.DictReader(csv_path.open())}
    assert set(rows) == {"mlp", "mlp_bn"}
    assert float(rows["mlp"]["final_mean"]) == pytest.approx(0.975)
    assert rows["mlp"]["iterations_to_98"] == "" and rows["mlp"]["seeds_reaching_98"] == "1"
    assert float(rows["mlp_bn"]["speedup_to_97"]) == pytest.approx(1.5)
    assert rows["mlp_bn"]["speedup_to_99"] == summary.BN_ONLY
    assert rows["mlp_bn"]["baseline"] == "mlp" and rows["mlp_bn"]["framework"] == "keras"
    assert float(rows["mlp_bn"]["final_accuracy_effect"]) == pytest.approx(0.015)
    assert rows["mlp_bn"]["raises_verdict"] == claims.UNDECIDED  # 0.975 +- 0.005 vs 0.99 +- 0
    assert rows["mlp_bn"]["iterations_to_98_never_base"] == "1"
    assert float(rows["mlp_bn"]["margin"]) == 0.002
    assert not list(tmp_path.glob(".*.tmp"))
