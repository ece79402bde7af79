"""The run directory: its files, whether a command may start or resume there, and its lock.

Kept free of TensorFlow so that the command line can refuse bad input before loading it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path

from bn_keras.common.errors import ConfigError
from bn_keras.config.settings import RESULT_NEUTRAL, Config, upgrade_record

WORKERS_DIR = "workers"  # the own directories of a cluster's other workers
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
RESULT_FILE = "result.json"  # written last: its presence marks a finished run
CHECKPOINT_DIR = "checkpoints"
SAVED_MODEL_DIR = "saved_model"
KERAS_MODEL_FILE = "model.keras"
TENSORBOARD_DIR = "tensorboard"
PREDICTIONS_FILE = "test_predictions.npy"  # with --save_predictions (bn_keras.runs.predictions)
LOCK_FILE = ".lock"
# The probes' files (bn_keras.probes), in probed runs only.
ACTIVATIONS_FILE = "activations.csv"
LANDSCAPE_FILE = "landscape.csv"
ICS_FILE = "ics.csv"
PROBE_FILES = (ACTIVATIONS_FILE, LANDSCAPE_FILE, ICS_FILE)
ERROR_LOG_FILE = "errors.log"  # tracebacks of unexpected errors (bn_keras.common.cli)
# Files a command may leave in a directory before (or without) a run's record.
NOT_A_RECORD = (LOCK_FILE, WORKERS_DIR, ERROR_LOG_FILE)


def settings_that_differ(recorded: dict, config: Config) -> list[str]:
    """Names of the settings (result-neutral ones aside) where `recorded` differs from `config`.

    A setting `recorded` lacks counts as the same, unless the run that wrote it is known to have
    used another value (a config.json from before --dataset used mnist; settings.upgrade_record).
    """
    ours, recorded = config.to_dict(), upgrade_record(recorded)
    return [
        name
        for name in ours
        if name not in RESULT_NEUTRAL and recorded.get(name, ours[name]) != ours[name]
    ]


def check_run_dir(run_dir: Path, config: Config, overwrite: bool) -> None:
    """Raises ConfigError unless `config` may start (or resume) in `run_dir`; changes nothing.

    A missing or empty directory starts a run; one holding an unfinished run with the same
    settings resumes it; a finished run, a run with other settings, or foreign files are refused
    unless `overwrite`.
    """
    if overwrite or not run_dir.exists():
        return
    if not any(entry.name not in NOT_A_RECORD for entry in run_dir.iterdir()):
        return
    if (run_dir / RESULT_FILE).exists():
        raise ConfigError(
            f"{run_dir} holds a finished run: pass --overwrite to run it again, or --run_name"
        )
    try:
        recorded = json.loads((run_dir / CONFIG_FILE).read_text())["config"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(
            f"{run_dir} is not a readable bn_keras run directory ({type(err).__name__}): "
            "pass --overwrite to replace it, or choose --run_name"
        ) from err
    differ = settings_that_differ(recorded, config)
    if differ:
        ours, recorded = config.to_dict(), upgrade_record(recorded)
        detail = ", ".join(f"--{n}={recorded[n]!r} there, {ours[n]!r} now" for n in differ)
        raise ConfigError(
            f"{run_dir} holds a run with other settings ({detail}): rerun with the same "
            "settings to resume it, pass --overwrite to start afresh, or choose --run_name"
        )


def lock(run_dir: Path) -> int:
    """Creates `run_dir` if needed and takes its lock for this process's lifetime.

    The lock is an flock on `.lock`: the kernel drops it when the process dies, however it
    dies, so a killed run never blocks the next one.

    Returns:
        The lock's file descriptor (keep it open).

    Raises:
        ConfigError: another live process holds the lock.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise ConfigError(
            f"{run_dir} is in use by another bn_keras process (pid {holder}): wait for it to "
            "finish, or choose another --run_name"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def clear(run_dir: Path) -> None:
    """Deletes everything in `run_dir` but its lock and the directories of other workers (each
    clears its own) for --overwrite, with the lock held."""
    for entry in run_dir.iterdir():
        if entry.name in (LOCK_FILE, WORKERS_DIR):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
