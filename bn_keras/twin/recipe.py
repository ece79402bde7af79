"""The original recipe's network and optimizer in PyTorch, from a Config: shared by the twin's
engine and the benchmark's PyTorch worker (which may run where torch alone is installed)."""

from __future__ import annotations

import torch
from torch import nn

from bn_keras.config.settings import Config
from bn_keras.twin.networks import build


def build_network(network: str, config: Config) -> nn.Module:
    """`network` (e.g. "lenet_bn") with `config`'s BatchNorm settings and PyTorch's init (seed
    torch first)."""
    return build(
        network,
        bn_momentum=1.0 - config.bn_momentum,  # Keras's convention to PyTorch's
        bn_epsilon=config.bn_epsilon,
    )


def make_optimizer(parameters, config: Config) -> torch.optim.Adadelta:
    """`config`'s Adadelta over `parameters`."""
    return torch.optim.Adadelta(
        parameters, lr=config.learning_rate, rho=config.rho, eps=config.adadelta_epsilon
    )
