"""Inference with BatchNorm folded into the conv or dense layer before it, from the live weights.

In inference mode BN is the per-channel affine map y = (x - mean) * s + beta, s = gamma /
sqrt(var + eps). After a conv or dense layer with kernel w and bias b it folds into one affine
layer: w' = w * s (per output channel), b' = (b - mean) * s + beta. The folded network computes
the same function up to float rounding, with the affine op, bias and activation adjacent, so
TensorFlow's fused kernels (oneDNN's Conv2D+BiasAdd+activation) apply, and three element-wise
passes over each activation disappear. The weights are folded at every call, from the model's
variables, so the same function serves a model that keeps training; the model itself (and what
gets exported) keeps its stock layers.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf

_AFFINE = (keras.layers.Conv2D, keras.layers.Dense)


def is_chain(model: keras.Model) -> bool:
    """Whether each layer of `model` takes exactly the previous layer's output."""
    layers = model.layers
    return all(
        isinstance(layer.input, keras.KerasTensor) and layer.input is prev.output
        for prev, layer in zip(layers, layers[1:])
    )


def _foldable(affine: keras.layers.Layer, bn: keras.layers.Layer) -> bool:
    return (
        isinstance(affine, _AFFINE)
        and isinstance(bn, keras.layers.BatchNormalization)
        and bn.axis in (-1, len(bn.input.shape) - 1)
        and getattr(affine, "data_format", "channels_last") == "channels_last"
        and affine.activation is keras.activations.linear
        and (not isinstance(affine, keras.layers.Conv2D) or affine.groups == 1)
    )


def count_foldable(model: keras.Model) -> int:
    """The number of (conv or dense, BatchNormalization) pairs `folded_inference` would fold."""
    if not is_chain(model):
        return 0
    layers = model.layers
    return sum(_foldable(a, b) for a, b in zip(layers, layers[1:]))


def fold(affine: keras.layers.Layer, bn: keras.layers.Layer) -> tuple[tf.Tensor, tf.Tensor]:
    """The kernel and bias of `affine` followed by `bn` in inference mode, as one affine layer.

    Args:
        affine: a Conv2D or Dense layer (channels last), with or without bias.
        bn: the BatchNormalization layer that takes its output.

    Returns:
        (kernel, bias): kernel shaped like affine's, bias of shape [channels].
    """
    mean = tf.convert_to_tensor(bn.moving_mean)
    scale = tf.math.rsqrt(tf.convert_to_tensor(bn.moving_variance) + bn.epsilon)
    if bn.scale:
        scale *= tf.convert_to_tensor(bn.gamma)
    bias = -mean if not affine.use_bias else tf.convert_to_tensor(affine.bias) - mean
    bias *= scale
    if bn.center:
        bias += tf.convert_to_tensor(bn.beta)
    return tf.convert_to_tensor(affine.kernel) * scale, bias


def _apply_affine(affine: keras.layers.Layer, x: tf.Tensor, kernel, bias) -> tf.Tensor:
    if isinstance(affine, keras.layers.Dense):
        return tf.nn.bias_add(tf.matmul(x, kernel), bias)
    y = tf.nn.convolution(
        x,
        kernel,
        strides=affine.strides,
        padding=affine.padding.upper(),
        dilations=affine.dilation_rate,
    )
    return tf.nn.bias_add(y, bias)


def folded_inference(model: keras.Model) -> Callable[[tf.Tensor], tf.Tensor]:
    """A function computing `model(x, training=False)` with every foldable BN folded.

    Args:
        model: a functional model whose layers form a chain (each takes the previous output).

    Returns:
        A function of a batch of inputs, to call inside a tf.function; it reads the current
        weights and moving statistics at each call.

    Raises:
        ValueError: the model's layers do not form a chain.
    """
    if not is_chain(model):
        raise ValueError(f"{model.name}: BN folding needs a chain of layers")
    layers = list(model.layers)
    if layers and isinstance(layers[0], keras.layers.InputLayer):
        layers = layers[1:]

    def forward(x: tf.Tensor) -> tf.Tensor:
        i = 0
        while i < len(layers):
            layer = layers[i]
            if i + 1 < len(layers) and _foldable(layer, layers[i + 1]):
                x = _apply_affine(layer, x, *fold(layer, layers[i + 1]))
                i += 2
            else:
                x = layer(x, training=False)
                i += 1
        return x

    return forward
