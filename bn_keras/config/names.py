"""The names experiments go by: the networks, the `_bn` rule and the paper's experiments.

An experiment is a network with or without BatchNorm, `<model>[_bn]` (`lenetr_bn`); its runs are
`<experiment>_seed<seed>`. Every room that names one uses these, so the rule is said once.
"""

from __future__ import annotations

from bn_keras.config import networks

MODELS = tuple(networks.NETWORKS)  # the networks declared in bn_keras/config/networks.py
BN_SUFFIX = "_bn"


def experiment_name(model: str, bn: bool) -> str:
    """`<model>[_bn]`, e.g. experiment_name("lenetr", True) == "lenetr_bn"."""
    return f"{model}{BN_SUFFIX if bn else ''}"


def split_experiment(name: str) -> tuple[str, bool]:
    """The network and whether it has BatchNorm: split_experiment("mlp_bn") == ("mlp", True)."""
    return name.removesuffix(BN_SUFFIX), name.endswith(BN_SUFFIX)


# Each paper network (one with claims) without and with BatchNorm, in the paper's order.
PAPER_EXPERIMENTS = tuple(
    experiment_name(n.name, bn) for n in networks.paper() for bn in (False, True)
)
