"""run_all.sh end to end on tiny data, and the sweep's skip-finished, resume and --force
behaviour on the runs it left."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from bn_keras.config.commands import SweepOptions
from bn_keras.experiments import stacks, sweep_plan
from bn_keras.experiments.executors.local import LocalPool
from bn_keras.experiments.jobs import Job
from bn_keras.experiments.rounds import Rounds

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False, env=env
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def _schedule(results: Path, data_dir: str, **options) -> list[Job]:
    """What `python -m bn_keras.sweep --experiments=smoke` would run now, planned in this process
    as the sweep plans it (its processes, each with its start flags); prints its count line."""
    sweep = SweepOptions(
        experiments="smoke", data_dir=data_dir, results_dir=str(results), **options
    )
    plan = sweep_plan.plan(sweep, seeds_given=False)
    return Rounds(LocalPool(sweep.jobs), sweep).schedule(plan.jobs)


def test_run_all_sweeps_then_skips_finished_redoes_interrupted_and_forces(
    tiny_tfds_dir, tmp_path, capsys
):
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

    # What the sweep does next with these runs is its planning, checked here in this process (that
    # it runs what it plans: the run above). The same sweep again finds both runs finished: their
    # records, written by main, match the settings the sweep plans.
    assert _schedule(results, tiny_tfds_dir, extra_seeds=2) == []
    assert "2 runs planned, 2 already finished, 0 to run" in capsys.readouterr().out
    # An interrupted run (no result.json) is redone, and only that one, without --overwrite
    # (resumed, when its flags do not say --overwrite as smoke.flags does).
    (results / "smoke_seed1" / "result.json").unlink()
    redone = _schedule(results, tiny_tfds_dir, extra_seeds=2)
    assert "2 runs planned, 1 already finished, 1 to run" in capsys.readouterr().out
    assert [(job.name, job.start_flags) for job in redone] == [("smoke_seed1", ())]
    # --force reruns a finished run with the same settings, afresh (stale settings: the test
    # below).
    forced = _schedule(results, tiny_tfds_dir, extra_seeds=1, force=True)
    assert "1 runs planned, 0 already finished, 1 to run" in capsys.readouterr().out
    assert [(job.name, job.start_flags) for job in forced] == [("smoke_seed0", stacks.OVERWRITE)]


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
