"""Runs that survive: exact resume after SIGKILL or SIGTERM, a torn metrics row repaired, and a
diverging run that stops with its metrics kept (refusals that protect a run directory: see
test_bad_inputs)."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
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


def _flags(data_dir: str, results: Path, name: str, *extra: str) -> list[str]:
    return [
        "--model=lenetr", "--bn", "--deterministic",
        f"--train_steps={STEPS}", "--eval_every=10", "--checkpoint_every=20", "--batch_size=32",
        "--test_batch_size=50", "--noexport", f"--data_dir={data_dir}",
        f"--results_dir={results}", f"--run_name={name}", *extra,
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
        train_and_evaluate(config, tmp_path / "nan", mnist=tiny_mnist)
    assert read_metrics(tmp_path / "nan" / "metrics.csv")
    assert not (tmp_path / "nan" / run_dir.RESULT_FILE).exists()
    assert not (tmp_path / "nan" / run_dir.SAVED_MODEL_DIR).exists()


def test_metrics_cut_mid_row_after_the_checkpoint_is_repaired_on_resume(tiny_mnist, tmp_path):
    """A kill in the middle of a row leaves a torn last line; the rerun drops it and finishes.
    (Damage that cannot be repaired, such as a corrupt checkpoint, is in test_bad_inputs.)"""
    stop = threading.Event()
    stop.set()  # stops at the first callback: iteration 10, checkpointed
    first = train_and_evaluate(SMALL, tmp_path / "run", mnist=tiny_mnist, stop_request=stop)
    assert first.interrupted_at == 10
    with open(tmp_path / "run" / run_dir.METRICS_FILE, "a") as f:
        f.write("999,1.5,0.7,0.2")  # a row cut short by a kill
    train_and_evaluate(SMALL, tmp_path / "run", mnist=tiny_mnist)
    steps = [int(r["step"]) for r in read_metrics(tmp_path / "run" / run_dir.METRICS_FILE)]
    assert steps == list(range(0, SMALL.train_steps + 1, 10))
