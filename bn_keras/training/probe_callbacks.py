"""The probe callbacks a config asks for (bn_keras.probes describes what they record)."""

from __future__ import annotations

from pathlib import Path

import keras

from bn_keras.config.settings import Config
from bn_keras.data import input_pipeline
from bn_keras.probes.activations import ActivationProbe, choose_layers
from bn_keras.probes.callback import LandscapeProbe, ProbeCallback, TrainBatches
from bn_keras.probes.files import reset_files
from bn_keras.runs.run_dir import PROBE_FILES
from bn_keras.training import recipe

__all__ = ["PROBE_FILES", "make_callbacks", "reset_files"]

PROBE_BATCH = 1000  # the first test images: the fixed batch of the activation probe


def make_callbacks(
    config: Config, model: keras.Model, mnist: input_pipeline.Mnist, run_dir: Path
) -> list[keras.callbacks.Callback]:
    """The probe callback the config asks for, or none.

    Raises:
        ConfigError: --probe_layers names a layer the model does not have.
    """
    activations = landscape = None
    if config.probe_every:
        layers = choose_layers(model, config.probe_layers)
        images = input_pipeline.normalize(mnist.test_images[:PROBE_BATCH])
        activations = ActivationProbe(model, layers, config.probe_units, images)
    if config.landscape_every:
        batches = TrainBatches(
            mnist.train_images, mnist.train_labels, config.batch_size, config.seed
        )
        landscape = LandscapeProbe(
            model, recipe.make_loss(), batches, config.landscape_steps, config.landscape_span
        )
    if activations is None and landscape is None:
        return []
    return [
        ProbeCallback(run_dir, activations, config.probe_every, landscape, config.landscape_every)
    ]
