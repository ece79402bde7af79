"""Where a run came from: the package version, the git commit of the code, Python and the
machine (no TensorFlow); each engine adds its own libraries and devices."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bn_keras.common import cpu


def git_commit() -> str | None:
    """The short commit hash of the checkout holding bn_keras, or None outside git."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def package_version() -> str:
    """The installed bn_keras version, or "unknown"."""
    try:
        return version("bn_keras")
    except PackageNotFoundError:
        return "unknown"


def versions(engine_libraries: dict[str, str]) -> dict[str, str | None]:
    """config.json's `versions`: bn_keras, Python and the git commit, plus the engine's
    libraries (name -> version)."""
    return {
        "bn_keras": package_version(),
        **engine_libraries,
        "python": platform.python_version(),
        "git_commit": git_commit(),
    }


def machine(engine_devices: dict) -> dict:
    """config.json's `machine`: platform, processor, the CPU's model and vector features, and CPU
    count, plus what the engine reports of its devices (GPUs, oneDNN, threads)."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu": cpu.describe(),
        "cpu_count": os.cpu_count(),
        **engine_devices,
    }


def now() -> str:
    """The current UTC time, to the second, as config.json's `started` records it."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
