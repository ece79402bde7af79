"""The sweep's run phase: rounds of jobs on an executor, finished runs skipped, interrupted ones
resumed, seeds stacked; and, with --until_decided, seeds added to undecided pairs round by round."""

from __future__ import annotations

import dataclasses
import datetime
import functools
from pathlib import Path

from bn_keras.config.commands import SweepOptions
from bn_keras.experiments import stacks
from bn_keras.experiments.executors.base import Executor, run_jobs
from bn_keras.experiments.jobs import FINISHED, KERAS, RESUMABLE, Job, run_state
from bn_keras.experiments.sweep_plan import SweepPlan

SWEEP_LOG = "sweep.log"  # in <results_dir>/logs/, beside the runs' logs


@dataclasses.dataclass
class Tally:
    ran: int = 0
    failed: int = 0


class Rounds:
    """The rounds of one sweep on one executor: each run at most once per sweep (--force too)."""

    def __init__(self, executor: Executor, options: SweepOptions):
        self.executor, self.options = executor, options
        self.tally = Tally()
        self._already_run: set[str] = set()

    def schedule(self, jobs: list[Job]) -> list[Job]:
        """The processes to run for `jobs`: those not finished (all with --force), each with its
        start flags, stackable seeds grouped; prints how many there are."""
        force = self.options.force
        states = {job.name: run_state(job) for job in jobs}
        todo = [
            j
            for j in jobs
            if j.name not in self._already_run and (force or states[j.name] != FINISHED)
        ]
        for job in todo:
            # An interrupted run with the same settings resumes; anything else starts afresh (a
            # seed of an interrupted stack, run alone, too: the stack holds its checkpoint).
            if force or states[job.name] != RESUMABLE or stacks.stacked_in(job):
                job.start_flags = stacks.OVERWRITE
        processes = stacks.group_into_stacks(todo, self.options.stack_size, force)
        stacked = sum(1 for job in processes if job.members)
        at_once = self.executor.capacity
        print(
            f"{len(jobs)} runs planned, {len(jobs) - len(todo)} already finished, "
            f"{len(todo)} to run"
            + (f" ({_stacks(stacked)} of up to {self.options.stack_size} seeds)" if stacked else "")
            + (f", {at_once} at a time" if at_once else ", placed by the cluster"),
            flush=True,
        )
        self._already_run.update(j.name for j in jobs)
        self.tally.ran += len(todo)
        return processes

    def run(self, processes: list[Job]) -> None:
        self.tally.failed += run_jobs(processes, self.executor)

    def add_seeds_until_decided(self, plan: SweepPlan) -> None:
        """Rounds of one more seed per undecided pair, up to --max_seeds (experiments.adaptive)."""
        # Statistics (SciPy) load only here, so that --help and a plain sweep answer at once.
        from bn_keras.experiments import adaptive
        from bn_keras.runs.reader import load_runs

        keys = [(framework, pair) for framework in plan.frameworks for pair in plan.pairs]
        adaptive.add_seeds_until_decided(
            keys,
            functools.partial(self._round, plan),
            lambda: load_runs(plan.results_dir),
            start=plan.seeds,
            cap=max(self.options.max_seeds, plan.seeds),
            on_round=lambda states: log_lines(
                plan.results_dir, [state.line() for state in states.values()]
            ),
            first_round_done=True,
        )

    def _round(self, plan: SweepPlan, pending: dict[tuple[str, str], int]) -> None:
        print(
            "adding a seed to the undecided: "
            + ", ".join(f"{_name(*key)} (seed {n - 1})" for key, n in pending.items()),
            flush=True,
        )
        self.run(self.schedule(plan.round_jobs(pending)))


def log_lines(results_dir: Path, lines: list[str]) -> None:
    """Appends `lines`, timestamped, to the sweep's log (the seed-adding rounds' verdicts: the
    summary's, at the end, are the result)."""
    path = results_dir / "logs" / SWEEP_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    with open(path, "a") as log:
        log.writelines(f"{stamp} {line}\n" for line in lines)


def _stacks(count: int) -> str:
    return f"{count} stack" + ("" if count == 1 else "s")


def _name(framework: str, pair: str) -> str:
    return pair if framework == KERAS else f"{framework} {pair}"
