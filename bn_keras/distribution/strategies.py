"""tf.distribute for bn_keras: strategies by name, the data split across replicas, and BatchNorm's
moving statistics kept equal on every replica."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import keras
import tensorflow as tf

from bn_keras.common.errors import CheckpointError, ConfigError
from bn_keras.config.settings import STRATEGIES
from bn_keras.distribution import cluster
from bn_keras.distribution import devices as local_devices


def get_strategy(name: str, devices: Sequence[str] = ()) -> tf.distribute.Strategy:
    """Creates the named strategy.

    Args:
        name: "auto" (multi_worker when TF_CONFIG names several tasks, else MirroredStrategy over
            all GPUs when there are several, else the default strategy), "default", "one_device"
            (`devices[0]`, else the first GPU, else the CPU), "mirrored" (`devices`, else all
            local GPUs, else the CPU), "multi_worker" (MultiWorkerMirroredStrategy configured by
            TF_CONFIG) or "tpu" (TPUStrategy on the TPU the environment names; untested here).
        devices: device names for "mirrored" or "one_device", e.g. ["/gpu:0", "/gpu:1"].

    Raises:
        ConfigError: unknown strategy name, devices this machine does not have, multi_worker
            without TF_CONFIG, or tpu without a TPU.
    """
    # MultiWorkerMirroredStrategy must come before anything initializes TensorFlow's runtime,
    # listing devices included.
    if name == "auto":
        if cluster.names_several_tasks(os.environ):
            name = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            return tf.distribute.MirroredStrategy()
        else:
            return tf.distribute.get_strategy()
    if name == "default":
        return tf.distribute.get_strategy()
    if devices:  # only with one_device or mirrored (Config.validate); listing them is safe there
        local_devices.check_devices(devices)
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        device = devices[0] if devices else (gpus[0].name if gpus else "/cpu:0")
        return tf.distribute.OneDeviceStrategy(device)
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=list(devices) or None)
    if name == "multi_worker":
        if cluster.current_task(os.environ) is None:
            raise ConfigError(
                "--strategy=multi_worker needs TF_CONFIG naming the cluster and this task: "
                "set it on each host, or start local workers with python -m bn_keras.launch"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = local_devices.tpu_resolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ConfigError(f"--strategy={name!r} is unknown: use one of {STRATEGIES}")


def single_replica_requested(name: str) -> bool:
    """Whether strategy `name` can run on one replica: never for mirrored, multi_worker or tpu,
    nor for auto under a TF_CONFIG cluster (auto with several GPUs mirrors, but there the CPU
    defaults do not apply). Decided without listing devices, which would start the runtime."""
    if name in ("mirrored", "multi_worker", "tpu"):
        return False
    return not (name == "auto" and cluster.names_several_tasks(os.environ))


def num_workers(strategy: tf.distribute.Strategy) -> int:
    """The number of worker processes training together (1 unless multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return 1
    return sum(len(resolver.cluster_spec().as_dict().get(job, [])) for job in ("chief", "worker"))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's shared files (always, unless multi-worker, where
    the TF_CONFIG that configured the strategy names the chief)."""
    return num_workers(strategy) == 1 or cluster.current_task(os.environ).is_chief


def distribute_train_dataset(
    strategy: tf.distribute.Strategy,
    make_dataset: Callable[[tuple[int, int] | None], tf.data.Dataset],
) -> tf.data.Dataset | tf.distribute.DistributedDataset:
    """The training stream split explicitly: replica r of R gets slice r of every global batch.

    Each worker builds only its own replicas' slices (its shard of the data), and the union over
    replicas is exactly the global batch one device would train on, in the same order. Explicit
    slicing rather than tf.data auto-sharding: auto-sharding by DATA would hand each worker whole
    batches in turn, which is not the single-device batch sequence.

    Args:
        strategy: the strategy that will run training.
        make_dataset: builds the stream of per-replica batches for `(replica, replicas)`, or the
            global batches for None.
    """
    if strategy.num_replicas_in_sync == 1:
        return make_dataset(None)
    replicas = strategy.num_replicas_in_sync

    def worker_dataset(context: tf.distribute.InputContext) -> tf.data.Dataset:
        local = replicas // context.num_input_pipelines
        first = context.input_pipeline_id * local
        streams = [make_dataset((first + r, replicas)) for r in range(local)]
        if local == 1:
            return streams[0]
        # The strategy hands consecutive elements to this worker's replicas in turn.
        return tf.data.Dataset.choose_from_datasets(
            streams, tf.data.Dataset.range(local).repeat(), stop_on_empty_dataset=True
        )

    options = tf.distribute.InputOptions(experimental_fetch_to_device=True)
    return strategy.distribute_datasets_from_function(worker_dataset, options)


def check_batches_fill_replicas(num_examples: int, batch_size: int, replicas: int, flag: str):
    """Refuses a batch size whose last partial batch leaves some replica no example at all.

    An empty per-replica batch crashes TensorFlow's CPU kernels (seen in LeNet's convolutions),
    so every batch, the last partial one included, needs at least one example per replica.

    Raises:
        ConfigError: naming the flag, the size of the last batch and what to choose instead.
    """
    last = num_examples % batch_size
    if replicas > 1 and 0 < last < replicas:
        raise ConfigError(
            f"{flag}={batch_size} leaves a last batch of {last} of the {num_examples} images, "
            f"too few for {replicas} replicas: choose a batch size whose last batch holds at "
            f"least {replicas} (or that divides {num_examples})"
        )


def uses_sync_bn(sync_bn: str, replicas: int) -> bool:
    """Resolves --sync_bn: "auto" synchronizes BatchNorm exactly when there are several replicas."""
    return replicas > 1 if sync_bn == "auto" else sync_bn == "true"


def moving_statistics_averager(
    model: keras.Model, strategy: tf.distribute.Strategy
) -> Callable[[], None] | None:
    """A function that sets every replica's BN moving mean and variance to their replica mean.

    Keras creates the moving statistics with aggregation NONE, so under unsynchronized BatchNorm
    each replica updates its own copy from its own part of the batch: the copies drift apart and a
    checkpoint or export keeps replica 0's alone. Calling the returned function before every
    evaluation, checkpoint and export makes all replicas use (and save) the average. Training is
    unaffected: in training mode BatchNorm normalizes with batch statistics.

    Returns:
        None when there is nothing to average (one replica, or no BatchNorm layer).
    """
    variables = [
        variable
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
        for variable in (layer.moving_mean, layer.moving_variance)
    ]
    if strategy.num_replicas_in_sync == 1 or not variables:
        return None

    @tf.function
    def average() -> None:
        local = strategy.run(lambda: [tf.identity(v.value) for v in variables])
        for variable, per_replica in zip(variables, local, strict=True):
            variable.value.assign(strategy.reduce("MEAN", per_replica, axis=None))

    return average


def any_worker(strategy: tf.distribute.Strategy) -> Callable[[bool], bool] | None:
    """A function telling every worker whether any worker passed True (a collective call).

    Workers stop on a signal only together, at the same iteration: one that stopped alone would
    leave the others waiting for it forever. None with a single worker.
    """
    if num_workers(strategy) == 1:
        return None

    @tf.function
    def any_true(flag: tf.Tensor) -> tf.Tensor:
        return strategy.reduce("SUM", strategy.run(lambda: tf.identity(flag)), axis=None) > 0

    return lambda flag: bool(any_true(tf.constant(int(flag))).numpy())


def check_same_step(strategy: tf.distribute.Strategy, step: int) -> None:
    """Raises CheckpointError unless every worker resumes at iteration `step` (a collective)."""
    if num_workers(strategy) == 1:
        return
    # Collectives reduce by SUM or MEAN only: the steps agree when their variance is zero.
    moments = strategy.run(lambda: tf.constant([step, step * step], tf.float64))
    mean, mean_square = strategy.reduce("MEAN", moments, axis=None).numpy()
    if mean_square - mean * mean > 0.25:
        raise CheckpointError(
            f"the workers' checkpoints are at different iterations (this one: {step}, mean "
            f"{mean:g}): pass --overwrite to every worker to start afresh"
        )
