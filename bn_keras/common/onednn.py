"""Whether TensorFlow runs its oneDNN CPU kernels: on by bn_keras's choice unless the user chose.

TensorFlow turns oneDNN on by itself only on x86-64 CPUs with AVX-512 VNNI/BF16/AMX-class
features; elsewhere it runs its Eigen kernels, which lack the grouped convolution's gradient
and run these networks' small convolutions 2-3x slower (docs/speed.md). Results stay within
float round-off of the Eigen path and `--deterministic` holds with either (docs/speed.md says
how that was checked). TensorFlow reads the variable once, when it loads, so commands apply the
choice before it does; the processes they start inherit it.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping, MutableMapping

ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
# Marks a value bn_keras set, so that the processes a command starts record who chose it.
CHOSEN_BY_ENV = "BN_KERAS_ONEDNN_CHOSEN_BY"
X86_64 = ("x86_64", "amd64")  # platform.machine(), lowercased


def default_settings(environ: Mapping[str, str], machine: str | None = None) -> dict[str, str]:
    """The variables bn_keras sets: oneDNN on, on x86-64, unless TF_ENABLE_ONEDNN_OPTS is set.

    Elsewhere (ARM, ...) TensorFlow's own choice stands.

    Args:
        environ: the environment as the command found it.
        machine: the processor architecture; default, this machine's.
    """
    machine = (machine or platform.machine()).lower()
    if ONEDNN_ENV in environ or machine not in X86_64:
        return {}
    return {ONEDNN_ENV: "1", CHOSEN_BY_ENV: "bn_keras"}


def apply_default(environ: MutableMapping[str, str] = os.environ) -> None:
    """Applies `default_settings` to the environment; no effect once TensorFlow has loaded."""
    if "tensorflow" not in sys.modules:
        environ.update(default_settings(environ))


def describe(environ: Mapping[str, str] = os.environ) -> dict:
    """config.json's and the bench's `onednn`: the variable's value and who chose it.

    Returns:
        {"TF_ENABLE_ONEDNN_OPTS": value or None, "chosen_by": "bn_keras" (its default),
        "user" (set before the command) or "tensorflow" (unset: TensorFlow's own default)}.
    """
    value = environ.get(ONEDNN_ENV)
    if value is None:
        chosen_by = "tensorflow"
    elif environ.get(CHOSEN_BY_ENV) == "bn_keras" and value == "1":
        chosen_by = "bn_keras"
    else:
        chosen_by = "user"
    return {ONEDNN_ENV: value, "chosen_by": chosen_by}


def state(environ: Mapping[str, str] = os.environ) -> str:
    """ "on", "off", or "tensorflow's default" (TF_ENABLE_ONEDNN_OPTS unset)."""
    value = environ.get(ONEDNN_ENV)
    if value is None:
        return "tensorflow's default"
    return "on" if value.strip().lower() in ("1", "true") else "off"


def summary(environ: Mapping[str, str] = os.environ) -> str:
    """One line for --verbose and the logs, e.g. "oneDNN on (TF_ENABLE_ONEDNN_OPTS=1, bn_keras's
    default; set TF_ENABLE_ONEDNN_OPTS=0 for TensorFlow's Eigen kernels)"."""
    value, on = environ.get(ONEDNN_ENV), state(environ)
    if value is None:
        return f"oneDNN: TensorFlow's default for this CPU ({ONEDNN_ENV} unset)"
    how = (
        "bn_keras's default" if describe(environ)["chosen_by"] == "bn_keras" else "set by the user"
    )
    other = "0 for TensorFlow's Eigen kernels" if on == "on" else "1 for oneDNN's"
    return f"oneDNN {on} ({ONEDNN_ENV}={value}, {how}; set {ONEDNN_ENV}={other})"
