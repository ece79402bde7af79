"""Starting a run in its directory, or resuming it at its checkpoint's exact iteration."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
from absl import logging

from bn_keras.common.atomic import write_json_atomic
from bn_keras.common.errors import CheckpointError
from bn_keras.config.settings import Config
from bn_keras.probes.files import reset_files
from bn_keras.runs.metrics_file import missing_rows, truncate_after
from bn_keras.runs.run_dir import CHECKPOINT_DIR, CONFIG_FILE, METRICS_FILE
from bn_keras.training.checkpointing import RunCheckpoint
from bn_keras.training.records import run_record
from bn_keras.training.setup import Setup


@dataclasses.dataclass(frozen=True)
class Start:
    """Where training starts.

    Attributes:
        checkpoint: the run's checkpoint, restored into the model when resuming.
        resume: the checkpoint's saved state when resuming, else None.
    """

    checkpoint: RunCheckpoint
    resume: dict | None

    @property
    def step(self) -> int:
        """The iteration training starts at: the checkpoint's, else 0."""
        return self.resume["step"] if self.resume else 0


def start_or_resume(setup: Setup, model: keras.Model) -> Start:
    """Restores the run directory's checkpoint into `model`, or starts the directory afresh.

    Resuming, the chief keeps the metrics rows up to the checkpoint and drops later ones. Starting
    afresh, rows of an attempt that died before its first checkpoint are dropped and config.json
    is written. Either way the chief's probe files are cut to match.

    Args:
        setup: the run's setup; its run directory is created if missing.
        model: the compiled model, optimizer built, so a checkpoint restores its slots.

    Raises:
        CheckpointError: the checkpoint, or the metrics rows it covers, are damaged, or the
            workers' checkpoints are at different iterations.
    """
    config, run_dir, context = setup.config, setup.run_dir, setup.context
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = RunCheckpoint(run_dir / CHECKPOINT_DIR, model)
    start = Start(checkpoint, checkpoint.restore())
    metrics_path = run_dir / METRICS_FILE
    context.check_same_step(start.step)
    if start.resume:
        if context.chief:  # other workers keep no metrics file
            _check_rows_until(metrics_path, start.step, config)
            truncate_after(metrics_path, start.step)
        logging.info("Resuming %s at iteration %d", run_dir, start.step)
    else:
        metrics_path.unlink(missing_ok=True)  # rows of an attempt that died before a checkpoint
        distribution = context.record(setup.config_used, model)
        record = run_record(config, distribution, setup.data_source)
        write_json_atomic(run_dir / CONFIG_FILE, record)
    if context.chief:
        reset_files(run_dir, start.step if start.resume else None)
    return start


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
