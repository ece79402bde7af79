"""The probe callback: runs the probes every N iterations during `fit` and writes their rows."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from bn_keras.config.datasets import Dataset
from bn_keras.data import input_pipeline
from bn_keras.data.normalization import normalize
from bn_keras.probes import landscape as landscape_lib
from bn_keras.probes.activations import ActivationProbe
from bn_keras.probes.files import open_rows
from bn_keras.runs.metrics_file import MetricsWriter
from bn_keras.runs.run_dir import ACTIVATIONS_FILE, ICS_FILE, LANDSCAPE_FILE


class TrainBatches:
    """Training batch k of the run, as `input_pipeline.train_dataset` yields it, by index.

    Epoch e's order is a pure function of (seed, e), so the batch that step k+1 trains on is
    known without touching the pipeline `fit` reads (a test checks both agree).
    """

    def __init__(
        self, images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int, dataset: Dataset
    ):
        self._images, self._labels, self._dataset = images, labels, dataset
        self._batch_size, self._seed = batch_size, seed
        self._per_epoch = input_pipeline.steps_per_epoch(len(labels), batch_size)
        self._order: tuple[int, np.ndarray] | None = None

    def __call__(self, index: int) -> tuple[tf.Tensor, tf.Tensor]:
        """The batch trained on at iteration `index` + 1 (0-based batch index)."""
        epoch, position = divmod(index, self._per_epoch)
        if self._order is None or self._order[0] != epoch:
            seed = tf.stack([tf.constant(self._seed, tf.int64), tf.constant(epoch, tf.int64)])
            order = tf.random.experimental.stateless_shuffle(tf.range(len(self._labels)), seed)
            self._order = (epoch, order.numpy())
        chosen = self._order[1][position * self._batch_size : (position + 1) * self._batch_size]
        images = normalize(tf.constant(self._images[chosen]), self._dataset)
        return images, tf.constant(self._labels[chosen], tf.int64)


class LandscapeProbe:
    """Santurkar et al.'s measures at the current weights, on the batch of the next step.

    "The training step size" for Adadelta, whose step is not eta * g: eta_eff = ||update|| /
    ||g||, the update being the one Adadelta's next step will make from the same gradient. The
    landscape uses `steps` step sizes spread geometrically from eta_eff / span to eta_eff * span.
    """

    def __init__(
        self,
        model: keras.Model,
        loss_fn: keras.losses.Loss,
        batches: TrainBatches,
        steps: int,
        span: float,
    ):
        self._model = model
        self._loss = landscape_lib.stateless_loss(model, loss_fn)
        self._batches = batches
        self._multipliers = np.geomspace(1 / span, span, steps) if steps > 1 else np.ones(1)
        self.groups = landscape_lib.layer_groups(model)

    @property
    def landscape_fields(self) -> list[str]:
        """Columns of landscape.csv."""
        return [
            "step",
            "learning_rate",
            "loss",
            "grad_norm",
            "update_norm",
            "eta_eff",
            "update_cosine",
            "eta_min",
            "eta_max",
            "loss_min",
            "loss_max",
            "grad_diff_min",
            "grad_diff_max",
            "beta_smoothness",
            "probe_s",
        ]

    @property
    def ics_fields(self) -> list[str]:
        """Columns of ics.csv: `<layer>:ics_l2`, `:ics_cos` and `:grad_norm` per layer."""
        per_layer = [
            f"{name}:{what}" for name in self.groups for what in ("ics_l2", "ics_cos", "grad_norm")
        ]
        return ["step", *per_layer, "probe_s"]

    def measure(self, step: int) -> tuple[dict, dict]:
        """The landscape row and the ICS row at iteration `step` (weights after `step` steps)."""
        start = time.monotonic()
        model, optimizer = self._model, self._model.optimizer
        x, y = self._batches(step)
        weights = landscape_lib.current_weights(model)
        loss, grads = self._loss(weights, x, y)
        update = landscape_lib.adadelta_update(optimizer, grads, model.trainable_variables)
        g, u = landscape_lib.flat(grads), landscape_lib.flat(update)
        g_norm, u_norm = float(np.linalg.norm(g)), float(np.linalg.norm(u))
        eta_eff = u_norm / g_norm if g_norm else float("nan")
        etas = eta_eff * self._multipliers
        measured = landscape_lib.measure_landscape(
            self._loss, weights, x, y, etas, at_weights=(loss, grads)
        )
        landscape_row = {
            "step": step,
            "learning_rate": float(optimizer.learning_rate),
            "update_norm": u_norm,
            "eta_eff": eta_eff,
            "update_cosine": float(-(g @ u) / (g_norm * u_norm)) if g_norm * u_norm else np.nan,
            "eta_min": float(etas.min()),
            "eta_max": float(etas.max()),
            **dataclasses.asdict(measured),
        }
        landscape_row["probe_s"] = time.monotonic() - start
        start = time.monotonic()
        shifts = landscape_lib.internal_covariate_shift(
            self._loss, weights, grads, update, self.groups, x, y
        )
        ics_row = {"step": step}
        for name, shift in shifts.items():
            ics_row.update(
                {
                    f"{name}:ics_l2": shift.l2,
                    f"{name}:ics_cos": shift.cosine,
                    f"{name}:grad_norm": shift.grad_norm,
                }
            )
        ics_row["probe_s"] = time.monotonic() - start
        return landscape_row, ics_row


class ProbeCallback(keras.callbacks.Callback):
    """Runs the activation probe every `activation_every` iterations and the landscape probe
    every `landscape_every` (0: never), before training and after the steps that are multiples.

    Each measurement appends one whole row to its file; `seconds` is the time spent in probes.
    """

    def __init__(
        self,
        run_dir: Path,
        activations: ActivationProbe | None,
        activation_every: int,
        landscape: LandscapeProbe | None,
        landscape_every: int,
    ):
        super().__init__()
        self._run_dir = Path(run_dir)
        self._activations, self._activation_every = activations, activation_every
        self._landscape, self._landscape_every = landscape, landscape_every
        self._writers: dict[str, MetricsWriter] = {}
        self.seconds = 0.0

    def on_train_begin(self, logs=None):
        if self._activations is not None:
            self._writers["activations"] = open_rows(
                self._run_dir / ACTIVATIONS_FILE, ["step", *self._activations.fields, "probe_s"]
            )
        if self._landscape is not None:
            self._writers["landscape"] = open_rows(
                self._run_dir / LANDSCAPE_FILE, self._landscape.landscape_fields
            )
            self._writers["ics"] = open_rows(self._run_dir / ICS_FILE, self._landscape.ics_fields)
        if self._step() == 0:
            self._probe(0)

    def _step(self) -> int:
        return int(self.model.optimizer.iterations.numpy())

    def on_train_batch_end(self, batch, logs=None):
        self._probe(self._step())

    def on_train_end(self, logs=None):
        logging.info("Probes: %.1f s in all", self.seconds)

    def _probe(self, step: int) -> None:
        if self._activations is not None and step % self._activation_every == 0:
            start = time.monotonic()
            row = {"step": step, **self._activations.measure()}
            row["probe_s"] = time.monotonic() - start
            self._writers["activations"].append(row)
            self.seconds += row["probe_s"]
        if self._landscape is not None and step % self._landscape_every == 0:
            landscape_row, ics_row = self._landscape.measure(step)
            self._writers["landscape"].append(landscape_row)
            self._writers["ics"].append(ics_row)
            self.seconds += landscape_row["probe_s"] + ics_row["probe_s"]
