"""The original recipe: learning-rate schedules and Adadelta with PyTorch's update rule."""

import numpy as np
import pytest
import tensorflow as tf

from bn_keras.config.settings import Config
from bn_keras.training import recipe


def _lr(config, step, per_epoch=938):
    return float(recipe.learning_rate_schedule(config, per_epoch)(step))


def test_per_epoch_decay_matches_pytorch_steplr():
    config = Config(lr_schedule="epoch", lr_decay=0.7)
    assert _lr(config, 0) == pytest.approx(1.0)
    assert _lr(config, 937) == pytest.approx(1.0)
    assert _lr(config, 938) == pytest.approx(0.7)
    assert _lr(config, 938 * 26) == pytest.approx(0.7**26)
    assert _lr(config, 938 * 26) < 1e-4  # why the paper's 100K iterations are questioned


def test_decay_every_k_steps_and_constant():
    assert _lr(Config(lr_schedule="steps", lr_decay_steps=9380), 9379) == pytest.approx(1.0)
    assert _lr(Config(lr_schedule="steps", lr_decay_steps=9380), 9380) == pytest.approx(0.7)
    assert _lr(Config(lr_schedule="constant"), 100_000) == pytest.approx(1.0)


def test_adadelta_step_equals_pytorch_formula():
    """Two steps of the Keras optimizer against PyTorch's Adadelta written out in numpy."""
    config = Config()
    optimizer = recipe.make_optimizer(config, steps_per_epoch=10)
    var = tf.Variable([0.5, -1.0, 2.0])
    grads = [np.array([0.1, -0.2, 0.3], np.float32), np.array([-0.05, 0.4, 0.0], np.float32)]
    p, square_avg, acc_delta = var.numpy().astype(np.float64), np.zeros(3), np.zeros(3)
    rho, eps, lr = 0.9, 1e-6, 1.0
    for g in grads:
        optimizer.apply_gradients([(tf.constant(g), var)])
        square_avg = rho * square_avg + (1 - rho) * g**2
        delta = np.sqrt(acc_delta + eps) / np.sqrt(square_avg + eps) * g
        acc_delta = rho * acc_delta + (1 - rho) * delta**2
        p = p - lr * delta
    np.testing.assert_allclose(var.numpy(), p, rtol=1e-5)


def test_loss_is_mean_cross_entropy_on_logits():
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]], np.float32)
    labels = np.array([0, 2])
    expected = np.mean(-np.log(np.exp(logits[[0, 1], labels]) / np.exp(logits).sum(axis=1)))
    assert float(recipe.make_loss()(labels, logits)) == pytest.approx(expected, rel=1e-6)
