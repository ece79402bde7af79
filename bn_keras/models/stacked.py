"""S seeds of one network as one Keras model, each seed still exactly its own network.

The stacked model is built by the registry's own builders (`networks.network_graph`) with a layer
factory that makes every layer per seed:

- images [B, 28, 28, S]: seed s's image in channel s;
- convolutions grouped by seed (`Conv2D(groups=S)`): seed s owns the contiguous output channels
  [s*C, (s+1)*C) and sees only its own input channels;
- Flatten per seed, in the single model's (height, width, channel) order, to [B, S, features];
- dense layers as per-seed matrix products (`EinsumDense`, kernel [S, in, out]);
- BatchNorm over the last axis of [..., S*C] (dense activations reshaped to [B, S*U]), which
  normalizes every seed's channels with that seed's own batch statistics;
- logits [B, S, 10], and a loss that is the sum over seeds of each seed's mean cross-entropy.

No weight, statistic or gradient crosses seeds: each seed's slice of the gradient is the gradient
of its own mean loss, and Adadelta is element-wise, so each slice follows the single-seed run.
`stack_seeds` copies each seed's initial weights from the single-seed model built with that seed;
`unstack_seed` slices a trained stack back into the single-seed model.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import keras
import tensorflow as tf
from absl import logging
from keras import layers

from bn_keras.config.seeds import MAX_STACK
from bn_keras.models import networks
from bn_keras.models.networks import BnOptions, LayerFactory


@functools.cache
def grouped_gradients_supported() -> bool:
    """Whether this process's kernels compute a grouped convolution's gradient.

    oneDNN's CPU kernels and cuDNN do; TensorFlow's Eigen CPU kernels (oneDNN off, or a CPU
    TensorFlow has no oneDNN build for) refuse it. Found out once, eagerly (also while a
    function is traced), by the two gradient ops on a tiny convolution of two groups of two
    channels (Eigen differentiates groups of one channel, as depthwise convolutions).
    """
    with tf.init_scope():
        images, kernel = tf.ones([1, 3, 3, 4]), tf.ones([1, 1, 2, 4])
        gradient, conv = tf.ones([1, 3, 3, 4]), {"strides": [1, 1, 1, 1], "padding": "VALID"}
        try:
            tf.raw_ops.Conv2DBackpropFilter(
                input=images, filter_sizes=tf.shape(kernel), out_backprop=gradient, **conv
            )
            tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.shape(images), filter=kernel, out_backprop=gradient, **conv
            )
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
            logging.info(
                "No grouped-convolution gradient here (TensorFlow's Eigen CPU kernels): a "
                "stack convolves each seed's channels on their own"
            )
            return False
    return True


@keras.saving.register_keras_serializable(package="bn_keras")
class GroupedConv2D(layers.Conv2D):
    """Keras's Conv2D with `groups`, run by TensorFlow's own grouped convolution where it can be.

    Keras compiles every grouped convolution with XLA on TensorFlow, because TensorFlow's Eigen
    CPU kernels lack its gradient; but XLA's CPU gradient of the kernel is far slower than
    oneDNN's. So this layer calls `tf.nn.conv2d` directly where the
    kernels have the gradient (oneDNN, cuDNN), and elsewhere convolves each group on its own
    and concatenates: the same weights, the same sums, one convolution per seed. Train it
    without XLA (`jit_compile=False`) on a CPU.
    """

    def convolution_op(self, inputs, kernel):
        def convolve(images, weights):
            return tf.nn.conv2d(
                images,
                weights,
                strides=list(self.strides),
                padding=self.padding.upper(),
                dilations=list(self.dilation_rate),
            )

        if self.groups == 1 or grouped_gradients_supported():
            return convolve(inputs, kernel)
        groups = zip(tf.split(inputs, self.groups, axis=-1), tf.split(kernel, self.groups, axis=-1))
        return tf.concat([convolve(images, weights) for images, weights in groups], axis=-1)


class _StackedLayerFactory(LayerFactory):
    """Makes each layer of a network once for all of `seeds` seeds (see the module docstring)."""

    def __init__(self, bn: BnOptions | None, seeds: int):
        super().__init__(bn, init="glorot")  # initial weights are copied in from single models
        self.seeds = seeds

    def image_input(self) -> keras.KerasTensor:
        height, width, _ = networks.INPUT_SHAPE
        return keras.Input((height, width, self.seeds), name="image")

    def flatten(self, x):
        height, width, channels = x.shape[1:]
        per_seed = channels // self.seeds
        x = layers.Reshape((height, width, self.seeds, per_seed), name="flatten_split")(x)
        x = layers.Permute((3, 1, 2, 4), name="flatten_seed_major")(x)
        return layers.Reshape((self.seeds, height * width * per_seed), name="flatten")(x)

    def dense(self, x, units: int, name: str, hidden: bool = True):
        use_bias = not (hidden and self.bn)
        return layers.EinsumDense(
            "bsi,sio->bso",
            output_shape=(self.seeds, units),
            bias_axes="so" if use_bias else None,
            name=name,
        )(x)

    def conv(self, x, filters: int, padding: str, name: str):
        return GroupedConv2D(
            filters * self.seeds,
            5,
            padding=padding,
            groups=self.seeds,
            use_bias=not self.bn,
            name=name,
        )(x)

    def normalize_and_activate(self, x, activation: str, name: str):
        if not self.bn or len(x.shape) != 3:
            return super().normalize_and_activate(x, activation, name)
        units = x.shape[-1]
        x = layers.Reshape((self.seeds * units,), name=f"{name}_bn_flat")(x)
        x = super().normalize_and_activate(x, activation, name)
        return layers.Reshape((self.seeds, units), name=f"{name}_bn_split")(x)


def build_stacked_model(
    name: str, bn: bool, seeds: int, bn_options: BnOptions | None = None, **variant
) -> keras.Model:
    """A stack of `seeds` copies of network `name`, weights not yet those of any seed.

    Args:
        name: a registry network ("mlp", "lenet", "lenetr").
        bn: with BatchNormalization before every hidden activation.
        seeds: the number of seeds S in the stack.
        bn_options: as for `networks.build_model`.
        **variant: `networks.build_model`'s width, mlp_depth and activation keywords.

    Returns:
        A functional model mapping images [N, 28, 28, S] to logits [N, S, 10], named like
        `lenetr_bn_stack4`. Its layers carry the single model's names.

    Raises:
        ValueError: unknown network or variant, or S outside 1..MAX_STACK.
    """
    if not 1 <= seeds <= MAX_STACK:
        raise ValueError(f"a stack holds 1 to {MAX_STACK} seeds, not {seeds}")
    factory = _StackedLayerFactory((bn_options or BnOptions()) if bn else None, seeds)
    inputs, logits = networks.network_graph(name, factory, **variant)
    return keras.Model(inputs, logits, name=f"{name}{'_bn' if bn else ''}_stack{seeds}")


def single_seed_model(
    name: str,
    bn: bool,
    seed: int,
    bn_options: BnOptions | None = None,
    init: str = "pytorch",
    **variant,
) -> keras.Model:
    """The single-seed model with the initial weights the single-seed trainer gives seed `seed`.

    That trainer seeds everything with `keras.utils.set_random_seed(seed)`, then builds the
    model; so does this (and so it reseeds Python, NumPy and TensorFlow).
    """
    keras.utils.set_random_seed(seed)
    return networks.build_model(name, bn, bn_options, init, **variant)


def stack_seeds(
    name: str,
    bn: bool,
    seeds: Sequence[int],
    bn_options: BnOptions | None = None,
    init: str = "pytorch",
    **variant,
) -> keras.Model:
    """The stack of `seeds`, slice i holding seed `seeds[i]`'s initial weights.

    Args:
        name, bn, bn_options: the network, as for `networks.build_model`.
        seeds: the seeds, in slice order.
        init: the initialization scheme of the single-seed models.
        **variant: `networks.build_model`'s width, mlp_depth and activation keywords.

    Returns:
        The stacked model (see `build_stacked_model`).
    """
    stacked = build_stacked_model(name, bn, len(seeds), bn_options, **variant)
    for index, seed in enumerate(seeds):
        single = single_seed_model(name, bn, seed, bn_options, init, **variant)
        copy_into_slice(stacked, index, single)
    return stacked


def _slice_index(stacked_shape, single_shape, seeds: int, index: int) -> tuple:
    """The index of slice `index` in a stacked weight, by the shapes (see the module docstring):
    a leading seed axis [S, ...] (dense layers), or S contiguous groups of the last axis."""
    stacked_shape, single_shape = tuple(stacked_shape), tuple(single_shape)
    if stacked_shape == (seeds, *single_shape):
        return (index,)
    last = single_shape[-1] if single_shape else None
    if single_shape and stacked_shape == (*single_shape[:-1], seeds * last):
        return (Ellipsis, slice(index * last, (index + 1) * last))
    raise ValueError(f"a stacked weight {stacked_shape} holds no slice of shape {single_shape}")


def _paired_weights(stacked: keras.Model, single: keras.Model):
    """(stacked weight, single weight) pairs, layer by layer, matched by layer name."""
    pairs = []
    for layer in single.layers:
        if not layer.weights:
            continue
        twin = stacked.get_layer(layer.name)
        if len(twin.weights) != len(layer.weights):
            raise ValueError(f"layer {layer.name}: the stack and the single model differ")
        pairs.extend(zip(twin.weights, layer.weights))
    return pairs


def _seeds_in(stacked: keras.Model) -> int:
    return int(stacked.input_shape[-1])


def copy_into_slice(stacked: keras.Model, index: int, single: keras.Model) -> None:
    """Writes the weights (and BN statistics) of the single-seed `single` into slice `index`."""
    seeds = _seeds_in(stacked)
    for stacked_weight, weight in _paired_weights(stacked, single):
        value = stacked_weight.numpy()
        value[_slice_index(value.shape, weight.shape, seeds, index)] = weight.numpy()
        stacked_weight.assign(value)


def unstack_seed(stacked: keras.Model, index: int, single: keras.Model) -> keras.Model:
    """Writes slice `index` of the stack into the single-seed model `single` and returns it.

    `single` is a model of the same network (`networks.build_model`), with any BN class.
    """
    seeds = _seeds_in(stacked)
    for stacked_weight, weight in _paired_weights(stacked, single):
        value = stacked_weight.numpy()
        weight.assign(value[_slice_index(value.shape, weight.shape, seeds, index)])
    return single


def unstack_optimizer(stacked: keras.Model, index: int, single: keras.Model) -> None:
    """Writes slice `index` of the stack's optimizer state (Adadelta's accumulators, the
    iteration count) into the optimizer of `single`, built for the single-seed model. Slots are
    matched by their names, which name the layer and weight they belong to."""
    seeds = _seeds_in(stacked)
    by_name = {v.name: v for v in stacked.optimizer.variables}
    for variable in single.optimizer.variables:
        value = by_name[variable.name].numpy()
        if value.shape != tuple(variable.shape):
            value = value[_slice_index(value.shape, variable.shape, seeds, index)]
        variable.assign(value)


def stacked_cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Per example, the sum over seeds of the cross-entropy: labels [B, S], logits [B, S, 10].

    Keras averages it over the batch, so the loss is the sum of the seeds' mean losses and each
    seed's slice of the gradient is exactly its own run's.
    """
    losses = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    return tf.reduce_sum(losses, axis=-1)


class PerSeedCrossEntropy(keras.metrics.Metric):
    """Each seed's training cross-entropy, summed in float64 as the single run's metric sums it.

    `seed_view(i)` gives the single run's metric interface (`total`, `count`, `reset_state`) for
    seed i, for the callbacks that write each seed's metrics rows.
    """

    def __init__(self, seeds: int, name: str = "train_cross_entropy"):
        super().__init__(name=name, dtype="float64")
        self.seeds = seeds
        self.total = self.add_variable((seeds,), "zeros", name="total", dtype="float64")
        self.count = self.add_variable((seeds,), "zeros", name="count", dtype="float64")

    def update_state(self, y_true, y_pred, sample_weight=None):
        del sample_weight
        losses = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        self.total.assign_add(tf.reduce_sum(tf.cast(losses, tf.float64), axis=0))
        self.count.assign_add(tf.fill([self.seeds], tf.cast(tf.shape(losses)[0], tf.float64)))

    def result(self):
        return tf.reduce_sum(self.total / tf.maximum(self.count, 1.0))

    def seed_view(self, index: int) -> _SeedLossView:
        return _SeedLossView(self, index)


class _SeedLossView:
    """Seed `index`'s part of a PerSeedCrossEntropy, read and reset like keras.metrics.Mean."""

    def __init__(self, metric: PerSeedCrossEntropy, index: int):
        self._metric = metric
        self._index = index

    @property
    def total(self) -> tf.Tensor:
        return self._metric.total[self._index]

    @property
    def count(self) -> tf.Tensor:
        return self._metric.count[self._index]

    def reset_state(self) -> None:
        for variable in (self._metric.total, self._metric.count):
            value = variable.numpy()
            value[self._index] = 0.0
            variable.assign(value)
