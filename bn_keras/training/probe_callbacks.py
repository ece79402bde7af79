"""The probe callbacks a config asks for (bn_keras.probes describes what they record)."""

from __future__ import annotations

import keras

from bn_keras.data.normalization import normalize
from bn_keras.probes.activations import ActivationProbe, choose_layers
from bn_keras.probes.callback import LandscapeProbe, ProbeCallback, TrainBatches
from bn_keras.probes.files import reset_files
from bn_keras.runs.run_dir import PROBE_FILES
from bn_keras.training import recipe
from bn_keras.training.setup import Setup

__all__ = ["PROBE_FILES", "make_callbacks", "reset_files"]

PROBE_BATCH = 1000  # the first test images: the fixed batch of the activation probe


def make_callbacks(setup: Setup, model: keras.Model) -> list[keras.callbacks.Callback]:
    """The probe callback the run's config asks for, or none.

    Raises:
        ConfigError: --probe_layers names a layer the model does not have.
    """
    config, data, run_dir = setup.config, setup.data, setup.run_dir
    activations = landscape = None
    if config.probe_every:
        layers = choose_layers(model, config.probe_layers)
        images = normalize(data.test_images[:PROBE_BATCH], setup.dataset)
        activations = ActivationProbe(model, layers, config.probe_units, images)
    if config.landscape_every:
        batches = TrainBatches(
            data.train_images, data.train_labels, config.batch_size, config.seed, setup.dataset
        )
        landscape = LandscapeProbe(
            model, recipe.make_loss(), batches, config.landscape_steps, config.landscape_span
        )
    if activations is None and landscape is None:
        return []
    return [
        ProbeCallback(run_dir, activations, config.probe_every, landscape, config.landscape_every)
    ]
