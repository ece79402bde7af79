"""absl flags and their reference page, generated from the settings' dataclass fields.

    define_flags(Config, CommandOptions)   # in a command, once, before parsing
    cli.run(main, flags_parser=parse_flags)
    config = from_flags(Config)            # after parsing
    reference()                            # docs/flags.md: every command's flags

No TensorFlow here: commands parse and refuse bad flags before it loads.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TypeVar

from absl import flags

from bn_keras.common import cli
from bn_keras.common.errors import ConfigError
from bn_keras.config import checks
from bn_keras.config.commands import BenchOptions, LaunchOptions, PlotOptions, SweepOptions
from bn_keras.config.fields import field_type
from bn_keras.config.settings import CommandOptions, Config

T = TypeVar("T")
REFERENCE_PAGE = Path("docs") / "flags.md"
REGENERATE = (
    'python -c "from bn_keras.config import flags; flags.write_reference()"  # in the repo root'
)


def define_flags(*settings: type, flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines one absl flag per field of each settings dataclass.

    Text settings with choices become enum flags (a list setting stays text, checked item by
    item); bounds are checked by check_fields (one message for flags and code alike), not by
    absl. A flag already defined from the same setting (two commands imported into one process,
    e.g. plot and probes.plot) is left as it is.

    Args:
        *settings: dataclasses whose fields were made with bn_keras.config.fields.setting.
        flag_values: where to define them.

    Raises:
        TypeError: a field without help text, of a type a flag cannot hold, or whose flag is
            already defined with another default or help.
    """
    for cls in settings:
        for field in dataclasses.fields(cls):
            _define(field, flag_values)


def _define(field: dataclasses.Field, flag_values: flags.FlagValues) -> None:
    help_text = field.metadata.get("help")
    if not help_text:
        raise TypeError(f"setting {field.name} has no help: make it with fields.setting(...)")
    if field.name in flag_values:
        existing = flag_values[field.name]
        # absl puts an enum's values before its help: "<auto|tfds|offline>: auto: ..."
        if existing.default != field.default or not existing.help.endswith(help_text):
            raise TypeError(f"flag --{field.name} is already defined as another setting")
        return
    kind, choices = field_type(field), field.metadata.get("choices")
    args = (field.name, field.default, help_text)
    options = {"flag_values": flag_values, "short_name": field.metadata.get("short_name")}
    if choices is not None and not field.metadata.get("many"):
        flags.DEFINE_enum(field.name, field.default, choices, help_text, **options)
    elif kind is bool:
        flags.DEFINE_bool(*args, **options)
    elif kind is int:
        flags.DEFINE_integer(*args, **options)
    elif kind is float:
        flags.DEFINE_float(*args, **options)
    else:
        flags.DEFINE_string(*args, **options)
    alias = field.metadata.get("alias")
    if alias and alias not in flag_values:
        flags.DEFINE_alias(alias, field.name, flag_values=flag_values)


def from_flags(cls: type[T], flag_values: flags.FlagValues = flags.FLAGS) -> T:
    """An instance of the settings dataclass `cls` holding the parsed flag values."""
    return cls(**{f.name: flag_values[f.name].value for f in dataclasses.fields(cls)})


def parse_flags(argv: list[str]) -> list[str]:
    """Every command's flag parser: refuses flagfiles that include themselves, are not regular
    files or are not text (absl skips, hangs or crashes on them), then parses as cli.parse_flags.
    """
    try:
        checks.check_flagfiles(argv)
    except ConfigError as err:
        cli.fail(str(err), 2)
    return cli.parse_flags(argv)


def _allowed(field: dataclasses.Field) -> str:
    if field.metadata.get("choices"):
        return ", ".join(f"`{c}`" for c in field.metadata["choices"])
    if field.metadata.get("bounds"):
        return field.metadata["bounds"].describe(field.metadata.get("zero"))
    return ""


def _default(field: dataclasses.Field) -> str:
    value, choices = field.default, field.metadata.get("choices")
    if field.metadata.get("many") and choices and value == ",".join(choices):
        return "all"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`" if value != "" else '`""`'


# Each command (`python -m bn_keras.<name>`) and the settings dataclasses that make its flags,
# in docs/flags.md's order.
COMMANDS = {
    "main": (Config, CommandOptions),
    "sweep": (SweepOptions,),
    "bench": (BenchOptions,),
    "launch": (LaunchOptions,),
    "plot": (PlotOptions,),
}


def _rows(cls: type) -> list[str]:
    lines = ["| Flag | Type | Default | Allowed | Meaning |", "|---|---|---|---|---|"]
    for field in dataclasses.fields(cls):
        help_text = field.metadata["help"].replace("|", "\\|")
        kind = field_type(field).__name__ + (" list" if field.metadata.get("many") else "")
        short = field.metadata.get("short_name")
        alias = field.metadata.get("alias")
        name = f"`--{field.name}`" + (f" (`-{short}`)" if short else "")
        name += f" (alias `--{alias}`)" if alias else ""
        lines.append(f"| {name} | {kind} | {_default(field)} | {_allowed(field)} | {help_text} |")
    return lines


def reference() -> str:
    """docs/flags.md as it should read: the flags of every command, one table per dataclass."""
    lines = [
        "# Flags",
        "",
        "Generated from the settings' fields in bn_keras/config/ (`settings.py` for main, "
        "`commands.py` for the others; a test checks that this page is current). To "
        "regenerate:",
        "",
        f"    {REGENERATE}",
        "",
        "Any flag also works inside a flagfile (`--flagfile=flags/<name>.flags`); each command's "
        "`--help` shows the same text. Every command also takes `--verbose` (or "
        "BN_KERAS_VERBOSE=1): TensorFlow's start-up messages, and an unexpected error's "
        "traceback on the console, not only in the file its error line names. A list setting "
        "takes comma-separated names, e.g. `--networks=mlp,mlp_bn`.",
    ]
    for command, settings in COMMANDS.items():
        lines += ["", f"## `python -m bn_keras.{command}`"]
        for cls in settings:
            doc = (cls.__doc__ or "").strip().splitlines()[0]
            lines += ["", f"### {cls.__name__}", "", doc, "", *_rows(cls)]
    return "\n".join(lines) + "\n"


def write_reference(path: Path = REFERENCE_PAGE) -> None:
    """Writes reference() to `path` (docs/flags.md, relative to the repository root)."""
    Path(path).write_text(reference())
