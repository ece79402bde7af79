"""The train loop's separable parts: the distribution context it asks, and starting or resuming
a run directory."""

from __future__ import annotations

import json
import types

import pytest
import tensorflow as tf

from bn_keras.common.errors import CheckpointError, ConfigError
from bn_keras.config.settings import Config
from bn_keras.distribution.context import DistributionContext
from bn_keras.runs.metrics_file import FIELDS, MetricsWriter, read_metrics
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
    start = start_or_resume(setup, _model(setup))
    assert start.step == 0 and start.resume is None
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

    start = start_or_resume(setup, _model(setup))
    assert start.step == 10
    assert [int(row["step"]) for row in read_metrics(run_dir / METRICS_FILE)] == [0, 10]

    (run_dir / METRICS_FILE).unlink()
    with pytest.raises(CheckpointError, match="lacks the rows for iterations 0 to 10"):
        start_or_resume(setup, _model(setup))
