"""The twin's builders of the declared networks (bn_keras/config/networks.py) in PyTorch, as in
bn_keras.models.networks (imports only torch and config).

Shared by the twin's trainer and the benchmark's PyTorch worker, which runs under an interpreter
that may have torch alone (bn_keras.config needs only the standard library).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

from torch import nn

from bn_keras.config import networks
from bn_keras.config.names import split_experiment

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU}
BatchNorm = Callable[[int], nn.Module]


def _hidden(
    affine: nn.Module, width: int, bn: bool, activation: type, batch_norm: BatchNorm
) -> list:
    return [affine, *([batch_norm(width)] if bn else []), activation()]


def mlp(
    units: tuple[int, ...],
    bn: bool,
    activation: type,
    batch_norm_1d: BatchNorm,
    _batch_norm_2d: BatchNorm,
):
    """784-100-100-100-10: one hidden layer per entry of `units`."""
    layers, fan_in = [nn.Flatten()], math.prod(networks.IMAGE_SHAPE)
    for size in units:
        layers += _hidden(nn.Linear(fan_in, size, bias=not bn), size, bn, activation, batch_norm_1d)
        fan_in = size
    return nn.Sequential(*layers, nn.Linear(fan_in, networks.CLASSES))


def lenet(
    units: tuple[int, ...],
    bn: bool,
    activation: type,
    batch_norm_1d: BatchNorm,
    batch_norm_2d: BatchNorm,
):
    """LeNet-5: two 5x5 convolutions with max-pooling, then two dense layers (6, 16, 120, 84)."""
    conv1, conv2, fc1, fc2 = units
    side, _, channels = networks.IMAGE_SHAPE
    flat = ((side // 2 - 4) // 2) ** 2 * conv2  # conv1 "same", pool, conv2 "valid", pool
    conv = functools.partial(_hidden, bn=bn, activation=activation, batch_norm=batch_norm_2d)
    dense = functools.partial(_hidden, bn=bn, activation=activation, batch_norm=batch_norm_1d)
    return nn.Sequential(
        *conv(nn.Conv2d(channels, conv1, 5, padding=2, bias=not bn), conv1),
        nn.MaxPool2d(2),
        *conv(nn.Conv2d(conv1, conv2, 5, bias=not bn), conv2),
        nn.MaxPool2d(2),
        nn.Flatten(),
        *dense(nn.Linear(flat, fc1, bias=not bn), fc1),
        *dense(nn.Linear(fc1, fc2, bias=not bn), fc2),
        nn.Linear(fc2, networks.CLASSES),
    )


def build(network: str, bn_momentum: float = 0.1, bn_epsilon: float = 1e-5) -> nn.Module:
    """The network as in bn_keras.models.networks: affine (no bias with BN) -> BN -> activation.

    Args:
        network: a declared network's name, with `_bn` appended for the BatchNorm variant.
        bn_momentum: PyTorch's convention, moving = (1 - momentum) * moving + momentum * batch
            (PyTorch's default 0.1 is Keras's 0.9).
        bn_epsilon: BatchNorm's epsilon.

    Returns:
        The network with PyTorch's default initialization (seed torch before calling).
    """
    name, bn = split_experiment(network)
    declared = networks.get(name)
    options = {"momentum": bn_momentum, "eps": bn_epsilon}
    return declared.builder(networks.TORCH)(
        declared.hidden_units(),
        bn,
        ACTIVATIONS[declared.activation],
        functools.partial(nn.BatchNorm1d, **options),
        functools.partial(nn.BatchNorm2d, **options),
    )
