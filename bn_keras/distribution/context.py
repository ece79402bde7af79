"""One object the train loop asks everything distribution-specific: the strategy, replicas and
workers, the chief, BatchNorm synchronization, the scaled learning rate, the data split, the
moving-statistics averaging and the workers' agreements."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import AbstractContextManager

import keras
import tensorflow as tf
from absl import logging

from bn_keras.config.settings import Config
from bn_keras.distribution import strategies, workarounds


@dataclasses.dataclass(frozen=True)
class DistributionContext:
    """How this process takes part in a run.

    Attributes:
        strategy: the tf.distribute strategy that trains and evaluates.
        replicas: replicas in sync, over all workers.
        workers: worker processes training together (1 unless multi-worker).
        chief: this process writes the run's shared files (metrics, TensorBoard, probes, exports).
        sync_bn: BatchNorm computes its batch statistics over the global batch.
    """

    strategy: tf.distribute.Strategy
    replicas: int
    workers: int
    chief: bool
    sync_bn: bool

    @classmethod
    def create(
        cls,
        config: Config,
        strategy: tf.distribute.Strategy | None = None,
        before_runtime: Callable[[], object] | None = None,
    ) -> DistributionContext:
        """The context for `config`, with the strategy it names unless one is given.

        Args:
            config: a validated configuration.
            strategy: overrides the strategy named in the config (tests inject one).
            before_runtime: called before the strategy is created, when none is given and the
                run can use one replica: settings that must precede TensorFlow's runtime. Not
                with several replicas: their collectives wait for each other, which one
                inter-op thread could deadlock.

        Raises:
            ConfigError: an unknown strategy, or multi_worker without TF_CONFIG.
        """
        if (
            strategy is None
            and before_runtime is not None
            and strategies.single_replica_requested(config.strategy)
        ):
            before_runtime()
        strategy = strategy or strategies.get_strategy(config.strategy, config.device_list)
        replicas = strategy.num_replicas_in_sync
        return cls(
            strategy=strategy,
            replicas=replicas,
            workers=strategies.num_workers(strategy),
            chief=strategies.is_chief(strategy),
            sync_bn=config.bn and strategies.uses_sync_bn(config.sync_bn, replicas),
        )

    def scope(self) -> AbstractContextManager:
        """The strategy's scope, where everything that creates variables must run."""
        return self.strategy.scope()

    def config_used(self, config: Config) -> Config:
        """`config` with the learning rate the run trains with: times the replicas under
        --scale_lr. (config.json keeps the flag's value; its distribution has the one used.)"""
        if not config.scale_lr:
            return config
        return dataclasses.replace(config, learning_rate=config.learning_rate * self.replicas)

    def check_batches(self, config: Config, num_train: int, num_test: int) -> None:
        """Refuses batch sizes whose last partial batch leaves some replica no example.

        Raises:
            ConfigError: naming the flag and what to choose instead.
        """
        strategies.check_batches_fill_replicas(
            num_train, config.batch_size, self.replicas, "--batch_size"
        )
        strategies.check_batches_fill_replicas(
            num_test, config.test_batch_size, self.replicas, "--test_batch_size"
        )
        if config.eval_train:  # the training set, evaluated in test batches
            strategies.check_batches_fill_replicas(
                num_train, config.test_batch_size, self.replicas, "--test_batch_size"
            )

    def prepare_fit(self, model: keras.Model) -> Callable[[], None] | None:
        """Readies `model.fit` for this strategy and returns the BN statistics averager.

        Applies the multi-worker fit fixes (keras-team/keras#20585; nothing unless several
        workers).

        Returns:
            The function that sets every replica's BN moving statistics to their replica mean,
            to call before every evaluation, checkpoint and export; None when BatchNorm is
            synchronized or there is nothing to average.
        """
        workarounds.fix_multi_worker_fit(model, self.strategy)
        if self.sync_bn:
            return None
        return strategies.moving_statistics_averager(model, self.strategy)

    def record(self, config: Config, model: keras.Model) -> dict:
        """config.json's `distribution`: strategy, replicas, workers, batch split, BN
        synchronization, and the learning rate and steps per call `model` trains with.

        Args:
            config: the configuration the run trains with (see `config_used`).
            model: the compiled model.
        """
        return {
            "strategy": type(self.strategy).__name__,
            "replicas": self.replicas,
            "workers": self.workers,
            "global_batch_size": config.batch_size,
            "per_replica_batch_size": config.batch_size / self.replicas,
            "sync_bn": self.sync_bn,
            "learning_rate": config.learning_rate,
            "steps_per_execution": model.steps_per_execution,
            "data_split": (
                "whole batches on one replica"
                if self.replicas == 1
                else "replica r of R trains on rows r*n//R to (r+1)*n//R of every global batch of n"
            ),
        }

    def log(self, config: Config) -> None:
        """Logs how the run is distributed, and warns about unequal replica batches.

        Args:
            config: the configuration the run trains with (see `config_used`).
        """
        if self.sync_bn:
            bn = "synchronized"
        else:
            bn = "per replica" if config.bn and self.replicas > 1 else "local"
        logging.info(
            "Strategy %s: %d replica(s) on %d worker(s), global batch %d, per-replica batch %g, "
            "BN %s, learning rate %g",
            type(self.strategy).__name__,
            self.replicas,
            self.workers,
            config.batch_size,
            config.batch_size / self.replicas,
            bn,
            config.learning_rate,
        )
        if self.replicas > 1 and config.batch_size % self.replicas:
            logging.warning(
                "--batch_size=%d is not a multiple of the %d replicas: replicas get unequal "
                "parts, and the mean loss weights their examples unequally",
                config.batch_size,
                self.replicas,
            )

    def train_dataset(
        self, make_dataset: Callable[[tuple[int, int] | None], tf.data.Dataset]
    ) -> tf.data.Dataset | tf.distribute.DistributedDataset:
        """The training stream, replica r of R getting slice r of every global batch.

        Args:
            make_dataset: builds the stream of per-replica batches for `(replica, replicas)`, or
                the global batches for None.
        """
        return strategies.distribute_train_dataset(self.strategy, make_dataset)

    def check_same_step(self, step: int) -> None:
        """Raises CheckpointError unless every worker resumes at iteration `step` (a collective)."""
        strategies.check_same_step(self.strategy, step)

    def stop_agreement(self) -> Callable[[bool], bool] | None:
        """The collective telling every worker whether any was asked to stop; None when alone."""
        return strategies.any_worker(self.strategy)
