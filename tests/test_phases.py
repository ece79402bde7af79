"""The train loop's separable parts: the distribution context it asks, starting or resuming a
run directory, and the run controller both engines drive (with a stand-in engine)."""

from __future__ import annotations

import json
import math
import threading
import types

import pytest
import tensorflow as tf

from bn_keras.common.errors import CheckpointError, ConfigError, TrainingDiverged
from bn_keras.config.settings import Config
from bn_keras.distribution.context import DistributionContext
from bn_keras.runs.controller import RunController
from bn_keras.runs.metrics_file import FIELDS, MetricsWriter, read_metrics
from bn_keras.runs.resume import StartingPoint
from bn_keras.runs.run_dir import CONFIG_FILE, METRICS_FILE
from bn_keras.training import train
from bn_keras.training.resume import start_or_resume
from bn_keras.training.setup import set_up


def _two_replicas(sync_bn: bool) -> DistributionContext:
    """A context as two replicas of one worker see it (no second strategy in this process)."""
    return DistributionContext(tf.distribute.get_strategy(), 2, 1, True, sync_bn)


def test_create_calls_before_runtime_only_for_a_strategy_it_creates():
    calls = []
    context = DistributionContext.create(
        Config(bn=True, strategy="default"), before_runtime=lambda: calls.append("created")
    )
    assert calls == ["created"]
    assert (context.replicas, context.workers, context.chief) == (1, 1, True)
    assert context.sync_bn is False  # auto: synchronized only with several replicas

    forced = DistributionContext.create(
        Config(bn=True, sync_bn="true"),
        strategy=tf.distribute.get_strategy(),
        before_runtime=lambda: calls.append("injected"),
    )
    assert calls == ["created"]
    assert forced.sync_bn is True
    no_bn = DistributionContext.create(
        Config(bn=False, sync_bn="true"), strategy=tf.distribute.get_strategy()
    )
    assert no_bn.sync_bn is False


def test_learning_rate_scales_with_replicas_only_when_asked():
    context = _two_replicas(sync_bn=True)
    plain = Config(learning_rate=0.5)
    assert context.config_used(plain) is plain
    scaled = context.config_used(Config(learning_rate=0.5, scale_lr=True))
    assert scaled.learning_rate == 1.0
    record = context.record(scaled, types.SimpleNamespace(steps_per_execution=1))
    assert record["learning_rate"] == 1.0 and record["replicas"] == 2
    assert record["per_replica_batch_size"] == scaled.batch_size / 2
    assert record["sync_bn"] is True and record["steps_per_execution"] == 1


def test_batches_that_leave_a_replica_empty_are_refused():
    context = _two_replicas(sync_bn=True)
    config = Config(batch_size=32, test_batch_size=50)
    context.check_batches(config, num_train=200, num_test=100)  # last batches 8 and 50
    with pytest.raises(ConfigError, match="--batch_size=32 leaves a last batch of 1"):
        context.check_batches(config, num_train=193, num_test=100)
    with pytest.raises(ConfigError, match="--test_batch_size=50 leaves a last batch of 1"):
        context.check_batches(config, num_train=200, num_test=101)


SMALL = dict(model="mlp", batch_size=32, eval_every=10, train_steps=20, test_batch_size=50)


def _model(setup):
    with setup.context.scope():
        model = train.build_compiled_model(setup.config_used, setup.steps_per_epoch)
        model.optimizer.build(model.trainable_variables)
    return model


def test_a_fresh_start_records_the_run_and_drops_stale_rows(tmp_path, tiny_mnist):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / METRICS_FILE).write_text("step\n5\n")  # an attempt that died before a checkpoint
    setup = set_up(Config(**SMALL), run_dir, tf.distribute.get_strategy(), tiny_mnist)
    starting = start_or_resume(setup, _model(setup))
    assert starting.step == 0 and starting.saved is None
    assert not (run_dir / METRICS_FILE).exists()
    record = json.loads((run_dir / CONFIG_FILE).read_text())
    assert record["config"] == Config(**SMALL).to_dict()
    assert record["data_source"] == "arrays passed to train_and_evaluate"
    assert record["distribution"]["replicas"] == 1


def test_a_resume_keeps_the_rows_up_to_its_checkpoint_and_needs_them(tmp_path, tiny_mnist):
    run_dir = tmp_path / "run"
    setup = set_up(Config(**SMALL), run_dir, tf.distribute.get_strategy(), tiny_mnist)
    start_or_resume(setup, _model(setup)).checkpoint.save(10, {})
    writer = MetricsWriter(run_dir / METRICS_FILE)
    for step in (0, 10, 15):  # 15: measured after the checkpoint, so measured again
        writer.append({name: step for name in FIELDS})

    starting = start_or_resume(setup, _model(setup))
    assert starting.step == 10
    assert [int(row["step"]) for row in read_metrics(run_dir / METRICS_FILE)] == [0, 10]

    (run_dir / METRICS_FILE).unlink()
    with pytest.raises(CheckpointError, match="lacks the rows for iterations 0 to 10"):
        start_or_resume(setup, _model(setup))


class _Engine:
    """An engine whose every step has loss `step` on 2 examples; test loss 1/(1+step)."""

    def __init__(self):
        self.step, self.sum, self.examples = 0, 0.0, 0

    def train_step(self, step):
        self.step = step
        self.sum, self.examples = self.sum + 2.0 * step, self.examples + 2
        return float(step)

    def evaluate(self):
        return 1 / (1 + self.step), 0.5

    def learning_rate(self, step):
        return 0.1 * step

    def interval_loss(self):
        return self.sum, self.examples

    def reset_interval_loss(self):
        self.sum, self.examples = 0.0, 0

    def before_checkpoint(self):
        pass


class _Checkpoint:
    def __init__(self, directory):
        self.directory, self.saved = directory, {}

    def save(self, step, state):
        self.saved[step] = state

    def restore(self):
        return None


def _drive(controller, engine, first, last):
    controller.begin(first)
    for step in range(first + 1, last + 1):
        loss = engine.train_step(step)
        controller.record_if_due(step)
        if controller.end_of_step(step, loss):
            return


CADENCE = Config(train_steps=25, eval_every=10, checkpoint_every=20)


def test_the_controller_records_rows_and_checkpoints_on_its_cadence(tmp_path):
    engine, checkpoint = _Engine(), _Checkpoint(tmp_path / "checkpoints")
    controller = RunController(
        CADENCE, tmp_path, engine, StartingPoint(checkpoint), steps_per_epoch=4
    )
    _drive(controller, engine, 0, 25)
    rows = read_metrics(tmp_path / METRICS_FILE)
    assert [r["step"] for r in rows] == [0, 10, 20, 25]
    assert [r["epoch"] for r in rows] == [0, 2.5, 5, 6.25]
    assert [r["learning_rate"] for r in rows] == pytest.approx([0, 1, 2, 2.5])
    # Mean loss of each interval: steps 1-10, 11-20, 21-25.
    assert [r["train_loss"] for r in rows[1:]] == [5.5, 15.5, 23]
    assert sorted(checkpoint.saved) == [20, 25]
    assert checkpoint.saved[25]["checkpoints_written"] == 2
    result = controller.result()
    assert (result.steps, result.interrupted_at) == (25, None)
    assert result.final_test_loss == pytest.approx(1 / 26, rel=1e-5)  # from metrics.csv
    assert result.checkpoints_written == 2


def test_a_resumed_controller_continues_the_interval_and_the_counts(tmp_path):
    saved = {
        "step": 15,
        "elapsed_s": 100.0,
        "interval_loss_sum": 2.0 * sum(range(11, 16)),  # steps 11-15, trained before the stop
        "interval_examples": 10,
        "checkpoint_seconds": 1.5,
        "checkpoints_written": 2,
    }
    engine, checkpoint = _Engine(), _Checkpoint(tmp_path / "checkpoints")
    controller = RunController(
        CADENCE, tmp_path, engine, StartingPoint(checkpoint, saved), steps_per_epoch=4
    )
    _drive(controller, engine, 15, 25)
    assert [(r["step"], r["train_loss"]) for r in controller.rows] == [(20, 15.5), (25, 23)]
    assert all(r["elapsed_s"] > 100.0 for r in controller.rows)
    assert checkpoint.saved[20]["checkpoints_written"] == 3
    assert controller.result().checkpoints_written == 4


def test_a_stop_request_checkpoints_and_stops_a_diverged_loss_stops_and_raises(tmp_path):
    engine, checkpoint = _Engine(), _Checkpoint(tmp_path / "checkpoints")
    stop = threading.Event()
    controller = RunController(
        CADENCE, tmp_path, engine, StartingPoint(checkpoint), steps_per_epoch=4, stop_request=stop
    )
    controller.begin(0)
    assert not controller.end_of_step(7, 1.0)
    stop.set()
    assert controller.end_of_step(8, 1.0)
    assert controller.interrupted_at == 8 and sorted(checkpoint.saved) == [8]
    assert checkpoint.saved[8]["interval_examples"] == 0

    diverging = RunController(CADENCE, tmp_path, _Engine(), StartingPoint(None), steps_per_epoch=4)
    assert diverging.end_of_step(3, math.nan)
    with pytest.raises(TrainingDiverged, match=r"at iteration 3; the metrics so far are in .*csv"):
        diverging.result()
