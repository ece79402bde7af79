"""MNIST's pixel normalization, shared by the input pipeline, the probes and the export."""

from __future__ import annotations

import tensorflow as tf

from bn_keras.config.mnist import MNIST_MEAN, MNIST_STD


def normalize(images: tf.Tensor) -> tf.Tensor:
    """Maps uint8 pixels to [0, 1], then standardizes with MNIST's mean and std."""
    return (tf.cast(images, tf.float32) / 255.0 - MNIST_MEAN) / MNIST_STD
