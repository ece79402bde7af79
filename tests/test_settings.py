"""Each setting said once: flags, validation and docs/flags.md all come from the settings'
fields, Config's and every other command's (config/commands.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from absl import flags

from bn_keras.common.errors import ConfigError
from bn_keras.config import commands, datasets, fields, names, settings
from bn_keras.config import flags as config_flags
from bn_keras.config.settings import CommandOptions, Config

REPO = Path(__file__).resolve().parents[1]
CLASSES = [cls for classes in config_flags.COMMANDS.values() for cls in classes]
SETTINGS = [field for cls in CLASSES for field in dataclasses.fields(cls)]
BOUNDED = [(cls, f) for cls in CLASSES for f in dataclasses.fields(cls) if f.metadata["bounds"]]


def _outside(bounds: fields.Bounds, kind: type) -> list:
    """Values just outside `bounds`, of type `kind`."""
    step = 1 if kind is int else 1e-9
    values = []
    if bounds.low is not None:
        values.append(kind(bounds.low) if bounds.low_open else kind(bounds.low) - step)
    if bounds.high is not None:
        values.append(kind(bounds.high) if bounds.high_open else kind(bounds.high) + step)
    return values


def test_every_setting_has_help_and_a_flag_type():
    for field in SETTINGS:
        assert field.metadata.get("help"), field.name
        fields.field_type(field)  # raises for a type no flag can hold


def test_defaults_are_valid():
    Config().validate()


@pytest.mark.parametrize(
    "field", [f for f in dataclasses.fields(Config) if f.metadata["choices"]], ids=lambda f: f.name
)
def test_every_enum_is_checked(field):
    # Config(jit_compile="yes") used to pass validation and fail later with a KeyError.
    with pytest.raises(ConfigError, match=f"--{field.name}='yes' is unknown"):
        Config(**{field.name: "yes"}).validate()
    for choice in field.metadata["choices"]:
        config = Config(**{field.name: choice})
        if field.name == "strategy" and choice == "multi_worker":
            continue  # valid alone; the command refuses it without TF_CONFIG
        config.validate()


@pytest.mark.parametrize(("cls", "field"), BOUNDED, ids=lambda x: getattr(x, "name", ""))
def test_every_bound_is_checked(cls, field):
    bounds, kind = field.metadata["bounds"], fields.field_type(field)
    outside = _outside(bounds, kind)
    assert outside, field.name
    for value in outside:
        with pytest.raises(ConfigError, match=f"--{field.name}="):
            fields.check_fields(cls(**{field.name: value}))
    fields.check_fields(cls())  # the defaults are valid


def test_a_batch_above_the_dataset_is_refused_before_tensorflow():
    # It was accepted, and every batch then held the whole (smaller) training set.
    for name, dataset in datasets.DATASETS.items():
        Config(dataset=name, batch_size=dataset.train_examples).validate()
        with pytest.raises(ConfigError, match=f"above {dataset.label}'s 60,000 training images"):
            Config(dataset=name, batch_size=dataset.train_examples + 1).validate()


def test_an_unknown_dataset_is_refused_in_one_line():
    with pytest.raises(ConfigError) as raised:
        Config(dataset="cifar10").validate()
    assert str(raised.value) == "--dataset='cifar10' is unknown: use one of mnist, fashion_mnist"


def test_a_dataset_the_networks_cannot_take_is_refused():
    small = dataclasses.replace(datasets.get("mnist"), name="small", image_shape=(8, 8, 1))
    datasets.register(small)
    try:
        with pytest.raises(ConfigError, match="--dataset=small has 8x8x1 images in 10 classes"):
            Config(dataset="small").validate()
    finally:
        del datasets.DATASETS["small"]
    with pytest.raises(ValueError, match="'mnist' is registered already"):
        datasets.register(datasets.get("mnist"))


def test_dataset_files_are_for_an_offline_build():
    Config(dataset_files="/usr/share/datasets/fashion-mnist", dataset_source="offline").validate()
    with pytest.raises(ConfigError, match="--dataset_files=/x is read by an offline build"):
        Config(dataset_files="/x", dataset_source="tfds").validate()


def test_the_declarations_add_up():
    for dataset in datasets.DATASETS.values():
        assert dataset.num_classes == len(dataset.train_class_counts) == 10
        assert (dataset.train_examples, dataset.test_examples) == (60_000, 10_000)
        assert all(len(digest) == 64 for digest in dataset.file_sha256)
    fashion = datasets.get("fashion_mnist")
    assert set(fashion.train_class_counts) == {6_000} and set(fashion.test_class_counts) == {1_000}
    for dataset in datasets.DATASETS.values():  # each primary threshold is reported too
        assert set(dataset.primary_thresholds.values()) <= set(dataset.thresholds)


def test_records_from_before_the_dataset_setting_mean_mnist():
    old = {"model": "mlp", "mnist_source": "offline"}
    assert settings.upgrade_record(old) == {
        "dataset": "mnist",
        "model": "mlp",
        "dataset_source": "offline",
        # Nor did runs recorded before these settings evaluate the training set, save
        # predictions or name a design.
        "eval_train": False,
        "save_predictions": False,
        "design": "",
    }
    assert settings.upgrade_record({"dataset": "fashion_mnist"})["dataset"] == "fashion_mnist"
    assert settings.default_results_dir("mnist") == "results"
    assert settings.default_results_dir("fashion_mnist", "results_quick") == (
        "results_quick/fashion_mnist"
    )


def test_the_former_flag_name_still_sets_the_source():
    values = flags.FlagValues()
    config_flags.define_flags(Config, flag_values=values)
    values(["prog", "--mnist_source=offline"])
    assert config_flags.from_flags(Config, values).dataset_source == "offline"


def test_list_settings_check_each_item():
    fields.check_fields(commands.BenchOptions(networks="mlp, lenetr_bn"))
    assert commands.BenchOptions(networks="mlp, lenetr_bn").network_list == ["mlp", "lenetr_bn"]
    with pytest.raises(ConfigError, match=r"--networks='mlp,resnet' names unknown \['resnet'\]"):
        fields.check_fields(commands.BenchOptions(networks="mlp,resnet"))
    with pytest.raises(ConfigError, match="--options=',' names nothing"):
        fields.check_fields(commands.BenchOptions(options=","))


def test_shared_settings_are_said_once():
    # A setting of main's that another command takes is the same field, help and checks.
    config = {f.name: f for f in dataclasses.fields(Config)}
    for cls in (commands.SweepOptions, commands.BenchOptions):
        for field in dataclasses.fields(cls):
            if field.name in ("data_dir", "dataset_source", "eval_every"):
                assert field.metadata["help"].startswith(config[field.name].metadata["help"])
                assert field.default == config[field.name].default
                assert field.metadata["bounds"] == config[field.name].metadata["bounds"]
                assert field.metadata["choices"] == config[field.name].metadata["choices"]


def test_one_list_of_experiments_and_one_naming_rule():
    assert names.PAPER_EXPERIMENTS == ("mlp", "mlp_bn", "lenet", "lenet_bn", "lenetr", "lenetr_bn")
    for experiment in names.PAPER_EXPERIMENTS:
        assert names.experiment_name(*names.split_experiment(experiment)) == experiment
    assert Config(model="lenet", bn=True, seed=4).default_run_name == "lenet_bn_seed4"


@pytest.mark.parametrize(
    ("name", "value"), [("train_steps", "100"), ("bn", 1), ("rho", True), ("seed", 1.5)]
)
def test_values_of_the_wrong_type_are_refused(name, value):
    with pytest.raises(ConfigError, match=f"--{name}=.* must be a "):
        Config(**{name: value}).validate()


def test_bounds_say_what_they_allow():
    assert 0 not in fields.POSITIVE and 1e-12 in fields.POSITIVE
    unit = fields.Bounds(0, 1, low_open=True, high_open=True)
    assert 0 not in unit and 1 not in unit and 0.5 in unit
    assert unit.describe() == "in (0, 1)"
    assert fields.NON_NEGATIVE.describe("auto") == "0 (auto) or positive"


def test_a_flag_is_defined_once_per_setting():
    # plot and probes.plot in one process define the same settings: allowed; another setting
    # under the same name is not.
    flag_values = flags.FlagValues()
    config_flags.define_flags(commands.PlotOptions, flag_values=flag_values)
    config_flags.define_flags(commands.PlotOptions, flag_values=flag_values)
    config_flags.define_flags(commands.SweepOptions, flag_values=flag_values)
    config_flags.define_flags(Config, Config, flag_values=flag_values)  # data_dir, enums again
    with pytest.raises(TypeError, match="--results_dir is already defined"):
        config_flags.define_flags(CommandOptions, flag_values=flag_values)
    with pytest.raises(TypeError, match="--eval_every is already defined"):  # more help there
        config_flags.define_flags(commands.BenchOptions, flag_values=flag_values)
    flag_values(["prog", "-j", "3", "--experiments=mlp,mlp_bn"])
    options = config_flags.from_flags(commands.SweepOptions, flag_values)
    assert options.jobs == 3 and options.experiment_list == ["mlp", "mlp_bn"]


def test_flags_are_generated_from_the_fields():
    flag_values = flags.FlagValues()
    config_flags.define_flags(Config, CommandOptions, flag_values=flag_values)
    main = [*dataclasses.fields(Config), *dataclasses.fields(CommandOptions)]
    assert set(flag_values) >= {f.name for f in main}
    flag_values(["prog", "--model=mlp", "--bn", "--rho=0.5", "--run_name=x", "--data_dir=/d"])
    config = config_flags.from_flags(Config, flag_values)
    assert config == Config(model="mlp", bn=True, rho=0.5, data_dir="/d")
    assert config_flags.from_flags(CommandOptions, flag_values).run_name == "x"
    with pytest.raises(flags.IllegalFlagValueError):
        flag_values(["prog", "--jit_compile=yes"])


def test_flags_reference_is_current():
    committed = (REPO / config_flags.REFERENCE_PAGE).read_text()
    assert committed == config_flags.reference(), (
        f"docs/flags.md is stale: regenerate it with {config_flags.REGENERATE}"
    )
    for command, classes in config_flags.COMMANDS.items():
        section = committed.split(f"## `python -m bn_keras.{command}`")[1].split("\n## ")[0]
        for field in (f for cls in classes for f in dataclasses.fields(cls)):
            assert f"| `--{field.name}`" in section, (command, field.name)
