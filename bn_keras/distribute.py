"""Turns a strategy name into a tf.distribute strategy, refusing unknown names."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from bn_keras.config import STRATEGIES
from bn_keras.errors import ConfigError


def get_strategy(name: str, devices: Sequence[str] | None = None) -> tf.distribute.Strategy:
    """Creates the named strategy.

    Args:
        name: "auto" (MirroredStrategy over all GPUs when there are several, else the default
            strategy), "default", "one_device" (the first GPU, else the CPU) or "mirrored"
            (`devices`, else all local GPUs, else the CPU).
        devices: device names for "mirrored", e.g. ["/gpu:0", "/gpu:1"].

    Raises:
        ConfigError: unknown strategy name.
    """
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=list(devices) if devices else None)
    raise ConfigError(f"--strategy={name!r} is unknown: use one of {STRATEGIES}")
