"""run_all.sh end to end on tiny data: a smoke run through the whole path and quiet, a paper
experiment's seeds trained as one stack, the summary; then the sweep's skip-finished, resume and
--force behaviour on the runs it left."""

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
from bn_keras.runs.metrics_file import read_metrics

REPO = Path(__file__).resolve().parents[1]
# What TensorFlow printed on every run before bn_keras.common.quiet.
START_UP_NOISE = (
    "absl::InitializeLog",
    "I0000 ",
    "cuInit",
    "oneDNN custom operations",
    "dataset_info.py",
)
# The sweep below: smoke.flags once and mlp.flags for seeds 0 and 1 (one stack, at the default
# --stack_size), both at --quick's 200 steps, without the PyTorch twin.
SWEEP = {"experiments": "smoke,mlp", "seeds": 2, "quick": True, "twin": False}


def _run(cmd: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False, env=env
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def _schedule(results: Path, data_dir: str, **options) -> list[Job]:
    """What `python -m bn_keras.sweep` with `options` would run now, planned in this process as
    the sweep plans it (its processes, each with its start flags); prints its count line."""
    sweep = SweepOptions(data_dir=data_dir, results_dir=str(results), **options)
    plan = sweep_plan.plan(sweep, seeds_given="seeds" in options)
    return Rounds(LocalPool(sweep.jobs), sweep).schedule(plan.jobs)


def _check_smoke_run(run_dir: Path, log: str) -> None:
    """The smoke flagfile's run (at --quick's steps) went the whole path: data, training, the
    evaluations, metrics, export; and said so in a handful of lines (its stderr, as `log`)."""
    rows = read_metrics(run_dir / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [0, 50, 100, 150, 200]
    record = json.loads((run_dir / "config.json").read_text())
    assert record["config"]["model"] == "lenetr" and record["config"]["bn"] is True
    assert record["config"]["rho"] == 0.9 and record["config"]["adadelta_epsilon"] == 1e-6
    assert "prepared TFDS mnist" in record["data_source"]
    assert (run_dir / "saved_model" / "saved_model.pb").is_file()
    assert (run_dir / "model.keras").is_file()
    assert "step 200/200" in log and "Done:" in log
    # TensorFlow's start-up messages hidden; a few lines at the start and the end, and two for
    # each evaluation (its progress line and its checkpoint's).
    lines = log.splitlines()
    assert not [line for line in lines if any(n in line for n in START_UP_NOISE)], log
    assert len(lines) <= 7 + 2 * len(rows), log


def _check_stack(results: Path, out: str) -> None:
    """mlp's two seeds trained as one stack, each into its own run directory."""
    assert "started mlp_stack_seeds0-1: --flagfile=flags/mlp.flags --seeds=0-1" in out
    finished = next(line for line in out.splitlines() if line.startswith("finished mlp_"))
    accuracies = finished.split("test accuracy ")[1].removesuffix(" (seeds 0-1)").split()
    expected = [
        f"{read_metrics(results / f'mlp_seed{seed}' / 'metrics.csv')[-1]['test_accuracy']:.4f}"
        for seed in (0, 1)
    ]
    assert finished.startswith("finished mlp_stack_seeds0-1: ") and accuracies == expected
    for seed in (0, 1):
        run = results / f"mlp_seed{seed}"
        assert (run / "result.json").is_file()
        record = json.loads((run / "config.json").read_text())
        assert record["stack"]["seeds"] == [0, 1] and record["config"]["seed"] == seed
    assert (results / "logs" / "mlp_stack_seeds0-1.log").is_file()


def test_run_all_sweeps_then_skips_finished_redoes_interrupted_and_forces(
    tiny_tfds_dir, tmp_path, capsys
):
    results = tmp_path / "results"
    cmd = ["./run_all.sh", "--experiments=smoke,mlp", "--seeds=2", "--quick", "--notwin"]
    cmd.append(f"--data_dir={tiny_tfds_dir}")
    out = _run([*cmd, f"--results_dir={results}"]).stdout
    assert "3 runs planned, 0 already finished, 3 to run (1 stack of up to 5 seeds)" in out
    assert "finished smoke_seed0" in out
    # One story: what runs and how far it got, the sweep's end, then the summary's verdicts
    # (none for these runs) once, and last where the summary is.
    lines = out.splitlines()
    assert lines[-1] == f"summary: {results}/summary.md", out
    assert lines[-2].startswith("wrote ") and lines[-2].endswith(f"files into {results}"), out
    assert lines[-3].startswith("sweep: 3 runs finished, 0 failed, "), out
    assert "MNIST: prepared TFDS mnist" in out
    _check_smoke_run(results / "smoke_seed0", (results / "logs" / "smoke_seed0.log").read_text())
    _check_stack(results, out)
    summary = (results / "summary.md").read_text()
    assert "| smoke | 1 |" in summary and "| mlp | 2 |" in summary
    assert "Command: `./run_all.sh --experiments=smoke,mlp" in summary
    assert (results / "summary.csv").is_file()

    # What the sweep does next with these runs is its planning, checked here in this process (that
    # it runs what it plans: the run above). The same sweep again finds every run finished, the
    # stack's seeds too: their records, written by main, match the settings the sweep plans.
    assert _schedule(results, tiny_tfds_dir, **SWEEP) == []
    assert "3 runs planned, 3 already finished, 0 to run" in capsys.readouterr().out
    # --force reruns a finished run with the same settings, afresh (stale settings: the test
    # below).
    forced = _schedule(results, tiny_tfds_dir, experiments="smoke", force=True)
    assert "1 runs planned, 0 already finished, 1 to run" in capsys.readouterr().out
    assert [(job.name, job.start_flags) for job in forced] == [("smoke_seed0", stacks.OVERWRITE)]
    # An interrupted run (no result.json) is redone, and only that one, without --overwrite
    # (resumed, when its flags do not say --overwrite as smoke.flags does).
    (results / "smoke_seed0" / "result.json").unlink()
    redone = _schedule(results, tiny_tfds_dir, **SWEEP)
    assert "3 runs planned, 2 already finished, 1 to run" in capsys.readouterr().out
    assert [(job.name, job.start_flags) for job in redone] == [("smoke_seed0", ())]


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
