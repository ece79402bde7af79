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
from bn_keras.training.train import train_and_evaluate

STEPS = 150  # 16 metrics rows: every kill point below leaves at least 8 rows (80 steps) to go


def _flags(data_dir: str, results: Path, name: str | None, *extra: str) -> list[str]:
    """A run of lenetr_bn named `name`, or with name None the stack of `extra`'s --seeds."""
    return [
        "--model=lenetr", "--bn", "--deterministic",
        f"--train_steps={STEPS}", "--eval_every=10", "--checkpoint_every=20", "--batch_size=32",
        "--test_batch_size=50", "--noexport", f"--data_dir={data_dir}",
        f"--results_dir={results}", *([f"--run_name={name}"] if name else []), *extra,
    ]  # fmt: skip


def _rows_without_time(path: Path) -> list[tuple]:
    return [tuple(v for k, v in r.items() if k != "elapsed_s") for r in read_metrics(path)]


def _start_and_wait(cli, flags: list[str], path: Path, rows: int) -> subprocess.Popen:
    """Starts the run and returns it frozen (SIGSTOP) once its metrics file holds `rows` rows.

    The run cannot finish before the test stops it: it is niced below this process, so this loop
    gets the CPU first on a loaded machine; it is frozen the moment the rows are seen; and it
    still has at least 80 steps, 8 evaluations and 4 checkpoints to go at that point. Its output
    goes to a file (a pipe nobody reads would block it)."""
    log = path.parent / f"{path.name}.log"
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
def baseline(tiny_tfds_dir, tmp_path_factory, cli):
    results = tmp_path_factory.mktemp("baseline")
    proc = cli.run("bn_keras.main", *_flags(tiny_tfds_dir, results, "base"), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return results / "base"


def _resume(cli, flags: list[str]) -> subprocess.CompletedProcess:
    return cli.run("bn_keras.main", *flags, timeout=300)


# Killed one row past a checkpoint (row 7). Killed before the first checkpoint, a rerun starts
# afresh and drops the rows it finds: test_phases, in process.
@pytest.mark.parametrize("rows", [7])
def test_sigkill_at_any_point_then_rerun_equals_an_uninterrupted_run(
    rows, baseline, tiny_tfds_dir, tmp_path, cli, read_checkpoint_weights
):
    flags = _flags(tiny_tfds_dir, tmp_path, "killed")
    proc = _start_and_wait(cli, flags, tmp_path / "killed", rows)
    proc.kill()
    proc.wait(timeout=60)
    assert not (tmp_path / "killed" / run_dir.RESULT_FILE).exists()
    resumed = _resume(cli, flags)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _rows_without_time(tmp_path / "killed" / "metrics.csv") == _rows_without_time(
        baseline / "metrics.csv"
    )
    expected = read_checkpoint_weights(baseline)
    got = read_checkpoint_weights(tmp_path / "killed")
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)  # bitwise


STACK = ("--seeds=0-1",)  # two seeds stacked: each seed's rows and state must come back
STACK_DIR = "lenetr_bn_stack_seeds0-1"


@pytest.fixture(scope="module")
def stack_baseline(tiny_tfds_dir, tmp_path_factory, cli):
    results = tmp_path_factory.mktemp("stack_baseline")
    proc = cli.run("bn_keras.main", *_flags(tiny_tfds_dir, results, None, *STACK), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return results


@pytest.mark.kernels
def test_a_stack_killed_then_rerun_equals_an_uninterrupted_stack(
    stack_baseline, tiny_tfds_dir, tmp_path, cli, read_checkpoint_weights
):
    """SIGKILL once seed 1 has its row at 60 (checkpoints every 20): the rerun resumes at the
    stack's last checkpoint, and every seed's rows and the stack's weights (all seeds' slices,
    BN statistics included) are the uninterrupted stack's, bitwise."""
    flags = _flags(tiny_tfds_dir, tmp_path, None, *STACK)
    proc = _start_and_wait(cli, flags, tmp_path / "lenetr_bn_seed1", 7)
    proc.kill()
    proc.wait(timeout=60)
    state = json.loads((tmp_path / STACK_DIR / "checkpoints" / "state.json").read_text())
    assert 0 < state["step"] < STEPS
    assert not list(tmp_path.glob(f"*/{run_dir.RESULT_FILE}"))
    resumed = _resume(cli, flags)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resuming the stack {tmp_path / STACK_DIR} at iteration {state['step']}" in (
        resumed.stderr
    )
    for seed in (0, 1):
        name = f"lenetr_bn_seed{seed}"
        assert _rows_without_time(tmp_path / name / "metrics.csv") == _rows_without_time(
            stack_baseline / name / "metrics.csv"
        ), name
        assert (tmp_path / name / run_dir.RESULT_FILE).is_file()
    expected = read_checkpoint_weights(stack_baseline / STACK_DIR)
    got = read_checkpoint_weights(tmp_path / STACK_DIR)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)  # bitwise


def test_sigterm_checkpoints_and_says_how_to_resume(baseline, tiny_tfds_dir, tmp_path, cli):
    flags = _flags(tiny_tfds_dir, tmp_path, "stopped")
    proc = _start_and_wait(cli, flags, tmp_path / "stopped", 6)
    proc.send_signal(signal.SIGTERM)  # delivered once the run goes on
    proc.send_signal(signal.SIGCONT)
    proc.wait(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    last = (tmp_path / "stopped.log").read_text().strip().splitlines()[-1]
    assert "interrupted at iteration" in last and "run the same command again" in last
    step = int(last.split("interrupted at iteration ")[1].split(",")[0])
    state = json.loads((tmp_path / "stopped" / "checkpoints" / "state.json").read_text())
    assert state["step"] == step and 0 < step < STEPS
    assert max(r["step"] for r in read_metrics(tmp_path / "stopped" / "metrics.csv")) <= step
    assert _resume(cli, flags).returncode == 0
    assert _rows_without_time(tmp_path / "stopped" / "metrics.csv") == _rows_without_time(
        baseline / "metrics.csv"
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
