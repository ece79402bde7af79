"""SIGINT and SIGTERM stop a run in any phase (bn_keras.engines.dispatch.StopRequest): before
training first asks for the request, at once with the one error line; once it asks, by a
checkpoint and a stop (test_resume, test_launch). In process through the handler's own seam,
and once on the command line while TensorFlow loads."""

from __future__ import annotations

import os
import signal
import threading
import time

from bn_keras.common.errors import ConfigError
from bn_keras.config.settings import Config
from bn_keras.engines.dispatch import StopRequest
from bn_keras.runs import run_dir

PREFIX = "bn_keras: error: "
LINE = (
    "interrupted by SIGTERM before training started: run the same command again to start it "
    "(or resume it from its last checkpoint)"
)


class Exited(Exception):
    """What the test's exit_now raises instead of ending the process."""


def _exit_now(code: int):
    raise Exited(code)


def test_a_signal_before_training_asks_ends_the_process_in_one_line(tmp_path, capfd):
    (tmp_path / ".config.json.abc.tmp").write_text("{")  # an atomic write cut short
    (tmp_path / "metrics.csv").write_text("step\n")
    stop = StopRequest([tmp_path], exit_now=_exit_now)
    try:
        stop.on_signal(signal.SIGTERM, None)
        raise AssertionError("the handler returned")
    except Exited as exited:
        assert exited.args == (128 + signal.SIGTERM,)
    assert capfd.readouterr().err == PREFIX + LINE + "\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]
    assert not stop.is_set() and stop.received == [signal.SIGTERM]


def test_once_training_asks_a_signal_requests_a_checkpoint_and_a_stop(tmp_path, capfd):
    stop = StopRequest([tmp_path], exit_now=_exit_now)
    assert not stop.is_set()  # training asks: from now on it sees the request
    stop.on_signal(signal.SIGINT, None)
    assert stop.is_set() and stop.received == [signal.SIGINT]
    assert PREFIX not in capfd.readouterr().err


def test_the_wakeup_pipe_stops_the_process_while_the_main_thread_is_busy(capfd):
    """The thread `watch` starts reads the signal numbers Python's C handler writes to a pipe
    while the main thread is inside C++ code; a pipe written by hand stands in for it."""
    exited = []
    stop = StopRequest(exit_now=exited.append)
    read, write = os.pipe()
    thread = threading.Thread(target=stop._wake, args=(read,), daemon=True)
    thread.start()
    os.write(write, bytes([signal.SIGUSR1, signal.SIGTERM]))  # another handler's signal first
    deadline = time.monotonic() + 10
    while not exited and time.monotonic() < deadline:
        time.sleep(0.01)
    assert exited == [128 + signal.SIGTERM]
    stop.is_set()  # training asks: the thread leaves the signal to the handler
    os.write(write, bytes([signal.SIGINT]))
    os.close(write)
    thread.join(timeout=10)
    assert not thread.is_alive() and exited == [128 + signal.SIGTERM]
    assert capfd.readouterr().err == PREFIX + LINE + "\n"


def test_sigterm_while_tensorflow_loads_ends_at_once_and_the_run_can_start(
    tiny_tfds_dir, tmp_path, cli
):
    flags = [
        "--model=lenetr", "--train_steps=20", "--eval_every=10", "--dataset_source=offline",
        f"--data_dir={tiny_tfds_dir}", f"--results_dir={tmp_path}", "--run_name=run",
    ]  # fmt: skip
    log = tmp_path / "run.log"
    proc = cli.start("bn_keras.main", *flags, log=log)
    lock = tmp_path / "run" / run_dir.LOCK_FILE
    deadline = time.monotonic() + 60
    while not lock.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    # The lock is taken, then the handlers installed, then TensorFlow loads (seconds, never
    # less than half of one).
    time.sleep(0.5)
    assert proc.poll() is None, log.read_text()[-3000:]
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    code = proc.wait(timeout=60)
    took = time.monotonic() - sent
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert code == 128 + signal.SIGTERM, lines[-20:]
    assert lines[-1] == PREFIX + LINE and sum(PREFIX in line for line in lines) == 1
    assert "Traceback" not in log.read_text()
    assert took < 10, took  # measured 0.1-1.6 s on 2 shared cores
    assert not list((tmp_path / "run").rglob("*.tmp"))
    config = Config(
        model="lenetr", train_steps=20, eval_every=10, dataset_source="offline",
        data_dir=tiny_tfds_dir,
    )  # fmt: skip
    try:
        run_dir.check_run_dir(tmp_path / "run", config, overwrite=False)
    except ConfigError as err:
        raise AssertionError(f"the same command would be refused: {err}") from None
