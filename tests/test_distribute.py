"""tf.distribute on two logical CPU devices: synchronized BN trains like one device, unsynchronized
BN statistics are averaged across replicas, evaluation counts every test image once, and the
training set's rows and the test set's classes are recorded as on one device."""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from bn_keras.config import datasets
from bn_keras.config.settings import Config
from bn_keras.data import input_pipeline
from bn_keras.distribution import strategies as distribute
from bn_keras.training import train
from bn_keras.training.evaluation import make_test_evaluator

MNIST = datasets.get("mnist")

# 200 tiny training images at batch 32: 7 iterations per epoch, the 7th holding 8 (4 per replica),
# so 9 iterations cross an epoch boundary, a partial batch and a learning-rate decay.
SMALL = dict(batch_size=32, eval_every=3, train_steps=9, test_batch_size=40, export=False)


@pytest.fixture(scope="module")
def mirrored() -> tf.distribute.Strategy:
    """One strategy for all tests: strategies created later in the same process would reuse its
    collective instance keys and abort (a real run creates one strategy per process)."""
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


@pytest.fixture()
def float64():
    """Keras's default float type and dtype policy float64 for one test (the policy too: Keras
    fixes it from floatx when the process builds its first layer, and layers follow the policy).

    Why the comparison below trains in float64: one device and two replicas add the same numbers
    in different orders (each replica sums half the batch, then the halves are summed), so they
    differ by float32 rounding, and 9 Adadelta steps at learning rate 1.0 amplify it. In float32
    the amplification is large. On this 2-core machine, lenet_bn on one device differs from itself
    by up to 9.9e-5 (2 of conv2_bn's 16 moving means, relative 1.6e-3) when only TensorFlow's
    intra-op thread count changes from 2 to 1, and by 5.8e-4 from 1 to 4: the filter gradient of a
    convolution is a reduction that the thread pool splits. That was this test's old failure (the
    numbers match it exactly), beyond the old tolerance of rtol 1e-4 + atol 2e-5. So float32 gives
    no tolerance that is both safe and tight: the rounding noise after 9 steps is about 1e4 times
    float32's unit roundoff (6e-8), and without synchronized BN the difference is only about 100
    times larger still (8e-2).

    In float64 the same amplification of its unit roundoff (1.1e-16) gives about 1e-12: measured,
    at most 7.2e-15 between 1, 2 and 4 threads and one or two replicas, against 8e-2 without
    synchronized BN. The tolerance (atol 1e-10, rtol 1e-9) sits 1e4 times above that noise and
    1e8 times below the error this test exists to catch, whatever the thread count or the tests
    that ran before. The code under test is dtype-agnostic (layers, optimizer, all-reduce)."""
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    yield
    keras.config.set_dtype_policy(policy)
    keras.config.set_floatx(floatx)


def test_mirrored_sync_bn_trains_like_one_device(
    mirrored, tiny_mnist, tmp_path, read_checkpoint_weights, float64
):
    """LeNet-5's BN layers cover both kinds, after convolutions (statistics over batch, height
    and width) and after dense layers (over the batch), the MLP's only kind. The two replicas
    also record the training set's row and the test set's predicted classes, and export the
    model: checked by `_check_the_records_of_two_replicas`."""
    config = Config(model="lenet", bn=True, **SMALL)
    one = train.train_and_evaluate(
        config, tmp_path / "one", strategy=tf.distribute.get_strategy(), data=tiny_mnist
    )
    # Result-neutral settings: the weights must still match the single device's.
    config = dataclasses.replace(config, eval_train=True, save_predictions=True, export=True)
    two = train.train_and_evaluate(config, tmp_path / "two", strategy=mirrored, data=tiny_mnist)

    single, mirrored = (read_checkpoint_weights(tmp_path / d) for d in ("one", "two"))
    assert single.keys() == mirrored.keys()
    assert sum("moving_variance" in name for name in single) == 4  # conv1, conv2, fc1, fc2
    for name, value in single.items():
        assert value.dtype == np.float64, name
        np.testing.assert_allclose(mirrored[name], value, rtol=1e-9, atol=1e-10, err_msg=name)
    assert [r["test_accuracy"] for r in two.rows] == [r["test_accuracy"] for r in one.rows]
    distribution = json.loads((tmp_path / "two" / "config.json").read_text())["distribution"]
    assert distribution["replicas"] == 2 and distribution["sync_bn"] is True
    assert distribution["per_replica_batch_size"] == 16
    _check_the_records_of_two_replicas(two, tiny_mnist)


def _check_the_records_of_two_replicas(result, tiny_mnist) -> None:
    """Under two replicas the training set's row counts each of its images once and matches the
    exported model, and the predicted classes keep the test set's order (their accuracy is the
    row's)."""
    model = keras.models.load_model(result.run_dir / train.KERAS_MODEL_FILE)

    def logits(images: np.ndarray) -> np.ndarray:
        return np.asarray(model(input_pipeline.normalize(images, MNIST), training=False))

    accuracy = float(
        np.mean(logits(tiny_mnist.train_images).argmax(axis=1) == tiny_mnist.train_labels)
    )
    assert result.final_train_set_accuracy == pytest.approx(accuracy, abs=1e-6)
    predictions = np.load(result.run_dir / train.PREDICTIONS_FILE)
    assert float(np.mean(predictions == tiny_mnist.test_labels)) == result.final_test_accuracy
    np.testing.assert_array_equal(predictions, logits(tiny_mnist.test_images).argmax(axis=1))


def test_without_sync_bn_replicas_drift_apart_and_are_averaged(mirrored, tiny_mnist):
    strategy = mirrored
    with strategy.scope():
        model = train.build_compiled_model(Config(model="mlp", bn=True), 7, sync_bn=False)
    assert (
        model.steps_per_execution == 1
    )  # keras-team/keras#19246, see bn_keras.distribution.workarounds
    data = distribute.distribute_train_dataset(
        strategy,
        lambda part: input_pipeline.train_dataset(
            tiny_mnist.train_images,
            tiny_mnist.train_labels,
            32,
            0,
            replica_slice=part,
            dataset=MNIST,
        ),
    )
    model.fit(data, epochs=1, steps_per_epoch=3, verbose=0)
    moving_mean = model.get_layer("fc1_bn").moving_mean.value

    def copies() -> list[np.ndarray]:
        return [c.numpy() for c in strategy.experimental_local_results(moving_mean)]

    before = copies()
    assert len(before) == 2 and not np.allclose(before[0], before[1])  # Keras's trap, still there
    distribute.moving_statistics_averager(model, strategy)()
    after = copies()
    np.testing.assert_array_equal(after[0], after[1])
    np.testing.assert_allclose(after[0], (before[0] + before[1]) / 2, rtol=1e-6)


def test_no_averaging_without_bn_or_replicas(mirrored):
    strategy = mirrored
    with strategy.scope():
        plain = train.build_compiled_model(Config(model="mlp"), 7)
    assert distribute.moving_statistics_averager(plain, strategy) is None
    model = train.build_compiled_model(Config(model="mlp", bn=True), 7)
    assert distribute.moving_statistics_averager(model, tf.distribute.get_strategy()) is None


@pytest.mark.parametrize("test_batch_size", [40, 45])  # 45: 23 and 22 images per replica
def test_two_replicas_evaluate_each_test_image_once(mirrored, tiny_mnist, test_batch_size):
    test_ds = input_pipeline.test_dataset(
        tiny_mnist.test_images, tiny_mnist.test_labels, test_batch_size, dataset=MNIST
    )
    strategy = mirrored
    with strategy.scope():
        model = train.build_compiled_model(Config(model="lenet", bn=True), 7)
    reference = train.build_compiled_model(Config(model="lenet", bn=True), 7)
    rng = np.random.default_rng(0)  # weights, and BN statistics that are not the initial ones
    reference.set_weights([rng.uniform(0.5, 1.5, size=w.shape) for w in model.weights])
    model.set_weights(reference.get_weights())
    count = len(tiny_mnist.test_labels)
    got = make_test_evaluator(model, test_ds, strategy, count)()
    want = make_test_evaluator(reference, test_ds, tf.distribute.get_strategy(), count)()
    assert got == pytest.approx(want, rel=1e-5)


def test_replica_slices_cover_every_global_batch_in_order(tiny_mnist):
    def batches(part, n=8):
        ds = input_pipeline.train_dataset(
            tiny_mnist.train_images,
            tiny_mnist.train_labels,
            32,
            3,
            replica_slice=part,
            dataset=MNIST,
        )
        return [y.numpy() for _, y in ds.take(n)]

    whole = batches(None)
    for parts in (2, 3):
        sliced = [batches((r, parts)) for r in range(parts)]
        for step, batch in enumerate(whole):
            np.testing.assert_array_equal(np.concatenate([s[step] for s in sliced]), batch)
