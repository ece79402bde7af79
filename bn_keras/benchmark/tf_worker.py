"""The TensorFlow worker of `python -m bn_keras.bench`: times bn_keras's own training paths.

`bench.py` starts one such process per process-wide setting (TensorFlow reads oneDNN and thread
settings once, at start-up) and sends it commands (bench_protocol). Every variant builds its model
with `train.build_compiled_model` and reads the dataset through `data`, as a run does.

Variants (all at the flagfiles' settings: 10,000 iterations, `eval_every` from the command):
    plain: `model.fit`, one step per call, no XLA (Keras's defaults), real input pipeline.
    default: bn_keras's defaults (steps_per_execution auto, jit_compile auto), real pipeline.
    synthetic: the defaults on in-memory batches that need no input work.
    jit: the defaults with `jit_compile=True` (XLA).
    loop: a custom `tf.function` loop of steps_per_execution steps per call, instead of `fit`.
    callback: the defaults plus the test-accuracy callback (metrics file, TensorBoard), with the
        time spent in it measured; `callback_b10000` evaluates in one batch of 10,000, and
        `callback_folded` with BatchNorm folded into the layer before it.
    bn_keras, bn_fused_v3, ...: the defaults with another BatchNorm layer
        (`bn_directions.DIRECTIONS`): Keras's own (`--bn_impl=keras`) and the directions tried.
    stack: seeds 0..S-1 (`prepare`'s `seeds`) trained as one stacked model, built, compiled and
        fed as `training.stacked.train_stack` builds, compiles and feeds it (no evaluation).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from bn_keras.benchmark.bn_directions import DIRECTIONS
from bn_keras.benchmark.protocol import reserve_stdout, serve
from bn_keras.common import onednn
from bn_keras.config import datasets
from bn_keras.config.names import split_experiment
from bn_keras.config.settings import Config
from bn_keras.data import input_pipeline, preparation
from bn_keras.data.normalization import normalize
from bn_keras.data.stacked_pipeline import stacked_train_dataset
from bn_keras.runs.controller import RunController
from bn_keras.runs.resume import StartingPoint
from bn_keras.runs.run_dir import TENSORBOARD_DIR
from bn_keras.training import cpu_threads, recipe, train
from bn_keras.training.callbacks import KerasEngine, TestAccuracyCallback, tensorboard_rows
from bn_keras.training.evaluation import make_test_evaluator
from bn_keras.training.stacked import compile_stack

VARIANTS = (
    "plain",
    "default",
    "synthetic",
    "jit",
    "loop",
    "callback",
    "callback_b10000",
    "callback_folded",
    *DIRECTIONS,
    "stack",
)
PAPER_STEPS = 10_000  # the six paper flagfiles' --train_steps
SYNTHETIC_BATCHES = 50
SEED = 0
BATCH = Config().batch_size  # the recipe's


def network_config(network: str, eval_every: int, **overrides) -> Config:
    """The flagfile configuration of `network` ("mlp", "lenet_bn", ...), with `overrides`."""
    model, bn = split_experiment(network)
    return Config(model=model, bn=bn, train_steps=PAPER_STEPS, eval_every=eval_every, **overrides)


class _CallbackClock(keras.callbacks.Callback):
    """Placed before and after a callback (`start` True, then False), adds up the time it takes."""

    def __init__(self, totals: dict, start: bool):
        super().__init__()
        self._totals, self._start = totals, start

    def _edge(self) -> None:
        now = time.perf_counter()
        if self._start:
            self._totals["since"] = now
        else:
            self._totals["seconds"] += now - self._totals["since"]

    def on_train_begin(self, logs=None):
        self._edge()

    def on_train_batch_end(self, batch, logs=None):
        self._edge()


class TfWorker:
    """Holds the loaded dataset and the prepared variants of the current network."""

    def __init__(self, settings: dict):
        self.dataset = datasets.get(settings.get("dataset", datasets.DEFAULT))
        data_dir = settings.get("data_dir")
        preparation.ensure(
            self.dataset,
            data_dir,
            settings.get("dataset_source", "auto"),
            settings.get("dataset_files"),
        )
        self.data = preparation.load(self.dataset, data_dir)
        self.per_epoch = input_pipeline.steps_per_epoch(self.data.num_train, BATCH)
        self._runners: dict[str, Callable[[int], dict]] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="bn_keras_bench_")

    def handle(self, command: dict) -> dict:
        cmd = command["cmd"]
        if cmd == "export_data":
            return self._export_data(Path(command["dir"]))
        if cmd == "prepare":
            return self._prepare(
                command["network"],
                command["variants"],
                command["eval_every"],
                command.get("seeds", 1),
            )
        if cmd == "time":
            start = time.perf_counter()
            extra = self._runners[command["variant"]](command["steps"])
            return {"seconds": time.perf_counter() - start, **extra}
        if cmd == "release":
            self._runners.clear()
            keras.backend.clear_session()
            return {}
        raise ValueError(f"unknown command {cmd!r}")

    def _export_data(self, directory: Path) -> dict:
        """Writes the training set as raw bytes for the PyTorch worker (which may lack numpy)."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "images.u8").write_bytes(self.data.train_images.astype(np.uint8).tobytes())
        (directory / "labels.u8").write_bytes(self.data.train_labels.astype(np.uint8).tobytes())
        return {"examples": self.data.num_train}

    def _train_data(self) -> tf.data.Dataset:
        m = self.data
        return input_pipeline.train_dataset(
            m.train_images, m.train_labels, BATCH, SEED, dataset=self.dataset
        )

    def _synthetic_data(self) -> tf.data.Dataset:
        """The first SYNTHETIC_BATCHES full batches, normalized once and cycled from memory."""
        n = min(self.data.num_train // BATCH, SYNTHETIC_BATCHES) * BATCH
        images = normalize(self.data.train_images[:n], self.dataset)
        labels = self.data.train_labels[:n].astype(np.int64)
        batches = tf.data.Dataset.from_tensor_slices((images, labels)).batch(BATCH).cache()
        return batches.repeat().prefetch(tf.data.AUTOTUNE)

    def _prepare(self, network: str, variants: list[str], eval_every: int, seeds: int) -> dict:
        """Builds each variant (a stack of `seeds` seeds), runs it twice (tracing, then warm),
        returns its warm steps/s."""
        self._runners.clear()
        keras.backend.clear_session()
        rates = {}
        for variant in variants:
            runner = self._build(network, variant, eval_every, seeds)
            runner(eval_every)  # traces and compiles
            start = time.perf_counter()
            runner(eval_every)
            rates[variant] = eval_every / (time.perf_counter() - start)
            self._runners[variant] = runner
        return {"warm_steps_per_s": rates}

    def _build(
        self, network: str, variant: str, eval_every: int, seeds: int = 1
    ) -> Callable[[int], dict]:
        overrides = {
            "plain": {"steps_per_execution": 1, "jit_compile": "false"},
            "jit": {"jit_compile": "true"},
            "callback_b10000": {"test_batch_size": 10_000},
        }.get(variant, {})
        config = network_config(network, eval_every, **overrides)
        if variant == "stack":
            return self._stack_runner(config, list(range(seeds)))
        keras.utils.set_random_seed(SEED)
        train_loss = recipe.make_train_loss_metric()
        model = train.build_compiled_model(
            config, self.per_epoch, train_loss, bn_layer_class=DIRECTIONS.get(variant)
        )
        if variant == "loop":
            return _loop_runner(model, train_loss, self._train_data(), config)
        data = self._synthetic_data() if variant == "synthetic" else self._train_data()
        callbacks, clock = [], {"seconds": 0.0}
        if variant.startswith("callback"):
            callbacks = [
                _CallbackClock(clock, start=True),
                self._accuracy_callback(
                    model, train_loss, config, f"{network}_{variant}", variant == "callback_folded"
                ),
                _CallbackClock(clock, start=False),
            ]

        def run(steps: int) -> dict:
            clock["seconds"] = 0.0
            model.fit(
                data,
                epochs=1,
                steps_per_epoch=steps,
                callbacks=callbacks,
                shuffle=False,
                verbose=0,
            )
            return {"callback_seconds": clock["seconds"]} if callbacks else {}

        return run

    def _stack_runner(self, config: Config, seeds: list[int]) -> Callable[[int], dict]:
        """`model.fit` of the stack of `seeds` as `train_stack` compiles and feeds it."""
        model, _ = compile_stack(config, seeds, self.per_epoch)
        m = self.data
        data = stacked_train_dataset(
            m.train_images, m.train_labels, BATCH, seeds, dataset=self.dataset
        )

        def run(steps: int) -> dict:
            model.fit(data, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
            return {}

        return run

    def _accuracy_callback(self, model, train_loss, config: Config, label: str, fold: bool):
        run_dir = Path(self._tmp.name, label)
        run_dir.mkdir(exist_ok=True)
        test_ds = input_pipeline.test_dataset(
            self.data.test_images,
            self.data.test_labels,
            config.test_batch_size,
            dataset=self.dataset,
        )
        evaluate = make_test_evaluator(
            model,
            test_ds,
            tf.distribute.get_strategy(),
            len(self.data.test_labels),
            fold_batch_norm=fold,
        )
        engine = KerasEngine(
            evaluate, train_loss, recipe.learning_rate_schedule(config, self.per_epoch)
        )
        controller = RunController(  # no checkpoint: rows, TensorBoard and progress lines only
            config,
            run_dir,
            engine,
            StartingPoint(None),
            steps_per_epoch=self.per_epoch,
            on_row=tensorboard_rows(run_dir / TENSORBOARD_DIR),
        )
        return TestAccuracyCallback(controller)


def _loop_runner(model, train_loss, data: tf.data.Dataset, config: Config):
    """A hand-written training loop: the same model, optimizer, loss and metric as `fit`."""
    optimizer, loss_fn = model.optimizer, recipe.make_loss()
    chunk = config.resolved_steps_per_execution

    @tf.function
    def train_chunk(iterator):
        loss = tf.constant(0.0)
        for _ in tf.range(chunk):
            images, labels = next(iterator)
            with tf.GradientTape() as tape:
                logits = model(images, training=True)
                loss = loss_fn(labels, logits)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply(grads, model.trainable_variables)
            train_loss.update_state(labels, logits)
        return loss

    def run(steps: int) -> dict:
        # A fresh iterator per timing, as fit makes: a live one between timings would keep
        # tf.data's threads busy while other variants are timed.
        iterator = iter(data)
        for _ in range(steps // chunk):
            loss = train_chunk(iterator)
        loss.numpy()  # waits for the last step
        return {}

    return run


def main() -> None:
    """`python -m bn_keras.benchmark.tf_worker '{"intra": 1, "inter": 1, "data_dir": null}'`."""
    replies = reserve_stdout()
    settings = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    if settings.get("intra"):
        tf.config.threading.set_intra_op_parallelism_threads(settings["intra"])
    if settings.get("inter"):
        tf.config.threading.set_inter_op_parallelism_threads(settings["inter"])
    cpu_threads.apply_cpu_defaults()  # as train_and_evaluate does, unless set just above
    worker = TfWorker(settings)
    ready = {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "onednn": onednn.state(),
    }
    serve(worker.handle, ready, replies)


if __name__ == "__main__":
    main()
