"""The networks a run can train, one declaration each, and the registry that holds them.

A declaration says what every room knows of a network: its hidden layers (what --probe_layers
names) and their sizes (what the builders build and config/sizes.py counts), its own hidden
activation (what --activation=auto gives), the builder each engine calls,
its name in figures, and for a network of the paper the claims about its BN pair and the figure
that shows them. Free of TensorFlow and torch: each builder is named by its import path and loaded
only by the engine that builds it, so that settings, the sweep and the reports read the same facts.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable

from bn_keras.config.registry import Registry

# The paper's claims about a BN pair (bn_keras.reporting.paper.claims decides them).
SPEEDS_UP = "BN speeds convergence"
RAISES = "BN raises final accuracy"
NO_DIFFERENCE = "BN makes no difference"
# What every network takes and gives; a dataset of other images or classes is refused.
IMAGE_SHAPE = (28, 28, 1)
CLASSES = 10
KERAS, TORCH = "keras", "torch"


@dataclasses.dataclass(frozen=True)
class Network:
    """One network's facts.

    Attributes:
        name: the --model value; its runs are `<name>[_bn]_seed<seed>`.
        title: its name in figures, e.g. "LeNet-5, ReLU".
        hidden_layers: the hidden layers' names at the default depth, input to output.
        units: each hidden layer's units (dense) or channels (convolution) at width 1, as
            hidden_layers orders them; a network whose depth varies has its first at every
            depth.
        activation: its own hidden activation, "sigmoid" or "relu".
        keras: its Keras builder, or "module:function" naming it (imported when built):
            `function(make, units, activation) -> (inputs, logits)` with a
            bn_keras.models.networks.LayerFactory `make` and the hidden layers' sizes `units`
            (hidden_units).
        torch: the twin's builder of its torch module, or "module:function" naming it (None:
            the twin refuses the network):
            `function(units, bn, activation, batch_norm_1d, batch_norm_2d) -> nn.Module`.
        claims: the paper's claims about its BN pair, in the summary's order; a network without
            claims is no paper experiment.
        figure: the paper figure's file stem, e.g. "fig4_lenetr" (paper networks only).
        depth_varies: whether --mlp_depth sets its number of hidden layers.
        convolutional: whether it has convolutions (a stack's grouped convolutions train
            without XLA by default: bn_keras.training.stacked); the convolutional networks
            declared share LeNet-5's layout (config/sizes.py counts it).
    """

    name: str
    title: str
    hidden_layers: tuple[str, ...]
    units: tuple[int, ...]
    activation: str
    keras: str | Callable
    torch: str | Callable | None = None
    claims: tuple[str, ...] = ()
    figure: str | None = None
    depth_varies: bool = False
    convolutional: bool = False

    def __post_init__(self):
        if len(self.units) != len(self.hidden_layers):
            raise ValueError(
                f"{self.name} declares {len(self.units)} sizes for its "
                f"{len(self.hidden_layers)} hidden layers: give one per layer"
            )

    @property
    def depth(self) -> int:
        """Its number of hidden layers by default."""
        return len(self.hidden_layers)

    def hidden_units(self, width: float = 1.0, depth: int | None = None) -> tuple[int, ...]:
        """The hidden layers' sizes at a width multiplier (and, where the depth varies, a
        depth), input to output: what the builders build."""
        if depth is None or not self.depth_varies:
            return tuple(scaled(units, width) for units in self.units)
        return (scaled(self.units[0], width),) * depth

    def builder(self, engine: str) -> Callable:
        """The function that builds this network in `engine` (KERAS or TORCH), imported now."""
        builder = {KERAS: self.keras, TORCH: self.torch}[engine]
        if callable(builder):
            return builder
        module, _, function = builder.partition(":")
        return getattr(importlib.import_module(module), function)


def scaled(units: int, width: float) -> int:
    """`units` times the width multiplier, rounded half up, at least 1 (6 x 0.25 = 1.5 -> 2)."""
    return max(1, math.floor(units * width + 0.5))


NETWORKS: Registry[Network] = Registry("model")
register = NETWORKS.register  # register(network) -> network; ValueError for a name taken
get = NETWORKS.lookup  # get(name) -> Network; ConfigError for a name not declared


def paper() -> tuple[Network, ...]:
    """The paper's networks (those with claims), in the paper's order."""
    return tuple(n for n in NETWORKS.values() if n.claims)


_KERAS = "bn_keras.models.networks"
_TORCH = "bn_keras.twin.networks"

MLP = register(
    Network(
        "mlp",
        "MLP 784-100-100-100-10, sigmoid",
        ("fc1", "fc2", "fc3"),
        (100, 100, 100),
        "sigmoid",
        f"{_KERAS}:mlp",
        f"{_TORCH}:mlp",
        claims=(SPEEDS_UP, RAISES),
        figure="fig2_mlp",
        depth_varies=True,
    )
)
LENET = register(
    Network(
        "lenet",
        "LeNet-5, sigmoid",
        ("conv1", "conv2", "fc1", "fc2"),
        (6, 16, 120, 84),
        "sigmoid",
        f"{_KERAS}:lenet",
        f"{_TORCH}:lenet",
        claims=(SPEEDS_UP, RAISES),
        figure="fig3_lenet",
        convolutional=True,
    )
)
# The same LeNet-5 with ReLU, whose claim is that BN makes no difference.
LENETR = register(
    dataclasses.replace(
        LENET,
        name="lenetr",
        title="LeNet-5, ReLU",
        activation="relu",
        claims=(NO_DIFFERENCE,),
        figure="fig4_lenetr",
    )
)
