"""The explanation grid's factors as settings: width, the MLP's depth, the activation and the
optimizer reach the model and the recipe; combinations they cannot take are refused; a diverged
run can end as a result."""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from bn_keras.common.errors import ConfigError
from bn_keras.config.settings import Config
from bn_keras.runs import run_dir
from bn_keras.training import recipe, train
from bn_keras.twin import support

SMALL = dict(batch_size=32, eval_every=10, train_steps=20, test_batch_size=40)


def test_the_settings_reach_the_compiled_model():
    config = Config(model="mlp", mlp_depth=6, width=0.5, activation="relu", optimizer="sgd")
    config.validate()
    model = train.build_compiled_model(config, steps_per_epoch=7)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [50] * 6 + [10]
    assert model.get_layer("fc6_relu").activation is keras.activations.relu
    assert type(model.optimizer) is keras.optimizers.SGD


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"model": "lenetr", "mlp_depth": 6}, "--mlp_depth=6 is the MLP's"),
        ({"optimizer": "sgd", "landscape_every": 100}, "--landscape_every measures Adadelta"),
        ({"width": 0.0}, r"--width=0.0 must be in \(0, 100\]"),
    ],
)
def test_combinations_the_factors_cannot_take_are_refused(change, match):
    with pytest.raises(ConfigError, match=match):
        Config(**change).validate()


@pytest.mark.parametrize(
    "change",
    [
        {"width": 0.5},
        {"model": "mlp", "mlp_depth": 6},
        {"activation": "sigmoid"},
        {"optimizer": "sgd"},
        {"record_divergence": True},
    ],
)
def test_the_twin_refuses_the_factors_in_one_line(change):
    with pytest.raises(ConfigError, match=f"--framework=pytorch .* drop --{list(change)[-1]}"):
        support.check_supported(dataclasses.replace(Config(), **change))


def test_sgd_is_plain_sgd_on_the_recipe_schedule():
    # One iteration per epoch: the second step runs at lr x 0.7.
    optimizer = recipe.make_optimizer(Config(optimizer="sgd", learning_rate=0.1), 1)
    var = tf.Variable([0.5, -1.0, 2.0])
    grads = [np.array([0.1, -0.2, 0.3], np.float32), np.array([-0.05, 0.4, 0.0], np.float32)]
    expected = var.numpy() - 0.1 * grads[0] - 0.07 * grads[1]
    for g in grads:
        optimizer.apply_gradients([(tf.constant(g), var)])
    np.testing.assert_allclose(var.numpy(), expected, rtol=1e-6)


def test_a_diverged_run_ends_as_a_recorded_result(tiny_mnist, tmp_path):
    config = Config(
        model="mlp", optimizer="sgd", learning_rate=1e38, record_divergence=True, **SMALL
    )
    result = train.train_and_evaluate(config, tmp_path / "run", data=tiny_mnist)
    assert result.diverged_at is not None and 1 <= result.diverged_at <= 20
    record = json.loads((tmp_path / "run" / run_dir.RESULT_FILE).read_text())
    assert record["diverged_at"] == result.diverged_at
    # The loss is checked once per compiled call (steps_per_execution 10 here): the last row may
    # be an evaluation of the diverged model, at diverged_at.
    assert record["steps"] <= result.diverged_at
    assert not (tmp_path / "run" / run_dir.SAVED_MODEL_DIR).exists()
