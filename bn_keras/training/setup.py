"""A run's first phase: the distribution context, the seed and determinism, and the data."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import tensorflow as tf
from absl import logging

from bn_keras.config import datasets
from bn_keras.config.datasets import Dataset
from bn_keras.config.settings import Config
from bn_keras.data import facts, input_pipeline, preparation
from bn_keras.data.originals import Splits
from bn_keras.distribution.context import DistributionContext
from bn_keras.training import cpu_threads


@dataclasses.dataclass(frozen=True)
class Setup:
    """What every phase of a run reads.

    Attributes:
        config: the configuration as given (config.json records it).
        config_used: the configuration trained with (the learning rate scaled under --scale_lr).
        run_dir: the run directory.
        context: how this process takes part in the run.
        dataset: the dataset's declaration (config.dataset's).
        data: its splits.
        data_source: where the dataset came from.
        steps_per_epoch: iterations per epoch.
    """

    config: Config
    config_used: Config
    run_dir: Path
    context: DistributionContext
    dataset: Dataset
    data: Splits
    data_source: str
    steps_per_epoch: int


def set_up(
    config: Config,
    run_dir: Path,
    strategy: tf.distribute.Strategy | None = None,
    data: Splits | None = None,
) -> Setup:
    """Sets up the distribution context, the seed and determinism, then loads the data.

    Args:
        config: a validated configuration.
        run_dir: the run directory (not touched here).
        strategy: overrides the strategy named in the config.
        data: overrides the dataset read with tfds.load.

    Raises:
        ConfigError: an unusable strategy, or batch sizes the replicas cannot share.
        DataError: the dataset cannot be found, fetched or read.
    """
    context = DistributionContext.create(config, strategy, cpu_threads.apply_cpu_defaults)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    config_used = context.config_used(config)
    dataset = datasets.get(config.dataset)
    if data is None:
        data_source = preparation.ensure(
            dataset, config.data_dir, config.dataset_source, config.dataset_files
        )
        data = preparation.load(dataset, config.data_dir)
    else:
        data_source = facts.INJECTED_SOURCE
    logging.info(
        "%s source: %s (%d train, %d test)",
        dataset.label,
        data_source,
        data.num_train,
        len(data.test_labels),
    )
    context.check_batches(config, data.num_train, len(data.test_labels))
    per_epoch = input_pipeline.steps_per_epoch(data.num_train, config.batch_size)
    return Setup(config, config_used, run_dir, context, dataset, data, data_source, per_epoch)
