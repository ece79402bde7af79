"""The Keras builders of the declared networks (bn_keras/config/networks.py), with or without BN.

All take normalized images [N, 28, 28, 1] and return logits [N, 10]. With `bn=True`, every hidden
layer is affine op (no bias) -> BatchNormalization -> activation; the output layer has no BN.
The explanation grid's variants are keywords of `build_model`: a width multiplier, the MLP's
depth and the hidden activation; their defaults give the paper's networks.
"""

from __future__ import annotations

import dataclasses
import math

import keras
from keras import layers

from bn_keras.config import networks
from bn_keras.models.batch_norm import batch_norm_class

NUM_CLASSES = networks.CLASSES
INPUT_SHAPE = networks.IMAGE_SHAPE


@dataclasses.dataclass(frozen=True)
class BnOptions:
    """BatchNormalization settings (Keras momentum convention: PyTorch's 0.1 is 0.9 here).

    `synchronized` computes the batch statistics over the global batch, across all replicas
    of a tf.distribute strategy (Keras's synchronized BatchNormalization). `implementation`
    "fast" is bn_keras's FastBatchNormalization, "keras" Keras's own layer; `layer_class`, when
    set, replaces both (the benchmark times other BN implementations through it).
    """

    momentum: float = 0.9
    epsilon: float = 1e-5
    synchronized: bool = False
    implementation: str = "fast"
    layer_class: type[layers.BatchNormalization] | None = None


class LayerFactory:
    """Creates the layers of a network with one init scheme and one BN setting.

    bn_keras.models.stacked subclasses it to build S seeds of a network as one model.
    """

    def __init__(self, bn: BnOptions | None, init: str):
        self.bn = bn
        self.init = init

    def _initializers(self, fan_in: int) -> dict:
        if self.init == "glorot":
            return {}
        # PyTorch's default for Linear and Conv2d: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both.
        bound = 1.0 / math.sqrt(fan_in)
        return {
            "kernel_initializer": keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform"),
            "bias_initializer": keras.initializers.RandomUniform(-bound, bound),
        }

    def image_input(self) -> keras.KerasTensor:
        return keras.Input(INPUT_SHAPE, name="image")

    def flatten(self, x):
        return layers.Flatten(name="flatten")(x)

    def dense(self, x, units: int, name: str, hidden: bool = True):
        use_bias = not (hidden and self.bn)
        kwargs = self._initializers(fan_in=x.shape[-1])
        return layers.Dense(units, use_bias=use_bias, name=name, **kwargs)(x)

    def conv(self, x, filters: int, padding: str, name: str):
        kwargs = self._initializers(fan_in=5 * 5 * x.shape[-1])
        return layers.Conv2D(
            filters, 5, padding=padding, use_bias=not self.bn, name=name, **kwargs
        )(x)

    def normalize_and_activate(self, x, activation: str, name: str):
        if self.bn:
            layer_class = self.bn.layer_class or batch_norm_class(self.bn.implementation)
            x = layer_class(
                momentum=self.bn.momentum,
                epsilon=self.bn.epsilon,
                synchronized=self.bn.synchronized,
                name=f"{name}_bn",
            )(x)
        return layers.Activation(activation, name=f"{name}_{activation}")(x)


def mlp(
    make: LayerFactory, units: tuple[int, ...], activation: str
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """784-100-...-100-10: one dense hidden layer per entry of `units`, fc1, fc2, ..."""
    inputs = make.image_input()
    x = make.flatten(inputs)
    for i, size in enumerate(units, 1):
        x = make.dense(x, size, f"fc{i}")
        x = make.normalize_and_activate(x, activation, f"fc{i}")
    return inputs, make.dense(x, NUM_CLASSES, "logits", hidden=False)


def lenet(
    make: LayerFactory, units: tuple[int, ...], activation: str
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """LeNet-5: two 5x5 convolutions with max-pooling, then two dense layers; `units` gives
    their channels and units (6, 16, 120 and 84 at width 1)."""
    inputs = make.image_input()
    conv1, conv2, fc1, fc2 = units
    x = make.conv(inputs, conv1, "same", "conv1")
    x = make.normalize_and_activate(x, activation, "conv1")
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = make.conv(x, conv2, "valid", "conv2")
    x = make.normalize_and_activate(x, activation, "conv2")
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = make.flatten(x)
    x = make.normalize_and_activate(make.dense(x, fc1, "fc1"), activation, "fc1")
    x = make.normalize_and_activate(make.dense(x, fc2, "fc2"), activation, "fc2")
    return inputs, make.dense(x, NUM_CLASSES, "logits", hidden=False)


MLP_DEPTH = networks.MLP.depth


def build_model(
    name: str,
    bn: bool,
    bn_options: BnOptions | None = None,
    init: str = "pytorch",
    *,
    width: float = 1.0,
    mlp_depth: int = MLP_DEPTH,
    activation: str = "auto",
) -> keras.Model:
    """Builds a network of the ablation; the keyword defaults give the paper's networks.

    Args:
        name: a network declared in bn_keras/config/networks.py, e.g. "lenetr" (LeNet-5, ReLU).
        bn: insert BatchNormalization before every hidden activation.
        bn_options: BN momentum and epsilon; defaults follow the original PyTorch code.
        init: "pytorch" (the original's default initialization) or "glorot" (Keras's default).
        width: multiplies every hidden layer's channels or units as the network's declaration
            gives them (bn_keras.config.networks.scaled rounds).
        mlp_depth: the MLP's number of hidden layers (fc1..fcN); the LeNets take only 3.
        activation: "sigmoid", "relu", or "auto" for the network's own (its declaration's).

    Returns:
        A functional model named like `lenetr_bn` that maps images to logits.

    Raises:
        ValueError: unknown model name, a width or depth that is not positive, or a depth other
            than 3 for a network of fixed depth.
    """
    factory = LayerFactory((bn_options or BnOptions()) if bn else None, init)
    inputs, logits = network_graph(
        name, factory, width=width, mlp_depth=mlp_depth, activation=activation
    )
    return keras.Model(inputs, logits, name=f"{name}_bn" if bn else name)


def network_graph(
    name: str,
    make: LayerFactory,
    *,
    width: float = 1.0,
    mlp_depth: int = MLP_DEPTH,
    activation: str = "auto",
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """The inputs and logits of network `name`, its layers made by `make` (keywords: `build_model`).

    Raises:
        ValueError: as `build_model`.
    """
    if name not in networks.NETWORKS:
        raise ValueError(f"unknown model {name!r}; choose one of {tuple(networks.NETWORKS)}")
    network = networks.NETWORKS[name]
    if not width > 0 or mlp_depth < 1:
        raise ValueError(f"width ({width}) and mlp_depth ({mlp_depth}) must be positive")
    if not network.depth_varies and mlp_depth != MLP_DEPTH:
        raise ValueError(f"mlp_depth={mlp_depth} is the MLP's: {name} has fixed depth")
    build = network.builder(networks.KERAS)
    units = network.hidden_units(width, mlp_depth)
    return build(make, units, network.activation if activation == "auto" else activation)
