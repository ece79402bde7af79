"""Starting a Keras run in its directory, or resuming it at its checkpoint's exact iteration,
through the run skeleton (runs.resume) with Keras's checkpoint and record."""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_datasets as tfds

from bn_keras.common import onednn
from bn_keras.probes.files import reset_files
from bn_keras.runs import records
from bn_keras.runs import resume as runs_resume
from bn_keras.runs.resume import StartingPoint
from bn_keras.runs.run_dir import CHECKPOINT_DIR
from bn_keras.training.checkpointing import RunCheckpoint
from bn_keras.training.setup import Setup


def engine_record() -> records.EngineRecord:
    """What a Keras run adds to config.json: TensorFlow's, Keras's and TFDS's versions, GPUs,
    and whether oneDNN was on."""
    return records.EngineRecord(
        libraries={
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "tensorflow_datasets": tfds.__version__,
        },
        devices={
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
            "onednn": onednn.describe(),
        },
    )


def start_or_resume(setup: Setup, model: keras.Model) -> StartingPoint:
    """Restores the run directory's checkpoint into `model`, or starts the directory afresh
    (runs.resume.start_or_resume); either way the chief's probe files are cut to match.

    Args:
        setup: the run's setup; its run directory is created if missing.
        model: the compiled model, optimizer built, so a checkpoint restores its slots.

    Raises:
        CheckpointError: the checkpoint, or the metrics rows it covers, are damaged, or the
            workers' checkpoints are at different iterations.
    """
    config, run_dir, context = setup.config, setup.run_dir, setup.context

    def run_record() -> dict:
        distribution = context.record(setup.config_used, model)
        return records.run_record(config, distribution, setup.data_source, engine_record())

    starting = runs_resume.start_or_resume(
        config,
        run_dir,
        RunCheckpoint(run_dir / CHECKPOINT_DIR, model),
        run_record,
        chief=context.chief,
        check_same_step=context.check_same_step,
    )
    if context.chief:
        reset_files(run_dir, starting.step if starting.saved else None)
    return starting
