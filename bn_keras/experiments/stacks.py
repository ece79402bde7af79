"""The sweep's stacks: an experiment's unfinished Keras seeds trained together, a few per process.

A stack is `python -m bn_keras.main --flagfile=... --seeds=0-4` (bn_keras.training.stacked):
each seed is the same run as `--seed=<s>` and writes the same run directory
`<model>[_bn]_seed<s>`, so the sweep plans, skips and reads seeds as before and only groups the
ones left to run. What is not stacked runs one seed per process as before: the PyTorch twin's
runs, runs named otherwise than `<model>[_bn]_seed<s>` (the explanation grid, the longer extra
experiments), settings a stack refuses (probes, --record_divergence), and a seed whose directory
holds an interrupted single run (it resumes alone rather than start again in a stack).
"""

from __future__ import annotations

import json

from bn_keras.common.errors import ConfigError
from bn_keras.config.seeds import check_stackable, seeds_label, stack_dir_name
from bn_keras.config.settings import Config
from bn_keras.experiments.jobs import FRESH, KERAS, RESUMABLE, Job, run_state
from bn_keras.runs import run_dir

OVERWRITE = ("--overwrite",)


def stacked_in(job: Job) -> dict | None:
    """The `stack` entry of the job's config.json (the stack it was trained in), or None."""
    try:
        record = json.loads((job.run_dir / run_dir.CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return None
    stack = record.get("stack") if isinstance(record, dict) else None
    return stack if isinstance(stack, dict) else None


def stackable(job: Job, force: bool = False) -> bool:
    """Whether the job's seed may train in a stack (see the module docstring); with `force`
    (the sweep's --force) an interrupted single run starts again, so it may."""
    if job.framework != KERAS or job.members:
        return False
    config = Config(**job.config)
    if job.run_dir.name != config.default_run_name:
        return False
    try:
        check_stackable(config)
    except ConfigError:
        return False
    return force or run_state(job) != RESUMABLE or stacked_in(job) is not None


def stack_job(members: list[Job]) -> Job:
    """One job training `members` (seeds of one experiment, each with its own job) as a stack:
    their flags with `--seeds` instead of `--seed` and `--run_name`, into the stack's directory."""
    first, seeds = members[0], tuple(job.seed for job in members)
    args = [a for a in first.args if not a.startswith(("--seed=", "--run_name="))]
    args.insert(1, f"--seeds={seeds_label(seeds)}")
    name = stack_dir_name(Config(**first.config), seeds)
    return Job(
        first.experiment,
        first.seed,
        args,
        first.run_dir.parent / name,
        first.config,
        framework=first.framework,
        members=list(members),
    )


def stack_state(stack: Job) -> str:
    """RESUMABLE when every seed's directory holds an interrupted run of this very stack (its
    seeds, its directory) with the job's settings, FRESH otherwise."""
    seeds = [job.seed for job in stack.members]
    for job in stack.members:
        record = stacked_in(job) or {}
        if record.get("seeds") != seeds or record.get("stack_dir") != stack.run_dir.name:
            return FRESH
        if run_state(job) != RESUMABLE:
            return FRESH
    return RESUMABLE


def group_into_stacks(todo: list[Job], stack_size: int, force: bool = False) -> list[Job]:
    """The jobs to run with each experiment's stackable seeds grouped, at most `stack_size` a
    stack in seed order, its stacks where its first stackable seed was; the rest as they are.

    A stack resumes (no start flags) when its seeds hold an interrupted run of that stack and
    `force` is off; otherwise it starts afresh with --overwrite, as a single job does. A seed
    left alone in its group runs as a single job.

    Args:
        todo: the sweep's jobs left to run, one per seed, each with its start flags.
        stack_size: seeds per stack; 1 groups nothing.
        force: the sweep's --force (every stack starts afresh).
    """
    if stack_size == 1:
        return list(todo)
    slots: list[Job | list[Job]] = []
    groups: dict[str, list[Job]] = {}
    for job in todo:
        if not stackable(job, force):
            slots.append(job)
            continue
        if job.experiment not in groups:
            groups[job.experiment] = []
            slots.append(groups[job.experiment])
        groups[job.experiment].append(job)
    grouped = []
    for slot in slots:
        if isinstance(slot, Job):
            grouped.append(slot)
            continue
        for start in range(0, len(slot), stack_size):
            chunk = slot[start : start + stack_size]
            if len(chunk) == 1:
                grouped.append(chunk[0])
                continue
            stack = stack_job(chunk)
            fresh = force or stack_state(stack) != RESUMABLE
            stack.start_flags = OVERWRITE if fresh else ()
            grouped.append(stack)
    return grouped
