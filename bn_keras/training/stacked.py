"""Trains the seeds of one configuration together as one stacked model (bn_keras.models.stacked).

Each seed is still its own run and gets its own run directory with the files a single run writes
(config.json, metrics.csv, TensorBoard events, model exports, result.json last); its config.json
names the stack it was trained in. The stack itself has a directory of its own holding the
checkpoint of all its seeds, so a stack resumes exactly, as one.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import tensorflow as tf
from absl import logging

from bn_keras.common.atomic import write_json_atomic
from bn_keras.common.errors import CheckpointError, TrainingDiverged
from bn_keras.config import networks as declarations
from bn_keras.config.seeds import check_stackable, seed_run_dirs, stack_dir_name
from bn_keras.config.settings import Config
from bn_keras.data import input_pipeline
from bn_keras.data.originals import Splits
from bn_keras.data.stacked_pipeline import stacked_train_dataset
from bn_keras.models import networks, stacked
from bn_keras.runs import records
from bn_keras.runs import resume as runs_resume
from bn_keras.runs.controller import RunController
from bn_keras.runs.records import RunResult, write_result
from bn_keras.runs.run_dir import CHECKPOINT_DIR, KERAS_MODEL_FILE, SAVED_MODEL_DIR, TENSORBOARD_DIR
from bn_keras.training import compiled_model, recipe
from bn_keras.training.callbacks import KerasEngine, TestAccuracyCallback, tensorboard_rows
from bn_keras.training.checkpointing import CheckpointCallback, RunCheckpoint
from bn_keras.training.export import export_saved_model, save_keras_model
from bn_keras.training.resume import engine_record
from bn_keras.training.setup import Setup, set_up

STACK_FILE = "stack.json"  # in the stack's directory: its seeds and their run directories


@dataclasses.dataclass(frozen=True)
class StackResult:
    """What a stack measured: one RunResult per seed, in the stack's order."""

    stack_dir: Path
    seeds: tuple[int, ...]
    runs: list[RunResult]
    interrupted_at: int | None = None


@dataclasses.dataclass
class _Stack:
    setup: Setup
    seeds: tuple[int, ...]
    run_dirs: list[Path]
    model: keras.Model
    train_loss: stacked.PerSeedCrossEntropy

    def seed_config(self, index: int) -> Config:
        return dataclasses.replace(self.setup.config, seed=self.seeds[index])


def train_stack(
    config: Config,
    seeds: Sequence[int],
    results_dir: Path,
    *,
    strategy: tf.distribute.Strategy | None = None,
    data: Splits | None = None,
    stop_request: threading.Event | None = None,
) -> StackResult:
    """Trains `seeds` of `config` (its own `seed` ignored) as one stacked model.

    Seed s is the same run as `train_and_evaluate(replace(config, seed=s), ...)` up to float
    rounding: the same initial weights, batches, BN statistics and Adadelta state
    (tests/test_stacked.py). Writes each seed's run directory (`seed_run_dirs`) and the stack's
    (`stack_dir_name`: stack.json and the checkpoints); a stack directory holding a checkpoint is
    resumed at its exact iteration.

    Args:
        config: a validated configuration (see `check_stackable`).
        seeds: the seeds, each once.
        results_dir: where the run directories and the stack's directory go.
        strategy: overrides the strategy named in the config (tests inject one).
        data: overrides the dataset read with tfds.load (tests inject tiny arrays).
        stop_request: when set, training checkpoints and stops at the next callback.

    Returns:
        Each seed's measurements, and `interrupted_at` when a stop request ended the stack.

    Raises:
        TrainingDiverged: the loss of a seed became NaN or infinite (the whole stack stops).
        CheckpointError: the checkpoint, or the metrics rows it covers, are damaged.
    """
    seeds = tuple(seeds)
    results_dir = Path(results_dir)
    check_stackable(config)
    setup = set_up(config, results_dir / stack_dir_name(config, seeds), strategy, data)
    with setup.context.scope():
        model, train_loss = compile_stack(
            setup.config_used, seeds, setup.steps_per_epoch, setup.context.sync_bn
        )
    stack = _Stack(setup, seeds, seed_run_dirs(config, seeds, results_dir), model, train_loss)
    average_bn_statistics = setup.context.prepare_fit(stack.model)
    startings = _start_or_resume(stack)
    setup.context.log(setup.config_used)
    controllers = _make_controllers(stack, startings, average_bn_statistics, stop_request)
    callbacks = [TestAccuracyCallback(controller) for controller in controllers]
    callbacks += [CheckpointCallback(controller) for controller in controllers]
    _fit(stack, startings[0].step, callbacks)
    diverged_at = controllers[0].diverged_at
    if diverged_at is not None:
        raise TrainingDiverged(
            f"the stack {setup.run_dir.name} diverged (loss not finite) at iteration "
            f"{diverged_at}; the metrics so far are in each seed's run directory, "
            "nothing was exported: lower --learning_rate or train the seeds one by one"
        )
    runs = [controller.result() for controller in controllers]
    if runs[0].interrupted_at is None:
        for index, run in enumerate(runs):
            _export_and_record(stack, index, run)
    return StackResult(setup.run_dir, seeds, runs, runs[0].interrupted_at)


def compile_stack(
    config: Config, seeds: Sequence[int], steps_per_epoch: int, sync_bn: bool = False
) -> tuple[keras.Model, stacked.PerSeedCrossEntropy]:
    """The stack of `seeds`, compiled as `train_stack` trains it, its optimizer built.

    Call it inside the strategy's scope, if any: the model's, optimizer's and metric's
    variables are created here, and `steps_per_execution` depends on the strategy.

    Args:
        config: the configuration trained with (`Setup.config_used`).
        seeds: the seeds, in slice order; slice i holds seed `seeds[i]`'s initial weights.
        steps_per_epoch: iterations per epoch, for the optimizer's learning-rate schedule.
        sync_bn: BatchNorm statistics synchronized across replicas.

    Returns:
        The compiled stack, and its per-seed training cross-entropy (a compiled metric).
    """
    bn_options = networks.BnOptions(config.bn_momentum, config.bn_epsilon, sync_bn, config.bn_impl)
    model = stacked.stack_seeds(
        config.model,
        config.bn,
        seeds,
        bn_options,
        config.init,
        **compiled_model.network_variant(config),
    )
    train_loss = stacked.PerSeedCrossEntropy(len(seeds))
    model.compile(
        optimizer=recipe.make_optimizer(config, steps_per_epoch),
        loss=stacked.stacked_cross_entropy,
        metrics=[train_loss],
        steps_per_execution=compiled_model.steps_per_execution(config),
        jit_compile=stack_jit_compile(config),
    )
    model.optimizer.build(model.trainable_variables)
    return model, train_loss


def stack_jit_compile(config: Config) -> str | bool:
    """XLA for the train step; "auto" leaves it off for the LeNets, whose grouped convolutions'
    kernel gradient XLA computes about 100x slower on a CPU than TensorFlow (GroupedConv2D)."""
    if config.jit_compile == "auto" and declarations.get(config.model).convolutional:
        return False
    return compiled_model.jit_compile(config.jit_compile)


class _StackCheckpoint:
    """The stack's one checkpoint in its own directory, seen by each seed's controller as that
    seed's checkpoint (`for_seed`): restoring gives the seed its own state; each seed's save
    files its state, and the last seed's writes the checkpoint holding all of them."""

    def __init__(self, directory: Path, model: keras.Model, seeds: int):
        self.directory = Path(directory)
        self._checkpoint = RunCheckpoint(self.directory, model)
        self._seeds = seeds
        self._restored: dict | None = None
        self._pending: dict[int, dict] = {}

    def restore(self) -> dict | None:
        """Restores the stack (once); its state with one entry per seed, or None.

        Raises:
            CheckpointError: damaged, or the checkpoint of another stack.
        """
        state = self._checkpoint.restore()
        if state is not None and len(state.get("seeds", ())) != self._seeds:
            raise CheckpointError(
                f"the checkpoint in {self.directory} is not this stack's: pass --overwrite"
            )
        self._restored = state
        return state

    def for_seed(self, index: int) -> _SeedCheckpoint:
        return _SeedCheckpoint(self, index)

    def save_seed(self, index: int, step: int, state: dict) -> None:
        self._pending[index] = state
        if len(self._pending) == self._seeds:
            seeds = [self._pending[i] for i in range(self._seeds)]
            self._pending = {}
            self._checkpoint.save(step, {"seeds": seeds})

    def seed_state(self, index: int) -> dict | None:
        if self._restored is None:
            return None
        return {"step": self._restored["step"], **self._restored["seeds"][index]}


class _SeedCheckpoint:
    """Seed `index`'s view of a _StackCheckpoint (runs.checkpoint.Checkpoint)."""

    def __init__(self, stack: _StackCheckpoint, index: int):
        self.directory = stack.directory
        self._stack, self._index = stack, index

    def save(self, step: int, state: dict) -> None:
        self._stack.save_seed(self._index, step, state)

    def restore(self) -> dict | None:
        return self._stack.seed_state(self._index)


def _start_or_resume(stack: _Stack) -> list[runs_resume.StartingPoint]:
    """Restores the stack's checkpoint, then starts or resumes each seed's run directory as a
    single run's is (runs.resume), its config.json naming the stack.

    Raises:
        CheckpointError: a damaged checkpoint, or a seed's metrics rows it covers are missing.
    """
    setup = stack.setup
    setup.run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = _StackCheckpoint(setup.run_dir / CHECKPOINT_DIR, stack.model, len(stack.seeds))
    saved = checkpoint.restore()
    setup.context.check_same_step(int(saved["step"]) if saved else 0)
    distribution = setup.context.record(setup.config_used, stack.model)
    engine = engine_record()
    startings = []
    for index, run_dir in enumerate(stack.run_dirs):

        def run_record(index: int = index) -> dict:
            record = records.run_record(
                stack.seed_config(index), distribution, setup.data_source, engine
            )
            return record | {"stack": _stack_record(stack)}

        startings.append(
            runs_resume.start_or_resume(
                stack.seed_config(index),
                run_dir,
                checkpoint.for_seed(index),
                run_record,
                chief=setup.context.chief,
            )
        )
    if saved:
        logging.info("Resuming the stack %s at iteration %d", setup.run_dir, saved["step"])
    else:
        write_json_atomic(setup.run_dir / STACK_FILE, _stack_record(stack))
    return startings


def _stack_record(stack: _Stack) -> dict:
    return {
        "seeds": list(stack.seeds),
        "stack_dir": stack.setup.run_dir.name,
        "run_dirs": [path.name for path in stack.run_dirs],
        "note": "trained as one stacked model (bn_keras.models.stacked); elapsed_s and "
        "steps_per_second are the stack's; the stack's checkpoint is written, and its "
        "checkpoint_seconds counted, by the last seed's run",
    }


class _StopLatch:
    """One stop decision per iteration for all of a stack's controllers (their `agree_to_stop`):
    the first to ask in an iteration reads the stop request, the others get its answer, so a
    signal between two seeds' checks cannot stop one seed without the others."""

    def __init__(self, stop_request: threading.Event | None, agree, seeds: int):
        self._stop_request, self._agree, self._seeds = stop_request, agree, seeds
        self._asked, self._answer = 0, False

    def __call__(self, stop: bool) -> bool:
        del stop  # None of the controllers is given the request itself
        if self._asked % self._seeds == 0:
            self._answer = self._stop_request is not None and self._stop_request.is_set()
            if self._agree is not None:
                self._answer = self._agree(self._answer)
        self._asked += 1
        return self._answer


class _StackEvaluation:
    """All seeds' test loss and accuracy in one pass over the test set, once per iteration;
    `for_seed(i)` is seed i's evaluator for its metrics callback."""

    def __init__(self, stack: _Stack, before):
        setup, seeds = stack.setup, len(stack.seeds)
        self._model, self._before, self._cache = stack.model, before, (None, None)
        self._num_examples = len(setup.data.test_labels)
        strategy = setup.context.strategy
        dataset = input_pipeline.test_dataset(
            setup.data.test_images,
            setup.data.test_labels,
            setup.config.test_batch_size,
            dataset=setup.dataset,
        )
        options = tf.data.Options()
        policy = tf.data.experimental.AutoShardPolicy.DATA
        options.experimental_distribute.auto_shard_policy = policy
        distributed = strategy.experimental_distribute_dataset(dataset.with_options(options))

        def replica_sums(images, labels):
            images = tf.repeat(images, seeds, axis=-1)  # every seed sees every test image
            logits = self._model(images, training=False)  # [b, S, 10]
            labels = tf.repeat(labels[:, None], seeds, axis=1)
            losses = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
            correct = tf.equal(tf.argmax(logits, axis=-1), labels)
            return (
                tf.reduce_sum(tf.cast(losses, tf.float64), axis=0),
                tf.reduce_sum(tf.cast(correct, tf.float64), axis=0),
                tf.cast(tf.shape(labels)[0], tf.float64),
            )

        @tf.function
        def sums():
            losses = correct = tf.zeros([seeds], tf.float64)
            count = tf.constant(0.0, tf.float64)
            for images, labels in distributed:
                per_replica = strategy.run(replica_sums, args=(images, labels))
                reduced = [strategy.reduce("SUM", value, axis=None) for value in per_replica]
                losses, correct, count = (
                    losses + reduced[0],
                    correct + reduced[1],
                    count + reduced[2],
                )
            return losses, correct, count

        self._sums = sums

    def _evaluate(self) -> tuple[list[float], list[float]]:
        step = int(self._model.optimizer.iterations.numpy())
        if self._cache[0] != step:
            if self._before is not None:
                self._before()
            losses, correct, count = (t.numpy() for t in self._sums())
            if count != self._num_examples:
                raise RuntimeError(
                    f"evaluation counted {count:.0f} examples, not {self._num_examples}"
                )
            self._cache = (step, (list(losses / count), list(correct / count)))
        return self._cache[1]

    def for_seed(self, index: int):
        def evaluate() -> tuple[float, float]:
            losses, accuracies = self._evaluate()
            return float(losses[index]), float(accuracies[index])

        return evaluate


def _make_controllers(
    stack: _Stack,
    startings: list[runs_resume.StartingPoint],
    before: Callable[[], None] | None,
    stop_request: threading.Event | None,
) -> list[RunController]:
    """Each seed's run controller, driving its slice of the stack as train.py's controller
    drives a single model: its rows and TensorBoard events go to its own run directory."""
    setup = stack.setup
    chief = setup.context.chief
    schedule = recipe.learning_rate_schedule(setup.config_used, setup.steps_per_epoch)
    evaluation = _StackEvaluation(stack, before)
    latch = _StopLatch(stop_request, setup.context.stop_agreement(), len(stack.seeds))
    return [
        RunController(
            stack.seed_config(index),
            run_dir,
            KerasEngine(
                evaluation.for_seed(index), stack.train_loss.seed_view(index), schedule, before
            ),
            startings[index],
            steps_per_epoch=setup.steps_per_epoch,
            chief=chief,
            agree_to_stop=latch,
            on_row=tensorboard_rows(run_dir / TENSORBOARD_DIR) if chief else None,
        )
        for index, run_dir in enumerate(stack.run_dirs)
    ]


def _fit(stack: _Stack, start_step: int, callbacks: list[keras.callbacks.Callback]) -> None:
    setup = stack.setup
    config, data = setup.config, setup.data
    if start_step >= config.train_steps:
        return
    train_ds = setup.context.train_dataset(
        lambda replica_slice: stacked_train_dataset(
            data.train_images,
            data.train_labels,
            config.batch_size,
            stack.seeds,
            start_step,
            replica_slice,
            dataset=setup.dataset,
        )
    )
    stack.model.fit(
        train_ds,
        epochs=1,
        steps_per_epoch=config.train_steps - start_step,
        callbacks=callbacks,
        shuffle=False,
        verbose=0,
    )


def single_seed_slice(
    stack_model: keras.Model, index: int, config: Config, steps_per_epoch: int
) -> keras.Model:
    """Seed `index` of a trained stack as the single-seed model, compiled with its optimizer
    state sliced out of the stack's, and Keras's own BatchNormalization (loads in stock Keras).

    Args:
        stack_model: the trained stack, compiled.
        index: the seed's place in the stack.
        config: the configuration trained with.
        steps_per_epoch: iterations per epoch, for the optimizer's learning-rate schedule.
    """
    bn_options = networks.BnOptions(config.bn_momentum, config.bn_epsilon, implementation="keras")
    single = networks.build_model(
        config.model, config.bn, bn_options, config.init, **compiled_model.network_variant(config)
    )
    stacked.unstack_seed(stack_model, index, single)
    single.compile(
        optimizer=recipe.make_optimizer(config, steps_per_epoch), loss=recipe.make_loss()
    )
    single.optimizer.build(single.trainable_variables)
    stacked.unstack_optimizer(stack_model, index, single)
    return single


def _export_and_record(stack: _Stack, index: int, run: RunResult) -> None:
    """Exports seed `index`'s slice (chief only, when asked), then writes its result.json."""
    setup, run_dir = stack.setup, stack.run_dirs[index]
    if setup.config.export and setup.context.chief:
        single = single_seed_slice(stack.model, index, setup.config_used, setup.steps_per_epoch)
        export_saved_model(single, run_dir / SAVED_MODEL_DIR, setup.dataset)
        save_keras_model(single, run_dir / KERAS_MODEL_FILE)
    write_result(run)
