"""The other BatchNorm training steps tried before FastBatchNormalization, kept so that the
benchmark times each against Keras's layer and FastBatchNormalization in the same run
(docs/speed.md).

Each is a FastBatchNormalization with another `_normalize_batch`: the same function, the same
moving statistics, another way of computing it. None is used by a run.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from bn_keras.models.batch_norm import FastBatchNormalization, batch_norm_train


def _rows(x: tf.Tensor) -> tf.Tensor:
    return tf.reshape(x, [-1, x.shape[-1]])


class FusedV3BatchNormalization(FastBatchNormalization):
    """TensorFlow's fused kernel, `FusedBatchNormV3`, and its registered gradient."""

    def _normalize_batch(self, x, gamma, beta):
        images = x if x.shape.rank == 4 else tf.reshape(x, [-1, 1, 1, x.shape[-1]])
        y, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=images,
            scale=gamma,
            offset=beta,
            mean=tf.zeros_like(gamma),
            variance=tf.ones_like(gamma),
            epsilon=self.epsilon,
            exponential_avg_factor=1.0,
            data_format="NHWC",
            is_training=True,
        )
        count = tf.cast(tf.size(x) // x.shape[-1], x.dtype)
        variance = variance * (count - 1) / count  # the kernel returns the unbiased variance
        return tf.reshape(y, tf.shape(x)), tf.stop_gradient(mean), tf.stop_gradient(variance)


class ClosedFormBatchNormalization(FastBatchNormalization):
    """FastBatchNormalization's forward and closed-form backward, not compiled by XLA."""

    def _normalize_batch(self, x, gamma, beta):
        return batch_norm_train(x, gamma, beta, self.epsilon, xla=False)


class ClosedFormMatmulBatchNormalization(FastBatchNormalization):
    """The closed-form gradient without XLA, the per-channel sums as products with a vector of
    ones and the diagonal of dy^T (x - mean)."""

    def _normalize_batch(self, x, gamma, beta):
        epsilon = self.epsilon

        @tf.custom_gradient
        def normalize(x, gamma, beta):
            rows = _rows(x)
            count = tf.cast(tf.shape(rows)[0], x.dtype)
            ones = tf.ones([1, tf.shape(rows)[0]], x.dtype)
            mean = tf.matmul(ones, rows)[0] / count
            centred = rows - mean
            variance = tf.linalg.diag_part(tf.matmul(centred, centred, transpose_a=True)) / count
            inv_std = tf.math.rsqrt(variance + epsilon)
            scale = gamma * inv_std
            y = tf.reshape(centred * scale + beta, tf.shape(x))

            def grad(dy, *_statistics_grads):
                dy_rows = _rows(dy)
                sum_dy = tf.matmul(ones, dy_rows)[0]
                sum_dy_centred = tf.linalg.diag_part(tf.matmul(dy_rows, centred, transpose_a=True))
                b = -scale * tf.square(inv_std) * sum_dy_centred / count
                dx = dy_rows * scale + (centred * b - scale * sum_dy / count)
                return tf.reshape(dx, tf.shape(x)), sum_dy_centred * inv_std, sum_dy

            return (y, mean, variance), grad

        y, mean, variance = normalize(x, gamma, beta)
        return y, tf.stop_gradient(mean), tf.stop_gradient(variance)


@tf.function(jit_compile=True)
def _xla_keras_ops(x, gamma, beta, epsilon):
    axes = list(range(x.shape.rank - 1))
    mean, variance = tf.nn.moments(x, axes)
    return tf.nn.batch_normalization(x, mean, variance, beta, gamma, epsilon), mean, variance


class XlaAutodiffBatchNormalization(FastBatchNormalization):
    """Keras's ops (moments, then batch_normalization) in one XLA function, differentiated by
    TensorFlow: XLA without the closed-form gradient."""

    def _normalize_batch(self, x, gamma, beta):
        y, mean, variance = _xla_keras_ops(x, gamma, beta, self.epsilon)
        return y, tf.stop_gradient(mean), tf.stop_gradient(variance)


# Benchmark variant -> layer class; "bn_fast" and "bn_keras" are the two a run can choose.
DIRECTIONS: dict[str, type[keras.layers.BatchNormalization]] = {
    "bn_keras": keras.layers.BatchNormalization,
    "bn_fused_v3": FusedV3BatchNormalization,
    "bn_closed_form": ClosedFormBatchNormalization,
    "bn_closed_form_matmul": ClosedFormMatmulBatchNormalization,
    "bn_xla_autodiff": XlaAutodiffBatchNormalization,
}
