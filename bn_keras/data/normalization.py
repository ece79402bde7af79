"""A dataset's pixel normalization, shared by the input pipeline, the probes and the export."""

from __future__ import annotations

import tensorflow as tf

from bn_keras.config.datasets import Dataset


def normalize(images: tf.Tensor, dataset: Dataset) -> tf.Tensor:
    """Maps uint8 pixels to [0, 1], then standardizes with the dataset's mean and std."""
    return (tf.cast(images, tf.float32) / 255.0 - dataset.mean) / dataset.std
