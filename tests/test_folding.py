"""Folding BatchNorm into the layer before it changes no logit beyond float32 rounding."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from bn_keras.config import datasets
from bn_keras.data import input_pipeline
from bn_keras.models import folding
from bn_keras.models import networks as models
from bn_keras.training.evaluation import make_test_evaluator

MNIST = datasets.get("mnist")

# Folding re-associates each output as sum(x * (w * s)) + b' instead of (sum(x * w) - m) * s + beta:
# a few float32 roundings (2^-24 ~ 6e-8 relative) per term of sums of up to 400 products, through
# 4 layers, about 1e-5 of the logits' scale. A wrong fold (eps left out, scale applied to the
# wrong axis, beta missed) moves logits by 1e-2 or more with the statistics set below.
RTOL, ATOL = 1e-4, 1e-4


def _trained_looking(model: keras.Model, seed: int) -> keras.Model:
    """Sets every BN's moving statistics, gamma and beta far from their initial values."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.5, n).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.05, 3, n).astype(np.float32))
            layer.gamma.assign(rng.uniform(0.5, 2, n).astype(np.float32))
            layer.beta.assign(rng.normal(0, 0.5, n).astype(np.float32))
    return model


@pytest.mark.parametrize(("name", "pairs"), [("mlp", 3), ("lenet", 4), ("lenetr", 4)])
def test_folded_logits_equal_inference_logits(name, pairs):
    keras.utils.set_random_seed(0)
    model = _trained_looking(models.build_model(name, bn=True), seed=1)
    images = tf.constant(np.random.default_rng(2).normal(size=(64, 28, 28, 1)), tf.float32)
    assert folding.count_foldable(model) == pairs
    forward = tf.function(folding.folded_inference(model))
    expected = model(images, training=False).numpy()
    np.testing.assert_allclose(forward(images).numpy(), expected, rtol=RTOL, atol=ATOL)
    # The function reads the weights at each call, so it follows a model that keeps training.
    last_bn = [layer for layer in model.layers if "_bn" in layer.name][-1]
    last_bn.moving_mean.assign_add(tf.fill(last_bn.moving_mean.shape, 2.0))
    changed = model(images, training=False).numpy()
    assert np.abs(changed - expected).max() > 1e-2
    np.testing.assert_allclose(forward(images).numpy(), changed, rtol=RTOL, atol=ATOL)


def test_models_without_bn_are_unchanged():
    model = models.build_model("lenetr", bn=False)
    images = tf.constant(np.random.default_rng(0).normal(size=(8, 28, 28, 1)), tf.float32)
    assert folding.count_foldable(model) == 0
    np.testing.assert_array_equal(
        folding.folded_inference(model)(images).numpy(), model(images, training=False).numpy()
    )


def test_a_branching_model_is_refused():
    inputs = keras.Input((4,))
    outputs = keras.layers.Add()([keras.layers.Dense(4)(inputs), inputs])
    model = keras.Model(inputs, outputs)
    assert not folding.is_chain(model) and folding.count_foldable(model) == 0
    with pytest.raises(ValueError, match="chain"):
        folding.folded_inference(model)


def test_folding_evaluator_agrees_with_the_stock_one(tiny_mnist):
    keras.utils.set_random_seed(0)
    model = _trained_looking(models.build_model("lenetr", bn=True), seed=3)
    test_ds = input_pipeline.test_dataset(
        tiny_mnist.test_images, tiny_mnist.test_labels, 40, dataset=MNIST
    )
    count, strategy = len(tiny_mnist.test_labels), tf.distribute.get_strategy()
    stock = make_test_evaluator(model, test_ds, strategy, count, fold_batch_norm=False)()
    folded = make_test_evaluator(model, test_ds, strategy, count, fold_batch_norm=True)()
    assert folded[0] == pytest.approx(stock[0], rel=1e-5) and folded[1] == stock[1]


def test_fold_bn_eval_folds_the_run_evaluation_and_keeps_its_numbers(tiny_mnist, tmp_path):
    """--fold_bn_eval reaches the run's evaluator and its predictor of classes (a spy sees
    folded_inference built for each), training stays bitwise the same and the test columns agree
    to the metrics file's 6 digits; the predicted classes it saves (--save_predictions) are those
    of its recorded accuracy."""
    from unittest import mock

    from bn_keras.config.settings import Config
    from bn_keras.runs.metrics_file import read_metrics
    from bn_keras.runs.predictions import read_predictions
    from bn_keras.training import train

    rows, calls = {}, {}
    for fold in (False, True):
        config = Config(
            model="lenetr",
            bn=True,
            fold_bn_eval=fold,
            export=False,
            batch_size=32,
            eval_every=10,
            train_steps=30,
            test_batch_size=40,
            save_predictions=True,
        )
        with mock.patch.object(folding, "folded_inference", wraps=folding.folded_inference) as spy:
            result = train.train_and_evaluate(config, tmp_path / f"fold_{fold}", data=tiny_mnist)
        calls[fold] = spy.call_count
        rows[fold] = read_metrics(result.run_dir / train.METRICS_FILE)
        predictions = read_predictions(result.run_dir)
        assert float(np.mean(predictions == tiny_mnist.test_labels)) == result.final_test_accuracy
    assert calls == {False: 0, True: 2}
    stock, folded = rows[False], rows[True]
    assert [r["train_loss"] for r in stock] == [r["train_loss"] for r in folded]
    count = len(tiny_mnist.test_labels)
    for a, b in zip(stock, folded):
        assert b["test_loss"] == pytest.approx(a["test_loss"], rel=2e-5)
        assert abs(b["test_accuracy"] - a["test_accuracy"]) <= 1 / count + 1e-12
