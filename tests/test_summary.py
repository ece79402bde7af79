"""Summary math on hand-made run directories: thresholds, seeds, speed-ups and verdicts."""

from __future__ import annotations

import csv
import math
import types

import pytest

from bn_keras.common.atomic import write_json_atomic
from bn_keras.reporting import provenance
from bn_keras.reporting.paper import claims, summary, summary_files
from bn_keras.runs import reader
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
    return summary.summarize(reader.load_runs(tmp_path))


def test_first_step_reaching_a_threshold_or_never(tmp_path):
    write_run(tmp_path, "mlp_seed0", [0.1, 0.975, 0.98, 0.97])
    (run,) = reader.load_runs(tmp_path)
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
    # 99%: only seed 1 reached it (at 200); the others count at tau = train_steps = 200.
    assert stats.iterations[0.99] == pytest.approx(200) and stats.reached[0.99] == 1
    assert stats.medians[0.99] is None and stats.tau == 200
    assert stats.train_seconds == pytest.approx(20)


def test_the_label_counts_the_seeds_that_reached_the_threshold(tmp_path):
    """The old label "never (2/3)" printed the seeds that DID reach it: now it says so."""
    write_run(tmp_path, "mlp_seed0", [0.1, 0.97, 0.99])  # reaches 99% at 200
    write_run(tmp_path, "mlp_seed1", [0.1, 0.99, 0.99])  # at 100
    write_run(tmp_path, "mlp_seed2", [0.1, 0.97, 0.98])  # never
    stats = _summarize(tmp_path).experiments["mlp"]
    assert stats.reached[0.99] == 2
    # RMST (200 + 100 + 200) / 3 = 167; median 200; 2 of 3 reached.
    assert stats.iterations_text(0.99) == "167; median 200; 2/3 reached"
    assert "never" not in stats.iterations_text(0.99)


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
    md_path, _ = summary_files.write_summary(result, tmp_path)
    assert "mlp_seed1: last evaluation at step 100 of 200" in md_path.read_text()


def test_pair_speedups_are_ratios_of_restricted_means(tmp_path):
    write_run(tmp_path, "ioffe_mlp_seed0", [0.1, 0.5, 0.5, 0.97, 0.98])
    write_run(tmp_path, "ioffe_mlp_bn_seed0", [0.1, 0.97, 0.99, 0.99, 0.99])
    (pair,) = _summarize(tmp_path).pairs
    assert pair.name == "ioffe_mlp" and pair.bn.experiment == "ioffe_mlp_bn"
    # 97%: 300 / 100; 98%: 400 / 200; 99%: never without BN, so tau = 400 / 200.
    assert pair.speedups == {0.97: 3.0, 0.98: 2.0, 0.99: 2.0}


def test_no_speedup_where_no_seed_reached_the_threshold(tmp_path):
    write_run(tmp_path, "mlp_seed0", [0.1, 0.5, 0.97])
    write_run(tmp_path, "mlp_bn_seed0", [0.1, 0.97, 0.98])
    (pair,) = _summarize(tmp_path).pairs
    assert pair.speedups[0.99] == summary.NEITHER
    assert summary.format_speedup(pair.speedups[0.97]) == "2.00x"


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
    # lenetr: BN's final accuracy within 0.0002 of the baseline's over three seeds 0.0001 apart
    # (TOST p far below 0.05 / 3, so that Holm's step for it still passes).
    close = [c[:-1] + [0.9900 + 0.0001 * i] for i, c in enumerate(fast)]
    _pair(tmp_path, "lenetr", close, [c[:-1] + [c[-1] + 0.0002] for c in close])
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
    # The primary threshold of mlp is 97%: 300 without BN, 100 with it, in every seed.
    assert speed.effect.quantity == "iterations to 97%, restricted mean at 400 (RMST)"
    assert speed.effect.interval.effect == pytest.approx(-200) and speed.effect.reached == (3, 3)
    # One framework: the Holm family still holds all five claims (lenet's count as p = 1).
    assert speed.p_adjusted == pytest.approx(0.0) and raises.p_adjusted < 0.05


def test_one_seed_per_arm_leaves_every_claim_undecided(tmp_path):
    _pair(tmp_path, "lenet", [[0.1, 0.97, 0.98]], [[0.1, 0.98, 0.99]])
    verdicts = _verdicts(_summarize(tmp_path))
    assert {v.outcome for v in verdicts.values()} == {claims.UNDECIDED}
    assert verdicts["lenet", claims.RAISES].note == "needs 2+ seeds per arm"
    assert verdicts["lenet", claims.SPEEDS_UP].note == "needs 2+ seeds per arm"


def test_write_summary_files(tmp_path):
    _pair(tmp_path, "mlp", [[0.1, 0.5, 0.97], [0.1, 0.97, 0.98]], [[0.1, 0.99, 0.99]] * 2)
    md_path, csv_path = summary_files.write_summary(
        _summarize(tmp_path), tmp_path, command="./run_all.sh --seeds=2", total_wall_time="3h"
    )
    md = md_path.read_text()
    for text in (
        "./run_all.sh --seeds=2",
        "Wall time of this command: 3h",
        "Linux-test, x86_64, 2 CPUs, no GPU",
        "TensorFlow 2.21.0, Keras 3.15.0",
        "abc1234",
        "200; median > 200; 1/2 reached",
        "| mlp | BN raises final accuracy | final accuracy | +0.0150 |",
        "Margin: ±0.002 in accuracy",
        "fixed in commit b689265 (2026-11-27 00:23 UTC), after the 3-seed results",
        "No PyTorch twin runs (results/pytorch/): Keras only.",
        "- `mlp`: seeds per arm Keras 2, PyTorch 0; short of the design's 10",
    ):
        assert text in md
    # The design is written before any result.
    assert md.index("## Design (fixed before the results below)") < md.index("## Claims")
    assert md.index("Holm's step-down correction") < md.index("| mlp | BN raises")
    rows = {r["experiment"]: r for r in csv.DictReader(csv_path.open())}
    assert set(rows) == {"mlp", "mlp_bn"}
    assert float(rows["mlp"]["final_mean"]) == pytest.approx(0.975)
    assert float(rows["mlp"]["iterations_to_98"]) == 200 and rows["mlp"]["seeds_reaching_98"] == "1"
    # 200 and a seed that never reached it: the median lies somewhere beyond 200, unknown.
    assert rows["mlp"]["median_iterations_to_98"] == ""
    assert float(rows["mlp_bn"]["speedup_to_97"]) == pytest.approx(1.5)
    assert float(rows["mlp_bn"]["speedup_to_99"]) == pytest.approx(2.0)
    assert rows["mlp_bn"]["baseline"] == "mlp" and rows["mlp_bn"]["framework"] == "keras"
    assert float(rows["mlp_bn"]["final_accuracy_effect"]) == pytest.approx(0.015)
    assert rows["mlp_bn"]["raises_verdict"] == claims.UNDECIDED  # 0.975 +- 0.005 vs 0.99 +- 0
    assert rows["mlp_bn"]["iterations_to_98_reached_base"] == "1"
    assert rows["mlp_bn"]["both_raises_verdict"] == claims.UNDECIDED
    assert float(rows["mlp_bn"]["margin"]) == 0.002
    assert not list(tmp_path.glob(".*.tmp"))


def _rebuild(results, command=None, wall=None):
    summary_files.write_summary(_summarize(results), results, command, wall)
    return (results / "summary.md").read_text()


def test_a_rebuild_from_unchanged_runs_keeps_the_provenance_byte_for_byte(tmp_path):
    _pair(tmp_path, "mlp", [[0.1, 0.5, 0.97], [0.1, 0.97, 0.98]], [[0.1, 0.99, 0.99]] * 2)
    first = _rebuild(tmp_path, "python -m bn_keras.sweep --seeds=2", "3h")
    before = (tmp_path / "summary.md").read_bytes(), (tmp_path / "summary.csv").stat().st_mtime_ns
    # plot alone, and run_all.sh with nothing to train: neither replaces the provenance.
    assert _rebuild(tmp_path) == first
    assert _rebuild(tmp_path, "./run_all.sh", "6 s") == first
    assert (tmp_path / "summary.md").read_bytes() == before[0]
    assert (tmp_path / "summary.csv").stat().st_mtime_ns == before[1]  # not even rewritten
    assert "- Command: `python -m bn_keras.sweep --seeds=2`" in first
    assert "./run_all.sh" not in first and "6 s" not in first


def test_new_runs_add_to_the_provenance(tmp_path):
    _pair(tmp_path, "mlp", [[0.1, 0.5, 0.97], [0.1, 0.97, 0.98]], [[0.1, 0.99, 0.99]] * 2)
    _rebuild(tmp_path, "python -m bn_keras.sweep --seeds=2", "3h")
    write_run(tmp_path, "mlp_seed2", [0.1, 0.6, 0.97])
    md = _rebuild(tmp_path, "./run_all.sh --seeds=3", "40 s")
    assert "- Command: `python -m bn_keras.sweep --seeds=2`\n- Wall time of this command: 3h" in md
    assert "- Then: `./run_all.sh --seeds=3`, wall time 40 s (finished runs 4 -> 5)" in md
    write_run(tmp_path, "mlp_bn_seed2", [0.1, 0.99, 0.99])
    md = _rebuild(tmp_path)
    assert "- Then: runs made by a command not given to plot (finished runs 5 -> 6)" in md
    assert md.count("- Then: ") == 2


def test_a_summary_without_the_runs_line_is_compared_by_its_run_count():
    legacy = "- Command: `old`\n- Training time summed over the 98 finished runs: 4:34:15\n"
    count = summary_files._legacy_count  # noqa: SLF001 - the parser of the legacy header
    same = provenance.provenance_lines(legacy, "- Finished runs: 98", "./run_all.sh", "6 s", count)
    assert same == ["- Command: `old`"]
    more = provenance.provenance_lines(legacy, "- Finished runs: 112", "plot", None, count)
    assert more == ["- Command: `old`", "- Then: `plot` (finished runs 98 -> 112)"]
    assert provenance.provenance_lines(None, "- Finished runs: 1", "cmd", "2 s") == [
        "- Command: `cmd`",
        "- Wall time of this command: 2 s",
    ]


def test_the_runs_line_dates_the_first_and_the_latest_run_and_an_older_line_reads_the_same():
    runs = [types.SimpleNamespace(record={"started": t}) for t in ("2026-01-02", "2026-01-01")]
    line = provenance.runs_line(runs)
    assert line == (
        "- Finished runs: 2, the first started 2026-01-01, the latest started 2026-01-02"
    )
    older = "- Command: `sweep`\n- Finished runs: 2, the latest started 2026-01-02\n"
    assert provenance.provenance_lines(older, line, "plot", None) == ["- Command: `sweep`"]
    later = "- Command: `sweep`\n- Finished runs: 2, the latest started 2026-01-03\n"
    assert provenance.provenance_lines(later, line, "plot", None)[-1] == (
        "- Then: `plot` (finished runs 2 -> 2)"
    )
