"""The configured network, compiled with the recipe for the strategy in scope."""

from __future__ import annotations

import keras
import tensorflow as tf

from bn_keras.config.settings import Config
from bn_keras.distribution import workarounds
from bn_keras.models import networks as models
from bn_keras.training import recipe


def jit_compile(setting: str) -> str | bool:
    """--jit_compile as Keras's `compile` takes it."""
    return {"auto": "auto", "true": True, "false": False}[setting]


def network_variant(config: Config) -> dict:
    """The network variant's keywords of `networks.build_model` (width, depth, activation)."""
    return {"width": config.width, "mlp_depth": config.mlp_depth, "activation": config.activation}


def steps_per_execution(config: Config) -> int:
    """Training steps per compiled call: the config's, or one under a strategy with several
    replicas (keras-team/keras#19246); call it inside the strategy's scope."""
    if workarounds.single_step_execution_needed(tf.distribute.get_strategy()):
        return 1
    return config.resolved_steps_per_execution


def build_compiled_model(
    config: Config,
    steps_per_epoch: int,
    train_loss: keras.metrics.Mean | None = None,
    sync_bn: bool = False,
    bn_layer_class: type[keras.layers.BatchNormalization] | None = None,
) -> keras.Model:
    """Builds and compiles the configured network; call it inside the strategy's scope.

    Args:
        config: the run's configuration.
        steps_per_epoch: iterations per epoch, for the per-epoch learning-rate schedule.
        train_loss: a metric to compile in, recording the training loss for the metrics rows.
        sync_bn: BatchNorm statistics over the global batch, across replicas.
        bn_layer_class: a BatchNorm layer class instead of `config.bn_impl`'s (the benchmark's).

    Under a strategy with several replicas, fit runs one step per call (keras-team/keras#19246).
    """
    model = models.build_model(
        config.model,
        bn=config.bn,
        bn_options=models.BnOptions(
            config.bn_momentum, config.bn_epsilon, sync_bn, config.bn_impl, bn_layer_class
        ),
        init=config.init,
        **network_variant(config),
    )
    model.compile(
        optimizer=recipe.make_optimizer(config, steps_per_epoch),
        loss=recipe.make_loss(),
        metrics=[train_loss] if train_loss is not None else None,
        steps_per_execution=steps_per_execution(config),
        jit_compile=jit_compile(config.jit_compile),
    )
    return model
