"""The devices a run names, checked against this machine's before a strategy is built on them."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from bn_keras.common.errors import ConfigError


def _local_specs() -> list[tf.DeviceSpec]:
    return [tf.DeviceSpec.from_string(d.name) for d in tf.config.list_logical_devices()]


def local_devices() -> list[str]:
    """This process's logical devices, as `/cpu:0`, `/gpu:1`, ..."""
    return [f"/{s.device_type.lower()}:{s.device_index}" for s in _local_specs()]


def check_devices(devices: Sequence[str]) -> None:
    """Refuses device names that are not devices of this machine (TensorFlow's soft placement
    would otherwise run on the CPU and report success). Names of other jobs are left to them.

    Raises:
        ConfigError: a name that does not parse, or names no local device; it lists those there.
    """
    local = _local_specs()
    for name in devices:
        try:
            spec = tf.DeviceSpec.from_string(name)
        except ValueError:
            spec = tf.DeviceSpec()  # matches nothing below
        if spec.job is not None:
            continue  # a device of another worker: that worker checks its own
        found = spec.device_type is not None and any(
            d.device_type == spec.device_type.upper()
            and spec.device_index in (None, d.device_index)
            for d in local
        )
        if not found:
            raise ConfigError(
                f"--devices names {name!r}, which this machine does not have: its devices are "
                f"{','.join(local_devices())}"
            )


def tpu_resolver() -> tf.distribute.cluster_resolver.TPUClusterResolver:
    """The resolver of the TPU this environment names.

    Raises:
        ConfigError: no TPU here (TensorFlow finds none to connect to).
    """
    try:
        return tf.distribute.cluster_resolver.TPUClusterResolver()
    except (ValueError, tf.errors.OpError) as err:
        raise ConfigError(
            f"--strategy=tpu needs a TPU, and this machine has none ({err}): its devices are "
            f"{','.join(local_devices())}; use another --strategy"
        ) from None
