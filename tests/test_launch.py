"""Several machines, rehearsed on one: two worker processes on 127.0.0.1 started by the launcher.

One two-worker run serves most tests: its first launch finds its ports taken and starts again on
other ports, it is stopped by SIGTERM part way, resumed by the same command, and compared with
one process trained with the same settings (this one)."""

from __future__ import annotations

import dataclasses
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bn_keras.config import datasets
from bn_keras.config.settings import Config
from bn_keras.data.preparation import load
from bn_keras.runs.metrics_file import read_metrics
from bn_keras.training.train import train_and_evaluate

# The run's settings: the workers' flags, and the Config of the one process they are compared with.
SETTINGS = dict(
    model="mlp", bn=True, train_steps=60, eval_every=3, batch_size=32, test_batch_size=50
)
FLAGS = [f"--{k}" if v is True else f"--{k}={v}" for k, v in SETTINGS.items()] + ["--run_name=run"]
MNIST = datasets.get("mnist")


def _data(data_dir: str) -> list[str]:
    return [f"--data_dir={data_dir}", "--dataset_source=tfds"]


# `python -m bn_keras.launch` as its __main__ runs it (flags, signals, output, exit code), except
# that the workers' ports are held by another listener at the first attempt, as when a port picked
# free is taken before its worker binds it. Both are held so that both workers fail on their own:
# a worker whose peer never comes would wait out the launcher's --grace_s.
_LAUNCH_WITH_TAKEN_PORTS = """
import functools, socket
from bn_keras import launch
from bn_keras.common import cli

held = [socket.socket() for _ in range(2)]
for listener in held:
    listener.bind(("", 0))
    listener.listen()
attempts = []

def pick_ports(host, count):
    attempts.append(host)
    if len(attempts) == 1:
        return [listener.getsockname()[1] for listener in held[:count]]
    return launch.free_ports(host, count)

launch.run_workers = functools.partial(launch.run_workers, pick_ports=pick_ports)
cli.run(launch.main, flags_parser=launch.parse_flags)
"""


@dataclasses.dataclass(frozen=True)
class Launched:
    """The two-worker run (its first launch on taken ports, stopped by SIGTERM, then resumed by
    the same command), and one process trained with the same settings."""

    chief: Path
    single: Path
    stop_code: int
    launch_log: str  # the launcher's output until the stop, its workers' relayed
    stopped_at: list[int]  # the checkpointed iteration of the chief and of worker 1
    resume: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def launched(tiny_tfds_dir, tmp_path_factory, cli) -> Launched:
    results = tmp_path_factory.mktemp("launch")
    args = ["--workers=2", "--", *FLAGS, f"--results_dir={results / 'two'}"]
    args += _data(tiny_tfds_dir)
    chief = results / "two" / "run"
    log = results / "launch.log"  # a file: the workers' relayed output never blocks them
    with open(log, "w") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH_WITH_TAKEN_PORTS, *args],
            cwd=cli.repo, env=cli.env(), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    metrics = chief / "metrics.csv"
    deadline = time.monotonic() + 240
    while not (metrics.exists() and metrics.read_text().count("\n") > 3):
        if launcher.poll() is not None or time.monotonic() > deadline:
            launcher.kill()
            pytest.fail(f"no rows before the stop: {log.read_text()[-3000:]}")
        time.sleep(0.05)
    launcher.send_signal(signal.SIGTERM)
    launcher.wait(timeout=240)
    stopped_at = [
        json.loads((d / "checkpoints" / "state.json").read_text())["step"]
        for d in (chief, chief / "workers" / "worker_1")
    ]
    resume = cli.run("bn_keras.launch", *args, timeout=300)
    # The reference needs no process of its own (its export is not compared).
    config = Config(**SETTINGS, data_dir=tiny_tfds_dir, dataset_source="tfds", export=False)
    train_and_evaluate(config, results / "one" / "run", data=load(MNIST, tiny_tfds_dir))
    return Launched(
        chief, results / "one" / "run", launcher.returncode, log.read_text(), stopped_at, resume
    )


def test_sigterm_stops_all_workers_at_one_iteration_and_the_same_command_resumes(launched):
    assert launched.stop_code == 130  # the workers' SIGINT, see bn_keras.launch
    assert "run the same command again to resume" in launched.launch_log.strip().splitlines()[-1]
    assert launched.stopped_at[0] == launched.stopped_at[1] < 60
    assert launched.resume.returncode == 0, launched.resume.stderr[-3000:]


def test_two_workers_train_like_one_process(launched, read_checkpoint_weights):
    """The resumed two-worker run ends where one process ends (a resume that lost any state,
    or a worker out of step, would not)."""
    chief, single = launched.chief, launched.single
    worker = chief / "workers" / "worker_1"
    chief_weights, worker_weights, single_weights = (
        read_checkpoint_weights(d) for d in (chief, worker, single)
    )
    for name, value in single_weights.items():
        np.testing.assert_array_equal(worker_weights[name], chief_weights[name], err_msg=name)
        np.testing.assert_allclose(chief_weights[name], value, rtol=1e-4, atol=2e-5, err_msg=name)
    distribution = json.loads((chief / "config.json").read_text())["distribution"]
    assert distribution["workers"] == 2 and distribution["replicas"] == 2
    assert distribution["strategy"] == "CollectiveAllReduceStrategy"  # MultiWorkerMirrored
    assert distribution["sync_bn"] is True


def test_only_the_chief_writes_the_shared_files(launched):
    chief, single = launched.chief, launched.single
    rows = read_metrics(chief / "metrics.csv")
    assert [int(r["step"]) for r in rows] == list(range(0, 61, 3))  # none lost, none twice
    single_rows = read_metrics(single / "metrics.csv")
    assert [r["test_accuracy"] for r in rows] == [r["test_accuracy"] for r in single_rows]
    for name in ("saved_model", "model.keras", "tensorboard", "result.json"):
        assert (chief / name).exists(), name
    worker = chief / "workers" / "worker_1"
    # errors.log: the worker's own traceback of the first launch's taken port, when it got there
    # before the launcher stopped it.
    assert sorted(p.name for p in worker.iterdir() if p.name != "errors.log") == [
        ".lock", "checkpoints", "config.json", "result.json",
    ]  # fmt: skip


def test_a_failing_worker_fails_the_launch_with_its_message(tiny_tfds_dir, tmp_path, cli):
    # Worker 1 finds a record of other settings in its directory and refuses to start; the
    # chief, waiting for it, is stopped.
    worker_dir = tmp_path / "run" / "workers" / "worker_1"
    worker_dir.mkdir(parents=True)
    (worker_dir / "config.json").write_text(json.dumps({"config": {"model": "lenet"}}))
    launched = cli.run(
        "bn_keras.launch", "--workers=2", "--grace_s=5", "--", *FLAGS,
        f"--results_dir={tmp_path}", *_data(tiny_tfds_dir), timeout=300,
    )  # fmt: skip
    assert launched.returncode == 2
    last = launched.stderr.strip().splitlines()[-1]
    assert last.startswith("bn_keras.launch: error: worker 1 exited with code 2: ")
    assert "holds a run with other settings (--model='lenet' there, 'mlp' now)" in last


def test_a_port_taken_before_a_worker_binds_it_relaunches_on_other_ports(launched):
    """The first launch (the workers' ports held) failed and the second, on other ports, trained:
    the rows the fixture waited for are the second launch's."""
    relaunches = re.findall(
        r"a port was taken before worker \d could bind it; starting again on other ports",
        launched.launch_log,
    )
    assert len(relaunches) == 1, launched.launch_log[-3000:]
