"""FastBatchNormalization computes Keras's BatchNormalization: forward, gradients, statistics."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bn_keras.models.batch_norm import FastBatchNormalization, batch_norm_class, to_stock_model
from bn_keras.models.networks import BnOptions, build_model

# Shapes of the networks' BN inputs: conv1 of the LeNets, a dense layer, and an odd small one.
SHAPES = [(64, 28, 28, 6), (64, 100), (7, 3, 5, 4)]


def _pair(shape, dtype="float32", **kwargs):
    """A Keras layer and a FastBatchNormalization with the same non-trivial weights."""
    rng = np.random.default_rng(1)
    channels = shape[-1]
    weights = [
        rng.uniform(0.5, 2.0, channels),  # gamma
        rng.normal(0.0, 0.5, channels),  # beta
        rng.normal(0.0, 1.0, channels),  # moving mean
        rng.uniform(0.5, 2.0, channels),  # moving variance
    ]
    pair = []
    for cls in (keras.layers.BatchNormalization, FastBatchNormalization):
        layer = cls(momentum=0.9, epsilon=1e-5, dtype=dtype, **kwargs)
        layer.build(shape)
        layer.set_weights([w.astype(dtype) for w in weights])
        pair.append(layer)
    return pair


def _train_step(layer, x, dy):
    """Output, gradients (x, gamma, beta) and the moving statistics after one training call."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * dy)
    grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
    return [
        np.asarray(t, np.float64) for t in [y, *grads, layer.moving_mean, layer.moving_variance]
    ]


def _inputs(shape, dtype):
    rng = np.random.default_rng(0)
    # Mean far from 0 and a large spread, as after a sigmoid-free conv: where one-pass variance
    # formulas lose digits.
    x = tf.constant(rng.normal(3.0, 2.0, size=shape), dtype)
    dy = tf.constant(rng.normal(size=shape), dtype)
    return x, dy


NAMES = ["y", "dx", "dgamma", "dbeta", "moving_mean", "moving_variance"]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_training_step_matches_keras_within_float32_rounding(shape):
    keras_layer, fast_layer = _pair(shape)
    x, dy = _inputs(shape, tf.float32)
    for name, ours, theirs in zip(
        NAMES, _train_step(fast_layer, x, dy), _train_step(keras_layer, x, dy)
    ):
        scale = np.abs(theirs).max()
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=2e-5 * scale, err_msg=name)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_float32_error_is_no_larger_than_keras_own(shape):
    """Against a float64 reference (Keras's layer in float64), the fast path's float32 error is
    at most Keras's float32 error plus one float32 rounding of the largest value."""
    reference = _train_step(_pair(shape, "float64")[0], *_inputs(shape, tf.float64))
    keras_layer, fast_layer = _pair(shape)
    x, dy = _inputs(shape, tf.float32)
    for name, ref, ours, theirs in zip(
        NAMES, reference, _train_step(fast_layer, x, dy), _train_step(keras_layer, x, dy)
    ):
        ulp = np.finfo(np.float32).eps * np.abs(ref).max()
        assert np.abs(ours - ref).max() <= np.abs(theirs - ref).max() + 4 * ulp, name


def test_float64_inputs_are_computed_in_float64():
    shape = (16, 5)
    keras_layer, fast_layer = _pair(shape, "float64")
    x, dy = _inputs(shape, tf.float64)
    for name, ours, theirs in zip(
        NAMES, _train_step(fast_layer, x, dy), _train_step(keras_layer, x, dy)
    ):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12, err_msg=name)


def test_inference_uses_the_moving_statistics_as_keras_does():
    keras_layer, fast_layer = _pair((8, 4, 4, 3))
    x, _ = _inputs((8, 4, 4, 3), tf.float32)
    np.testing.assert_array_equal(fast_layer(x, training=False), keras_layer(x, training=False))


def test_synchronized_statistics_run_keras_code():
    """Synchronized BN is Keras's code path, bit for bit (the fast path differs in rounding)."""
    shape = SHAPES[0]
    keras_layer, fast_layer = _pair(shape, synchronized=True)
    x, dy = _inputs(shape, tf.float32)
    for name, ours, theirs in zip(
        NAMES, _train_step(fast_layer, x, dy), _train_step(keras_layer, x, dy)
    ):
        np.testing.assert_array_equal(ours, theirs, err_msg=name)


def test_the_fast_path_is_not_keras_code():
    """The counterpart of the test above: unsynchronized, the two differ in rounding, so the
    agreement tests compare two computations, not one."""
    shape = SHAPES[0]
    keras_layer, fast_layer = _pair(shape)
    x, dy = _inputs(shape, tf.float32)
    ours, theirs = _train_step(fast_layer, x, dy), _train_step(keras_layer, x, dy)
    assert any(not np.array_equal(a, b) for a, b in zip(ours, theirs))


def test_networks_use_the_chosen_implementation():
    def bn_classes(implementation):
        model = build_model("lenet", bn=True, bn_options=BnOptions(implementation=implementation))
        return {type(layer) for layer in model.layers if "_bn" in layer.name}

    assert bn_classes("fast") == {FastBatchNormalization}
    assert bn_classes("keras") == {keras.layers.BatchNormalization}
    with pytest.raises(ValueError, match="unknown BatchNorm implementation 'cudnn'"):
        batch_norm_class("cudnn")


def test_registered_layer_round_trips_through_a_keras_file(tmp_path):
    model = build_model("mlp", bn=True)
    model.save(tmp_path / "fast.keras")
    loaded = keras.models.load_model(tmp_path / "fast.keras")
    assert isinstance(loaded.get_layer("fc1_bn"), FastBatchNormalization)
    x = np.random.default_rng(0).normal(size=(3, 28, 28, 1)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x, training=False), model(x, training=False))


def test_stock_copy_has_keras_layers_and_the_same_weights_and_function():
    model = build_model("lenetr", bn=True)
    for layer in model.layers:
        if isinstance(layer, FastBatchNormalization):
            layer.moving_mean.assign(tf.fill(layer.moving_mean.shape, 0.25))
    stock = to_stock_model(model)
    assert [layer.name for layer in stock.layers] == [layer.name for layer in model.layers]
    assert not any(isinstance(layer, FastBatchNormalization) for layer in stock.layers)
    for ours, theirs in zip(model.get_weights(), stock.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    x = np.random.default_rng(0).normal(size=(3, 28, 28, 1)).astype(np.float32)
    np.testing.assert_array_equal(stock(x, training=False), model(x, training=False))
    keras_model = build_model("lenetr", bn=True, bn_options=BnOptions(implementation="keras"))
    assert to_stock_model(keras_model) is keras_model
