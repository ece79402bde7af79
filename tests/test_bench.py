"""The benchmark's command line on tiny data: what it measures and writes, not how fast."""

from __future__ import annotations

import inspect
import math
import subprocess
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from bn_keras.benchmark import report as bench_report
from bn_keras.benchmark import runner
from bn_keras.common import cpu, onednn
from bn_keras.common.errors import ConfigError
from bn_keras.config.commands import BENCH_SCRATCH, BenchOptions

REPO = Path(__file__).resolve().parents[1]


def test_tiny_run_writes_every_measurement(tiny_tfds_dir, tmp_path, cli):
    # Both TensorFlow workers (the one with its own thread settings: threads_1), the callback's
    # share, and a PyTorch option dropped; the variants that differ only in their data or
    # BatchNorm layer: the next test, in this process.
    output = tmp_path / "bench.csv"
    start = time.monotonic()
    proc = cli.run(
        "bn_keras.bench",
        "--networks=mlp_bn",
        "--sections=speed_options",  # the sweep section's parts: tests/test_bench_sweep.py
        "--options=callback,threads_1,torch_memory",
        "--steps=2",
        "--eval_every=2",
        "--reps=1",
        f"--data_dir={tiny_tfds_dir}",
        f"--output={output}",
        "--torch_python=/nonexistent/python",
        timeout=300,
    )
    wall_s = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "skipping the PyTorch reference" in proc.stderr
    rows = {row["option"]: row for row in bench_report.read_csv(output)}
    assert list(rows) == ["plain", "default", "callback", "threads_1"]
    assert {row["network"] for row in rows.values()} == {"mlp_bn"}
    assert rows["threads_1"]["worker"] == "tf_threads_1"
    rate = {name: float(row["steps_per_s"]) for name, row in rows.items()}
    for name, row in rows.items():
        assert row["steps"] == "2" and row["reps"] == "1"
        assert row["tensorflow"] and row["keras"] and not row["torch"]
        assert row["onednn"] == onednn.state()  # the workers inherit this process's choice
        assert row["cpu"] == cpu.describe()["model"]
        assert row["cpu_features"] == cpu.features_text(cpu.describe())
        # One repetition: the median is that repetition, timed inside this command's wall time.
        assert float(row["steps_per_s_reps"]) == rate[name]
        assert rate[name] > 2 / wall_s, name
        # The CSV holds 4 significant digits: each ratio is the quotient of the rates to 1e-3.
        assert float(row["ratio_to_plain"]) == pytest.approx(rate[name] / rate["plain"], rel=2e-3)
        assert float(row["ratio_to_default"]) == pytest.approx(
            rate[name] / rate["default"], rel=2e-3
        )
    assert 0 < float(rows["callback"]["callback_share"]) < 1  # a part of the timed steps
    assert rows["plain"]["callback_share"] == ""
    assert "| `mlp_bn` |" in proc.stdout  # the printed table (the BatchNorm table: below)
    # A figure is flagged exactly when one of its timings was throttled or loaded, and the
    # printed noise check counts the flagged figures.
    flagged = [name for name, row in rows.items() if row["flagged"] == "True"]
    for row in rows.values():
        noisy = int(row["throttled_reps"]) + int(row["loaded_reps"]) > 0
        assert row["flagged"] == str(noisy), row
    expected = (
        f"{len(flagged)} of {len(rows)} measurements flagged" if flagged else "no figure flagged"
    )
    assert f"Noise check: {expected}" in proc.stdout
    # What it will do and how long that takes, first; then each step as it starts.
    lines = proc.stdout.splitlines()
    assert lines[0] == (
        "bench: 1 networks, 4 timings in all; expect about 1 min on an idle 2-core CPU"
    )
    assert lines[1].startswith("bench: starting 2 worker processes")
    assert "bench: mlp_bn (1/1): compiling" in lines
    assert "bench: mlp_bn: timing 4 measurements x 1 repetitions, 2 steps each" in lines


def test_synthetic_and_keras_bn_change_only_the_data_and_the_batch_norm_layer(tiny_tfds_dir):
    """What the TensorFlow worker builds for these two options, beside its defaults (built, not
    trained: the defaults train in the tiny run above): the synthetic option fits the first full
    batches, normalized once and cycled from memory, in the real pipeline's shapes; keras_bn the
    same network with Keras's BatchNormalization in place of bn_keras's."""
    from bn_keras.benchmark.tf_worker import BATCH, TfWorker
    from bn_keras.data.normalization import normalize
    from bn_keras.models.batch_norm import FastBatchNormalization

    worker = TfWorker({"data_dir": tiny_tfds_dir, "dataset_source": "tfds"})

    def built(option: str) -> dict:
        """The model and the data that the option's variant fits, as the worker builds them."""
        fit = worker._build("mlp_bn", runner.OPTIONS[option].variant, eval_every=2)
        return inspect.getclosurevars(fit).nonlocals

    try:
        default, synthetic, keras_bn = (built(o) for o in ("default", "synthetic", "keras_bn"))
    finally:
        worker.handle({"cmd": "release"})

    def bn_layers(model: keras.Model) -> list[type]:
        return [type(x) for x in model.layers if isinstance(x, keras.layers.BatchNormalization)]

    assert bn_layers(default["model"]) == [FastBatchNormalization] * 3
    assert bn_layers(keras_bn["model"]) == [keras.layers.BatchNormalization] * 3
    assert synthetic["data"].element_spec == default["data"].element_spec
    full_batches = len(worker.data.train_labels) // BATCH
    batches = list(synthetic["data"].take(full_batches + 1).as_numpy_iterator())
    images, labels = batches[0]
    expected = normalize(worker.data.train_images[:BATCH], worker.dataset)
    np.testing.assert_allclose(images, np.asarray(expected), rtol=0, atol=1e-6)
    assert labels.tolist() == worker.data.train_labels[:BATCH].tolist()
    np.testing.assert_array_equal(batches[full_batches][0], images)  # cycled from memory


def test_ratios_pair_repetitions():
    # Each repetition's ratio is taken within its round, then the median of those.
    assert bench_report.paired_ratio([10, 20, 30], [5, 40, 10]) == 2.0
    timings = {
        "plain": [{"seconds": 1.0}, {"seconds": 2.0}, {"seconds": 1.0}],
        "default": [{"seconds": 0.5}, {"seconds": 1.0}, {"seconds": 0.25}],
    }
    option = type("Option", (), {"worker": "tf", "variant": "default", "description": ""})
    record = bench_report.summarize("mlp", "default", option, 100, timings, "plain", "default")
    assert record["steps_per_s_reps"] == [200, 100, 400]
    assert record["steps_per_s"] == 200
    assert record["ratio_to_plain"] == 2.0 and record["ratio_to_default"] == 1.0
    assert math.isnan(record["callback_share"])


@pytest.mark.parametrize(
    "changes",
    [
        {"networks": "resnet"},
        {"options": "turbo"},
        {"reps": 0},
        {"seconds": 0.0},
        {"sections": ""},
        {"sections": "speed_options,turbo"},
        {"stack_seeds": 0},
        {"stack_seeds": 33},
    ],
)
def test_bad_options_are_refused(changes):
    (name,) = changes
    with pytest.raises(ConfigError, match=f"^--{name}="):
        runner.make_settings(BenchOptions(**changes))


def test_a_bad_flag_ends_in_one_line(cli):
    proc = cli.run("bn_keras.bench", "--networks=mlp,resnet", timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "bn_keras: error: --networks='mlp,resnet' names unknown ['resnet']: use some of "
        "mlp,mlp_bn,lenet,lenet_bn,lenetr,lenetr_bn"
    ]


def test_the_default_output_is_git_ignored_scratch_not_the_committed_table():
    assert BenchOptions().output == BENCH_SCRATCH and not BENCH_SCRATCH.startswith("results")
    ignored = subprocess.run(["git", "check-ignore", "-q", BENCH_SCRATCH], cwd=REPO, check=False)
    assert ignored.returncode == 0, f"{BENCH_SCRATCH} is not git-ignored"


def test_quick_states_its_runtime_from_what_it_times(bench_settings):
    quick = bench_settings(quick=True)
    assert quick.networks == ("mlp_bn", "lenetr_bn") and quick.reps == 1
    assert quick.sweep_networks == ("mlp_bn",) and quick.stack_seeds == 2
    # plain, default and 15 TensorFlow options on each BN network, and bn_keras's 4 ways to run
    # a sweep (no PyTorch) on mlp_bn: 2 x 17 + 4 timings.
    assert runner.expected_runtime(quick).startswith("2 networks, 38 timings in all; expect about")
    sweep = bench_settings(quick=True, sections="sweep")
    assert sweep.options == () and not sweep.with_torch and sweep.networks == ("mlp_bn",)
    assert runner.expected_runtime(sweep).startswith("1 networks, 4 timings in all")
    full = bench_settings()
    assert full.sweep_networks == full.networks and full.stack_seeds == 5
    minutes = [int(runner.expected_runtime(s).split("about ")[1].split()[0]) for s in (quick, full)]
    assert 1 <= minutes[0] < minutes[1]


def test_the_options_it_accepts_are_the_ones_it_can_time():
    assert tuple(runner.OPTIONS) == (runner.BASELINE, runner.DEFAULT, *runner.CHOOSABLE)


def _record(network: str, option: str, rates: list[float]) -> dict:
    return {
        "network": network,
        "option": option,
        "steps_per_s": sorted(rates)[len(rates) // 2],
        "steps_per_s_reps": rates,
        "callback_share": math.nan,
        "ratio_to_plain": math.nan,
        "ratio_to_default": math.nan,
        "flagged": option == "bn_fused_v3",
    }


def test_each_record_says_whether_its_tensorflow_workers_ran_onednn():
    info = {"tf": {"onednn": "on"}, "tf_onednn_off": {"onednn": "off"}, "torch": {"threads": 1}}
    assert runner.onednn_of("tf", info) == "on"
    assert runner.onednn_of("tf_onednn_off", info) == "off"
    assert runner.onednn_of("tf+tf_onednn_off", info) == "off/on"
    assert runner.onednn_of("torch", info) == ""


def test_batch_norm_table_pairs_each_direction_with_keras_bn_of_the_same_round():
    records = [
        _record("lenet", "default", [300, 300, 300]),
        _record("lenet_bn", "default", [150, 100, 300]),
        _record("lenet_bn", "keras_bn", [100, 50, 200]),
        _record("lenet_bn", "bn_fused_v3", [50, 50, 50]),
        _record("lenet_bn", "torch_memory", [200, 100, 100]),
    ]
    context = dict.fromkeys(bench_report.CONTEXT_FIELDS, "")
    text = bench_report.tables(records, context)
    table = text.split("BatchNorm training steps")[1]
    # Per round 1.5, 2, 1.5 -> 1.5; fused 0.5, 1, 0.25 -> 0.5, flagged noisy.
    assert "| `lenet_bn` | 100 | 150 (1.50x) | 50 (0.50x)* |" in table
    assert "`lenet` |" not in table  # no keras_bn measurement: no row
    # Before and after against PyTorch, per round: default 0.75, 1, 3 -> 1; Keras BN 0.5, 0.5, 2.
    main_row = next(line for line in text.splitlines() if line.startswith("| `lenet_bn`"))
    assert main_row.endswith("| 1.00x | 0.50x |")


class _StubWorker:
    """Answers the runner's commands at once: every variant at 100 steps per second."""

    def __init__(self):
        self.timed = []

    def call(self, cmd, **arguments):
        if cmd == "prepare":
            return {"warm_steps_per_s": dict.fromkeys(arguments["variants"], 100.0)}
        if cmd == "time":
            self.timed.append((arguments["network"], arguments["variant"]))
            return {"seconds": 1.0}
        return {}


def test_bn_only_options_are_timed_on_the_bn_networks_only(bench_settings):
    worker = _StubWorker()
    settings = bench_settings(
        networks="mlp,mlp_bn",
        options="synthetic,keras_bn,bn_fused_v3",
        steps=100,
        seconds=1.0,
        reps=1,
        threads=2,
    )
    names = (runner.BASELINE, runner.DEFAULT, *settings.options)
    for network in settings.networks:
        records = runner._time_network(network, names, {"tf": worker}, settings)
        timed = [record["option"] for record in records]
        expected = ["plain", "default", "synthetic"]
        assert timed == expected + (["keras_bn", "bn_fused_v3"] if network == "mlp_bn" else [])
    assert ("mlp", "bn_keras") not in worker.timed and ("mlp_bn", "bn_keras") in worker.timed
