"""What the CPU is: its model name and the vector features that decide TensorFlow's kernels."""

from __future__ import annotations

import platform
from pathlib import Path

# The features that decide which kernels TensorFlow picks on x86-64 (oneDNN's default among
# them), under the names Linux's /proc/cpuinfo gives them.
VECTOR_FEATURES = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)


def _cpuinfo_fields(text: str) -> tuple[str | None, set[str]]:
    """The first processor's model name and flags in /proc/cpuinfo's text."""
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:  # x86 and ARM spell it differently
            flags = set(value.split())
    return model, flags


def describe(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """The CPU's model and which of VECTOR_FEATURES it has.

    Args:
        cpuinfo: Linux's CPU description; elsewhere (or unreadable) the features are unknown.

    Returns:
        {"model": name, "features": [...present...] or None when unknown}.
    """
    try:
        model, flags = _cpuinfo_fields(cpuinfo.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return {"model": platform.processor() or platform.machine(), "features": None}
    features = [name for name in VECTOR_FEATURES if name in flags]
    return {"model": model or platform.processor() or platform.machine(), "features": features}


def features_text(description: dict) -> str:
    """The features as one short field for a table: "avx2 fma", "none", or "unknown"."""
    features = description["features"]
    if features is None:
        return "unknown"
    return " ".join(features) or "none"
