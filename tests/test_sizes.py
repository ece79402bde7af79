"""Sizes counted from the networks' declaration (bn_keras.config.sizes) against the built Keras
models, a toy network's counted from its own declaration, and the refusal of a network, or a
stack of it, that cannot fit in memory."""

from __future__ import annotations

import dataclasses

import pytest

from bn_keras.common.errors import ConfigError
from bn_keras.config import networks, sizes
from bn_keras.config.settings import Config
from bn_keras.models import networks as models

SHAPES = [
    ("mlp", bn, {"width": width, "mlp_depth": depth})
    for bn in (False, True)
    for width, depth in ((1.0, 3), (0.25, 10), (2.5, 1), (0.01, 2))
] + [
    (name, bn, {"width": width})
    for name in ("lenet", "lenetr")
    for bn in (False, True)
    for width in (1.0, 0.25, 0.5, 2.0, 3.3)
]
GIB = 2**30


@pytest.mark.parametrize(("name", "bn", "shape"), SHAPES)
def test_the_count_without_building_is_keras_count(name, bn, shape):
    built = models.build_model(name, bn=bn, **shape).count_params()
    assert sizes.parameter_count(name, bn, **shape) == built


def _dense_chain(make, units, activation):
    """Any number of dense hidden layers, of the sizes the declaration gives."""
    inputs = make.image_input()
    x = make.flatten(inputs)
    for i, size in enumerate(units, 1):
        x = make.normalize_and_activate(make.dense(x, size, f"fc{i}"), activation, f"fc{i}")
    return inputs, make.dense(x, networks.CLASSES, "logits", hidden=False)


@pytest.fixture
def toy():
    """784-8-5-10, declared once here and nowhere else."""
    declared = networks.register(
        networks.Network("toy", "Toy", ("fc1", "fc2"), (8, 5), "relu", keras=_dense_chain)
    )
    yield declared
    del networks.NETWORKS["toy"]


def test_a_toy_networks_count_comes_from_its_declaration(toy):
    weights = 784 * 8 + 8 * 5 + 5 * 10
    assert sizes.parameter_count("toy", bn=False) == weights + 8 + 5 + 10
    assert sizes.parameter_count("toy", bn=True) == weights + 4 * (8 + 5) + 10
    assert sizes.parameter_count("toy", bn=False, width=2.0) == 784 * 16 + 16 * 10 + 10 * 10 + 36
    for bn, width in ((False, 1.0), (True, 1.0), (True, 0.5)):
        built = models.build_model("toy", bn=bn, width=width).count_params()
        assert sizes.parameter_count("toy", bn, width) == built
    networks.NETWORKS["toy"] = dataclasses.replace(toy, units=(3, 2))
    assert sizes.parameter_count("toy", bn=False) == 784 * 3 + 3 + 3 * 2 + 2 + 2 * 10 + 10


def test_a_declaration_gives_one_size_per_hidden_layer():
    with pytest.raises(ValueError, match="toy declares 1 sizes for its 2 hidden layers"):
        networks.Network("toy", "Toy", ("fc1", "fc2"), (8,), "relu", keras=_dense_chain)


def test_the_paper_networks_need_megabytes_and_fit():
    config = Config()  # the ReLU LeNet-5 at batch 64, evaluated 1,000 images at a time
    assert 1e6 < sizes.memory_needed(config) < 100e6
    sizes.check_fits(config, memory=GIB)
    assert sizes.machine_memory() is None or sizes.machine_memory() > GIB


def test_a_network_beyond_memory_is_refused_naming_its_sizes_and_the_bound():
    config = Config(model="mlp", width=20.0, mlp_depth=100)  # 2000 units: 4.0e8 weights
    with pytest.raises(ConfigError) as refused:
        sizes.check_fits(config, memory=4 * GIB)
    message = str(refused.value)
    assert message.startswith("--width=20 --mlp_depth=100: mlp would hold 397,788,010 parameters")
    assert "above this machine's 4.0 GiB: lower --width or --mlp_depth" in message
    sizes.check_fits(dataclasses.replace(config, mlp_depth=10), memory=4 * GIB)


def test_a_stack_is_refused_when_its_seeds_together_do_not_fit():
    config = Config(model="lenetr", width=8.0)
    one = sizes.memory_needed(config)
    sizes.check_fits(config, seeds=1, memory=2 * one)
    with pytest.raises(ConfigError, match=r"parameters x 32 seeds .* or the seeds in the stack"):
        sizes.check_fits(config, seeds=32, memory=2 * one)


def test_batches_count_toward_the_activations():
    small, big = Config(batch_size=64), Config(batch_size=60_000)
    assert sizes.memory_needed(big) > 100 * sizes.memory_needed(small)
