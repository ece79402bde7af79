"""absl flags and their reference page, generated from the settings' dataclass fields.

    define_flags(Config, CommandOptions)   # in a command, once, before parsing
    config = from_flags(Config)            # after parsing
    reference_markdown(Config, ...)        # docs/flags.md

No TensorFlow here: commands parse and refuse bad flags before it loads.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

from absl import flags

from bn_keras.config.fields import field_type

T = TypeVar("T")
REFERENCE_PAGE = Path("docs") / "flags.md"
REGENERATE = (
    'python -c "from bn_keras.config import flags; flags.write_reference()"  # in the repo root'
)


def define_flags(*settings: type, flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines one absl flag per field of each settings dataclass.

    Text settings with choices become enum flags; bounds are checked by the dataclass's
    validation (one message for flags and code alike), not by absl.

    Args:
        *settings: dataclasses whose fields were made with bn_keras.config.fields.setting.
        flag_values: where to define them.

    Raises:
        TypeError: a field without help text, or of a type a flag cannot hold.
    """
    for cls in settings:
        for field in dataclasses.fields(cls):
            _define(field, flag_values)


def _define(field: dataclasses.Field, flag_values: flags.FlagValues) -> None:
    help_text = field.metadata.get("help")
    if not help_text:
        raise TypeError(f"setting {field.name} has no help: make it with fields.setting(...)")
    kind, choices = field_type(field), field.metadata.get("choices")
    args = (field.name, field.default, help_text)
    if choices is not None:
        flags.DEFINE_enum(field.name, field.default, choices, help_text, flag_values=flag_values)
    elif kind is bool:
        flags.DEFINE_bool(*args, flag_values=flag_values)
    elif kind is int:
        flags.DEFINE_integer(*args, flag_values=flag_values)
    elif kind is float:
        flags.DEFINE_float(*args, flag_values=flag_values)
    else:
        flags.DEFINE_string(*args, flag_values=flag_values)


def from_flags(cls: type[T], flag_values: flags.FlagValues = flags.FLAGS) -> T:
    """An instance of the settings dataclass `cls` holding the parsed flag values."""
    return cls(**{f.name: flag_values[f.name].value for f in dataclasses.fields(cls)})


def _allowed(field: dataclasses.Field) -> str:
    if field.metadata.get("choices"):
        return ", ".join(f"`{c}`" for c in field.metadata["choices"])
    if field.metadata.get("bounds"):
        return field.metadata["bounds"].describe(field.metadata.get("zero"))
    return ""


def _default(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`" if value != "" else '`""`'


def reference_markdown(command: str, *settings: type) -> str:
    """The flags reference page: one table row per setting of each dataclass.

    Args:
        command: the command these flags belong to, for the page's heading.
        *settings: the settings dataclasses, one table each.

    Returns:
        The page as Markdown.
    """
    lines = [
        f"# Flags of `{command}`",
        "",
        "Generated from the settings' fields in bn_keras/config/settings.py (a test checks that "
        "this page is current). To regenerate:",
        "",
        f"    {REGENERATE}",
        "",
        "Any flag also works inside a flagfile (`--flagfile=flags/<name>.flags`); "
        "`--helpfull` shows the same text. Every command also takes `--verbose` (or "
        "BN_KERAS_VERBOSE=1): an unexpected error's traceback on the console, not only in the "
        "file its error line names. The other commands list their own flags with `--helpfull`: "
        "`python -m bn_keras.sweep|launch|bench|plot --helpfull`.",
    ]
    for cls in settings:
        lines += ["", f"## {cls.__name__}", "", (cls.__doc__ or "").strip().splitlines()[0], ""]
        lines += ["| Flag | Type | Default | Allowed | Meaning |", "|---|---|---|---|---|"]
        for field in dataclasses.fields(cls):
            help_text = field.metadata["help"].replace("|", "\\|")
            lines.append(
                f"| `--{field.name}` | {field_type(field).__name__} | {_default(field.default)} "
                f"| {_allowed(field)} | {help_text} |"
            )
    return "\n".join(lines) + "\n"


def main_reference() -> str:
    """docs/flags.md as it should read: the flags of `python -m bn_keras.main`."""
    from bn_keras.config.settings import CommandOptions, Config

    return reference_markdown("python -m bn_keras.main", Config, CommandOptions)


def write_reference(path: Path = REFERENCE_PAGE) -> None:
    """Writes main_reference() to `path` (docs/flags.md, relative to the repository root)."""
    Path(path).write_text(main_reference())
