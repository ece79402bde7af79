"""The sweep trains each paper experiment's unfinished Keras seeds in stacks, resumes a stack as
one and leaves what cannot stack one seed per process (bn_keras.experiments.stacks); planned
here, without training (a stack trained by the sweep and found finished after: test_run_all.py)."""

from __future__ import annotations

import json
from pathlib import Path

from bn_keras.config.commands import SweepOptions
from bn_keras.config.settings import Config
from bn_keras.experiments import jobs, stacks

REPO = Path(__file__).resolve().parents[1]
MLP = Config(model="mlp", train_steps=200, eval_every=50)


def _plan(results: Path, seeds: int, config: Config = MLP, **kwargs) -> list[jobs.Job]:
    """The sweep's per-seed jobs of `mlp`, resolved to `config` (no subprocess)."""

    def resolve(args: list[str]) -> dict:
        seed = next(int(a.split("=")[1]) for a in args if a.startswith("--seed="))
        return Config(**{**config.to_dict(), "seed": seed}).to_dict()

    return jobs.plan_jobs(["mlp"], seeds, 0, results, [], resolve=resolve, **kwargs)


def _record(job: jobs.Job, stack: tuple[int, ...] | None, finished: bool = False, **config):
    """Writes the job's run directory as a run (of `stack`, or a single run) left it."""
    job.run_dir.mkdir(parents=True)
    record = {"config": {**job.config, **config}}
    if stack is not None:
        label = f"{stack[0]}-{stack[-1]}"
        record["stack"] = {"seeds": list(stack), "stack_dir": f"mlp_stack_seeds{label}"}
    else:
        (job.run_dir / "checkpoints").mkdir()
    (job.run_dir / "config.json").write_text(json.dumps(record))
    if finished:
        (job.run_dir / "result.json").write_text("{}")


def _summary(processes: list[jobs.Job]) -> list[tuple[str, tuple[str, ...]]]:
    return [(job.name, job.start_flags) for job in processes]


def test_seeds_are_stacked_in_order_and_a_lone_seed_runs_alone(tmp_path):
    seeds = _plan(tmp_path, 7)
    processes = stacks.group_into_stacks(seeds, 3)
    assert _summary(processes) == [
        ("mlp_stack_seeds0-2", stacks.OVERWRITE),
        ("mlp_stack_seeds3-5", stacks.OVERWRITE),
        ("mlp_seed6", ()),  # its start flags are the sweep's, as for any single run
    ]
    first = processes[0]
    assert [run.run_dir.name for run in first.runs] == ["mlp_seed0", "mlp_seed1", "mlp_seed2"]
    assert first.args == [
        "--flagfile=flags/mlp.flags",
        "--seeds=0-2",
        f"--results_dir={tmp_path}",
    ]  # main writes each seed to mlp_seed<s>: no --seed, no --run_name
    assert first.log_path == tmp_path / "logs" / "mlp_stack_seeds0-2.log"
    assert stacks.group_into_stacks(seeds, 1) == seeds


def test_run_all_trains_the_designs_ten_seeds_as_two_stacks_side_by_side(tmp_path):
    options = SweepOptions()  # run_all.sh hands the sweep only the flags it was given
    assert 'python -m bn_keras.sweep "$@"' in (REPO / "run_all.sh").read_text()
    processes = stacks.group_into_stacks(_plan(tmp_path, options.seeds), options.stack_size)
    assert [job.name for job in processes] == ["mlp_stack_seeds0-4", "mlp_stack_seeds5-9"]
    assert options.jobs == 2


def test_what_cannot_stack_runs_one_seed_per_process(tmp_path):
    twin = _plan(tmp_path / "pytorch", 2, framework=jobs.TWIN)
    diverging = _plan(tmp_path / "div", 2, Config(model="mlp", record_divergence=True))
    renamed = _plan(tmp_path / "renamed", 2)
    for job in renamed:  # a run name other than <model>[_bn]_seed<s>, as the grid's
        job.run_dir = job.run_dir.parent / f"mlp_w2_seed{job.seed}"
    alone = [*twin, *diverging, *renamed]
    assert stacks.group_into_stacks(alone, 5) == alone


def test_an_interrupted_stack_resumes_and_anything_else_starts_afresh(tmp_path):
    """Only the seeds not finished are stacked. Those that hold this stack's interrupted run
    with the same settings resume it; another stack's, or other settings, start afresh; an
    interrupted single run resumes alone."""
    seeds = _plan(tmp_path, 8)
    _record(seeds[0], (0, 1, 2), finished=True)  # finished: the sweep leaves it out of todo
    for job in seeds[1:3]:
        _record(job, (1, 2))  # an interrupted stack of seeds 1 and 2
    _record(seeds[3], None)  # an interrupted single run
    for job in seeds[4:6]:
        _record(job, (4, 5), train_steps=100)  # a stack with other settings
    _record(seeds[6], (6, 7))  # a stack of 6 and 7 whose seed 7 never started
    todo = seeds[1:]
    processes = stacks.group_into_stacks(todo, 2)
    assert _summary(processes) == [
        ("mlp_stack_seeds1-2", ()),
        ("mlp_stack_seeds4-5", stacks.OVERWRITE),
        ("mlp_stack_seeds6-7", stacks.OVERWRITE),
        ("mlp_seed3", ()),
    ]
    forced = stacks.group_into_stacks(todo, 2, force=True)
    assert _summary(forced)[0] == ("mlp_stack_seeds1-2", stacks.OVERWRITE)
    assert forced[1].name == "mlp_stack_seeds3-4"  # --force: 3 starts again
    # The same seeds in other stacks than they were trained in start afresh.
    assert _summary(stacks.group_into_stacks(todo, 3))[0] == (
        "mlp_stack_seeds1-2,4",
        stacks.OVERWRITE,
    )
