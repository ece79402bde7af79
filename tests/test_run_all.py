"""run_all.sh end to end on tiny data, and the sweep's skip-finished and resume behaviour."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False, env=env
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def _sweep(results: Path, data_dir: str, *extra: str) -> str:
    cmd = [sys.executable, "-m", "bn_keras.sweep", "--experiments=smoke", f"--data_dir={data_dir}"]
    return _run([*cmd, f"--results_dir={results}", *extra]).stdout  # as run_all.sh calls it


def test_run_all_sweeps_skips_finished_and_resumes(tiny_tfds_dir, tmp_path):
    results = tmp_path / "results"
    cmd = ["./run_all.sh", "--experiments=smoke", "--extra_seeds=2", f"--data_dir={tiny_tfds_dir}"]
    out = _run([*cmd, f"--results_dir={results}"]).stdout
    assert "2 runs planned, 0 already finished, 2 to run" in out
    assert "finished smoke_seed0" in out and "finished smoke_seed1" in out
    # One story: what runs and how far it got, the sweep's end, then the summary's verdicts
    # (none for smoke runs) once, and last where the summary is.
    lines = out.splitlines()
    assert lines[-1] == f"summary: {results}/summary.md", out
    assert lines[-2].startswith("wrote ") and lines[-2].endswith(f"files into {results}"), out
    assert lines[-3].startswith("sweep: 2 runs finished, 0 failed, "), out
    assert "MNIST: prepared TFDS mnist" in out
    for seed in (0, 1):
        assert (results / f"smoke_seed{seed}" / "result.json").is_file()
        assert (results / "logs" / f"smoke_seed{seed}.log").is_file()
    summary = (results / "summary.md").read_text()
    assert "| smoke | 2 |" in summary and "Command: `./run_all.sh --experiments=smoke" in summary
    assert (results / "summary.csv").is_file()

    # An interrupted run (no result.json) is redone, and only that one: the finished one stays.
    (results / "smoke_seed1" / "result.json").unlink()
    kept = (results / "smoke_seed0" / "metrics.csv").stat().st_mtime_ns
    out = _sweep(results, tiny_tfds_dir, "--extra_seeds=2")
    assert "2 runs planned, 1 already finished, 1 to run" in out
    assert "started smoke_seed1" in out and "started smoke_seed0" not in out
    assert (results / "smoke_seed1" / "result.json").is_file()
    assert (results / "smoke_seed0" / "metrics.csv").stat().st_mtime_ns == kept

    # --force reruns a finished run with the same settings (stale settings: the test below).
    out = _sweep(results, tiny_tfds_dir, "--extra_seeds=1", "--force")
    assert "1 to run" in out and "finished smoke_seed0" in out


def test_a_finished_run_with_other_settings_is_stale(tmp_path):
    """run_state: the same settings finished or resumable, other ones FRESH; result-neutral
    settings (steps_per_execution) and settings the record predates do not count."""
    from bn_keras.config.settings import Config
    from bn_keras.experiments import jobs

    run = tmp_path / "smoke_seed0"
    run.mkdir()
    recorded = Config(model="mlp", train_steps=200).to_dict()
    del recorded["bn_impl"]  # a record from before the setting existed
    (run / "config.json").write_text(json.dumps({"config": recorded}))

    def state(**config) -> str:
        job = jobs.Job("smoke", 0, [], run, Config(model="mlp", **config).to_dict())
        return jobs.run_state(job)

    assert state(train_steps=200) == jobs.RESUMABLE
    (run / "result.json").write_text("{}")
    assert state(train_steps=200, steps_per_execution=10) == jobs.FINISHED
    assert state(train_steps=100) == jobs.FRESH
