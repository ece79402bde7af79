"""Starting a run in its directory, or resuming it at its checkpoint's exact iteration (either
engine; no TensorFlow)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from absl import logging

from bn_keras.common.atomic import write_json_atomic
from bn_keras.common.errors import CheckpointError
from bn_keras.config.settings import Config
from bn_keras.runs.checkpoint import Checkpoint
from bn_keras.runs.metrics_file import missing_rows, truncate_after
from bn_keras.runs.run_dir import CONFIG_FILE, METRICS_FILE, PREDICTIONS_FILE, RESULT_FILE


@dataclasses.dataclass(frozen=True)
class StartingPoint:
    """Where training starts: afresh, or at the iteration of the run's checkpoint.

    Attributes:
        checkpoint: the run's checkpoint, already restored when resuming; None for a run that
            keeps none (the benchmark's timed runs).
        saved: what the checkpoint's state.json holds when resuming, else None.
    """

    checkpoint: Checkpoint | None
    saved: dict | None = None

    @property
    def step(self) -> int:
        """The iteration training starts at: the checkpoint's, else 0."""
        return int(self.saved["step"]) if self.saved else 0


def start_or_resume(
    config: Config,
    run_dir: Path,
    checkpoint: Checkpoint,
    run_record: Callable[[], dict],
    *,
    chief: bool = True,
    check_same_step: Callable[[int], None] | None = None,
) -> StartingPoint:
    """Restores the run directory's checkpoint, or starts the directory afresh.

    Resuming, the chief keeps the metrics rows up to the checkpoint and drops later ones. Starting
    afresh, the rows, result and predictions of an attempt that died before its first checkpoint
    are dropped and config.json is written.

    Args:
        config: the run's configuration.
        run_dir: the run directory; created if missing.
        checkpoint: the engine's checkpoint of the run, in `run_dir`.
        run_record: makes config.json's contents (called when starting afresh).
        chief: whether this process keeps the metrics file (other workers do not).
        check_same_step: raises CheckpointError unless every worker resumes at the iteration
            it is given (a collective; None when alone).

    Raises:
        CheckpointError: the checkpoint, or the metrics rows it covers, are damaged, or the
            workers' checkpoints are at different iterations.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    starting = StartingPoint(checkpoint, checkpoint.restore())
    if check_same_step is not None:
        check_same_step(starting.step)
    metrics_path = run_dir / METRICS_FILE
    if starting.saved:
        if chief:
            _check_rows_until(metrics_path, starting.step, config)
            truncate_after(metrics_path, starting.step)
        logging.info("Resuming %s at iteration %d", run_dir, starting.step)
    else:
        metrics_path.unlink(missing_ok=True)  # rows of an attempt that died before a checkpoint
        (run_dir / RESULT_FILE).unlink(missing_ok=True)
        (run_dir / PREDICTIONS_FILE).unlink(missing_ok=True)
        write_json_atomic(run_dir / CONFIG_FILE, run_record())
    return starting


def _check_rows_until(metrics_path: Path, step: int, config: Config) -> None:
    """Raises CheckpointError unless the metrics file holds every row up to checkpoint `step`."""
    steps = [*range(0, step + 1, config.eval_every), config.train_steps]
    missing = missing_rows(metrics_path, [s for s in steps if s <= step])
    if missing:
        raise CheckpointError(
            f"{metrics_path} lacks the rows for iterations {missing[0]} to {missing[-1]} that "
            f"the checkpoint at iteration {step} covers (cut or edited): pass --overwrite to "
            "start the run afresh"
        )
