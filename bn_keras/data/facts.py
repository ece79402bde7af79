"""What both engines know about a dataset's epochs, free of TensorFlow and torch: iterations per
epoch, when the learning rate decays, and how injected arrays are named in a run's record."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bn_keras.config.settings import Config

# config.json's data_source when a caller passes arrays instead of the prepared TFDS dataset.
INJECTED_SOURCE = "arrays passed to train_and_evaluate"


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Iterations in one pass over the data; the last batch may be partial (PyTorch's default)."""
    return -(-num_examples // batch_size)


def decay_interval(config: Config, per_epoch: int) -> int | None:
    """Iterations between learning-rate decays (PyTorch's StepLR steps): an epoch, every
    `lr_decay_steps`, or None for a constant rate."""
    return {"epoch": per_epoch, "steps": config.lr_decay_steps, "constant": None}[
        config.lr_schedule
    ]
