"""BatchNormalization whose training step costs fewer passes over the activations.

Keras 3's `BatchNormalization` on TensorFlow trains through separate reduction and element-wise
ops and differentiates them op by op: on the LeNets' conv activations that is about a dozen passes
over the tensor per step, and half of a CPU step's op time (docs/speed.md). `FastBatchNormalization`
computes the same function and gradient in two XLA-compiled functions: the forward (centred
batch mean and variance, then the affine normalization) and the closed-form backward

    dx = gamma / sigma * (dy - mean(dy) - x_hat * mean(dy * x_hat)),

which XLA fuses into a few passes. Everything else is Keras's layer: its weights, its moving
statistics (updated with the same momentum rule and the same biased batch variance), its
inference path (the moving statistics, through Keras's own ops, so exports hold stock ops only),
and its config. Cases the fast path does not cover (synchronized statistics, masks, renorm, a
channel axis other than the last, no center or scale) run Keras's code unchanged.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def _forward_ops(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: float):
    axes = list(range(x.shape.rank - 1))
    mean = tf.reduce_mean(x, axes)
    centred = x - mean
    variance = tf.reduce_mean(tf.square(centred), axes)  # centred: no E[x^2] - E[x]^2 rounding
    inv_std = tf.math.rsqrt(variance + epsilon)
    return centred * (gamma * inv_std) + beta, mean, variance, inv_std


def _backward_ops(dy: tf.Tensor, x: tf.Tensor, mean: tf.Tensor, inv_std: tf.Tensor, gamma):
    axes = list(range(x.shape.rank - 1))
    count = tf.cast(tf.size(x) // tf.shape(x)[-1], x.dtype)
    centred = x - mean
    sum_dy = tf.reduce_sum(dy, axes)
    sum_dy_centred = tf.reduce_sum(dy * centred, axes)
    scale = gamma * inv_std
    dx = dy * scale - centred * (scale * tf.square(inv_std) * sum_dy_centred / count)
    dx -= scale * sum_dy / count
    return dx, sum_dy_centred * inv_std, sum_dy


_COMPILED = (
    tf.function(_forward_ops, jit_compile=True),
    tf.function(_backward_ops, jit_compile=True),
)


def batch_norm_train(
    x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: float, xla: bool = True
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Batch normalization over all axes but the last, as in training.

    Args:
        x: activations [..., channels].
        gamma, beta: scale and offset [channels].
        epsilon: added to the batch variance.
        xla: run the forward and the backward as XLA-compiled functions (False: the same ops,
            uncompiled; the benchmark times both).

    Returns:
        (y, mean, variance): the normalized activations and the batch statistics (the variance
        biased, as Keras's); gradients flow to x, gamma and beta, not through the statistics.
    """

    forward, backward = _COMPILED if xla else (_forward_ops, _backward_ops)

    @tf.custom_gradient
    def normalize(x, gamma, beta):
        y, mean, variance, inv_std = forward(x, gamma, beta, epsilon)

        def grad(dy, *_statistics_grads):
            return backward(dy, x, mean, inv_std, gamma)

        return (y, mean, variance), grad

    y, mean, variance = normalize(x, gamma, beta)
    return y, tf.stop_gradient(mean), tf.stop_gradient(variance)


@keras.saving.register_keras_serializable(package="bn_keras")
class FastBatchNormalization(keras.layers.BatchNormalization):
    """Keras's BatchNormalization with an XLA-fused training step (see the module docstring).

    Takes exactly Keras's arguments. `to_stock_model` turns a model that holds these layers into
    one with Keras's own, for files that stock Keras loads.
    """

    def _fast_path(self, inputs, training, mask) -> bool:
        return bool(
            training
            and self.trainable
            and mask is None
            and not self.synchronized
            and not self.renorm
            and self.center
            and self.scale
            and self.axis in (-1, len(inputs.shape) - 1)
        )

    def _normalize_batch(self, x, gamma, beta) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(y, batch mean, biased batch variance); the benchmark's other directions override it."""
        return batch_norm_train(x, gamma, beta, self.epsilon)

    def call(self, inputs, training=None, mask=None):
        if not self._fast_path(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        x = tf.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        y, mean, variance = self._normalize_batch(
            x, tf.cast(self.gamma, x.dtype), tf.cast(self.beta, x.dtype)
        )
        m = self.momentum
        self.moving_mean.assign(tf.cast(self.moving_mean, x.dtype) * m + mean * (1.0 - m))
        self.moving_variance.assign(
            tf.cast(self.moving_variance, x.dtype) * m + variance * (1.0 - m)
        )
        return tf.cast(y, self.compute_dtype)


def batch_norm_class(implementation: str) -> type[keras.layers.BatchNormalization]:
    """The layer class of `--bn_impl`: "fast" (FastBatchNormalization) or "keras".

    Raises:
        ValueError: unknown implementation.
    """
    classes = {"fast": FastBatchNormalization, "keras": keras.layers.BatchNormalization}
    if implementation not in classes:
        raise ValueError(f"unknown BatchNorm implementation {implementation!r}: {tuple(classes)}")
    return classes[implementation]


def to_stock_model(model: keras.Model) -> keras.Model:
    """`model` with Keras's own BatchNormalization in place of every FastBatchNormalization.

    The copy has the same layer names, configs and weights, and its optimizer when compiled, so
    that the file `model.save` writes loads in stock Keras, without bn_keras. A model without
    FastBatchNormalization layers is returned as it is.
    """
    if not any(isinstance(layer, FastBatchNormalization) for layer in model.layers):
        return model

    def stock(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, FastBatchNormalization):
            return keras.layers.BatchNormalization.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=stock)
    copy.set_weights(model.get_weights())
    if getattr(model, "optimizer", None) is not None:
        copy.compile(optimizer=model.optimizer, loss=model.loss)
    return copy
