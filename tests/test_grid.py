"""The explanation grid: its arms, their flags and configurations, the jobs the sweep runs, and
the runs read back as levels of a factor (failed runs counted, not averaged)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bn_keras.common.errors import ConfigError
from bn_keras.config import datasets
from bn_keras.experiments import catalog, grid, jobs
from bn_keras.runs import reader, run_dir
from bn_keras.runs.reader import Run


def test_the_grid_has_every_level_with_and_without_bn():
    capacity, depth, rate = (grid.EXPERIMENTS[n] for n in ("capacity", "depth", "learning_rate"))
    assert len(capacity.arms) == 2 * 4 * 2 and len(depth.arms) == 2 * 3 * 2
    assert len(rate.arms) == (5 + 8) * 2
    for experiment in grid.EXPERIMENTS.values():
        assert sum(arm.bn for arm in experiment.arms) == len(experiment.arms) / 2
    # The ReLU LeNet at width 1 under Adadelta lr 1 is in two experiments and runs once.
    everything = grid.arms(list(grid.EXPERIMENTS))
    assert len(everything) == 16 + 12 + 26 - 2
    assert len({arm.name for arm in everything}) == len(everything)
    with pytest.raises(SystemExit, match="no experiment \\['width'\\]"):
        grid.arms(["width"])


def test_arm_names_and_flags():
    arm = grid.Arm(
        "mlp", True, mlp_depth=10, activation="relu", optimizer="sgd", learning_rate=0.03
    )
    assert arm.name == "mlp_d10_relu_w1_sgd0.03_bn"
    assert grid.Arm("lenetr", False, width=0.25).name == "lenetr_w0.25_adadelta1"
    assert "--mlp_depth=10" in arm.flags() and "--bn" in arm.flags()
    assert not any(f.startswith("--mlp_depth") for f in grid.Arm("lenet", False).flags())


def test_the_width_one_arms_are_the_paper_networks_on_its_recipe():
    paper = catalog.resolve(["--flagfile=flags/lenetr_bn.flags"])
    (arm,) = [a for a in grid.EXPERIMENTS["capacity"].arms if a.name == "lenetr_w1_adadelta1_bn"]
    ours = catalog.resolve([*grid.COMMON, *arm.flags()])
    differ = {k for k in ours if ours[k] != paper[k]}
    # The paper's flagfile also runs 10K steps; evaluating less often changes no training step.
    assert differ == {"eval_every", "export", "record_divergence"}
    assert ours["train_steps"] == grid.TRAIN_STEPS


def test_jobs_run_seed_by_seed_with_the_configuration_main_resolves(tmp_path, cli):
    planned = grid.plan_jobs(["depth"], 2, tmp_path, ["--train_steps=200", "--eval_every=50"])
    assert len(planned) == 2 * 12
    assert [j.seed for j in planned] == [0] * 12 + [1] * 12
    job = planned[13]
    assert job.run_dir == tmp_path / f"{job.experiment}_seed1"
    assert reader.RUN_NAME.match(job.run_dir.name)["experiment"] == job.experiment
    assert job.config["train_steps"] == 200 and job.config["seed"] == 1  # extra flags win
    # Resolved in this process as bn_keras.main --print_config resolves it.
    printed = cli.run("bn_keras.main", *job.args, "--print_config")
    assert printed.returncode == 0, printed.stderr
    assert job.config == json.loads(printed.stdout)
    assert job.args[: len(grid.COMMON)] == list(grid.COMMON)


def test_a_grid_that_main_would_refuse_is_refused_while_planning(tmp_path):
    with pytest.raises(ConfigError, match="--eval_every=500 is above --train_steps=50"):
        grid.plan_jobs(["depth"], 1, tmp_path, ["--train_steps=50"])


def test_the_sweep_runs_the_grid_and_counts_a_diverged_run_as_finished(tmp_path, cli):
    # Every planned run already holds a record, one of them a diverged one: nothing is to run.
    planned = grid.plan_jobs(["depth"], 1, tmp_path)
    for i, job in enumerate(planned):
        job.run_dir.mkdir(parents=True)
        (job.run_dir / run_dir.CONFIG_FILE).write_text(json.dumps({"config": job.config}))
        result = {"steps": 300, "diverged_at": 350} if i == 0 else {"steps": 10_000}
        (job.run_dir / run_dir.RESULT_FILE).write_text(json.dumps(result))
        assert jobs.run_state(job) == jobs.FINISHED
    proc = cli.run(
        "bn_keras.sweep", "--why", "--experiments=depth", "--seeds=1", f"--results_dir={tmp_path}"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "12 runs planned, 12 already finished, 0 to run" in proc.stdout
    assert "sweep: 0 runs finished, 0 failed" in proc.stdout


def _run(
    name: str, seed: int, accuracy: float, diverged: bool = False, dataset: str | None = None
) -> Run:
    result = {"steps": 10_000} | ({"diverged_at": 40} if diverged else {})
    rows = [{"step": 10_000, "test_accuracy": accuracy}]
    record = {"config": {"dataset": dataset}} if dataset else {}
    return Run(name, seed, Path(name), record, rows, result)


def test_runs_become_levels_with_diverged_runs_counted():
    (sgd,) = [s for s in grid.EXPERIMENTS["learning_rate"].series if s.label == "plain SGD"]
    without, with_bn = sgd.pair(1.0)
    runs = [
        _run(without.name, 0, 0.98, diverged=True),  # its last evaluation came before the NaN
        _run(without.name, 1, 0.98),
        _run(without.name, 2, 0.97),
        _run(without.name, 3, 0.1135),  # collapsed to one class, loss finite
        _run(with_bn.name, 0, 0.99),
        _run(with_bn.name, 1, 0.99),
        Run(with_bn.name, 2, Path("x"), {}, [], None),  # unfinished: left out
    ]
    levels = {level.x: level for level in grid.levels(sgd, runs)}
    assert list(levels) == list(grid.SGD_RATES)
    assert levels[1.0].without == (0.98, 0.97) and levels[1.0].with_bn == (0.99, 0.99)
    assert levels[1.0].diverged == (1, 0) and levels[1.0].at_chance == (1, 0)
    assert levels[1.0].runs == (4, 2) and levels[1.0].failed_share == (0.5, 0.0)
    assert levels[0.1].without == () and levels[0.1].runs == (0, 0)


def test_chance_is_the_runs_datasets():
    # Ten classes: twice the uniform guess, above the largest class's share (MNIST's 1s: 11.35%).
    assert datasets.get("mnist").chance_accuracy == 0.2
    assert datasets.get("fashion_mnist").chance_accuracy == 0.2
    # Four classes, the largest 70% of the test set: predicting it alone is chance.
    skewed = datasets.register(
        dataclasses.replace(
            datasets.get("mnist"),
            name="skewed",
            class_names=tuple("abcd"),
            test_class_counts=(700, 100, 100, 100),
        )
    )
    try:
        assert skewed.chance_accuracy == 0.7
        (adadelta, *_) = grid.EXPERIMENTS["learning_rate"].series
        without, with_bn = adadelta.pair(1.0)
        runs = [_run(arm.name, 0, 0.69, dataset="skewed") for arm in (without, with_bn)]
        runs += [_run(with_bn.name, 1, 0.71, dataset="skewed")]
        level = {lv.x: lv for lv in grid.levels(adadelta, runs)}[1.0]
        assert level.at_chance == (1, 1) and level.with_bn == (0.71,)
        with pytest.raises(ConfigError, match="runs of several datasets"):
            grid.levels(adadelta, [*runs, _run(without.name, 1, 0.99)])
    finally:
        del datasets.DATASETS["skewed"]
