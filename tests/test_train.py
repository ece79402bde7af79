"""Training with the test-accuracy callback: cadence, inference mode, agreement, loss means."""

from __future__ import annotations

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.util import event_pb2

from bn_keras.common import cpu, onednn
from bn_keras.config import datasets
from bn_keras.config.settings import Config
from bn_keras.data import input_pipeline
from bn_keras.runs.metrics_file import read_metrics
from bn_keras.training import train
from bn_keras.training.evaluation import make_test_evaluator

MNIST = datasets.get("mnist")

# 200 tiny training images at batch 32: 7 iterations per epoch, the 7th holding 8 images.
SMALL = dict(batch_size=32, eval_every=10, train_steps=25, test_batch_size=40)


# One deterministic configuration (LeNet-5 with BN, 25 iterations) trained four times, by name:
# (seed, steps_per_execution), 0 being auto (5 here). "seed 0" also exports its model and is the
# run the tests of one run's records read.
SEEDED_RUNS = {
    "seed 0": (0, 0),
    "seed 0 again": (0, 0),
    "seed 1": (1, 0),
    "one step a call": (0, 1),
}


@pytest.fixture(scope="module")
def seeded_runs(tiny_mnist, tmp_path_factory) -> dict[str, tuple[Config, train.RunResult]]:
    """Each of SEEDED_RUNS trained: its config and result."""
    root = tmp_path_factory.mktemp("seeded")
    runs = {}
    for name, (seed, steps_per_execution) in SEEDED_RUNS.items():
        config = Config(
            model="lenet",
            bn=True,
            seed=seed,
            steps_per_execution=steps_per_execution,
            deterministic=True,
            export=name == "seed 0",
            **SMALL,
        )
        runs[name] = config, train.train_and_evaluate(config, root / name, data=tiny_mnist)
    return runs


@pytest.fixture(scope="module")
def lenet_bn_run(seeded_runs):
    return seeded_runs["seed 0"]


def test_rows_before_training_every_n_and_at_the_end(lenet_bn_run, tiny_mnist):
    _, result = lenet_bn_run
    rows = read_metrics(result.run_dir / train.METRICS_FILE)
    assert [int(r["step"]) for r in rows] == [0, 10, 20, 25]
    assert [r["epoch"] for r in rows] == pytest.approx([0, 10 / 7, 20 / 7, 25 / 7], rel=1e-5)
    # lr x0.7 after every epoch of 7 iterations: the rate in force for the next step.
    assert [r["learning_rate"] for r in rows] == pytest.approx([1, 0.7, 0.49, 0.343], rel=1e-5)
    assert math.isnan(rows[0]["train_loss"]) and all(
        math.isfinite(r["train_loss"]) for r in rows[1:]
    )
    # An accuracy is a count of correct test images over their number.
    count = len(tiny_mnist.test_labels)
    assert [r["test_accuracy"] * count for r in rows] == pytest.approx(
        [round(r["test_accuracy"] * count) for r in rows], abs=1e-6 * count
    )
    assert np.all(np.diff([r["elapsed_s"] for r in rows]) > 0)
    # TensorBoard gets the same values as the metrics file, at the same steps.
    logged = _tensorboard_scalars(result.run_dir / train.TENSORBOARD_DIR, "test_accuracy")
    assert logged == pytest.approx({int(r["step"]): r["test_accuracy"] for r in rows}, rel=1e-6)


def test_row_zero_is_the_untrained_model(lenet_bn_run, tiny_mnist):
    """Row 0 is the initial model's test loss and accuracy, close to ln 10 and chance: for logits z,
    CE - ln 10 = log(mean(exp z)) - z_label lies within [min z - max z, max z - min z], and
    PyTorch's init gives small logits."""
    config, result = lenet_bn_run
    keras.utils.set_random_seed(config.seed)  # as train_and_evaluate: the same initial weights
    model = train.build_compiled_model(config, steps_per_epoch=7)
    x = input_pipeline.normalize(tiny_mnist.test_images, MNIST)
    logits = np.asarray(model(x, training=False), np.float64)
    labels = tiny_mnist.test_labels
    shifted = logits - logits.max(axis=1, keepdims=True)
    losses = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(labels)), labels]
    row = result.rows[0]
    assert row["test_loss"] == pytest.approx(losses.mean(), rel=1e-5)
    assert row["test_accuracy"] == np.mean(np.argmax(logits, axis=1) == labels)
    spread = float(np.mean(logits.max(axis=1) - logits.min(axis=1)))
    assert abs(row["test_loss"] - math.log(10)) <= spread < 0.5 * math.log(10)


def _tensorboard_scalars(log_dir, tag: str) -> dict[int, float]:
    values = {}
    for events in log_dir.glob("events.out.tfevents.*"):
        for record in tf.data.TFRecordDataset(str(events)):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.tag == tag:
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    return values


def test_run_directory_contents(lenet_bn_run):
    config, result = lenet_bn_run
    record = json.loads((result.run_dir / train.CONFIG_FILE).read_text())
    assert record["config"] == config.to_dict()
    assert record["versions"]["tensorflow"] == tf.__version__
    assert record["versions"]["keras"] == keras.__version__
    assert record["distribution"]["replicas"] == 1
    assert record["distribution"]["per_replica_batch_size"] == 32
    assert record["machine"]["onednn"] == onednn.describe()
    assert record["machine"]["cpu"] == cpu.describe()
    assert list((result.run_dir / train.TENSORBOARD_DIR).glob("events.out.tfevents.*"))
    assert (result.run_dir / train.SAVED_MODEL_DIR / "saved_model.pb").is_file()
    assert (result.run_dir / train.KERAS_MODEL_FILE).is_file()
    summary = json.loads((result.run_dir / train.RESULT_FILE).read_text())
    assert summary["steps"] == 25 and summary["final_test_accuracy"] == result.final_test_accuracy
    # Checkpoints at 10, 20 and the end; their time is part of the training time.
    assert summary["checkpoints_written"] == 3
    assert 0 < summary["checkpoint_seconds"] < summary["train_seconds"]


def test_last_row_equals_an_independent_model_evaluate(lenet_bn_run, tiny_mnist):
    _, result = lenet_bn_run
    model = keras.models.load_model(result.run_dir / train.KERAS_MODEL_FILE)
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["sparse_categorical_accuracy"],
    )
    x = input_pipeline.normalize(tiny_mnist.test_images, MNIST)
    loss, accuracy = model.evaluate(x, tiny_mnist.test_labels, batch_size=17, verbose=0)
    assert result.final_test_accuracy == pytest.approx(accuracy, abs=1e-7)
    assert result.final_test_loss == pytest.approx(loss, rel=1e-4)


def test_evaluator_uses_moving_statistics_not_the_test_batch(tiny_mnist):
    model = train.build_compiled_model(Config(model="mlp", bn=True), steps_per_epoch=7)
    bn = model.get_layer("fc1_bn")
    bn.moving_mean.assign(np.full(100, 5.0, np.float32))  # far from any batch's mean
    ds = input_pipeline.test_dataset(
        tiny_mnist.test_images, tiny_mnist.test_labels, 40, dataset=MNIST
    )
    count = len(tiny_mnist.test_labels)
    loss, accuracy = make_test_evaluator(model, ds, tf.distribute.get_strategy(), count)()
    x = input_pipeline.normalize(tiny_mnist.test_images, MNIST)
    labels = tiny_mnist.test_labels

    def metrics(training):
        logits = model(x, training=training)
        losses = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        return float(np.mean(losses)), float(np.mean(np.argmax(logits, -1) == labels))

    inference, batch_stats = metrics(training=False), metrics(training=True)
    assert loss == pytest.approx(inference[0], rel=1e-5) and accuracy == inference[1]
    assert abs(loss - batch_stats[0]) > 1e-3


def test_train_loss_column_is_the_mean_over_each_interval(tiny_mnist, tmp_path):
    """With a vanishing learning rate the weights stay put, so each row's train loss must equal the
    example-weighted mean of the per-batch losses of exactly the batches in its interval."""
    config = Config(model="lenetr", bn=True, learning_rate=1e-12, export=False, **SMALL)
    result = train.train_and_evaluate(config, tmp_path / "run", data=tiny_mnist)
    keras.utils.set_random_seed(config.seed)
    model = train.build_compiled_model(config, steps_per_epoch=7)  # same seed: same initial weights
    batches = input_pipeline.train_dataset(
        tiny_mnist.train_images, tiny_mnist.train_labels, 32, config.seed, dataset=MNIST
    ).take(25)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    batch_loss = tf.function(lambda x, y: loss_fn(y, model(x, training=True)))  # eager: 3x slower
    losses, sizes = [], []
    for x, y in batches:
        losses.append(float(batch_loss(x, y)))
        sizes.append(len(y))
    losses, sizes = np.array(losses), np.array(sizes)
    assert sizes[6] == 8 and sizes[13] == 8  # partial last batches of the first two epochs
    for row, (lo, hi) in zip(result.rows[1:], [(0, 10), (10, 20), (20, 25)]):
        expected = np.sum(losses[lo:hi] * sizes[lo:hi]) / np.sum(sizes[lo:hi])
        assert row["train_loss"] == pytest.approx(expected, rel=1e-4)


@pytest.fixture(scope="module")
def seeded_rows(seeded_runs) -> dict[str, list[tuple[float, ...]]]:
    """Each of SEEDED_RUNS's rows: (step, train loss, test loss, test accuracy)."""
    columns = ("step", "train_loss", "test_loss", "test_accuracy")
    return {
        name: [tuple(row[c] for c in columns) for row in result.rows]
        for name, (_, result) in seeded_runs.items()
    }


def test_same_seed_same_run_different_seed_different_run(seeded_rows):
    # Row 0 has no training loss (NaN, never equal to itself): the rows after it.
    assert seeded_rows["seed 0"][1:] == seeded_rows["seed 0 again"][1:]
    assert seeded_rows["seed 0"][1:] != seeded_rows["seed 1"][1:]


def test_steps_per_execution_changes_speed_not_results(seeded_rows):
    one, auto = seeded_rows["one step a call"], seeded_rows["seed 0"]
    assert Config(**SMALL).resolved_steps_per_execution == 5
    assert [r[0] for r in one] == [r[0] for r in auto] == [0, 10, 20, 25]
    np.testing.assert_allclose(np.array(one)[1:], np.array(auto)[1:], rtol=1e-5)


@pytest.mark.parametrize(
    ("eval_every", "train_steps", "expected"),
    [(100, 10_000, 50), (500, 100_000, 50), (10, 20, 10), (30, 90, 30), (7, 14, 7), (60, 90, 30)],
)
def test_auto_steps_per_execution_divides_both(eval_every, train_steps, expected):
    config = Config(eval_every=eval_every, train_steps=train_steps)
    assert config.resolved_steps_per_execution == expected
