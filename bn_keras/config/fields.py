"""Settings said once: a dataclass field that carries its help, allowed values and bounds.

bn_keras.config.flags turns such fields into absl flags and docs/flags.md; `check_field` refuses
a value outside them. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from bn_keras.common.errors import ConfigError

# The Python types a setting may have, as dataclass annotations spell them.
TYPES = {"bool": bool, "int": int, "float": float, "str": str, "str | None": str}


@dataclasses.dataclass(frozen=True)
class Bounds:
    """The values a number may take: `low` and `high` (None: unbounded), each open or closed."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def describe(self, zero: str | None = None) -> str:
        """The bounds in words, e.g. "positive", "0 (auto) or positive", "in (0, 1]".

        Args:
            zero: what 0 means where it is the lowest value allowed, e.g. "auto".
        """
        if self.high is None and self.low == 0:
            if self.low_open:
                return "positive"
            return f"0 ({zero}) or positive" if zero else "0 or positive"
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if zero and self.low == 0 and not (self.low_open or self.high_open):
            return f"0 ({zero}) to {self.high:g}"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "2**32" if self.high == 2**32 else f"{self.high:g}"
        return f"in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"


POSITIVE = Bounds(low=0, low_open=True)
NON_NEGATIVE = Bounds(low=0)


def setting(
    default: Any,
    help: str,  # noqa: A002 (absl's and argparse's name for it)
    *,
    choices: tuple[str, ...] | None = None,
    bounds: Bounds | None = None,
    zero: str | None = None,
    why: str = "",
    many: bool = False,
    short_name: str | None = None,
    alias: str | None = None,
) -> Any:
    """A dataclass field that carries everything said about one setting.

    Args:
        default: the default value.
        help: one or two sentences for --help and docs/flags.md.
        choices: the allowed values of a text setting (with `many`: of each item).
        bounds: the allowed range of a number.
        zero: what 0 means, where 0 is the lowest value allowed (e.g. "auto", "off").
        why: appended to the refusal of a value out of bounds.
        many: a text setting that holds a comma-separated list (read it with `items`).
        short_name: the flag's one-letter alias, e.g. "j" for --jobs.
        alias: another flag name that sets it too, e.g. its former name.

    Returns:
        A dataclasses.field holding that metadata.
    """
    metadata = {
        "help": help,
        "choices": choices,
        "bounds": bounds,
        "zero": zero,
        "why": why,
        "many": many,
        "short_name": short_name,
        "alias": alias,
    }
    return dataclasses.field(default=default, metadata=metadata)


def like(settings: type, name: str, *, more_help: str = "", **changes: Any) -> Any:
    """Another command's field for the same setting: `settings`' field `name`, said once there.

    Args:
        settings: the settings dataclass that defines the setting (e.g. Config).
        name: the field's name.
        more_help: appended to its help, e.g. what this command does with it.
        **changes: `setting` arguments that differ here, e.g. `default`.

    Returns:
        A new dataclasses.field with the same help, choices and bounds unless changed.
    """
    field = next(f for f in dataclasses.fields(settings) if f.name == name)
    arguments = {"default": field.default, **field.metadata, **changes}
    arguments["help"] = " ".join(filter(None, [arguments["help"], more_help]))
    return setting(**arguments)


def items(value: str) -> list[str]:
    """The items of a comma-separated list setting, stripped, empty ones left out."""
    return [item.strip() for item in value.split(",") if item.strip()]


def field_type(field: dataclasses.Field) -> type:
    """The Python type of a setting (`str | None` is str).

    Raises:
        TypeError: a type a flag cannot hold.
    """
    annotation = field.type if isinstance(field.type, str) else field.type.__name__
    if annotation not in TYPES:
        raise TypeError(f"setting {field.name} has type {annotation}: use one of {list(TYPES)}")
    return TYPES[annotation]


def check_fields(settings: Any) -> None:
    """check_field for every field of the settings dataclass instance `settings`.

    Raises:
        ConfigError: naming the first setting out of its type, choices or bounds.
    """
    for field in dataclasses.fields(settings):
        check_field(field, getattr(settings, field.name))


def check_field(field: dataclasses.Field, value: Any) -> None:
    """Raises ConfigError unless `value` has the field's type and lies in its choices or bounds."""
    kind = field_type(field)
    flag = f"--{field.name}={value!r}" if isinstance(value, str) else f"--{field.name}={value}"
    if value is None and field.default is None:
        return
    # bool is an int to Python, but not to a setting; an int is a fine float.
    matches = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        matches = True
    if not matches:
        raise ConfigError(f"{flag} must be a {kind.__name__}, not a {type(value).__name__}")
    if kind is float and not math.isfinite(value):  # nan is inside every Bounds, inf above none
        raise ConfigError(f"{flag} is not a finite number: give one, e.g. {field.default}")
    choices, bounds = field.metadata.get("choices"), field.metadata.get("bounds")
    if choices is not None and field.metadata.get("many"):
        unknown = [item for item in items(value) if item not in choices]
        if unknown or not items(value):
            what = f"names unknown {unknown}" if unknown else "names nothing"
            raise ConfigError(f"{flag} {what}: use some of {','.join(choices)}")
    elif choices is not None and value not in choices:
        raise ConfigError(f"{flag} is unknown: use one of {choices}")
    if bounds is not None and value not in bounds:
        raise ConfigError(
            f"{flag} must be {bounds.describe(field.metadata.get('zero'))}"
            f"{field.metadata.get('why', '')}"
        )
