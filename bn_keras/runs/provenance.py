"""Where a run came from: the package version and the git commit of the code (no TensorFlow)."""

from __future__ import annotations

import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


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
