"""What `python -m bn_keras.main` does once its flags are parsed: check, then train with the
engine --framework names.

Everything that can refuse bad input runs before TensorFlow or torch loads; this module imports
the engine only once the input is accepted.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from absl import logging

from bn_keras.common import atomic, cli, quiet
from bn_keras.common.errors import ConfigError, Interrupted
from bn_keras.common.storage import write_errors_reported
from bn_keras.config import checks, fields, settings
from bn_keras.distribution import cluster
from bn_keras.engines import stack_dispatch
from bn_keras.runs import run_dir
from bn_keras.twin import support as twin_support


def run_dir_for(
    config: settings.Config, options: settings.CommandOptions, task: cluster.ClusterTask | None
) -> Path:
    """Checks the results directory and returns this process's run directory, creating nothing.

    The chief (or the only process) uses `<results_dir>/<run_name>`; another worker of a cluster
    uses its own `<results_dir>/<run_name>/workers/<task>` for its checkpoints and records.

    Raises:
        ConfigError: a results or data directory that cannot be one, a run name that cannot be
            a directory's, or a run directory this command may not use.
    """
    results_dir = Path(options.results_dir)
    checks.check_directory(options.results_dir, "--results_dir")
    name = options.run_name
    if name is not None:
        checks.check_file_name(name, "--run_name")
    if config.data_dir is not None:  # read, or written once when the dataset is prepared there
        checks.check_directory(config.data_dir, "--data_dir", writable=False)
    path = results_dir / (name or config.default_run_name)
    if task is not None and task.num_tasks > 1 and not task.is_chief:
        path = path / run_dir.WORKERS_DIR / task.name
    run_dir.check_run_dir(path, config, options.overwrite)
    return path


def cluster_task(config: settings.Config) -> cluster.ClusterTask | None:
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


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest(threading.Event):
    """SIGINT's and SIGTERM's request to stop: the engines' `stop_request`.

    Training asks it (`is_set`) after every compiled call, and checkpoints and stops when it is
    set. Until training first asks, nothing would see the request while TensorFlow loads, the
    data is prepared or the model is built and compiled, so a signal then ends the process at
    once: the one error line, exit code 128 + signal. It exits rather than raising: an exception
    raised inside TensorFlow's tracing came out as a SystemError. Python runs a handler only
    between bytecodes of the main thread, so while that thread is in TensorFlow's C++ (an XLA
    compilation took 13 s) `watch` hears the signal through a wakeup pipe instead. Every file
    of the run directory is written whole (bn_keras.common.atomic) or appended by whole rows,
    so the only leftover is an atomic write's temporary file, removed first.

    Args:
        run_dirs: the directories this process writes, cleared of temporary files on exit.
        exit_now: ends the process with an exit code (a seam for tests).
    """

    def __init__(self, run_dirs: Sequence[Path] = (), exit_now: Callable[[int], object] = os._exit):
        super().__init__()
        self.received: list[int] = []
        self._run_dirs, self._exit_now, self._asked = list(run_dirs), exit_now, False
        self._stopping = threading.Lock()  # the handler and the watching thread: one line

    def is_set(self) -> bool:
        self._asked = True
        return super().is_set()

    def on_signal(self, signum: int, frame) -> None:
        del frame
        self.received.append(signum)
        if not self._asked:
            self._stop_now(signum)
        self.set()
        logging.warning("Signal %d: checkpointing and stopping after this iteration", signum)

    def watch(self) -> None:
        """From now on, a signal also wakes a thread that stops the process before training
        started, whatever the main thread is doing (call from the main thread, once the
        handlers are installed)."""
        read, write = os.pipe()
        os.set_blocking(write, False)
        signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        threading.Thread(target=self._wake, args=(read,), name="stop-watch", daemon=True).start()

    def _wake(self, read: int) -> None:
        while signum := os.read(read, 1):
            if signum[0] in STOP_SIGNALS and not self._asked:
                self._stop_now(signum[0])

    def _stop_now(self, signum: int) -> None:
        if not self._stopping.acquire(blocking=False):
            self._stopping.acquire()  # the other one is ending the process: wait for the end
        for path in self._run_dirs:
            atomic.remove_temporary_files(path)
        name = signal.Signals(signum).name
        err = Interrupted(
            f"interrupted by {name} before training started: run the same command again to "
            "start it (or resume it from its last checkpoint)",
            signum,
        )
        # Straight to the file descriptor: sys.stderr's lock may be held by the main thread.
        os.write(2, f"{cli.error_line(str(err))}\n".encode())
        quiet.restore()  # the line passes the start-up filter before the process ends
        self._exit_now(cli.exit_code(err))


def _install_stop_handlers(run_dirs: Sequence[Path]) -> tuple[StopRequest, list[int]]:
    stop = StopRequest(run_dirs)
    for signum in STOP_SIGNALS:
        signal.signal(signum, stop.on_signal)
    stop.watch()
    # Past a file-size limit (ulimit -f) writes fail with EFBIG, reported as a failed write,
    # instead of the kernel killing the run.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    return stop, stop.received


def run_main(config: settings.Config, options: settings.CommandOptions) -> None:
    """Validates, prepares the run directory and trains (or resumes) the run with its engine.

    With options.print_config, prints the configuration as JSON instead and returns; with
    options.dry_run, does so after every check a run makes before TensorFlow starts.

    Raises:
        ConfigError: a setting, the design file, the results directory or the run directory is
            refused.
        WriteError: a file could not be written.
        DataError, TrainingDiverged, CheckpointError: training could not finish.
        Interrupted: SIGINT or SIGTERM stopped the run after a checkpoint (before training
            started, they end the process at once: StopRequest).
    """
    config.validate()
    if options.results_dir is None:  # runs of two datasets never share a directory
        results_dir = settings.default_results_dir(config.dataset)
        options = dataclasses.replace(options, results_dir=results_dir)
    if options.print_config:
        print(json.dumps(config.to_dict(), indent=2, sort_keys=True))
        return
    fields.check_fields(options)  # --threads=-1, as the Config's own settings
    if config.design:
        checks.check_readable_file(config.design, "--design")
    if options.seeds:  # a stack of seeds, in its own module
        return stack_dispatch.start_stack(config, options, _install_stop_handlers)
    twin = config.framework == twin_support.FRAMEWORK
    if twin:
        twin_support.check_supported(config)
    path = run_dir_for(config, options, cluster_task(config))
    if options.dry_run:
        print(json.dumps(config.to_dict(), indent=2, sort_keys=True))
        return
    with write_errors_reported():
        run_dir.lock(path)  # held until this process exits, however it exits
        if options.overwrite:
            run_dir.clear(path)
    cli.keep_tracebacks_in(path / run_dir.ERROR_LOG_FILE)
    stop, received = _install_stop_handlers([path])
    if twin:
        from bn_keras.twin.train import train_and_evaluate
    else:
        from bn_keras.training import cpu_threads
        from bn_keras.training.train import train_and_evaluate  # TensorFlow loads for valid input

        cpu_threads.set_intra_op_threads(options.threads)

    with write_errors_reported():
        result = train_and_evaluate(config, path, stop_request=stop)
    if result.interrupted_at is not None:
        raise Interrupted(
            f"interrupted at iteration {result.interrupted_at}, checkpoint saved in {path}: "
            "run the same command again to resume",
            received[0],
        )
    logging.info(
        "Done: %s, %d iterations in %.1f s (%.0f steps/s), final test accuracy %.4f",
        result.run_dir,
        result.steps,
        result.train_seconds,
        result.steps_per_second,
        result.final_test_accuracy,
    )
