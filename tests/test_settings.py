"""Each setting said once: flags, validation and docs/flags.md all come from Config's fields."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from absl import flags

from bn_keras.common.errors import ConfigError
from bn_keras.config import fields
from bn_keras.config import flags as config_flags
from bn_keras.config.settings import CommandOptions, Config

REPO = Path(__file__).resolve().parents[1]
SETTINGS = [*dataclasses.fields(Config), *dataclasses.fields(CommandOptions)]


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


@pytest.mark.parametrize(
    "field", [f for f in dataclasses.fields(Config) if f.metadata["bounds"]], ids=lambda f: f.name
)
def test_every_bound_is_checked(field):
    bounds, kind = field.metadata["bounds"], fields.field_type(field)
    outside = _outside(bounds, kind)
    assert outside, field.name
    for value in outside:
        with pytest.raises(ConfigError, match=f"--{field.name}="):
            Config(**{field.name: value}).validate()


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


def test_flags_are_generated_from_the_fields():
    flag_values = flags.FlagValues()
    config_flags.define_flags(Config, CommandOptions, flag_values=flag_values)
    assert set(flag_values) >= {f.name for f in SETTINGS}
    flag_values(["prog", "--model=mlp", "--bn", "--rho=0.5", "--run_name=x", "--data_dir=/d"])
    config = config_flags.from_flags(Config, flag_values)
    assert config == Config(model="mlp", bn=True, rho=0.5, data_dir="/d")
    assert config_flags.from_flags(CommandOptions, flag_values).run_name == "x"
    with pytest.raises(flags.IllegalFlagValueError):
        flag_values(["prog", "--jit_compile=yes"])


def test_flags_reference_is_current():
    committed = (REPO / config_flags.REFERENCE_PAGE).read_text()
    assert committed == config_flags.main_reference(), (
        f"docs/flags.md is stale: regenerate it with {config_flags.REGENERATE}"
    )
    for field in SETTINGS:
        assert f"| `--{field.name}` |" in committed
