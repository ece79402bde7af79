"""Exports a trained network as a SavedModel that takes raw pixels, and as a `.keras` file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from bn_keras.config.datasets import Dataset
from bn_keras.data import input_pipeline
from bn_keras.data.normalization import normalize
from bn_keras.models.batch_norm import to_stock_model

SERVING_INPUT = tf.TensorSpec([None, 28, 28, 1], tf.float32, name="pixels")


def export_saved_model(model: keras.Model, path: Path, dataset: Dataset) -> None:
    """Writes a SavedModel whose `serving_default` signature maps raw pixels to predictions.

    Input `pixels`: float32 [N, 28, 28, 1] with values 0-255 (cast uint8 images to float32).
    Outputs: `probabilities` float32 [N, 10] and `class` int64 [N]. The dataset's normalization and
    inference-mode BatchNorm live inside the export. The directory is written next to `path` and
    moved into place at the end, so a crash never leaves a half-written export at `path`.
    """

    def serve(pixels):
        logits = model(normalize(pixels, dataset), training=False)
        return {
            "probabilities": tf.nn.softmax(logits),
            "class": tf.argmax(logits, axis=-1),
        }

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", serve, input_signature=[SERVING_INPUT])
    path = Path(path)
    staging = path.with_name(path.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        archive.write_out(str(staging), verbose=False)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # a full disk leaves no half-written export
        raise
    shutil.rmtree(path, ignore_errors=True)
    os.replace(staging, path)


def save_keras_model(model: keras.Model, path: Path) -> None:
    """Saves the Keras model (architecture, weights, optimizer state) atomically.

    FastBatchNormalization layers are saved as Keras's BatchNormalization (same config and
    weights), so that stock Keras loads the file without bn_keras.
    """
    path = Path(path)
    staging = path.with_name(path.name + ".partial.keras")
    try:
        to_stock_model(model).save(staging)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    os.replace(staging, path)


def predicted_classes(model_path: Path, images: np.ndarray, dataset: Dataset) -> np.ndarray:
    """The predicted class (uint8) of every image by an exported Keras model (`model.keras`), in
    the images' order: what `--save_predictions` writes, for a run that exported its model
    without it.

    Args:
        model_path: the run's model.keras.
        images: uint8 images [N, height, width, channels], e.g. the test set in its order.
        dataset: the dataset the model trained on (its normalization).
    """
    model = keras.models.load_model(model_path)
    labels = np.zeros(len(images), np.int64)
    batches = input_pipeline.test_dataset(images, labels, 1000, dataset=dataset)
    logits = np.concatenate([model(x, training=False).numpy() for x, _ in batches])
    return logits.argmax(axis=-1).astype(np.uint8)
