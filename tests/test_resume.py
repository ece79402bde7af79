"""Runs that survive: exact resume after SIGKILL or SIGTERM, a torn metrics row repaired, and a
diverging run that stops with its metrics kept (refusals that protect a run directory: see
test_bad_inputs); the PyTorch twin's exact resume, in process."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bn_keras.common.errors import TrainingDiverged
from bn_keras.config.settings import Config
from bn_keras.runs import run_dir
from bn_keras.runs.metrics_file import read_metrics
from bn_keras.training.stacked import train_stack
from bn_keras.training.train import train_and_evaluate

STEPS = 150  # 16 metrics rows: every kill point below leaves at least 8 rows (80 steps) to go
# The runs' settings: the command's flags, and the Config of the baselines trained in this process
# (the same ops on the same data with op determinism on, so the command's runs equal them bitwise).
SETTINGS = dict(
    model="lenetr", bn=True, deterministic=True, train_steps=STEPS, eval_every=10,
    checkpoint_every=20, batch_size=32, test_batch_size=50, export=False,
)  # fmt: skip


def _flags(settings: dict, data_dir: str, results: Path, *extra: str) -> list[str]:
    """The command's flags for `settings`, writing under `results` (plus `extra`)."""
    flags = [
        f"--{k}" if v is True else f"--no{k}" if v is False else f"--{k}={v}"
        for k, v in settings.items()
    ]
    return [*flags, f"--data_dir={data_dir}", f"--results_dir={results}", *extra]


def _rows_without_time(path: Path) -> list[tuple]:
    return [tuple(v for k, v in r.items() if k != "elapsed_s") for r in read_metrics(path)]


def _checkpointed_step(path: Path) -> int:
    return json.loads((path / run_dir.CHECKPOINT_DIR / "state.json").read_text())["step"]


def _assert_same_weights(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)  # bitwise


def _start_and_wait(cli, flags: list[str], path: Path, rows: int, log: Path) -> subprocess.Popen:
    """Starts the run and returns it frozen (SIGSTOP) once its metrics file holds `rows` rows.

    The run cannot finish before the test stops it: it is niced below this process, so this loop
    gets the CPU first on a loaded machine; it is frozen the moment the rows are seen; and it
    still has at least 80 steps, 8 evaluations and 4 checkpoints to go at that point. Its output
    goes to the file `log` (a pipe nobody reads would block it)."""
    proc = cli.start("bn_keras.main", *flags, log=log, nice=10)
    deadline = time.monotonic() + 300
    metrics = path / run_dir.METRICS_FILE
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and metrics.read_text().count("\n") > rows:  # header + rows
            proc.send_signal(signal.SIGSTOP)
            return proc
        time.sleep(0.01)
    proc.kill()
    pytest.fail(f"run ended or stalled before {rows} rows: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def baseline(tiny_tfds_dir, tmp_path_factory) -> Path:
    """The uninterrupted run, trained in this process."""
    path = tmp_path_factory.mktemp("baseline") / "base"
    train_and_evaluate(Config(**SETTINGS, data_dir=tiny_tfds_dir), path)
    return path


@dataclasses.dataclass(frozen=True)
class StoppedThenKilled:
    """One run through the command: stopped by SIGTERM, resumed and killed by SIGKILL, rerun."""

    path: Path
    stop_code: int
    stop_line: str  # the stopped process's last line
    stopped_at: int  # the iteration of its checkpoint
    stopped_rows: list[int]  # the iterations of its metrics rows
    resumed_log: str  # the output of the process resumed from it, then killed
    killed_at: int  # the iteration of the last checkpoint when SIGKILL hit
    result_after_kill: bool
    rerun: subprocess.CompletedProcess


# SIGTERM once the rows up to 30 are written: the run checkpoints at the iteration it has reached
# (30, or 40 at the end of the compiled call it was in) and exits. The same command resumes it
# and is killed three rows later (70 from 40), past a checkpoint of its own (60) and one row past
# it. The same command again finishes the run. Killed before the first checkpoint, a rerun
# starts afresh and drops the rows it finds: test_phases, in process.
@pytest.fixture(scope="module")
def stopped_then_killed(tiny_tfds_dir, tmp_path_factory, cli) -> StoppedThenKilled:
    results = tmp_path_factory.mktemp("interrupted")
    path = results / "run"
    flags = _flags(SETTINGS, tiny_tfds_dir, results, "--run_name=run")
    stopped = _start_and_wait(cli, flags, path, 4, results / "stopped.log")
    stopped.send_signal(signal.SIGTERM)  # delivered once the run goes on
    stopped.send_signal(signal.SIGCONT)
    stopped.wait(timeout=120)
    stop_line = (results / "stopped.log").read_text().strip().splitlines()[-1]
    stopped_at = _checkpointed_step(path)
    stopped_rows = [int(r["step"]) for r in read_metrics(path / run_dir.METRICS_FILE)]
    killed = _start_and_wait(cli, flags, path, len(stopped_rows) + 3, results / "killed.log")
    killed.kill()
    killed.wait(timeout=60)
    return StoppedThenKilled(
        path=path,
        stop_code=stopped.returncode,
        stop_line=stop_line,
        stopped_at=stopped_at,
        stopped_rows=stopped_rows,
        resumed_log=(results / "killed.log").read_text(),
        killed_at=_checkpointed_step(path),
        result_after_kill=(path / run_dir.RESULT_FILE).exists(),
        rerun=cli.run("bn_keras.main", *flags, timeout=300),
    )


def test_sigterm_checkpoints_and_says_how_to_resume(stopped_then_killed):
    """Its checkpoint is where its last line says; the same command resumes there (and the run
    ends as the uninterrupted one: the test below)."""
    run = stopped_then_killed
    assert run.stop_code == 128 + signal.SIGTERM
    assert "interrupted at iteration" in run.stop_line
    assert "run the same command again" in run.stop_line
    step = int(run.stop_line.split("interrupted at iteration ")[1].split(",")[0])
    assert run.stopped_at == step and 0 < step < STEPS
    assert max(run.stopped_rows) <= step
    assert f"Resuming {run.path} at iteration {step}" in run.resumed_log


def test_sigkill_at_any_point_then_rerun_equals_an_uninterrupted_run(
    stopped_then_killed, baseline, read_checkpoint_weights
):
    run = stopped_then_killed
    assert run.stopped_at < run.killed_at < STEPS  # killed after a checkpoint of its own
    assert not run.result_after_kill
    assert run.rerun.returncode == 0, run.rerun.stderr[-3000:]
    assert f"Resuming {run.path} at iteration {run.killed_at}" in run.rerun.stderr
    metrics = run_dir.METRICS_FILE
    assert _rows_without_time(run.path / metrics) == _rows_without_time(baseline / metrics)
    _assert_same_weights(read_checkpoint_weights(run.path), read_checkpoint_weights(baseline))


# Two seeds stacked, each seed's rows and state must come back; 60 iterations (8 epochs of the
# tiny data) are enough where no race with a process sets the kill point.
STACK_SETTINGS = {**SETTINGS, "train_steps": 60}
STACK_SEEDS = (0, 1)
STACK_DIR = "lenetr_bn_stack_seeds0-1"


class _Killed(Exception):
    pass


class _KilledAt(threading.Event):
    """A stop request that ends training as a kill does when training asks it the `ask`-th time
    (once an iteration, after its rows and before its checkpoint): an exception out of training
    that leaves the run directories as they are, each file written whole or by whole rows."""

    def __init__(self, ask: int):
        super().__init__()
        self._asks_left = ask

    def is_set(self) -> bool:
        self._asks_left -= 1
        if self._asks_left == 0:
            raise _Killed
        return super().is_set()


@pytest.fixture(scope="module")
def stack_baseline(tiny_tfds_dir, tmp_path_factory) -> Path:
    """The uninterrupted stack, trained in this process."""
    results = tmp_path_factory.mktemp("stack_baseline")
    train_stack(Config(**STACK_SETTINGS, data_dir=tiny_tfds_dir), STACK_SEEDS, results)
    return results


@pytest.mark.kernels
def test_a_stack_killed_then_rerun_equals_an_uninterrupted_stack(
    stack_baseline, tiny_tfds_dir, tmp_path, cli, read_checkpoint_weights
):
    """Killed once both seeds have their row at 50 (in this process, by a hard stop; a real
    SIGKILL: the test above), then rerun by the command: it resumes the stack at its last
    checkpoint (40) and drops the rows after it, and every seed's rows and the stack's weights
    (all seeds' slices, BN statistics included) are the uninterrupted stack's, bitwise."""
    config = Config(**STACK_SETTINGS, data_dir=tiny_tfds_dir)
    with pytest.raises(_Killed):
        train_stack(config, STACK_SEEDS, tmp_path, stop_request=_KilledAt(5))
    assert _checkpointed_step(tmp_path / STACK_DIR) == 40
    names = [f"lenetr_bn_seed{seed}" for seed in STACK_SEEDS]
    for name in names:
        assert read_metrics(tmp_path / name / run_dir.METRICS_FILE)[-1]["step"] == 50, name
    assert not list(tmp_path.glob(f"*/{run_dir.RESULT_FILE}"))
    flags = _flags(STACK_SETTINGS, tiny_tfds_dir, tmp_path, "--seeds=0-1")
    resumed = cli.run("bn_keras.main", *flags, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resuming the stack {tmp_path / STACK_DIR} at iteration 40" in resumed.stderr
    for name in names:
        metrics = Path(name) / run_dir.METRICS_FILE
        assert _rows_without_time(tmp_path / metrics) == _rows_without_time(
            stack_baseline / metrics
        ), name
        assert (tmp_path / name / run_dir.RESULT_FILE).is_file()
    _assert_same_weights(
        read_checkpoint_weights(tmp_path / STACK_DIR),
        read_checkpoint_weights(stack_baseline / STACK_DIR),
    )


# In this process (an error's one line on the command line: test_last_line_of_defence).
SMALL = Config(
    model="lenetr", bn=True, train_steps=40, eval_every=10, checkpoint_every=20, batch_size=32,
    test_batch_size=50, export=False,
)  # fmt: skip


def test_diverging_run_stops_keeps_metrics_and_exports_nothing(tiny_mnist, tmp_path):
    config = dataclasses.replace(SMALL, learning_rate=1e38, export=True)
    with pytest.raises(TrainingDiverged, match=r"diverged \(loss not finite\) at iteration"):
        train_and_evaluate(config, tmp_path / "nan", data=tiny_mnist)
    assert read_metrics(tmp_path / "nan" / "metrics.csv")
    assert not (tmp_path / "nan" / run_dir.RESULT_FILE).exists()
    assert not (tmp_path / "nan" / run_dir.SAVED_MODEL_DIR).exists()


def test_metrics_cut_mid_row_after_the_checkpoint_is_repaired_on_resume(tiny_mnist, tmp_path):
    """A kill in the middle of a row leaves a torn last line; the rerun drops it and finishes.
    (Damage that cannot be repaired, such as a corrupt checkpoint, is in test_bad_inputs.)"""
    stop = threading.Event()
    stop.set()  # stops at the first callback: iteration 10, checkpointed
    first = train_and_evaluate(SMALL, tmp_path / "run", data=tiny_mnist, stop_request=stop)
    assert first.interrupted_at == 10
    with open(tmp_path / "run" / run_dir.METRICS_FILE, "a") as f:
        f.write("999,1.5,0.7,0.2")  # a row cut short by a kill
    train_and_evaluate(SMALL, tmp_path / "run", data=tiny_mnist)
    steps = [int(r["step"]) for r in read_metrics(tmp_path / "run" / run_dir.METRICS_FILE)]
    assert steps == list(range(0, SMALL.train_steps + 1, 10))


# The twin in a child process (torch's training step crashes beside TensorFlow, see
# twin.mnist_arrays): 60 iterations at batch 32 (7 per epoch), checkpoints at 20, 40, 60. One run
# goes through; one is stopped at 25 (mid-epoch) by its stop request and rerun; one dies at 33
# (after the checkpoint at 20, mid-epoch, and after the row at 30) and is rerun.
_TWIN_CHILD = """
import json, sys
from pathlib import Path
from types import SimpleNamespace
import numpy as np, torch
from bn_keras.config.settings import Config
from bn_keras.twin import train

class Killed(Exception):
    pass

class StopAt:
    '''A stop request asked after every iteration: set from iteration `step` on, or a kill.'''
    def __init__(self, step, kill):
        self.asked, self.step, self.kill = 0, step, kill
    def is_set(self):
        self.asked += 1
        if self.kill and self.asked == self.step:
            raise Killed
        return self.asked >= self.step

with np.load(sys.argv[1]) as arrays:
    mnist = SimpleNamespace(**{name: arrays[name] for name in arrays.files})
root = Path(sys.argv[2])
config = Config(model="lenetr", bn=True, batch_size=32, train_steps=60, eval_every=10,
                checkpoint_every=20, export=False)
train.train_and_evaluate(config, root / "base", data=mnist)
stop = StopAt(25, False)
stopped = train.train_and_evaluate(config, root / "stop", data=mnist, stop_request=stop)
assert stopped.interrupted_at == 25 and not (root / "stop" / "result.json").exists()
try:
    train.train_and_evaluate(config, root / "kill", data=mnist, stop_request=StopAt(33, True))
except Killed:
    pass
for name in ("stop", "kill"):
    train.train_and_evaluate(config, root / name, data=mnist)

def weights(name):
    state = json.loads((root / name / "checkpoints" / "state.json").read_text())
    return torch.load(root / name / "checkpoints" / Path(state["path"]).name)["model"]

print(json.dumps({name: all(torch.equal(weights(name)[k], v) for k, v in weights("base").items())
                  for name in ("stop", "kill")}))
"""


def test_a_twin_run_stopped_or_killed_then_rerun_equals_an_uninterrupted_run(tiny_mnist, tmp_path):
    pytest.importorskip("torch", reason="the PyTorch twin needs torch")
    arrays = tmp_path / "tiny.npz"
    np.savez(arrays, **dataclasses.asdict(tiny_mnist))
    proc = subprocess.run(
        [sys.executable, "-c", _TWIN_CHILD, str(arrays), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == {"stop": True, "kill": True}  # bitwise
    expected = _rows_without_time(tmp_path / "base" / run_dir.METRICS_FILE)
    assert [row[0] for row in expected] == list(range(0, 61, 10))
    for name in ("stop", "kill"):
        assert _rows_without_time(tmp_path / name / run_dir.METRICS_FILE) == expected, name
        result = json.loads((tmp_path / name / run_dir.RESULT_FILE).read_text())
        assert result["checkpoints_written"] == (4 if name == "stop" else 3)
