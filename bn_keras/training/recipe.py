"""The original PyTorch code's recipe: Adadelta, step-decayed learning rate, cross-entropy."""

from __future__ import annotations

import keras

from bn_keras.config.settings import Config
from bn_keras.data.facts import decay_interval


def learning_rate_schedule(
    config: Config, steps_per_epoch: int
) -> keras.optimizers.schedules.LearningRateSchedule:
    """The learning rate as a function of the iteration count.

    "epoch" is PyTorch's StepLR(step_size=1, gamma=lr_decay) stepped after every epoch: iterations
    0..steps_per_epoch-1 use the initial rate. "steps" decays every `lr_decay_steps` iterations and
    "constant" never decays.
    """
    interval = decay_interval(config, steps_per_epoch)
    return keras.optimizers.schedules.ExponentialDecay(
        config.learning_rate,
        decay_steps=interval or 1,
        decay_rate=config.lr_decay if interval else 1.0,
        staircase=True,
    )


def make_optimizer(config: Config, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """Adadelta with PyTorch's hyper-parameters (Keras's defaults: rho 0.95, epsilon 1e-7); with
    --optimizer=sgd, plain SGD (no momentum) on the same learning-rate schedule."""
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate_schedule(config, steps_per_epoch))
    return keras.optimizers.Adadelta(
        learning_rate=learning_rate_schedule(config, steps_per_epoch),
        rho=config.rho,
        epsilon=config.adadelta_epsilon,
    )


def make_loss() -> keras.losses.Loss:
    """Cross-entropy on logits with integer labels, averaged over the batch (PyTorch's default)."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def make_train_loss_metric() -> keras.metrics.Mean:
    """The training cross-entropy as a compiled metric, summed in float64.

    The test-accuracy callback reads its sum and count and resets it at every metrics row, so
    each row's mean training loss covers exactly its interval, summed in the same order whether
    or not the run was interrupted and resumed.
    """
    return keras.metrics.SparseCategoricalCrossentropy(
        name="train_cross_entropy", from_logits=True, dtype="float64"
    )
