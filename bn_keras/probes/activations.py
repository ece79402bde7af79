"""Ioffe & Szegedy's instrument: percentiles of the input to each hidden activation over a batch."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from bn_keras.common.errors import ConfigError

PERCENTILES = (15, 50, 85)  # Ioffe & Szegedy (2015), Fig. 1(b, c)


def hidden_layers(model: keras.Model) -> list[str]:
    """Names of the hidden layers (e.g. "conv1", "fc3"): those ending in an Activation layer."""
    return [
        layer.name.rsplit("_", 1)[0]
        for layer in model.layers
        if isinstance(layer, keras.layers.Activation)
    ]


def choose_layers(model: keras.Model, names: str) -> list[str]:
    """The hidden layers named in the comma-separated `names`, in depth order; "" means all.

    Raises:
        ConfigError: a name that is not a hidden layer of `model`.
    """
    available = hidden_layers(model)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise ConfigError(
            f"--probe_layers names {unknown}, not hidden layers of {model.name}: "
            f"use some of {available}, or leave it empty for all"
        )
    return [n for n in available if not wanted or n in wanted]


def choose_units(width: int, count: int) -> list[int]:
    """`count` unit indices spread evenly over 0..width-1, first and last included."""
    return sorted({int(i) for i in np.linspace(0, width - 1, min(count, width)).round()})


def unit_percentiles(values: np.ndarray, units: list[int]) -> np.ndarray:
    """Percentiles PERCENTILES of each unit's values over everything but the last axis.

    Args:
        values: [N, units] from a dense layer or [N, H, W, channels] from a conv layer; a conv
            layer's unit is a channel, its values taken over every example and position (the
            set BatchNorm normalizes over).
        units: indices into the last axis.

    Returns:
        [len(units), len(PERCENTILES)], numpy's default (linear) interpolation.
    """
    # One contiguous row per unit: numpy partitions rows far faster than strided columns.
    rows = np.ascontiguousarray(np.asarray(values).reshape(-1, values.shape[-1]).T[units])
    return np.percentile(rows, PERCENTILES, axis=1).T


class ActivationProbe:
    """Percentiles of the activations' inputs (after BN where there is BN) over a fixed batch.

    The model runs in inference mode, as in evaluation: BN uses its moving statistics, and
    nothing in the model changes.
    """

    def __init__(self, model: keras.Model, layers: list[str], units: int, images: np.ndarray):
        """Args:
        model: a network of bn_keras.models.networks.
        layers: hidden layer names, from choose_layers.
        units: units per layer.
        images: the fixed probe batch, normalized.
        """
        activations = {
            layer.name.rsplit("_", 1)[0]: layer
            for layer in model.layers
            if isinstance(layer, keras.layers.Activation)
        }
        inputs = keras.Model(
            model.inputs, [activations[name].input for name in layers], name="probe_inputs"
        )
        self._forward = tf.function(lambda x: inputs(x, training=False))
        self._images = images
        self.units = {
            name: choose_units(activations[name].input.shape[-1], units) for name in layers
        }

    @property
    def fields(self) -> list[str]:
        """Column names, `<layer>:<unit>:p<percentile>`, e.g. `fc3:99:p85`."""
        return [
            f"{layer}:{unit}:p{q}"
            for layer, units in self.units.items()
            for unit in units
            for q in PERCENTILES
        ]

    def measure(self) -> dict[str, float]:
        """One value per field."""
        outputs = self._forward(self._images)
        if len(self.units) == 1:
            outputs = [outputs]
        row = {}
        for (layer, units), values in zip(self.units.items(), outputs):
            table = unit_percentiles(keras.ops.convert_to_numpy(values), units)
            for unit, percentiles in zip(units, table):
                for q, value in zip(PERCENTILES, percentiles):
                    row[f"{layer}:{unit}:p{q}"] = float(value)
        return row
