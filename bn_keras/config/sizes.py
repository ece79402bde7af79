"""How big a network of the settings is, counted from its declaration without building it.

The layer sizes are the network's declaration's (bn_keras/config/networks.py: `units`, scaled by
the width), which the builders build too; a test checks the count against the built Keras
model's. `check_fits` refuses a run whose weights, optimizer state and activations cannot fit in
this machine's memory before anything is built. No TensorFlow here.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from bn_keras.common.errors import ConfigError
from bn_keras.config import networks

# LeNet-5's layout, which every convolutional network declared shares: two 5x5 convolutions
# (the first "same", the second "valid"), each followed by 2x2 max-pooling, then dense layers.
KERNEL, POOL, CONVOLUTIONS = 5, 2, 2
FLOAT_BYTES = 4
# Copies of every weight a training step holds: the weight and its gradient, and for Adadelta
# its two running averages.
OPTIMIZER_SLOTS = {"adadelta": 2, "sgd": 0}
# Where the kernel says how much memory this process may use, when a cgroup limits it.
_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def _layers(model: str, width: float, mlp_depth: int) -> list[tuple[int, int, int]]:
    """Each weight layer as (inputs per output, outputs, output values per example): a dense
    layer's fan-in and units, a convolution's kernel fan-in and channels."""
    network = networks.get(model)
    units = network.hidden_units(width, mlp_depth)
    side, _, channels = networks.IMAGE_SHAPE
    layers, fan_in = [], side * side * channels
    if network.convolutional:
        pooled = side  # conv1 "same" keeps the side; conv2 "valid" takes KERNEL - 1 off it
        for index, filters in enumerate(units[:CONVOLUTIONS]):
            out_side = pooled if index == 0 else pooled - KERNEL + 1
            layers.append((KERNEL * KERNEL * channels, filters, out_side * out_side * filters))
            channels, pooled = filters, out_side // POOL
        fan_in = pooled * pooled * channels
        units = units[CONVOLUTIONS:]
    for dense in units:
        layers.append((fan_in, dense, dense))
        fan_in = dense
    return [*layers, (fan_in, networks.CLASSES, networks.CLASSES)]


def parameter_count(model: str, bn: bool, width: float = 1.0, mlp_depth: int | None = None) -> int:
    """The network's weights, BatchNorm's moving statistics included, as Keras counts them.

    A hidden layer has a bias without BN, and BN's four values per unit or channel with it.
    """
    layers = _layers(model, width, mlp_depth)
    hidden = sum(outputs for _, outputs, _ in layers[:-1])
    fan_in, classes, _ = layers[-1]
    weights = sum(fan_in * outputs for fan_in, outputs, _ in layers[:-1])
    return weights + (4 if bn else 1) * hidden + fan_in * classes + classes


def activation_count(model: str, bn: bool, width: float = 1.0, mlp_depth: int | None = None) -> int:
    """Values one example's forward pass keeps for the backward pass: each hidden layer's output,
    BN's output and the activation's (pooling's too for the LeNets)."""
    layers = _layers(model, width, mlp_depth)
    per_layer = 3 if bn else 2
    kept = sum(per_layer * values for _, _, values in layers[:-1]) + networks.CLASSES
    if networks.get(model).convolutional:
        kept += sum(values // (POOL * POOL) for _, _, values in layers[:CONVOLUTIONS])
    return math.prod(networks.IMAGE_SHAPE) + kept


def memory_needed(config, seeds: int = 1) -> int:
    """Bytes a run of `config` needs at least: per seed, its weights with their gradients and
    optimizer state, and the activations of the larger of a training batch (kept for the
    backward pass, with their gradients) and an evaluation batch.

    Args:
        config: a bn_keras.config.settings.Config.
        seeds: seeds trained together as one stack.
    """
    shape = (config.model, config.bn, config.width, config.mlp_depth)
    copies = 2 + OPTIMIZER_SLOTS.get(config.optimizer, 2)
    batch = max(2 * config.batch_size, config.test_batch_size)
    values = parameter_count(*shape) * copies + batch * activation_count(*shape)
    return seeds * values * FLOAT_BYTES


def machine_memory() -> int | None:
    """This machine's memory in bytes, or its cgroup's limit where lower; None when unknown."""
    try:
        limits = [os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")]
    except (ValueError, OSError, AttributeError):
        limits = []
    for path in _CGROUP_LIMITS:
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            limits.append(int(text))
    return min(limits) if limits else None


def check_fits(config, seeds: int = 1, memory: int | None = None) -> None:
    """Refuses a run whose network, at its width and depth, cannot fit in memory.

    Args:
        config: a bn_keras.config.settings.Config whose settings are each within bounds.
        seeds: seeds trained together as one stack.
        memory: the bytes available (default: machine_memory(); unknown: no check).

    Raises:
        ConfigError: naming the settings that size the network, the estimate and the bound.
    """
    memory = machine_memory() if memory is None else memory
    needed = memory_needed(config, seeds)
    if memory is None or needed <= memory:
        return
    flags = f"--width={config.width:g}"
    deep = networks.get(config.model).depth_varies
    if deep:
        flags += f" --mlp_depth={config.mlp_depth}"
    stack = f" x {seeds} seeds" if seeds > 1 else ""
    params = parameter_count(config.model, config.bn, config.width, config.mlp_depth)
    raise ConfigError(
        f"{flags}: {config.model} would hold {params:,} parameters{stack} and need at least "
        f"{needed / 2**30:,.1f} GiB for its weights, optimizer state and activations, above "
        f"this machine's {memory / 2**30:,.1f} GiB: lower --width"
        + (" or --mlp_depth" if deep else "")
        + (" or the seeds in the stack" if seeds > 1 else "")
        + " (or --batch_size, --test_batch_size)"
    )
