"""A network is one declaration: a toy one, declared here alone, is planned by the sweep's quick
path, trains with and without BN, and reaches the summary and its figure; the twin refuses it."""

from __future__ import annotations

import pytest

from bn_keras.common.errors import ConfigError
from bn_keras.config import networks
from bn_keras.config.settings import Config
from bn_keras.experiments import catalog, jobs
from bn_keras.reporting.paper import figures
from bn_keras.runs import reader
from bn_keras.twin import support


def _toy_keras(make, units, activation):
    """784-8-10: one hidden layer, of the declared 8 units."""
    inputs = make.image_input()
    x = make.dense(make.flatten(inputs), units[0], "fc1")
    x = make.normalize_and_activate(x, activation, "fc1")
    return inputs, make.dense(x, networks.CLASSES, "logits", hidden=False)


@pytest.fixture
def toy():
    """The toy network, declared once: Keras only, no claims (so no paper experiment)."""
    declared = networks.register(
        networks.Network("toy", "Toy 784-8-10, ReLU", ("fc1",), (8,), "relu", keras=_toy_keras)
    )
    yield declared
    del networks.NETWORKS["toy"]


def test_a_toy_network_runs_through_the_sweeps_quick_path_and_the_summary(
    toy, tiny_mnist, tmp_path
):
    from bn_keras.training.train import train_and_evaluate

    planned = [
        jobs.plan(
            catalog.Experiment(name, ("--flagfile=flags/recipe.flags", "--model=toy", bn), "extra"),
            seed=0,
            results_dir=tmp_path,
            extra=[*jobs.QUICK_FLAGS, "--noexport"],
        )
        for name, bn in (("toy", "--nobn"), ("toy_bn", "--bn"))
    ]
    assert [job.run_dir.name for job in planned] == ["toy_seed0", "toy_bn_seed0"]
    for job in planned:
        assert job.config["model"] == "toy" and job.config["train_steps"] == 200
        train_and_evaluate(Config(**job.config), job.run_dir, data=tiny_mnist)
    result, written = figures.rebuild(tmp_path)
    assert list(result.experiments) == ["toy", "toy_bn"]
    assert [pair.name for pair in result.pairs] == ["toy"]
    assert result.alone == []  # no claims: the summary decides nothing about it
    markdown = (tmp_path / "summary.md").read_text()
    assert "| toy_bn | 1 |" in markdown and "| toy / toy_bn | final accuracy |" in markdown
    assert tmp_path / "fig_toy.svg" in written
    assert "Toy 784-8-10, ReLU" in (tmp_path / "fig_toy.svg").read_text()
    assert reader.load_runs(tmp_path)[0].record["config"]["model"] == "toy"


def test_the_declaration_is_what_settings_and_the_twin_read(toy):
    Config(model="toy", probe_layers="fc1").validate()
    with pytest.raises(ConfigError, match="names layers toy does not have: use some of fc1"):
        Config(model="toy", probe_layers="fc2").validate()
    with pytest.raises(ConfigError, match="--mlp_depth=4 is the MLP's"):
        Config(model="toy", mlp_depth=4).validate()
    with pytest.raises(ConfigError, match="--model='resnet' is unknown: use one of .*toy"):
        Config(model="resnet").validate()
    with pytest.raises(ConfigError, match="no toy: its declaration .* names no torch builder"):
        support.check_supported(Config(model="toy", framework="pytorch"))
    with pytest.raises(ValueError, match="registered already"):
        networks.register(toy)
