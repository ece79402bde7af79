"""Santurkar et al.'s (2018) instruments: loss landscape, gradient predictiveness, effective
beta-smoothness and internal covariate shift, all computed without touching the model.

Every loss and gradient here is L_B at weights given as tensors, through `model.stateless_call`
with BN in training mode (batch statistics, as in training): BN's moving statistics, the weights
and the optimizer's state are only read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

Tensors = list[tf.Tensor]


class StatelessLoss:
    """L_B at any weights and its gradient, the model left untouched.

    Weights are values for `model.trainable_variables`, in that order; BN runs in training mode
    on the batch, with the moving statistics read (and their updates dropped). Calls run as
    compiled graphs: the probes' cost is mostly these passes.
    """

    def __init__(self, model: keras.Model, loss_fn: keras.losses.Loss):
        self._model = model
        self._loss_fn = loss_fn

    def _non_trainable(self) -> Tensors:
        return [tf.convert_to_tensor(v) for v in self._model.non_trainable_variables]

    @tf.function(reduce_retracing=True)
    def _loss_and_grads(self, weights, non_trainable, x, y):
        with tf.GradientTape() as tape:
            tape.watch(weights)
            logits, _ = self._model.stateless_call(weights, non_trainable, x, training=True)
            loss = self._loss_fn(y, logits)
        return loss, tape.gradient(loss, weights)

    @tf.function(reduce_retracing=True)
    def _along(self, weights, grads, eta, non_trainable, x, y):
        moved = [w - eta * g for w, g in zip(weights, grads)]
        loss, moved_grads = self._loss_and_grads(moved, non_trainable, x, y)
        return loss, tf.linalg.global_norm([a - b for a, b in zip(moved_grads, grads)])

    def __call__(self, weights: Sequence[tf.Tensor], x, y) -> tuple[tf.Tensor, Tensors]:
        """(L_B(weights), grad L_B(weights))."""
        return self._loss_and_grads(list(weights), self._non_trainable(), x, y)

    def along(
        self, weights: Sequence[tf.Tensor], grads: Sequence[tf.Tensor], eta: float, x, y
    ) -> tuple[float, float]:
        """(L_B(W - eta g), ||grad L_B(W - eta g) - g||) for W = weights, g = grads."""
        loss, diff = self._along(
            list(weights), list(grads), tf.constant(eta, tf.float32), self._non_trainable(), x, y
        )
        return float(loss), float(diff)


def stateless_loss(model: keras.Model, loss_fn: keras.losses.Loss) -> StatelessLoss:
    """L_B and its gradient at any weights for `model`; see StatelessLoss."""
    return StatelessLoss(model, loss_fn)


def current_weights(model: keras.Model) -> Tensors:
    """Copies of the model's trainable weights, as tensors."""
    return [tf.identity(tf.convert_to_tensor(v)) for v in model.trainable_variables]


def flat(tensors: Sequence[tf.Tensor]) -> np.ndarray:
    """All of `tensors` as one float64 vector."""
    return np.concatenate([np.asarray(t, np.float64).ravel() for t in tensors])


def adadelta_update(
    optimizer: keras.optimizers.Adadelta, grads: Tensors, variables: Sequence[keras.Variable]
) -> Tensors:
    """The change Adadelta's next step would make to each trainable variable, given `grads`.

    The same arithmetic as keras.optimizers.Adadelta.update_step, on copies: the optimizer's
    accumulators and iteration count are read, never written (Keras's own `stateless_apply` is
    not available with the TensorFlow backend). A test checks it against a real step.

    Args:
        optimizer: the model's built optimizer.
        grads: gradients of `variables`.
        variables: the trainable variables the optimizer steps.

    Returns:
        learning_rate * delta for each variable.
    """
    if not isinstance(optimizer, keras.optimizers.Adadelta):
        raise TypeError(f"the update of {type(optimizer).__name__} is not implemented")
    lr = tf.convert_to_tensor(optimizer.learning_rate, tf.float32)
    rho, eps = optimizer.rho, optimizer.epsilon
    updates = []
    for grad, variable in zip(grads, variables):
        index = optimizer._get_variable_index(variable)  # Keras internals: see the test
        acc_grad = optimizer._accumulated_grads[index]
        acc_delta = optimizer._accumulated_delta_vars[index]
        new_acc_grad = rho * tf.convert_to_tensor(acc_grad) + (1 - rho) * tf.square(grad)
        delta = -(tf.sqrt(tf.convert_to_tensor(acc_delta) + eps) * grad) / tf.sqrt(
            new_acc_grad + eps
        )
        updates.append(lr * delta)
    return updates


@dataclasses.dataclass(frozen=True)
class Landscape:
    """Santurkar et al.'s Fig. 4 measures at one step, over step sizes `etas` along -g.

    Attributes:
        loss: L_B(W).
        grad_norm: ||g||, g = grad L_B(W).
        loss_min, loss_max: min and max over eta of L_B(W - eta g) (Fig. 4a).
        grad_diff_min, grad_diff_max: min and max over eta of ||grad L_B(W - eta g) - g||
            (gradient predictiveness, Fig. 4b).
        beta_smoothness: max over eta of ||grad L_B(W - eta g) - g|| / ||eta g|| (Fig. 4c).
    """

    loss: float
    grad_norm: float
    loss_min: float
    loss_max: float
    grad_diff_min: float
    grad_diff_max: float
    beta_smoothness: float


def measure_landscape(
    loss_and_grads: StatelessLoss,
    weights: Tensors,
    x: tf.Tensor,
    y: tf.Tensor,
    etas: Sequence[float],
    at_weights: tuple[tf.Tensor, Tensors] | None = None,
) -> Landscape:
    """The landscape measures at `weights` on the batch (x, y); see Landscape.

    Args:
        loss_and_grads: from stateless_loss.
        weights: W.
        x, y: the batch B.
        etas: the step sizes.
        at_weights: (L_B(W), grad L_B(W)) when already computed.
    """
    loss, grads = at_weights or loss_and_grads(weights, x, y)
    g_norm = float(np.linalg.norm(flat(grads)))
    losses, diffs, ratios = [], [], []
    for eta in map(float, etas):
        moved_loss, diff = loss_and_grads.along(weights, grads, eta, x, y)
        losses.append(moved_loss)
        diffs.append(diff)
        ratios.append(diff / (eta * g_norm) if g_norm else float("nan"))
    return Landscape(
        loss=float(loss),
        grad_norm=g_norm,
        loss_min=min(losses),
        loss_max=max(losses),
        grad_diff_min=min(diffs),
        grad_diff_max=max(diffs),
        beta_smoothness=max(ratios),
    )


def layer_groups(model: keras.Model) -> dict[str, list[int]]:
    """Indices into `model.trainable_variables` of each weight layer, in depth order.

    A layer is an affine layer (conv or dense, e.g. "conv1", "logits") together with its BN's
    gamma and beta ("conv1_bn"), since those act on that layer's output before its activation.
    """
    index = {id(variable): i for i, variable in enumerate(model.trainable_variables)}
    groups: dict[str, list[int]] = {}
    for layer in model.layers:
        for variable in layer.trainable_variables:
            groups.setdefault(layer.name.removesuffix("_bn"), []).append(index[id(variable)])
    return groups


@dataclasses.dataclass(frozen=True)
class Shift:
    """Internal covariate shift of one layer (Santurkar et al., Def. 2.1 and Fig. 3).

    Attributes:
        l2: ||G - G'||, G the gradient of the loss wrt the layer's weights at W, G' the same
            after only the layers before it took the optimizer step.
        cosine: cos(G, G').
        grad_norm: ||G||, to read l2 relative to it.
    """

    l2: float
    cosine: float
    grad_norm: float


def internal_covariate_shift(
    loss_and_grads: StatelessLoss,
    weights: Tensors,
    grads: Tensors,
    update: Tensors,
    groups: dict[str, list[int]],
    x: tf.Tensor,
    y: tf.Tensor,
) -> dict[str, Shift]:
    """ICS of every layer in `groups` on the batch (x, y).

    Args:
        loss_and_grads: from stateless_loss.
        weights: W.
        grads: grad L_B(W), in the order of `weights`.
        update: the optimizer's step from W (W_next = W + update).
        groups: from layer_groups.
        x, y: the batch.

    Returns:
        One Shift per layer; the first layer's is 0 (no layer before it moves).
    """
    shifts, earlier = {}, set()
    for name, indices in groups.items():
        moved = [w + u if i in earlier else w for i, (w, u) in enumerate(zip(weights, update))]
        _, moved_grads = loss_and_grads(moved, x, y)
        before = flat([grads[i] for i in indices])
        after = flat([moved_grads[i] for i in indices])
        norms = np.linalg.norm(before) * np.linalg.norm(after)
        shifts[name] = Shift(
            l2=float(np.linalg.norm(before - after)),
            cosine=float(before @ after / norms) if norms else float("nan"),
            grad_norm=float(np.linalg.norm(before)),
        )
        earlier.update(indices)
    return shifts
