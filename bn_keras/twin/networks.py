"""The twin's builders of the declared networks (bn_keras/config/networks.py) in PyTorch, as in
bn_keras.models.networks (imports only torch and config).

Shared by the twin's trainer and the benchmark's PyTorch worker, which runs under an interpreter
that may have torch alone (bn_keras.config needs only the standard library).
"""

from __future__ import annotations

import functools
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


def mlp(bn: bool, activation: type, batch_norm_1d: BatchNorm, _batch_norm_2d: BatchNorm):
    """784-100-100-100-10."""
    layers = [nn.Flatten()]
    for fan_in in (784, 100, 100):
        layers += _hidden(nn.Linear(fan_in, 100, bias=not bn), 100, bn, activation, batch_norm_1d)
    return nn.Sequential(*layers, nn.Linear(100, 10))


def lenet(bn: bool, activation: type, batch_norm_1d: BatchNorm, batch_norm_2d: BatchNorm):
    """LeNet-5: two 5x5 convolutions with max-pooling, then 120 and 84 units."""
    return nn.Sequential(
        *_hidden(nn.Conv2d(1, 6, 5, padding=2, bias=not bn), 6, bn, activation, batch_norm_2d),
        nn.MaxPool2d(2),
        *_hidden(nn.Conv2d(6, 16, 5, bias=not bn), 16, bn, activation, batch_norm_2d),
        nn.MaxPool2d(2),
        nn.Flatten(),
        *_hidden(nn.Linear(400, 120, bias=not bn), 120, bn, activation, batch_norm_1d),
        *_hidden(nn.Linear(120, 84, bias=not bn), 84, bn, activation, batch_norm_1d),
        nn.Linear(84, 10),
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
        bn,
        ACTIVATIONS[declared.activation],
        functools.partial(nn.BatchNorm1d, **options),
        functools.partial(nn.BatchNorm2d, **options),
    )
