"""The six networks in PyTorch, as in bn_keras.models.networks (imports only torch and config).

Shared by the twin's trainer and the benchmark's PyTorch worker, which runs under an interpreter
that may have torch alone (bn_keras.config needs only the standard library).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from torch import nn

from bn_keras.config.names import split_experiment


def _hidden(
    affine: nn.Module,
    width: int,
    bn: bool,
    activation: type,
    batch_norm: Callable[[int], nn.Module],
) -> list:
    return [affine, *([batch_norm(width)] if bn else []), activation()]


def build(network: str, bn_momentum: float = 0.1, bn_epsilon: float = 1e-5) -> nn.Module:
    """The network as in bn_keras.models.networks: affine (no bias with BN) -> BN -> activation.

    Args:
        network: `mlp`, `lenet` or `lenetr`, with `_bn` appended for the BatchNorm variant.
        bn_momentum: PyTorch's convention, moving = (1 - momentum) * moving + momentum * batch
            (PyTorch's default 0.1 is Keras's 0.9).
        bn_epsilon: BatchNorm's epsilon.

    Returns:
        The network with PyTorch's default initialization (seed torch before calling).
    """
    name, bn = split_experiment(network)
    options = {"momentum": bn_momentum, "eps": bn_epsilon}
    batch_norm_1d = functools.partial(nn.BatchNorm1d, **options)
    batch_norm_2d = functools.partial(nn.BatchNorm2d, **options)
    if name == "mlp":
        layers = [nn.Flatten()]
        for fan_in in (784, 100, 100):
            layers += _hidden(
                nn.Linear(fan_in, 100, bias=not bn), 100, bn, nn.Sigmoid, batch_norm_1d
            )
        return nn.Sequential(*layers, nn.Linear(100, 10))
    act = {"lenet": nn.Sigmoid, "lenetr": nn.ReLU}[name]
    return nn.Sequential(
        *_hidden(nn.Conv2d(1, 6, 5, padding=2, bias=not bn), 6, bn, act, batch_norm_2d),
        nn.MaxPool2d(2),
        *_hidden(nn.Conv2d(6, 16, 5, bias=not bn), 16, bn, act, batch_norm_2d),
        nn.MaxPool2d(2),
        nn.Flatten(),
        *_hidden(nn.Linear(400, 120, bias=not bn), 120, bn, act, batch_norm_1d),
        *_hidden(nn.Linear(120, 84, bias=not bn), 84, bn, act, batch_norm_1d),
        nn.Linear(84, 10),
    )
